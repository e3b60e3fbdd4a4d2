"""What the strategy sees of the network in a simulated run: three measurement models (pure, no SimGrid).

The strategy must see what it would see in the emulation, not the simulator's own truth, or a
simulated selection answers a different question. Three models, chosen with `--measurement`:

- `truth`: the drawn link figures (ground truth), exactly; loss without probe counts, so the scorer
  takes it as it is.
- `controller`: ground truth through a noise model fitted to what the SDN controller reported in
  recorded Mininet runs (docs/simulator.md, "The controller's noise"): per node a persistent error
  and per epoch a fresh one, both log-normal, for the capacity estimate and for the delay; loss
  from the probes a window holds (Binomial draws at the true loss, the window filling at the probe
  rate over the run's wall time), scored with the same shrinkage and Wilson tie rule as
  edgeft/loss_confidence.py (orchestrator/network_view.settle_loss).
- `replay RUN_DIR`: the figures a recorded run's node_epochs.csv shows, epoch by epoch (the scored
  loss as the scorer used it), and the training time T_i it recorded. Nothing else from the
  recording: no download, upload, waiting, round-trip or epoch time enters a simulation.

`NoiseModel.fit` turns (measured, truth) pairs into the model; fitting on named calibration runs
and reporting on the others is experiments/validate_simulation.py's `--fit-noise`.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Protocol, Sequence

import numpy as np

from edgeft.clock import Clock
from edgeft.loss_confidence import LossCount, scored_loss

MEASUREMENTS = ("truth", "controller", "replay")


@dataclass(frozen=True)
class Seen:
    """One node's figures as the strategy sees them after an epoch. `loss_pct` is the loss the
    scorer uses (already shrunk and tied where it came from probes); NaN: not measured."""

    bandwidth_mbps: float
    delay_ms: float
    loss_pct: float
    raw_loss_pct: float = math.nan  # the probes' own figure, before the scorer's adjustment
    loss_samples: int = 0
    capacity_mbps: float = math.nan
    train_time_s: float = math.nan  # replay only: the T_i the recording's scorer used
    settled: bool = False  # replay: loss_pct is the recording's scored loss, final (never settled again)


@dataclass(frozen=True)
class Moments:
    """A log-normal error split in two: log(measured / truth) = mean + per-node + per-epoch."""

    mean: float = 0.0
    between_sd: float = 0.0  # across nodes: a node's persistent error
    within_sd: float = 0.0  # across a node's epochs

    def draw(self, rng: np.random.Generator, node_offsets: np.ndarray) -> np.ndarray:
        """Log-errors for one epoch, given each node's persistent offset (between_sd draws)."""
        return self.mean + node_offsets + rng.normal(0.0, self.within_sd, len(node_offsets))


@dataclass(frozen=True)
class NoiseModel:
    """The controller's measurement error (module doc), with the runs it was fitted on."""

    bandwidth: Moments = Moments()
    delay: Moments = Moments()
    probe_hz: float = 2.0  # probes per wall second per node (edgeft compare --probe-hz)
    loss_window: int = 600  # probes behind a loss figure (--loss-window)
    probes_at_start: float = 0.0  # probes already sent when the run's clock starts (wall-clock lead)
    fitted_on: tuple[str, ...] = ()
    pairs: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> "NoiseModel":
        return cls(
            Moments(**data.get("bandwidth", {})),
            Moments(**data.get("delay", {})),
            float(data.get("probe_hz", 2.0)),
            int(data.get("loss_window", 600)),
            float(data.get("probes_at_start", 0.0)),
            tuple(data.get("fitted_on", ())),
            int(data.get("pairs", 0)),
        )

    @classmethod
    def load(cls, path: str | Path) -> "NoiseModel":
        return cls.from_dict(json.loads(Path(path).read_text()))

    def samples_at(self, wall_s: float) -> int:
        """Probes behind a loss figure after `wall_s` wall seconds of the run."""
        return int(min(self.loss_window, max(1.0, self.probes_at_start + self.probe_hz * max(wall_s, 0.0))))


