"""The Flower engine's driver of the epoch core (orchestrator/epoch_core.py), without Flower:
the nodes the run found, what each reported turned into the core's NodeRoundResults, and
the core's Decision and rows, the same code `edgeft orchestrator` runs. The Flower strategy
(orchestrator/flower/network_aware_fedavg.py) only turns the decision into Messages, so a
policy chooses the same nodes on either engine; and it aggregates through the same
guarded round (`NodeBook.aggregate` -> `EpochCore.aggregate`, orchestrator/aggregation.py).

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

from edgeft.flower_contract import TrainReport
from edgeft.paths_api import PathFigures
from orchestrator.aggregation import RoundDiverged, RoundOutcome, Stepper, Tensors
from orchestrator.config import OrchestratorConfig
from orchestrator.epoch_core import EpochCore, EpochRecord, NodeRoundResult, RoundInput
from orchestrator.network_view import MetricsSource
from orchestrator.registry import LIVE_STATUSES, NodeStatus
from orchestrator.strategy import Decision

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
    """What the epoch core made of one round, and what this engine adds to it."""

    record: EpochRecord
    declared: dict[str, float] = field(default_factory=dict)  # each node's own T_i claim
    flagged: dict[str, bool] = field(default_factory=dict)  # claim longer than the measured round trip

    @property
    def decision(self) -> Decision:
        return self.record.decision

    @property
    def snap(self) -> dict[str, PathFigures]:
        """The network figures the selection scored with."""
        return self.record.figures

    @property
    def dropped(self) -> list[str]:
        return self.record.dropped

    @property
    def readmitted(self) -> list[str]:
        return self.record.readmitted


def round_weights(handed_out: dict[str, float], claims: dict[str, float]) -> dict[str, float]:
    """Each reporting node's aggregation weight (`claims`: node -> its claimed tokens): the
    server's own where it handed one out to every node of the round; otherwise every claim
    capped at the round's lower-median claim, or equal weights if that is not positive
    (module docstring)."""
    ids = sorted(claims)
    if all(nid in handed_out for nid in ids):
        return {nid: float(handed_out[nid]) for nid in ids}
    ordered = sorted(max(float(claims[nid]), 0.0) for nid in ids)
    cap = ordered[(len(ordered) - 1) // 2] if ordered else 0.0
    if not cap > 0:  # NaN too
        return {nid: 1.0 for nid in ids}
    return {nid: min(max(float(claims[nid]), 0.0), cap) for nid in ids}


@dataclass(frozen=True)
class RoundSummary:
    """What a Flower round produced besides its reports, for the epoch's rows."""

    expected: list[str] | None = None  # the nodes asked to train (None: those that reported)
    failures: dict[str, str] = field(default_factory=dict)
    version: int = 0
    digest: str = ""
    val_loss: float = math.nan
    epoch_time_s: float = math.nan  # reported


class NodeBook:
    """The nodes of one Flower run and the epoch core (orchestrator/epoch_core.py) over them."""

    def __init__(self, cfg: OrchestratorConfig, nodes: list[FlowerNode], metrics: MetricsSource) -> None:
        ids = [node.node_id for node in nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"two SuperNodes have the same node-id in {sorted(ids)}: give each its own --node-config")
        self.cfg = cfg
        self.nodes = {node.node_id: node for node in sorted(nodes, key=lambda node: node.node_id)}
        self.total = len(nodes)
        # no partition sizes known before the first reports; no coverage column (module docstring of records.py)
        self.core = EpochCore(cfg, {nid: 0 for nid in self.nodes}, metrics)

    @property
    def strategy(self):
        return self.core.strategy

    @property
    def history(self):
        return self.core.history

    @property
    def readmissions(self) -> int:
        return self.core.readmissions

    @property
    def refused(self) -> list[dict]:
        """Updates that did not count: epoch, node_id, reason."""
        return self.core.refused

    @property
    def rolled_back(self) -> list[int]:
        """Rounds rolled back to the previous parameters."""
        return self.core.rolled_back

    def by_status(self, *statuses: NodeStatus) -> list[FlowerNode]:
        return [node for node in self.nodes.values() if node.status in statuses]

    def live(self) -> list[FlowerNode]:
        return self.by_status(*LIVE_STATUSES)

    def by_flower_id(self, flower_id: int) -> FlowerNode | None:
        return next((node for node in self.nodes.values() if node.flower_id == flower_id), None)

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
        """The round's updates through the core's guarded aggregation, the epoch loop's own
        path; a node whose update was refused or made the round non-finite is failed (it gets
        no more messages). Returns the outcome; its indices follow sorted node ids. A
        non-finite round that no update can be blamed for raises RuntimeError naming the round."""
        try:
            outcome, failed = self.core.aggregate(epoch, updates, weights, stepper, evaluate)
        except RoundDiverged as exc:  # nobody to blame: the run stops with the reason, no node failed
            raise RuntimeError(f"round {epoch + 1}: {exc}") from None
        for nid, reason in failed.items():
            self.fail(nid, reason)
        return outcome

    def decide(
        self,
        epoch: int,
        reports: dict[str, TrainReport],
        started_at: float,
        transfer_bytes: int,
        outcome: RoundSummary | None = None,
    ) -> EpochChoice:
        """Hand the round's reports (failed nodes already marked) to the epoch core, which
        remembers them and asks the strategy who trains next; `started_at` is when the
        round's messages went out (wall clock); `outcome` what the round produced, for its rows."""
        outcome = outcome or RoundSummary()
        clock, limits = self.cfg.emulation.clock, self.cfg.enrolment
        results, declared, flagged = {}, {}, {}
        for nid, report in reports.items():
            trip = clock.to_reported(max(report.finished_at - started_at, 0.0))
            declared[nid] = report.train_time_s
            flagged[nid] = report.train_time_s > trip * (1 + limits.train_time_tolerance) + limits.train_time_slack_s
            # T_i is the claim: not measurable on this path (module docstring)
            results[nid] = NodeRoundResult(
                nid,
                report.loss,
                report.samples,
                report.tokens,
                report.work_gflop,
                report.train_time_s,
                trip,
                report.tokens,
                declared_train_time_s=report.train_time_s,
                train_time_flagged=flagged[nid],
                compute_wall_s=report.compute_wall_s,
            )
            self.nodes[nid].epochs_trained += 1
        round_input = RoundInput(
            epoch,
            sorted(outcome.expected if outcome.expected is not None else reports),
            results,
            dict(outcome.failures),
            outcome.version,
            outcome.digest,
            outcome.val_loss,
            outcome.epoch_time_s,
            transfer_bytes,
        )
        return EpochChoice(self.core.close_epoch(round_input, list(self.nodes.values())), declared, flagged)
