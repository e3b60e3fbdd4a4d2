"""edgeft's node selection for a Flower run, without Flower: the nodes the run found,
what each reported, and the Decision of the same Strategy (orchestrator/strategy.py)
with the same SelectionContext (orchestrator/selection.py) that `edgeft orchestrator`
uses. The Flower strategy (orchestrator/flower/strategy.py) only turns its answers
into Messages, so a policy chooses the same nodes on either engine; and it aggregates
through the same guarded round (`NodeBook.aggregate`, orchestrator/aggregation.py).

Training time on this path cannot be measured: the server sees a round trip only,
from the round's messages going out to a reply being pulled (`TrainReport.finished_at`,
which the strategy sets to the moment its Grid pulled the reply, not the node's own
stamp). That trip holds the node's compute and also both parameter transfers through
the SuperLink, the SuperNode's idle poll (up to 3 s) and the ClientApp's process start,
none timed apart; on loopback it read 10-29 s for compute windows of 0.9-3.7 s, the
same for every node pulled in one batch. Scoring that would rank nodes by noise. So
here the scorer's T_i stays the node's claim (recorded as `train_time_declared_s`
too), `round_trip_s` is the server's measurement, and a claim is flagged when it
exceeds that round trip by more than the tolerance (provably false); a claim below it
cannot be told from the untimed parts. `edgeft orchestrator` measures T_i itself.

Aggregation weights are what the server handed out (edgeft's ServerApp: each node's
label tokens). A ServerApp that hands out none leaves only each node's own claim
(`num-tokens`, else `num-examples`), which a node can inflate: `round_weights` caps
every claim at the round's lower-median claim, so no node weighs more than a typical
one (a node claiming 1e12 tokens counts like its median peer; claims of zero or less
all round give equal weights)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from edgeft.flower_contract import TrainReport
from orchestrator.aggregation import RoundDiverged, RoundOutcome, Stepper, Tensors
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
    declared: dict[str, float] = field(default_factory=dict)  # each node's own T_i claim
    flagged: dict[str, bool] = field(default_factory=dict)  # claim longer than the measured round trip


def round_weights(handed_out: dict[str, float], claims: dict[str, float]) -> dict[str, float]:
    """Each reporting node's aggregation weight (`claims`: node -> its claimed tokens): the
    server's own where it handed one out to every node of the round; otherwise every claim
    capped at the round's lower-median claim, or equal weights if that is not positive
    (module docstring)."""
    ids = sorted(claims)
    if all(i in handed_out for i in ids):
        return {i: float(handed_out[i]) for i in ids}
    ordered = sorted(max(float(claims[i]), 0.0) for i in ids)
    cap = ordered[(len(ordered) - 1) // 2] if ordered else 0.0
    if not cap > 0:  # NaN too
        return {i: 1.0 for i in ids}
    return {i: min(max(float(claims[i]), 0.0), cap) for i in ids}


class NodeBook:
    """The nodes of one Flower run, their history, and edgeft's strategy over them."""

    def __init__(self, cfg: OrchestratorConfig, nodes: list[FlowerNode], metrics: MetricsSource) -> None:
        ids = [n.node_id for n in nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two SuperNodes have the same node-id in {sorted(ids)}: give each its own --node-config")
        self.cfg = cfg
        self.nodes = {n.node_id: n for n in sorted(nodes, key=lambda n: n.node_id)}
        self.total = len(nodes)
        self.strategy = Strategy.named(cfg.policy, self.total, cfg.training.epochs, cfg.policy_options, cfg.updates)
        self.history = {nid: LastSeen() for nid in self.nodes}
        self.rng = np.random.default_rng([cfg.seed, 7])  # the epoch loop's stream: `random` picks alike
        self.scenario = Scenario(cfg.scenario)
        self.metrics = metrics
        self.readmissions = 0
        self.refused: list[dict] = []  # updates that did not count: epoch, node_id, reason
        self.rolled_back: list[int] = []  # rounds rolled back to the previous parameters

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

    def aggregate(
        self,
        epoch: int,
        updates: dict[str, Tensors],
        weights: dict[str, float],
        stepper: Stepper,
        evaluate: Callable[[Tensors], float] | None = None,
    ) -> RoundOutcome:
        """The round's updates through the strategy's guarded aggregation, the epoch loop's
        own path; a node whose update was refused or made the round non-finite is failed
        (it gets no more messages). Returns the outcome; its indices follow sorted node ids.
        A non-finite round that no update can be blamed for raises RuntimeError naming the round."""
        ids = sorted(updates)
        try:
            outcome = self.strategy.aggregate_round(
                [updates[i] for i in ids], [weights[i] for i in ids], stepper, evaluate
            )
        except RoundDiverged as exc:  # nobody to blame: the run stops with the reason, no node failed
            self.rolled_back.append(epoch)
            raise RuntimeError(f"round {epoch + 1}: {exc}") from None
        if outcome.rolled_back:
            self.rolled_back.append(epoch)
        for index, reason in sorted(outcome.failed().items()):
            self.fail(ids[index], reason)
            self.refused.append({"epoch": epoch, "node_id": ids[index], "reason": reason})
        return outcome

    def decide(
        self, epoch: int, reports: dict[str, TrainReport], started_at: float, transfer_bytes: int
    ) -> EpochChoice:
        """Remember the round's reports (failed nodes already marked) and ask the strategy
        who trains next; `started_at` is when the round's messages went out (wall clock)."""
        k, en = self.cfg.emulation.k, self.cfg.enrolment
        declared, flagged = {}, {}
        for nid, r in reports.items():
            h = self.history[nid]
            h.train_loss, h.samples, h.last_epoch = r.loss, r.samples, epoch
            h.round_time_s = max(r.finished_at - started_at, 0.0) / k
            h.train_time_s = r.train_time_s  # the claim: not measurable on this path (module docstring)
            declared[nid] = r.train_time_s
            flagged[nid] = r.train_time_s > h.round_time_s * (1 + en.train_time_tolerance) + en.train_time_slack_s
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
        return EpochChoice(decision, snap, dropped, readmitted, declared, flagged)
