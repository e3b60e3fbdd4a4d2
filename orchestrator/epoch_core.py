"""The epoch, once for every engine: what happens after a round's results are in.

Given the results that counted and the nodes still in the run, the core remembers the
results, asks the network view for the figures, builds the SelectionContext, asks the
strategy who trains next, gives the nodes the statuses it chose and returns the epoch's
record (its epochs.csv row and node_epochs.csv rows). It also runs a round's updates
through the strategy's guarded aggregation. The engines are drivers around it: the
orchestrator's epoch loop (orchestrator/epoch_loop.py, HTTP), the Flower strategy
(orchestrator/flower/, Flower Messages) and the simulator (simulator/, SimGrid); they
run rounds and move bytes, the core decides and records.

Pure: no I/O, no wall clock. Every time that goes in is a reported time (the emulated
world's seconds): a driver with a wall clock converts with the run's Clock
(edgeft/clock.py), the simulator's times are reported times already. Writing the rows
is the driver's (orchestrator/results.py).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Mapping, Protocol, Sequence

import numpy as np

from edgeft.link_figures import LinkFigures
from edgeft.paths_api import PathFigures
from orchestrator import fairness
from orchestrator.aggregation import RoundDiverged, RoundOutcome, Stepper, Tensors
from orchestrator.config import OrchestratorConfig
from orchestrator.network_view import MetricsSource, NetworkView, NodeAddress
from orchestrator.registry import LIVE_STATUSES, NodeStatus
from orchestrator.scenario import Scenario
from orchestrator.selection_context import LastSeen, apply_decision, build_context
from orchestrator.strategy import Decision, Strategy

log = logging.getLogger(__name__)


class NodeLike(Protocol):
    """A node as the core sees it (registry.Node, flower FlowerNode, a simulated node)."""

    node_id: str
    ip: str | None
    compute_power: float
    status: NodeStatus


@dataclass(frozen=True)
class NodeRoundResult:
    """One node's result that counted this round, in reported seconds."""

    node_id: str
    loss: float  # local training loss
    samples: int
    tokens: int
    work_gflop: float  # the node-epoch's declared work (edgeft/timemodel.py); NaN: not reported
    train_time_s: float  # the T_i the scorer uses: measured by the orchestrator, the claim on Flower
    round_trip_s: float  # from the round's start to the result's arrival
    weight: float  # its aggregation weight: train_loss is the mean weighted by it
    declared_train_time_s: float = math.nan  # the node's own claim
    train_time_flagged: bool = False  # the claim does not fit what the server saw
    compute_wall_s: float = math.nan
    timing: Mapping[str, float] = field(default_factory=dict)  # more node_epochs.csv columns, by name


