"""The simulator's one door to the orchestrator's selection: after each simulated epoch, the same
policies (orchestrator/policies/) choose who trains next from what the strategy would see.

This module is the only place the simulator touches the orchestrator's selection code. Where the
engine-independent epoch core is (issue 27: orchestrator/epoch_core.py), every epoch goes through
`EpochCore.close_epoch`, as the orchestrator's and the Flower engine's do: the measurement model's
figures are the core's network source, the simulated round its RoundInput, and the core remembers,
scores, decides, applies and writes the rows. In a tree without it (before issue 27 lands), the same
steps are taken with the selection pieces directly, exactly as orchestrator/epoch_loop.py took them:
every live node a Candidate with its latest figures (C from the node, B/D/L from the measurement
model, T_i from the round), the config's weights and utopia point, the run's generator seeded
[seed, 7], then Strategy.configure_train and apply_decision. Either way the rows are the
orchestrator's epochs.csv and node_epochs.csv rows, with the columns a simulation has (no losses
under `--training none`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from orchestrator.policies import Candidate, SelectionContext, Truth
from orchestrator.registry import NodeStatus

try:  # issue 27 renames orchestrator/selection.py; either name serves until the epoch core lands
    from orchestrator.selection_context import LastSeen, apply_decision
except ImportError:  # pragma: no cover - the tree before the rename
    from orchestrator.selection import LastSeen, apply_decision  # type: ignore[no-redef]
from orchestrator.strategy import Strategy
from simulator.measurement import Seen

try:  # issue 27's engine-independent epoch: the simulator drives it once it is there
    from orchestrator.epoch_core import EpochCore, NodeRoundResult, RoundInput
except ImportError:  # pragma: no cover - the tree before the epoch core
    EpochCore = None  # type: ignore[assignment,misc]

DEFAULT_WEIGHTS = (0.2, 0.2, 0.2, 0.2, 0.2)  # orchestrator/config.py ScoringConfig: equal weights
DEFAULT_UTOPIA = (1.0, 1.0, 1.0, 1.0, 1.0)  # the ideal node


@dataclass
class SimNode:
    """A node as the selection sees it (the registry's Node has these fields)."""

    node_id: str
    compute_power: float
    samples: int = 0
    status: NodeStatus = NodeStatus.ACTIVE
    ip: str | None = None


@dataclass(frozen=True)
class SimResult:
    """One active node's simulated round: T_i as the orchestrator would measure it and the round
    trip (round start to its result), reported seconds; `timing`: extra node_epochs.csv columns."""

    node_id: str
    train_time_s: float
    round_trip_s: float
    compute_s: float
    samples: int = 0
    work_gflop: float = math.nan
    loss: float = math.nan
    timing: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch's close produced: who trains next (None after the last epoch), the scores the
    policy used, who was benched or re-admitted, and the rows for the run folder."""

    chosen: frozenset[str] | None
    scores: dict[str, float]
    dropped: list[str]
    readmitted: list[str]
    epoch_row: dict
    node_rows: list[dict]


class StrategyAdapter:
    """One run's strategy, driven epoch by epoch by the simulator (module doc)."""

    def __init__(
        self,
        policy: str,
        nodes: Sequence[SimNode],
        epochs: int,
        seed: int,
        weights: Sequence[float] = DEFAULT_WEIGHTS,
        utopia: Sequence[float] = DEFAULT_UTOPIA,
        truth: Mapping[str, tuple[float, float, float]] | None = None,
        options: object | None = None,
    ) -> None:
        self.nodes = list(nodes)
        self.epochs = epochs
        self.strategy = Strategy.named(policy, len(self.nodes), epochs, options)
        self.history = {n.node_id: LastSeen(samples=n.samples) for n in self.nodes}
        self.rng = np.random.default_rng([seed, 7])  # orchestrator/epoch_loop.py's generator
        self.weights, self.utopia = np.array(weights, float), np.array(utopia, float)
        power = {n.node_id: n.compute_power for n in self.nodes}
        self.truth = {i: Truth(i, power[i], *figs) for i, figs in (truth or {}).items() if i in power}
        self.work_gflop = math.nan
        self.readmissions = 0
        self.core = None
        if EpochCore is not None:
            self.core = _core(policy, self.nodes, epochs, seed, weights, utopia, options, self.truth)

    def live(self) -> list[SimNode]:
        return [n for n in self.nodes if n.status != NodeStatus.FAILED]

    def active(self) -> list[SimNode]:
        return [n for n in self.nodes if n.status == NodeStatus.ACTIVE]

    def close_epoch(
        self,
        epoch: int,
        results: Mapping[str, SimResult],
        figures: Mapping[str, Seen],
        epoch_time_s: float,
        transfer_bytes: int,
    ) -> EpochRecord:
        """Remember the round, let the policy choose, apply its choice; the epoch's rows."""
        if self.core is not None:
            return self._close_with_core(epoch, results, figures, epoch_time_s, transfer_bytes)
        expected = sorted(n.node_id for n in self.active())
        for node_id, res in results.items():
            seen = self.history[node_id]
            seen.train_time_s, seen.round_time_s, seen.samples, seen.last_epoch = (
                res.train_time_s,
                res.round_trip_s,
                res.samples or seen.samples,
                epoch,
            )
            if math.isfinite(res.work_gflop):
                self.work_gflop = res.work_gflop
        live = self.live()
        was_active = {n.node_id for n in live if n.status == NodeStatus.ACTIVE}
        ctx = self._context(epoch, live, was_active, figures, transfer_bytes)
        decision = self.strategy.configure_train(ctx, last_epoch=epoch >= self.epochs - 1)
        dropped, readmitted = apply_decision(live, decision, self.history, epoch)
        self.readmissions += len(readmitted)
        epoch_row = {
            "epoch": epoch,
            "version": epoch + 1,
            "active": len(expected),
            "active_nodes": ";".join(expected),
            "eliminated": ";".join(dropped),
            "readmitted": ";".join(readmitted),
            "failed": "",
            "scores": {i: round(s, 6) for i, s in decision.scores.items()},
            "epoch_time_s": epoch_time_s,
        }
        rows = [self._node_row(epoch, i, results.get(i), figures.get(i), decision.scores, dropped) for i in expected]
        return EpochRecord(decision.chosen, decision.scores, dropped, readmitted, epoch_row, rows)

    def _close_with_core(
        self,
        epoch: int,
        results: Mapping[str, SimResult],
        figures: Mapping[str, Seen],
        epoch_time_s: float,
        transfer_bytes: int,
    ) -> EpochRecord:
        """close_epoch through orchestrator/epoch_core.py: the figures as the core's network source
        sees them, the simulated round as its RoundInput; the core writes the rows."""
        core = self.core
        core.network.source.current = {i: _path_figures(seen) for i, seen in figures.items()}
        expected = sorted(n.node_id for n in self.active())
        round_input = RoundInput(
            epoch,
            expected,
            {i: _round_result(res) for i, res in results.items()},
            {},
            epoch + 1,
            "",
            math.nan,
            epoch_time_s,
            transfer_bytes,
            round_span_s=max((r.round_trip_s for r in results.values()), default=None),
        )
        record = core.close_epoch(round_input, self.nodes)
        self.readmissions = core.readmissions
        decision = record.decision
        return EpochRecord(
            decision.chosen, decision.scores, record.dropped, record.readmitted, record.epoch_row, record.node_rows
        )

    def _context(
        self, epoch: int, live: list[SimNode], was_active: set[str], figures: Mapping[str, Seen], transfer: int
    ) -> SelectionContext:
        cands = []
        for node in live:
            seen, h = figures.get(node.node_id), self.history[node.node_id]
            link = {}
            if seen is not None:
                link = dict(bandwidth_mbps=seen.bandwidth_mbps, delay_ms=seen.delay_ms, loss_pct=seen.loss_pct)
            cands.append(
                Candidate(
                    node.node_id,
                    node.node_id in was_active,
                    node.compute_power,
                    **link,
                    train_time_s=h.train_time_s,
                    round_time_s=h.round_time_s,
                    train_loss=h.train_loss,
                    samples=h.samples,
                    last_epoch=h.last_epoch,
                    eliminated_at=h.eliminated_at,
                )
            )
        total = len(self.nodes)
        ctx = SelectionContext(
            epoch, self.epochs, total, cands, self.weights, self.utopia, self.rng, transfer, transfer, self.truth
        )
        ctx.work_gflop = self.work_gflop
        return ctx

    def _node_row(
        self,
        epoch: int,
        node_id: str,
        res: SimResult | None,
        seen: Seen | None,
        scores: Mapping[str, float],
        dropped: Sequence[str],
    ) -> dict:
        node = next(n for n in self.nodes if n.node_id == node_id)
        row: dict = {
            "epoch": epoch,
            "node_id": node_id,
            "status": "eliminated" if node_id in dropped else "active",
            "score": float(scores[node_id]) if node_id in scores else "",
            "compute_power": node.compute_power,
        }
        if seen is not None:
            row.update(
                bandwidth_mbps=seen.bandwidth_mbps,
                delay_ms=seen.delay_ms,
                loss_pct=seen.raw_loss_pct if math.isfinite(seen.raw_loss_pct) else seen.loss_pct,
                loss_scored_pct=seen.loss_pct,
                loss_samples=seen.loss_samples,
                capacity_mbps=seen.capacity_mbps if math.isfinite(seen.capacity_mbps) else "",
            )
        if res is not None:
            row.update(
                train_time_s=res.train_time_s,
                train_time_declared_s=res.compute_s,
                compute_wall_s=res.compute_s,
                round_trip_s=res.round_trip_s,
                samples=res.samples,
                work_gflop=res.work_gflop,
                **res.timing,
            )
        return row


class _SimulatedNetwork:
    """The core's network source: the measurement model's figures of the epoch just simulated."""

    def __init__(self) -> None:
        self.current: dict = {}

    def snapshot(self, nodes: Sequence) -> dict:
        return {n.node_id: self.current[n.node_id] for n in nodes if n.node_id in self.current}


def _core(
    policy: str, nodes: Sequence[SimNode], epochs: int, seed: int, weights, utopia, options, truth: Mapping
) -> object:
    """The run's EpochCore, configured as the orchestrator's config would (weights, utopia, seed);
    the oracles read the drawn network from a truth file, as in a Mininet run."""
    from orchestrator.config import METRIC_KEYS, OrchestratorConfig

    keys = tuple(METRIC_KEYS)  # the scorer's column order (weights and utopia are given in it)
    cfg = OrchestratorConfig(
        nodes=len(nodes),
        policy=policy,
        seed=seed,
        training={"epochs": epochs},
        scoring={"weights": dict(zip(keys, map(float, weights))), "utopia": dict(zip(keys, map(float, utopia)))},
    )
    if options is not None:
        cfg.policy_options = options
    if truth and policy.startswith("oracle"):
        cfg.policy_options.truth_file = _truth_file(truth)
    return EpochCore(cfg, {n.node_id: n.samples for n in nodes}, _SimulatedNetwork(), total_nodes=len(nodes))


def _truth_file(truth: Mapping) -> str:
    """The drawn network as a ground_truth.json for the oracle policies (a temporary file that lives
    as long as the simulation's process)."""
    import atexit
    import json
    import os
    import tempfile
    from dataclasses import asdict

    handle = tempfile.NamedTemporaryFile("w", suffix="-ground_truth.json", delete=False)
    with handle:
        json.dump({"nodes": [asdict(t) for t in truth.values()]}, handle)
    atexit.register(os.unlink, handle.name)
    return handle.name


def _path_figures(seen: Seen) -> object:
    """A measurement model's figures as the network view's PathFigures: a replay's scored loss as the
    scorer used it (no probe count: nothing to adjust), a controller model's probe count as is."""
    from edgeft.paths_api import PathFigures

    raw = seen.raw_loss_pct if math.isfinite(seen.raw_loss_pct) else seen.loss_pct
    return PathFigures(
        seen.bandwidth_mbps,
        seen.delay_ms,
        raw,
        loss_samples=seen.loss_samples,
        capacity_mbps=seen.capacity_mbps,
        scored_loss_pct=seen.loss_pct if seen.loss_samples == 0 else math.nan,
    )


def _round_result(res: SimResult) -> object:
    return NodeRoundResult(
        res.node_id,
        res.loss,
        res.samples,
        0,
        res.work_gflop,
        res.train_time_s,
        res.round_trip_s,
        float(res.samples or 1),
        declared_train_time_s=res.compute_s,
        compute_wall_s=res.compute_s,
        timing=dict(res.timing),
    )