def fit_moments(groups: Mapping[str, Sequence[float]]) -> Moments:
    """One-way random-effects moments of log-ratios grouped by node: the grand mean, the sd of the
    node means (less the share the within-node spread explains) and the pooled within-node sd."""
    cleaned = {k: [v for v in vs if math.isfinite(v)] for k, vs in groups.items()}
    cleaned = {k: vs for k, vs in cleaned.items() if vs}
    if not cleaned:
        return Moments()
    values = [v for vs in cleaned.values() for v in vs]
    mean = float(np.mean(values))
    dof = sum(len(vs) - 1 for vs in cleaned.values())
    within_var = sum(float(np.sum((np.asarray(vs) - np.mean(vs)) ** 2)) for vs in cleaned.values()) / dof if dof else 0
    node_means = np.array([np.mean(vs) for vs in cleaned.values()])
    per_node = float(np.mean([1.0 / len(vs) for vs in cleaned.values()]))
    between_var = float(np.var(node_means, ddof=1)) - within_var * per_node if len(node_means) > 1 else 0.0
    return Moments(mean, math.sqrt(max(between_var, 0.0)), math.sqrt(max(within_var, 0.0)))


@dataclass(frozen=True)
class Pair:
    """One recorded node-epoch: what the controller reported against the drawn link."""

    run: str
    node_id: str
    measured_bandwidth: float
    truth_bandwidth: float
    measured_delay: float
    truth_delay: float
    loss_samples: int = 0
    wall_s: float = math.nan  # wall seconds since the run's clock started, at this figure


def fit_noise(pairs: Iterable[Pair], probe_hz: float = 2.0, loss_window: int = 600) -> NoiseModel:
    """The NoiseModel of these recorded pairs (module doc); nodes are grouped per run."""
    pairs = list(pairs)
    bw: dict[str, list[float]] = {}
    delay: dict[str, list[float]] = {}
    leads = []
    for p in pairs:
        key = f"{p.run}/{p.node_id}"
        if p.measured_bandwidth > 0 and p.truth_bandwidth > 0:
            bw.setdefault(key, []).append(math.log(p.measured_bandwidth / p.truth_bandwidth))
        if p.measured_delay > 0 and p.truth_delay > 0:
            delay.setdefault(key, []).append(math.log(p.measured_delay / p.truth_delay))
        if 0 < p.loss_samples < loss_window and math.isfinite(p.wall_s):
            leads.append(p.loss_samples - probe_hz * p.wall_s)
    return NoiseModel(
        fit_moments(bw),
        fit_moments(delay),
        probe_hz,
        loss_window,
        float(np.median(leads)) if leads else 0.0,
        tuple(sorted({p.run for p in pairs})),
        len(pairs),
    )


class MeasurementModel(Protocol):
    """The figures the strategy sees of the live nodes after epoch `epoch`, `wall_s` wall seconds
    into the run (the completion clock times the dilation)."""

    name: str

    def figures(self, epoch: int, node_ids: Sequence[str], wall_s: float) -> dict[str, Seen]: ...


@dataclass
class TruthModel:
    """Ground truth, as drawn: {node_id: (bandwidth_mbps, delay_ms, loss_pct)}."""

    truth: Mapping[str, tuple[float, float, float]]
    name: str = "truth"

    def figures(self, epoch: int, node_ids: Sequence[str], wall_s: float) -> dict[str, Seen]:
        return {i: Seen(*self.truth[i], raw_loss_pct=self.truth[i][2]) for i in node_ids if i in self.truth}


@dataclass
class ControllerModel:
    """Ground truth through a NoiseModel; `seed` fixes every draw (a node's persistent error too).
    `draw` picks another realisation of the same noise for the same run (0: the run's own), so that a
    validation can ask how far the noise alone moves a run whose selections hang on thin margins."""

    truth: Mapping[str, tuple[float, float, float]]
    noise: NoiseModel
    seed: int = 0
    draw: int = 0
    name: str = "controller"
    _offsets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def _key(self) -> list[int]:
        # draw 0 keeps the streams every earlier run used: [seed, 28] and [seed, 28, epoch + 1]. NumPy's
        # SeedSequence pads a key with zeros, so [seed, 28, 0, ...] would equal [seed, 28] for draw 0;
        # what keeps a draw's streams apart from draw 0's per-epoch ones is the third word, 0 here and
        # epoch + 1 >= 1 there (and the fourth, the draw, apart from each other). Keep that third 0.
        return [self.seed, 28] if self.draw == 0 else [self.seed, 28, 0, self.draw]

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self._key())
        ids = sorted(self.truth)
        bw = rng.normal(0.0, self.noise.bandwidth.between_sd, len(ids))
        delay = rng.normal(0.0, self.noise.delay.between_sd, len(ids))
        self._offsets = {i: (float(b), float(d)) for i, b, d in zip(ids, bw, delay)}

    def figures(self, epoch: int, node_ids: Sequence[str], wall_s: float) -> dict[str, Seen]:
        ids = [i for i in node_ids if i in self.truth]
        rng = np.random.default_rng([*self._key(), epoch + 1])
        bw_err = self.noise.bandwidth.draw(rng, np.array([self._offsets[i][0] for i in ids]))
        delay_err = self.noise.delay.draw(rng, np.array([self._offsets[i][1] for i in ids]))
        samples = self.noise.samples_at(wall_s)
        lost = rng.binomial(samples, [min(self.truth[i][2] / 100, 1.0) for i in ids]) if ids else []
        counts = [LossCount(int(n), samples) for n in lost]
        scored = scored_loss(counts)
        out = {}
        for j, i in enumerate(ids):
            bandwidth, delay, _ = self.truth[i]
            capacity = bandwidth * math.exp(bw_err[j])
            seen_delay = delay * math.exp(delay_err[j])
            out[i] = Seen(capacity, seen_delay, scored[j], 100 * lost[j] / samples, samples, capacity)
        return out