@dataclass(frozen=True)
class RoundInput:
    """What a driver hands the core after a round and its aggregate."""

    epoch: int
    expected: Sequence[str]  # the nodes asked to train this round
    results: Mapping[str, NodeRoundResult]  # the results that counted (refused ones left out)
    failures: Mapping[str, str]  # node -> why it failed this round
    version: int  # the adapter version after this round's aggregate
    digest: str  # its digest
    val_loss: float
    epoch_time_s: float  # reported
    transfer_bytes: int  # the parameters a node moves per epoch, each way
    round_span_s: float | None = None  # round start -> last result (reported): bubble_s; None: not observed


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch decided, and its rows."""

    decision: Decision
    figures: dict[str, PathFigures]  # the network figures it scored with
    dropped: list[str]
    readmitted: list[str]
    epoch_row: dict
    node_rows: list[dict]


class EpochCore:
    """A run's engine-independent state (strategy, history, tallies) and its epoch."""

    def __init__(
        self,
        cfg: OrchestratorConfig,
        node_samples: Mapping[str, int],
        network: MetricsSource,
        samples_total: int | None = None,
        total_nodes: int | None = None,
    ) -> None:
        """`node_samples`: every node that starts the run -> its partition size (0: unknown);
        `samples_total`: all partitions' samples, for the coverage column (None: left empty)."""
        self.cfg = cfg
        self.total_nodes = len(node_samples) if total_nodes is None else total_nodes
        self.strategy = Strategy.named(
            cfg.policy, self.total_nodes, cfg.training.epochs, cfg.policy_options, cfg.updates
        )
        self.history = {nid: LastSeen(samples=samples) for nid, samples in sorted(node_samples.items())}
        self.rng = np.random.default_rng([cfg.seed, 7])
        self.scenario = Scenario(cfg.scenario)
        self.network = NetworkView(network)
        self.samples_total = samples_total
        self.coverage: list[float] = []
        self.bubbles: list[float] = []
        self.readmissions = 0
        self.work_gflop = math.nan  # a node-epoch's declared work, as the last results reported it
        self.refused: list[dict] = []  # updates that did not count: epoch, node_id, reason
        self.rolled_back: list[int] = []  # epochs whose round was rolled back
        self.not_set_up: list[str] = []  # nodes the policy left out of the set-up (they take no part)

    def aggregate(
        self,
        epoch: int,
        updates: Mapping[str, Tensors],
        weights: Mapping[str, float],
        stepper: Stepper,
        evaluate: Callable[[Tensors], float] | None = None,
    ) -> tuple[RoundOutcome, dict[str, str]]:
        """The round's updates through the strategy's guarded aggregation
        (orchestrator/aggregation.py); returns the outcome and the nodes whose update was
        refused or made the round non-finite, with the reason (the driver fails them and
        leaves their results out). Raises RoundDiverged when nobody can be blamed."""
        ids = sorted(updates)
        try:
            outcome = self.strategy.aggregate_round(
                [updates[nid] for nid in ids], [weights[nid] for nid in ids], stepper, evaluate
            )
        except RoundDiverged:
            self.rolled_back.append(epoch)
            raise
        if outcome.rolled_back:
            self.rolled_back.append(epoch)
        failed = {ids[index]: reason for index, reason in sorted(outcome.failed().items())}
        self.refused.extend({"epoch": epoch, "node_id": nid, "reason": reason} for nid, reason in failed.items())
        return outcome, failed

    def choose_setup(self, nodes: Sequence[NodeLike], setup_bytes: int) -> frozenset[str]:
        """Who of the enrolled `nodes` is set up: the strategy's choice (orchestrator/strategy.py
        configure_setup; every node unless the policy chooses) from what is measured before any
        training: the network view's figures now and each node's data.
        `setup_bytes`: what one node downloads in its set-up (base, partition, adapter, padding).
        The nodes left out get status ENROLLED (never live: no task, no parameters, no score) and
        are named in `not_set_up`. A policy that does not choose costs nothing here: no figures
        are asked for, so its runs stay exactly as they were."""
        ids = frozenset(node.node_id for node in nodes)
        if not self.strategy.chooses_setup:
            return ids
        figures = self.network.snapshot([NodeAddress(node.node_id, node.ip) for node in nodes])
        context = build_context(
            self.cfg,
            -1,
            self.total_nodes,
            list(nodes),
            set(),
            self.history,
            figures,
            self.rng,
            setup_bytes,
            self.scenario,
        )
        context.upload_bytes = 0
        chosen = self.strategy.configure_setup(context)
        for node in nodes:
            if node.node_id not in chosen:
                node.status = NodeStatus.ENROLLED
        self.not_set_up = sorted(ids - chosen)
        if self.not_set_up:
            log.info(
                "policy %s sets up %d of %d nodes; left out: %s",
                self.cfg.policy,
                len(chosen),
                len(ids),
                self.not_set_up,
            )
        return chosen

    def snapshot(self, nodes: Sequence[NodeLike]) -> dict[str, PathFigures]:
        """The network view's figures of the live ones of `nodes` (those that have not failed)."""
        return self.network.snapshot([NodeAddress(node.node_id, node.ip) for node in _live(nodes)])

    def close_epoch(
        self, round_input: RoundInput, nodes: Sequence[NodeLike], figures: dict[str, PathFigures] | None = None
    ) -> EpochRecord:
        """Remember the results, snapshot the figures of the live nodes (every one of
        `nodes`, the run's, that has not failed; this round's failures already marked), ask
        the strategy, apply its decision to them and return the record. `figures`: a snapshot
        the driver took already (`snapshot`), when its results depend on it (the orchestrator
        measures T_i with the links). ValueError when the policy chose nobody."""
        epoch, results = round_input.epoch, round_input.results
        live = _live(nodes)
        self.remember(epoch, results.values())
        if figures is None:
            figures = self.snapshot(live)
        active = {node.node_id for node in live if node.status == NodeStatus.ACTIVE}
        context = build_context(
            self.cfg,
            epoch,
            self.total_nodes,
            live,
            active,
            self.history,
            figures,
            self.rng,
            round_input.transfer_bytes,
            self.scenario,
        )
        context.work_gflop, context.gflops_per_power = self.work_gflop, self.cfg.emulation.gflops_per_power
        decision = self.strategy.configure_train(context, last_epoch=epoch >= self.cfg.training.epochs - 1)
        dropped, readmitted = apply_decision(live, decision, self.history, epoch)
        self.readmissions += len(readmitted)
        record = EpochRecord(decision, figures, dropped, readmitted, {}, [])
        powers = {node.node_id: node.compute_power for node in nodes}
        return EpochRecord(
            decision,
            figures,
            dropped,
            readmitted,
            self._epoch_row(round_input, record),
            [self._node_row(round_input, record, nid, powers[nid]) for nid in sorted(round_input.expected)],
        )

    def remember(self, epoch: int, results: Iterable[NodeRoundResult]) -> None:
        """The latest figures of every node that delivered, and the round's declared work."""
        works = remember(self.history, epoch, results)
        self.work_gflop = max(works) if works else self.work_gflop

    def _epoch_row(self, round_input: RoundInput, record: EpochRecord) -> dict:
        """The epochs.csv row (orchestrator/results.py EPOCH_FIELDS) the engines share."""
        results = [round_input.results[nid] for nid in sorted(round_input.results)]
        total_weight = sum(result.weight for result in results)
        weighted = sum(result.loss * result.weight for result in results)
        row = {
            "epoch": round_input.epoch,
            "version": round_input.version,
            "active": len(round_input.expected),
            "active_nodes": ";".join(sorted(round_input.expected)),
            "eliminated": ";".join(record.dropped),
            "readmitted": ";".join(record.readmitted),
            "failed": ";".join(sorted(round_input.failures)),
            "scores": {nid: round(score, 6) for nid, score in record.decision.scores.items()},
            "train_loss": weighted / (total_weight or 1) if results else math.nan,
            "val_loss": round_input.val_loss,
            "epoch_time_s": round_input.epoch_time_s,
            "adapter_digest": round_input.digest,
        }
        if self.samples_total is not None:
            self.coverage.append(fairness.coverage(sum(result.samples for result in results), self.samples_total))
            row["coverage"] = self.coverage[-1]
        if round_input.round_span_s is not None:
            trips = [result.round_trip_s for result in results]
            self.bubbles.append(fairness.bubble_time(round_input.round_span_s, trips))
            row["bubble_s"] = self.bubbles[-1]
        return row

    def _node_row(self, round_input: RoundInput, record: EpochRecord, nid: str, compute_power: float) -> dict:
        """One node's node_epochs.csv row (orchestrator/results.py NODE_EPOCH_FIELDS)."""
        result, path = round_input.results.get(nid), record.figures.get(nid)
        failed = nid in round_input.failures
        row = {
            "epoch": round_input.epoch,
            "node_id": nid,
            "status": "failed" if failed else ("eliminated" if nid in record.dropped else "active"),
            "score": float(record.decision.scores[nid]) if nid in record.decision.scores else "",
            "compute_power": compute_power,
            # scored as neutral (orchestrator/scoring.py)
            "missing_figures": ";".join(path.missing if path else LinkFigures.FIELDS),
        }
        if path:
            row.update(**asdict(path.link), metrics_stale=path.stale, loss_scored_pct=path.loss_for_scoring)
            row.update(loss_samples=path.loss_samples, capacity_mbps=path.capacity_mbps)
            row.update(capacity_source=path.capacity_source)
        if result:
            row.update(train_time_s=result.train_time_s, train_time_declared_s=result.declared_train_time_s)
            row.update(train_time_flagged=result.train_time_flagged, compute_wall_s=result.compute_wall_s)
            row.update(round_trip_s=result.round_trip_s, loss=result.loss, samples=result.samples)
            row.update(tokens=result.tokens, work_gflop=result.work_gflop, **result.timing)
        return row


def remember(history: dict[str, LastSeen], epoch: int, results: Iterable[NodeRoundResult]) -> list[float]:
    """Each delivering node's latest figures into `history`; returns the declared works reported."""
    works = []
    for result in results:
        seen = history[result.node_id]
        seen.train_time_s, seen.round_time_s, seen.train_loss = result.train_time_s, result.round_trip_s, result.loss
        seen.samples, seen.last_epoch = result.samples, epoch
        if not math.isnan(result.work_gflop):
            works.append(result.work_gflop)
    return works


def _live(nodes: Sequence[NodeLike]) -> list[NodeLike]:
    """The nodes still in the run, in the driver's order (a policy's random draw follows it)."""
    return [node for node in nodes if node.status in LIVE_STATUSES]
