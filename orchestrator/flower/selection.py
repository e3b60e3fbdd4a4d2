"""edgeft's node selection for a Flower run, without Flower: the nodes the run found,
what each reported, and the Decision of the same Strategy (orchestrator/strategy.py)
with the same SelectionContext (orchestrator/selection.py) that `edgeft orchestrator`
uses. The Flower strategy (orchestrator/flower/strategy.py) only turns its answers
into Messages, so a policy chooses the same nodes on either engine."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from edgeft.flower_contract import TrainReport
from orchestrator.config import OrchestratorConfig
from orchestrator.network_view import MetricsSource, NodeAddress, PathMetrics, settle_loss
from orchestrator.registry import NodeStatus
from orchestrator.scenario import Scenario
from orchestrator.selection import LastSeen, apply_decision, build_context
from orchestrator.strategy import Decision, Strategy

log = logging.getLogger(__name__)


@dataclass
class FlowerNode:
    """A SuperNode as edgeft knows it: its name and address from its node config, its
    Flower id (random, new at every SuperNode start) for addressing messages."""

    node_id: str
    flower_id: int
    ip: str | None
    compute_power: float
    status: NodeStatus = NodeStatus.ACTIVE
    epochs_trained: int = 0
    fail_reason: str = ""


@dataclass(frozen=True)
class EpochChoice:
    """What the selection made of one round."""

    decision: Decision
    snap: dict[str, PathMetrics]  # the network figures it scored with
    dropped: list[str]
    readmitted: list[str]


class NodeBook:
    """The nodes of one Flower run, their history, and edgeft's strategy over them."""

    def __init__(self, cfg: OrchestratorConfig, nodes: list[FlowerNode], metrics: MetricsSource) -> None:
        ids = [n.node_id for n in nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two SuperNodes have the same node-id in {sorted(ids)}: give each its own --node-config")
        self.cfg = cfg
        self.nodes = {n.node_id: n for n in sorted(nodes, key=lambda n: n.node_id)}
        self.total = len(nodes)
        self.strategy = Strategy.named(cfg.policy, self.total, cfg.training.epochs, cfg.policy_options)
        self.history = {nid: LastSeen() for nid in self.nodes}
        self.rng = np.random.default_rng([cfg.seed, 7])  # the epoch loop's stream: `random` picks alike
        self.scenario = Scenario(cfg.scenario)
        self.metrics = metrics
        self.readmissions = 0

    def by_status(self, *statuses: NodeStatus) -> list[FlowerNode]:
        return [n for n in self.nodes.values() if n.status in statuses]

    def live(self) -> list[FlowerNode]:
        return self.by_status(NodeStatus.ACTIVE, NodeStatus.ELIMINATED)

    def by_flower_id(self, flower_id: int) -> FlowerNode | None:
        return next((n for n in self.nodes.values() if n.flower_id == flower_id), None)

    def fail(self, node_id: str, reason: str) -> None:
        node = self.nodes[node_id]
        node.status, node.fail_reason = NodeStatus.FAILED, reason
        log.warning("node %s failed: %s", node_id, reason)

    def decide(
        self, epoch: int, reports: dict[str, TrainReport], started_at: float, transfer_bytes: int
    ) -> EpochChoice:
        """Remember the round's reports (failed nodes already marked) and ask the strategy
        who trains next; `started_at` is when the round's messages went out (wall clock)."""
        k = self.cfg.emulation.k
        for nid, r in reports.items():
            h = self.history[nid]
            h.train_time_s, h.train_loss, h.samples, h.last_epoch = r.train_time_s, r.loss, r.samples, epoch
            h.round_time_s = max(r.finished_at - started_at, 0.0) / k
            self.nodes[nid].epochs_trained += 1
        live = self.live()
        active = {n.node_id for n in live if n.status == NodeStatus.ACTIVE}
        snap = settle_loss(self.metrics.snapshot([NodeAddress(n.node_id, n.ip) for n in live]))
        ctx = build_context(
            self.cfg, epoch, self.total, live, active, self.history, snap, self.rng, transfer_bytes, self.scenario
        )
        works = [r.work_gflop for r in reports.values() if not math.isnan(r.work_gflop)]
        ctx.work_gflop = max(works) if works else math.nan
        ctx.gflops_per_power = self.cfg.emulation.gflops_per_power
        decision = self.strategy.configure_train(ctx, last_epoch=epoch >= self.cfg.training.epochs - 1)
        dropped, readmitted = apply_decision(live, decision, self.history, epoch)
        self.readmissions += len(readmitted)
        return EpochChoice(decision, snap, dropped, readmitted)