@dataclass
class ReplayModel:
    """A recorded run's node_epochs.csv figures, by (epoch, node) (module doc)."""

    rows: Mapping[tuple[int, str], Seen]
    name: str = "replay"

    @classmethod
    def from_run(cls, run_dir: str | Path) -> "ReplayModel":
        return cls(read_seen(Path(run_dir) / "node_epochs.csv"))

    def figures(self, epoch: int, node_ids: Sequence[str], wall_s: float) -> dict[str, Seen]:
        return {i: self.rows[(epoch, i)] for i in node_ids if (epoch, i) in self.rows}


def _num(row: Mapping[str, str], key: str) -> float:
    try:
        return float(row.get(key) or "nan")
    except ValueError:
        return math.nan


def read_seen(path: Path) -> dict[tuple[int, str], Seen]:
    """What the strategy saw per (epoch, node) in a node_epochs.csv: the figures, the scored loss
    (loss_scored_pct; older folders without it: loss_pct) and T_i (train_time_s)."""
    out = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            scored = _num(row, "loss_scored_pct")
            out[(int(row["epoch"]), row["node_id"])] = Seen(
                _num(row, "bandwidth_mbps"),
                _num(row, "delay_ms"),
                _num(row, "loss_pct") if math.isnan(scored) else scored,
                _num(row, "loss_pct"),
                int(_num(row, "loss_samples")) if math.isfinite(_num(row, "loss_samples")) else 0,
                _num(row, "capacity_mbps"),
                _num(row, "train_time_s"),
                settled=not math.isnan(scored),
            )
    return out


def recorded_pairs(run_dir: Path) -> list[Pair]:
    """A recorded run's (controller figure, drawn link) pairs, for fit_noise. `wall_s` is the
    figure's wall time since the run's clock started: the recorded epoch ends times the dilation
    (a calibration input, never a simulation's)."""
    truth = {n["node_id"]: n for n in json.loads((run_dir / "ground_truth.json").read_text())["nodes"]}
    config = json.loads((run_dir / "config.json").read_text()).get("config", {})
    dilation = float((config.get("emulation") or {}).get("dilation") or 1.0)
    ends, clock = {}, _setup_s(run_dir)
    with (run_dir / "epochs.csv").open() as fh:
        for row in csv.DictReader(fh):
            clock += _num(row, "epoch_time_s")
            ends[int(row["epoch"])] = clock
    pairs = []
    with (run_dir / "node_epochs.csv").open() as fh:
        for row in csv.DictReader(fh):
            node = truth.get(row["node_id"])
            if node is None:
                continue
            samples = _num(row, "loss_samples")
            pairs.append(
                Pair(
                    run_dir.name,
                    row["node_id"],
                    _num(row, "bandwidth_mbps"),
                    float(node["bandwidth_mbps"]),
                    _num(row, "delay_ms"),
                    float(node["delay_ms"]),
                    int(samples) if math.isfinite(samples) else 0,
                    Clock(dilation).to_wall(ends.get(int(row["epoch"]), math.nan)),
                )
            )
    return pairs


def _setup_s(run_dir: Path) -> float:
    """The recorded set-up's length: completion time less the epochs (calibration only)."""
    summary = json.loads((run_dir / "summary.json").read_text())
    with (run_dir / "epochs.csv").open() as fh:
        total = sum(_num(r, "epoch_time_s") for r in csv.DictReader(fh))
    return max(float(summary.get("completion_time_s", 0.0)) - total, 0.0)
