"""How far a simulated run is from the recorded Mininet run it replays (pure: numbers in, numbers out).

Per run: the completion-time error (simulated - measured) / measured, the per-epoch time R² and median
relative error, and whether every selection matched (each epoch's active nodes and eliminations).
Pooled: the median and largest |completion error|, R² over every epoch of every run, and the
NE/AR completion-time ratio per (nodes, setup, seed) from both. Targets (issue 28): median
|error| <= 5 %, max <= 15 %, per-epoch R² >= 0.95.

What the simulator cannot derive is fitted here on named calibration runs: the round trips a
download and an upload phase take beyond the protocol model (`fit_round_trips`), then the set-up's
excess over its simulation (reported seconds) and each epoch's (the server's aggregation and
validation, wall seconds: reported x the run's k) (`fit_overheads`), medians over the runs. Runs
used for the fit are reported apart.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

from edgeft.clock import Clock
from edgeft.link_figures import LinkFigures
from orchestrator import fidelity
from orchestrator.fidelity import median_rel_err, r_squared
from simulator.recorded import RecordedTimes

TARGET_MEDIAN, TARGET_MAX, TARGET_R2 = 0.05, 0.15, 0.95
TARGET_SEED_GAP = 0.1  # controller mode: each seed's simulated NE/AR within this of the measured one


@dataclass(frozen=True)
class RunComparison:
    """One recorded run against its simulation."""

    run_dir: str
    policy: str
    nodes: int
    setup: int
    seed: int
    measured_s: float
    simulated_s: float
    rel_error: float
    epoch_r2: float
    epoch_median_rel_err: float
    selections_match: bool
    measured_epoch_s: list[float]
    simulated_epoch_s: list[float]
    fidelity_ok: bool | None
    calibration: bool = False
    dilation: float = 1.0  # the recording's k

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}


def _names(text: str) -> list[str]:
    return sorted(x for x in str(text).split(";") if x)


def compare_run(run_dir: str, recorded: RecordedTimes, answer: dict, calibration: bool = False) -> RunComparison:
    """One run's comparison (module doc); `answer` is simulator.driver.simulate_run's."""
    summary, rows = answer["summary"], answer["epochs"]
    simulated = [float(r["epoch_time_s"]) for r in rows]
    measured = recorded.epoch_s[: len(simulated)]
    match = len(rows) == len(recorded.epoch_s) and all(
        _names(r["active_nodes"]) == recorded.active[i] and _names(r["eliminated"]) == recorded.eliminated[i]
        for i, r in enumerate(rows)
    )
    sim_total = float(summary["completion_time_s"])
    return RunComparison(
        run_dir,
        summary["policy"],
        int(summary["nodes"]),
        int(summary.get("setup") or 0),
        int(summary["seed"]),
        recorded.completion_s,
        sim_total,
        (sim_total - recorded.completion_s) / recorded.completion_s,
        r_squared(measured, simulated),
        median_rel_err(measured, simulated) if measured else math.nan,
        match,
        measured,
        simulated,
        recorded.fidelity_ok,
        calibration,
        recorded.dilation,
    )


def pooled(runs: Sequence[RunComparison]) -> dict:
    """The pooled figures of these runs and whether each target holds."""
    if not runs:
        return {"runs": 0}
    errors = [abs(r.rel_error) for r in runs]
    measured = [v for r in runs for v in r.measured_epoch_s]
    simulated = [v for r in runs for v in r.simulated_epoch_s[: len(r.measured_epoch_s)]]
    out = {
        "runs": len(runs),
        "median_abs_error": statistics.median(errors),
        "max_abs_error": max(errors),
        "epoch_r2": r_squared(measured, simulated),
        "epoch_median_rel_err": median_rel_err(measured, simulated),
        "selections_match": sum(r.selections_match for r in runs),
    }
    out["targets_met"] = {
        "median_abs_error<=5%": out["median_abs_error"] <= TARGET_MEDIAN,
        "max_abs_error<=15%": out["max_abs_error"] <= TARGET_MAX,
        "epoch_r2>=0.95": out["epoch_r2"] >= TARGET_R2,
    }
    return out


def ne_ar(runs: Iterable[RunComparison]) -> list[dict]:
    """NE/AR completion-time ratio per comparison folder and (nodes, setup, seed), measured and simulated."""
    keyed = {(str(Path(r.run_dir).parent), r.nodes, r.setup, r.seed, r.policy): r for r in runs}
    out = []
    for (folder, nodes, setup, seed, policy), ne in sorted(keyed.items()):
        ar = keyed.get((folder, nodes, setup, seed, "ar"))
        if policy == "ne" and ar is not None:
            out.append(
                {
                    "comparison": Path(folder).name,
                    "folder": folder,
                    "nodes": nodes,
                    "setup": setup,
                    "seed": seed,
                    "measured": ne.measured_s / ar.measured_s,
                    "simulated": ne.simulated_s / ar.simulated_s,
                }
            )
    return out


@dataclass(frozen=True)
class Overheads:
    """Host-side overheads in wall seconds of this machine, with the runs they were fitted on."""

    server_wall_s: float
    setup_s: float
    fitted_on: tuple[str, ...]
    first_epoch_wall_s: float = 0.0  # epoch 0's server work beyond the others' (the first aggregation)


def fit_overheads(samples: Sequence[tuple[str, RecordedTimes, dict]]) -> Overheads:
    """From (run name, recording, its simulation with the overheads at 0): the median recorded excess
    of the set-up (reported seconds: it grows with k, so it is the network's, not the host's), of each
    epoch after the first over its simulated round (wall seconds: the server's CPU), and of epoch 0
    beyond that (its first aggregation and validation cost seconds more in every recording)."""
    setup_excess, server_excess, first_excess = [], [], []
    for _, rec, answer in samples:
        summary = answer["summary"]
        measured_setup = rec.completion_s - sum(rec.epoch_s)
        setup_excess.append(measured_setup - float(summary["setup_time_s"]))  # reported: it grows with k
        for index, (measured, row) in enumerate(zip(rec.epoch_s, answer["epochs"])):
            excess = Clock(rec.dilation).to_wall(measured - float(row["epoch_time_s"]))
            (first_excess if index == 0 else server_excess).append(excess)
    if not setup_excess:
        raise ValueError("no calibration run to fit the overheads on")
    server = max(statistics.median(server_excess), 0.0) if server_excess else 0.0
    return Overheads(
        server,
        max(statistics.median(setup_excess), 0.0),
        tuple(name for name, _, _ in samples),
        max(statistics.median(first_excess) - server, 0.0),
    )


@dataclass(frozen=True)
class RoundTrips:
    """Round trips (one-way delays, the unit the driver's waits use) a phase takes beyond the protocol
    model: a download's flat part and its price per loss expected in slow start; an upload's."""

    download: float
    download_per_loss: float
    upload: float


def fit_round_trips(samples: Sequence[tuple[list[dict], list[dict], dict[str, float], dict[str, float]]]) -> RoundTrips:
    """The extra round trips, from (recorded node_epochs rows, the simulation's rows with no extra, each
    node's drawn one-way delay in seconds, the losses one epoch's download expects in slow start
    (phases.slow_start_losses)), over node-epochs after epoch 0.

    What the protocol model leaves out shows up as whole round trips: a download's slow start after
    idle, the result POST's headers and body in two segments, and, per loss in a short transfer's small
    window, a tail-loss probe or a timeout instead of a fast retransmit (on the calibration pair of
    2026-12-05 a flat excess left lossy nodes' downloads 1-2 round trips short and clean ones over).
    A download's excess, in seconds, is fitted as delay x (flat + per_loss x losses) by least absolute
    deviations, the median's generalisation to a line, so that a host's stray stalls stay out of it
    as they did out of the median; an upload's is the median excess per delay."""
    down_s, down_rows, up = [], [], []
    for recorded, simulated, delays, losses in samples:
        sim = {(str(r["epoch"]), r["node_id"]): r for r in simulated}
        for row in recorded:
            twin, delay = sim.get((str(row["epoch"]), row["node_id"])), delays.get(row["node_id"], 0.0)
            if twin is None or str(row["epoch"]) == "0" or not delay > 0:
                continue
            try:
                down_excess = float(row["download_s"]) - float(twin["download_s"])
                up.append((float(row["upload_s"]) - float(twin["upload_s"])) / delay)
            except (KeyError, TypeError, ValueError):
                continue
            down_s.append(down_excess)
            down_rows.append((delay, delay * losses.get(row["node_id"], 0.0)))
    if not up:
        return RoundTrips(0.0, 0.0, 0.0)
    flat, per_loss = _least_absolute_deviations(down_rows, down_s)
    if per_loss < 0:  # more loss never makes a transfer faster: the flat median alone
        flat, per_loss = statistics.median(d / row[0] for d, row in zip(down_s, down_rows)), 0.0
    return RoundTrips(max(flat, 0.0), per_loss, max(statistics.median(up), 0.0))


def _least_absolute_deviations(rows: Sequence[tuple[float, float]], targets: Sequence[float]) -> tuple[float, float]:
    """The coefficients minimising sum |target - row . coef| (iteratively reweighted least squares)."""
    import numpy as np

    design, values = np.asarray(rows, dtype=float), np.asarray(targets, dtype=float)
    weights = np.ones(len(values))
    coef = np.zeros(design.shape[1])
    for _ in range(100):
        coef, *_ = np.linalg.lstsq(design * weights[:, None], values * weights, rcond=None)
        weights = 1 / np.sqrt(np.maximum(np.abs(values - design @ coef), 1e-6))
    return float(coef[0]), float(coef[1])


def ne_ar_over_draws(draws: Sequence[Sequence[RunComparison]]) -> list[dict]:
    """NE/AR per pair over several controller-mode realisations of the same runs (`draws[d]`: every
    run's comparison under noise draw d). The measured ratio is one realisation of the emulation's own
    measurement noise; where NE's scores are a few thousandths apart, one simulated draw against it
    says little, so this gives the spread the noise alone makes: each pair's simulated ratio per draw,
    their mean, min and max, and whether the measured ratio lies inside [min, max]."""
    by_pair: dict[tuple, dict] = {}
    for index, draw in enumerate(draws):
        for pair in ne_ar(draw):
            key = (pair["folder"], pair["nodes"], pair["setup"], pair["seed"])
            fields = ("comparison", "folder", "nodes", "setup", "seed", "measured")
            entry = by_pair.setdefault(key, {**{k: pair[k] for k in fields}, "simulated": [], "draws": []})
            entry["simulated"].append(pair["simulated"])
            entry["draws"].append(index)  # a draw whose simulation failed is missing here
    out = []
    for key in sorted(by_pair):
        entry = by_pair[key]
        values = entry["simulated"]
        entry.update(
            mean=statistics.fmean(values),
            low=min(values),
            high=max(values),
            inside_range=min(values) <= entry["measured"] <= max(values),
        )
        out.append(entry)
    return out


def draws_summary(pairs: Sequence[dict]) -> dict:
    """Over the pairs of `ne_ar_over_draws`: how many measured ratios lie inside their draws' range,
    how many draws' means are within ± 0.1 of the measured ratio, and the largest such gap."""
    if not pairs:
        return {"pairs": 0}
    gaps = [abs(p["mean"] - p["measured"]) for p in pairs]
    draws = max(len(p["simulated"]) for p in pairs)
    return {
        "pairs": len(pairs),
        "draws": draws,
        "pairs_missing_draws": sum(len(p["simulated"]) < draws for p in pairs),
        "inside_range": sum(p["inside_range"] for p in pairs),
        "mean_within_0.1": sum(g <= TARGET_SEED_GAP for g in gaps),
        "max_mean_gap": max(gaps),
    }


@dataclass(frozen=True)
class SetupSample:
    """One node's recorded set-up (nodes.csv `setup_s`, reported seconds) on its drawn link: what the
    set-up model is fitted on. `nbytes`: what it downloaded; `gets`: its artifact requests."""

    link: LinkFigures
    nbytes: int
    dilation: float
    measured_s: float
    gets: int = 3


@dataclass(frozen=True)
class SetupFit:
    """fit_setup_model's answer: Reno's loss-limited constant, the per-node overhead beyond the
    transfers and round trips, and how many set-ups each was fitted on."""

    reno_constant: float
    overhead_s: float
    loss_bound: int
    fast: int


FAST_SETUP_S = 4.0  # a set-up predicted this short is mostly the node's own work: it fixes the overhead
# Which set-ups are loss-bound is judged at the textbook constant, so that the set the fit uses does not
# move with the constant in use or the one being tried.
LOSS_BOUND_REFERENCE = math.sqrt(3 / 2)


def predicted_setup_s(sample: SetupSample, reno_constant: float, overhead_s: float = 0.0) -> float:
    """A lone node's set-up as the simulator plans it (simulator/driver.py _setup_plan): its artifacts as
    one flow from a fresh window after its request's round trip, the protocol's other round trips,
    then `overhead_s` of the node's own work. Reno, no padding (setup_samples keeps to such runs)."""
    from simulator.driver import SETUP_TRIPS

    link, rtt = sample.link, sample.link.delay_ms / 1000
    if link.loss_pct > 0:
        flow = fidelity.lossy_transfer(
            sample.nbytes, link, fidelity.INIT_CWND, sample.dilation, "reno", reno_constant
        ).seconds(link)
    else:
        flow = fidelity.transfer_s(sample.nbytes, link, fresh=True)
    return flow + (SETUP_TRIPS + sample.gets) * rtt + overhead_s


def fit_setup_model(samples: Sequence[SetupSample]) -> SetupFit:
    """Reno's Mathis constant from recorded set-ups (orchestrator/fidelity.py RENO_MATHIS_C). First the
    overhead: the median excess of the set-ups predicted under FAST_SETUP_S (their transfers are a
    small part, so the constant hardly matters there; 0 where there are none); then, over the others
    that are loss-bound (at LOSS_BOUND_REFERENCE), the constant at which their median log error is zero
    (bisection: a larger constant only shortens a set-up). NaN where no set-up is loss-bound or the
    zero lies outside 0.5-4."""
    usable = [s for s in samples if math.isfinite(s.measured_s) and s.measured_s > 0]
    fast = [s for s in usable if predicted_setup_s(s, LOSS_BOUND_REFERENCE) < FAST_SETUP_S]
    overhead = (
        statistics.median(s.measured_s - predicted_setup_s(s, LOSS_BOUND_REFERENCE) for s in fast) if fast else 0.0
    )
    bound = [
        s
        for s in usable
        if s not in fast
        and s.link.loss_pct > 0
        and fidelity.mathis_bps(s.link, LOSS_BOUND_REFERENCE) < fidelity.link_rate_bps(s.link)
    ]

    def bias(constant: float) -> float:
        return statistics.median(math.log(predicted_setup_s(s, constant, overhead) / s.measured_s) for s in bound)

    low, high = 0.5, 4.0
    if not bound or bias(low) < 0 or bias(high) > 0:
        return SetupFit(math.nan, overhead, len(bound), len(fast))
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if bias(middle) > 0 else (low, middle)
    return SetupFit((low + high) / 2, overhead, len(bound), len(fast))
