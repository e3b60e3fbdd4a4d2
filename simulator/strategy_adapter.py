"""The simulator's one door to the orchestrator's selection: after each simulated epoch, the same
policies (orchestrator/policies/) choose who trains next from what the strategy would see.

Every simulated epoch goes through the engine-independent epoch core (orchestrator/epoch_core.py,
issue 27), as the orchestrator's and the Flower engine's epochs do: the measurement model's figures
(simulator/measurement.py) are the core's network source, the simulated round is its RoundInput
(T_i and round trips in simulated seconds, which are reported seconds: Clock.identity()), and the
core remembers, builds the SelectionContext, asks the strategy, applies its decision to the nodes
and writes the epochs.csv and node_epochs.csv rows (no losses under `--training none`). This module
is the only place the simulator touches that code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from orchestrator.epoch_core import EpochCore, NodeRoundResult, RoundInput
from orchestrator.registry import LIVE_STATUSES, NodeStatus
from simulator.measurement import Seen

DEFAULT_WEIGHTS = (0.2, 0.2, 0.2, 0.2, 0.2)  # orchestrator/config.py ScoringConfig: equal weights
DEFAULT_UTOPIA = (1.0, 1.0, 1.0, 1.0, 1.0)  # the ideal node
LINK_KEYS = ("bandwidth_mbps", "delay_ms", "loss_pct")


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
    loss: float = math.nan  # its local training loss (NaN under `--training none`)
    timing: Mapping[str, float] = field(default_factory=dict)
    weight: float = math.nan  # its aggregation weight (label tokens); NaN: its samples, as before


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
        power = {n.node_id: n.compute_power for n in self.nodes}
        drawn = {
            i: {"node_id": i, "compute_power": power[i], **dict(zip(LINK_KEYS, figs))}
            for i, figs in (truth or {}).items()
            if i in power
        }
        # the oracles read the drawn network from a file, as in a Mininet run; this run owns it (close())
        self.truth_path = _truth_file(drawn) if drawn and policy.startswith("oracle") else None
        try:
            self.core = _core(policy, self.nodes, epochs, seed, weights, utopia, options, self.truth_path)
        except BaseException:
            self.close()  # no run will: the caller never gets this adapter
            raise

    def close(self) -> None:
        """Remove what the run wrote outside its folder (the oracles' truth file). Called when the run
        ends: a pool worker leaves by os._exit, so an atexit hook would never run there."""
        if self.truth_path:
            _remove(self.truth_path)
            self.truth_path = None

    @property
    def readmissions(self) -> int:
        return self.core.readmissions

    def live(self) -> list[SimNode]:
        """The nodes in the run: set up and not failed (trained or benched)."""
        return [n for n in self.nodes if n.status in LIVE_STATUSES]

    def choose_setup(self, figures: Mapping[str, Seen], setup_bytes: int) -> frozenset[str]:
        """Who is set up (EpochCore.choose_setup): every node unless the policy chooses, from the
        measurement model's figures as the set-up starts; the others are left ENROLLED."""
        self.core.network.source.current = {i: _path_figures(seen) for i, seen in figures.items()}
        return self.core.choose_setup(self.nodes, setup_bytes)

    @property
    def chooses_setup(self) -> bool:
        return self.core.strategy.chooses_setup

    @property
    def not_set_up(self) -> list[str]:
        return list(self.core.not_set_up)

    def active(self) -> list[SimNode]:
        return [n for n in self.nodes if n.status == NodeStatus.ACTIVE]

    def close_epoch(
        self,
        epoch: int,
        results: Mapping[str, SimResult],
        figures: Mapping[str, Seen],
        epoch_time_s: float,
        transfer_bytes: int,
        val_loss: float = math.nan,
        digest: str = "",
        failures: Mapping[str, str] | None = None,
    ) -> EpochRecord:
        """EpochCore.close_epoch on the simulated round: the figures as the core's network source sees
        them, the round as its RoundInput; who trains next and the rows. `val_loss` and `digest`: the
        aggregated adapter's (simulator/training.py; NaN and '' without training); `failures`: nodes
        that trained this epoch but whose update did not count (failed for the run, as the
        orchestrator does: their status must be FAILED already), with the reason."""
        self.core.network.source.current = {i: _path_figures(seen) for i, seen in figures.items()}
        failures = dict(failures or {})
        round_input = RoundInput(
            epoch,
            sorted([n.node_id for n in self.active()] + list(failures)),
            {i: _round_result(res) for i, res in results.items()},
            failures,
            epoch + 1,
            digest,
            val_loss,
            epoch_time_s,
            transfer_bytes,
            round_span_s=max((r.round_trip_s for r in results.values()), default=None),
        )
        record = self.core.close_epoch(round_input, self.nodes)
        decision = record.decision
        return EpochRecord(
            decision.chosen, decision.scores, record.dropped, record.readmitted, record.epoch_row, record.node_rows
        )


class _SimulatedNetwork:
    """The core's network source: the measurement model's figures of the epoch just simulated."""

    def __init__(self) -> None:
        self.current: dict = {}

    def snapshot(self, nodes: Sequence) -> dict:
        return {n.node_id: self.current[n.node_id] for n in nodes if n.node_id in self.current}


def _core(
    policy: str, nodes: Sequence[SimNode], epochs: int, seed: int, weights, utopia, options, truth_path: str | None
) -> EpochCore:
    """The run's EpochCore, configured as the orchestrator's config would (weights, utopia, seed);
    `truth_path`: the drawn network for the oracles (None for every other policy)."""
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
    if truth_path:
        cfg.policy_options.truth_file = truth_path
    return EpochCore(cfg, {n.node_id: n.samples for n in nodes}, _SimulatedNetwork(), total_nodes=len(nodes))


def _truth_file(truth: Mapping) -> str:
    """The drawn network as a ground_truth.json for the oracle policies: a temporary file that the
    adapter removes when the run ends (StrategyAdapter.close), and at the latest when an interpreter
    that exits normally does (a caller that never closes: a test driving prepare_run)."""
    import atexit
    import json
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix="-ground_truth.json", delete=False)
    with handle:
        json.dump({"nodes": list(truth.values())}, handle)
    atexit.register(_remove, handle.name)
    return handle.name


def _remove(path: str) -> None:
    """Remove a file that may be gone already."""
    import os

    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _path_figures(seen: Seen) -> object:
    """A measurement model's figures as the network view's PathFigures: a replay's scored loss as the
    recording's scorer used it, final (its probe count withheld, so the network view does not settle
    it again: the recording settled it among every live node, benched ones too, whose figures the
    run folder does not hold, so settling it among the active ones alone can tie nodes it did not),
    a controller model's probe count as is."""
    from edgeft.paths_api import PathFigures

    raw = seen.raw_loss_pct if math.isfinite(seen.raw_loss_pct) else seen.loss_pct
    return PathFigures(
        seen.bandwidth_mbps,
        seen.delay_ms,
        raw,
        loss_samples=0 if seen.settled else seen.loss_samples,
        capacity_mbps=seen.capacity_mbps,
        scored_loss_pct=seen.loss_pct if seen.settled or seen.loss_samples == 0 else math.nan,
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
        res.weight if math.isfinite(res.weight) else float(res.samples or 1),
        declared_train_time_s=res.compute_s,
        compute_wall_s=res.compute_s,
        timing=dict(res.timing),
    )
