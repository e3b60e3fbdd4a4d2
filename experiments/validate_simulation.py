"""Replay recorded Mininet runs in the simulator and say how far the simulation is from them (issue 28).

    .venv/bin/python experiments/validate_simulation.py RUN_DIR... [--json FILE]
    .venv/bin/python experiments/validate_simulation.py RUNS... --calibrate CAL_RUN... --save-calibration

Each RUN_DIR (a run folder written by `edgeft compare`, or a folder of them) is simulated in replay mode
on its own drawn network (ground_truth.json; the tree from topology.json, else topologies/edge_cloud.py's
defaults): the strategy sees what the recording's strategy saw, nothing of its times
(simulator/recorded.py). Printed per run and pooled: completion-time error, per-epoch time R² and
median error, whether every selection matched, and NE/AR from both; `--json FILE` writes the same.

The host-side overheads (set-up warm-up, the server's per-epoch work) and the controller's noise model
come from experiments/data/calibration.json, fitted on the runs it names; `--calibrate RUN...` fits
them again on the runs given (simulated with both overheads at 0), and `--save-calibration` writes
them. Calibration runs are reported apart: the targets are judged on the others.
`--measurement controller` simulates the same draws with the noise model instead of the replay
(selections may then differ: that is what it measures); `--noise-draws K` simulates each run under K
realisations of that noise and prints the spread of NE/AR they make beside the measured ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments.reports.run_folder import find_runs  # noqa: E402
from experiments.reports.stats import mean_ci95  # noqa: E402
from experiments.runners.progress import read_rows as _rows  # noqa: E402
from experiments.runners.simulate import CALIBRATED, run_all  # noqa: E402
from edgeft.link_figures import LinkFigures  # noqa: E402
from orchestrator import fidelity  # noqa: E402
from simulator import measurement, validation  # noqa: E402
from simulator.driver import download_losses, profile_link  # noqa: E402
from simulator.recorded import recorded_times, spec_from_run  # noqa: E402

CALIBRATION = Path(__file__).resolve().parent / "data" / "calibration.json"


def _runs(folders: list[str]) -> list[Path]:
    runs: list[Path] = []
    for folder in folders:
        found = find_runs(Path(folder))
        if not found:
            raise SystemExit(f"validate_simulation: error: {folder} holds no run folder (summary.json + epochs.csv)")
        runs.extend(found)
    return sorted(set(runs))


def load_calibration(path: Path) -> dict:
    """The committed calibration: overheads (wall s) and the noise model; {} where there is none."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def _label(run: Path) -> str:
    """A run's name in the calibration file: its comparison folder and its own (unique across sweeps)."""
    return f"{run.parent.name}/{run.name}"


def _node_rows(run: Path) -> list[dict]:
    return _rows(run / "node_epochs.csv")


def _simulate_all(runs: list[Path], settings: dict, jobs: int) -> list[tuple[str, object, dict]]:
    """Each run replayed with these settings on its spec; (name, spec, answer); exits on a failure."""
    specs = []
    for run in runs:
        spec = spec_from_run(run, "replay")
        apply_calibration(spec, settings)
        specs.append((str(run), {}, spec))
    answers = run_all(specs, jobs)
    failed = [name for name, answer in answers.items() if "error" in answer]
    if failed:
        raise SystemExit(
            f"validate_simulation: error: calibration run {failed[0]} failed: {answers[failed[0]]['error']}"
        )
    return [(name, spec, answers[name]) for name, _, spec in specs]


def calibrate(runs: list[Path], jobs: int) -> dict:
    """Fit on these runs (module doc): first the extra round trips per phase (everything else at 0),
    then, with them, the set-up and per-epoch overheads; the noise model from their figures."""
    zero = {name: 0.0 for name in CALIBRATED}
    first = _simulate_all(runs, zero, jobs)
    delays = {name: {p["node_id"]: p["delay_ms"] / 1000 for p in spec.profiles} for name, spec, _ in first}
    losses = {name: _download_losses(spec) for name, spec, _ in first}
    trips = validation.fit_round_trips(
        [(_node_rows(Path(n)), a["node_epochs"], delays[n], losses[n]) for n, _, a in first]
    )
    fitted_trips = {
        "extra_download_rtts": trips.download,
        "extra_download_rtts_per_loss": trips.download_per_loss,
        "extra_upload_rtts": trips.upload,
    }
    second = _simulate_all(runs, {**zero, **fitted_trips}, jobs)
    overheads = validation.fit_overheads(
        [(_label(Path(name)), recorded_times(name), answer) for name, _, answer in second]
    )
    # A node's persistent error and its per-epoch spread are told apart only where a node is seen in
    # more than one epoch: the one-epoch set-up recordings inform the set-up, not the noise.
    noise_runs = [run for run in runs if len(_rows(run / "epochs.csv")) >= 2]
    noise = measurement.fit_noise([p for run in noise_runs for p in measurement.recorded_pairs(run)])
    setup = validation.fit_setup_model([s for run in runs for s in setup_samples(run)])
    return {
        "fitted_on": list(overheads.fitted_on),
        "server_wall_s": overheads.server_wall_s,
        "setup_s": overheads.setup_s,
        "first_epoch_wall_s": overheads.first_epoch_wall_s,
        **fitted_trips,
        "noise": noise.as_dict(),
        # Reno's Mathis constant as these runs' per-node set-ups fit it: a check on the one
        # orchestrator/fidelity.py holds (RENO_MATHIS_C), which every engine and report uses
        "setup_model": {
            "reno_constant_fitted": setup.reno_constant,
            "reno_constant_in_use": fidelity.RENO_MATHIS_C,
            "node_overhead_s": setup.overhead_s,
            "loss_bound_setups": setup.loss_bound,
            "fast_setups": setup.fast,
        },
    }


def setup_samples(run: Path) -> list[validation.SetupSample]:
    """Each node's recorded set-up in a run folder (nodes.csv `setup_s`; runs recorded before it was
    written have none) on its drawn link. Only Reno runs without padding: the set-up model the fit
    checks is one flow on Reno (validation.predicted_setup_s), where a padded set-up makes a second request."""
    nodes = [r for r in _rows(run / "nodes.csv") if r.get("setup_s")]
    summary = json.loads((run / "summary.json").read_text())
    config = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else {}
    tcp = str((config.get("tcp") or {}).get("congestion_control") or "reno")
    if not nodes or float(summary.get("paper_volumes") or 0) > 0 or tcp != "reno":
        return []
    truth = {n["node_id"]: n for n in json.loads((run / "ground_truth.json").read_text())["nodes"]}
    topology = json.loads((run / "topology.json").read_text()) if (run / "topology.json").exists() else {}
    dilation = float(topology.get("dilation") or summary.get("dilation") or 1.0)
    per_node = int(float(summary["setup_bytes_out"]) / len(nodes))  # the nodes set up, not every one enrolled
    gets = 3 if summary.get("base_distribution", "transfer") == "transfer" else 2
    samples = []
    for r in nodes:
        drawn = truth.get(r["node_id"])
        if drawn is not None:
            link = LinkFigures(drawn["bandwidth_mbps"], drawn["delay_ms"], drawn["loss_pct"])
            samples.append(validation.SetupSample(link, per_node, dilation, float(r["setup_s"]), gets))
    return samples


def _download_losses(spec) -> dict[str, float]:
    """Each node's expected slow-start losses in one epoch's download (simulator/driver.py)."""
    return {p["node_id"]: download_losses(spec, profile_link(p)) for p in spec.profiles}


def apply_calibration(spec, calibration: dict) -> None:
    """The fitted overheads and round trips onto a spec (defaults where the file has none)."""
    for name in CALIBRATED:
        if name in calibration:
            setattr(spec, name, float(calibration[name]))


def draw_name(run: Path | str, draw: int) -> str:
    """The name of a run's simulation under noise draw `draw` (draw 0: the run's own name)."""
    return str(run) if draw == 0 else f"{run}#noise-draw-{draw}"


def simulate_runs(
    runs: list[Path], calibration: dict, measurement_name: str, jobs: int, draws: int = 1
) -> dict[str, dict]:
    """Each run's simulation with the calibration's overheads (and noise, for controller mode), under
    `draws` realisations of the noise (controller mode; named by draw_name)."""
    specs = []
    for run in runs:
        for draw in range(draws):
            spec = spec_from_run(run, measurement_name, calibration.get("noise"))
            apply_calibration(spec, calibration)
            spec.noise_draw = draw
            specs.append((draw_name(run, draw), {}, spec))
    return run_all(specs, jobs)


def ne_ar_agreement(pairs: list[dict]) -> dict:
    """The controller-mode targets over NE/AR pairs: the simulated mean inside the measured mean's
    95 % CI (Student's t over seeds), and every seed's simulated ratio within ± 0.1 of its measured one."""
    if not pairs:
        return {"pairs": 0}
    measured = [p["measured"] for p in pairs]
    simulated = [p["simulated"] for p in pairs]
    mean, half = mean_ci95(measured)
    sim_mean = sum(simulated) / len(simulated)
    worst = max(abs(p["simulated"] - p["measured"]) for p in pairs)
    return {
        "pairs": len(pairs),
        "measured_mean": mean,
        "measured_ci95": half,
        "simulated_mean": sim_mean,
        "inside_ci": (not math.isnan(half)) and abs(sim_mean - mean) <= half,
        "max_seed_diff": worst,
        "every_seed_within_0.1": worst <= validation.TARGET_SEED_GAP,
    }


def _pct(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:+.1f} %"


def report(comparisons: list[validation.RunComparison]) -> str:
    """The printed table: per run, pooled (validation runs, then all), NE/AR from both."""
    lines = [
        f"{'run':<40} {'k':>5} {'measured s':>10} {'simulated s':>11} {'error':>9} {'epoch R²':>8} "
        f"{'epoch med err':>13} {'selections':>10}"
    ]
    for c in comparisons:
        tag = " (calibration)" if c.calibration else ""
        lines.append(
            f"{_label(Path(c.run_dir)):<40} {c.dilation:>5.3g} {c.measured_s:>10.1f} {c.simulated_s:>11.1f} "
            f"{_pct(c.rel_error):>9} {c.epoch_r2:>8.3f} {100 * c.epoch_median_rel_err:>12.1f}% "
            f"{'match' if c.selections_match else 'DIFFER':>10}"
            f"{'' if c.fidelity_ok in (True, None) else '  (host did not keep up)'}{tag}"
        )
    held_out = [c for c in comparisons if not c.calibration]
    faithful = [c for c in held_out if c.fidelity_ok is not False]
    subsets = (("validation runs, host kept up", faithful), ("validation runs", held_out), ("all runs", comparisons))
    for label, subset in subsets:
        p = validation.pooled(subset)
        if not p["runs"]:
            continue
        lines.append(
            f"pooled, {label} ({p['runs']}): median |error| {100 * p['median_abs_error']:.1f} %, max "
            f"{100 * p['max_abs_error']:.1f} %, per-epoch R² {p['epoch_r2']:.3f}, per-epoch median error "
            f"{100 * p['epoch_median_rel_err']:.1f} %, selections matched {p['selections_match']}/{p['runs']}; "
            f"targets {p['targets_met']}"
        )
    pairs = validation.ne_ar(comparisons)
    for pair in pairs:
        lines.append(
            f"NE/AR {pair['comparison']} n={pair['nodes']} setup {pair['setup']} seed {pair['seed']}: "
            f"measured {pair['measured']:.3f}, "
            f"simulated {pair['simulated']:.3f}"
        )
    agreement = ne_ar_agreement(pairs)
    if agreement["pairs"]:
        lines.append(
            f"NE/AR over {agreement['pairs']} pair(s): measured {agreement['measured_mean']:.3f} ± "
            f"{agreement['measured_ci95']:.3f} (95 % CI), simulated {agreement['simulated_mean']:.3f} "
            f"(inside the CI: {agreement['inside_ci']}); largest per-seed difference "
            f"{agreement['max_seed_diff']:.3f} (within ± 0.1: {agreement['every_seed_within_0.1']})"
        )
    return "\n".join(lines)


def draws_report(pairs: list[dict]) -> str:
    """The printed lines of --noise-draws: per pair, then over the pairs."""
    summary = validation.draws_summary(pairs)
    if not summary["pairs"]:
        return "noise draws: no NE/AR pair among these runs"
    lines = [
        f"NE/AR over {len(pair['simulated'])} noise draws {pair['comparison']} seed {pair['seed']}: measured "
        f"{pair['measured']:.3f}, simulated mean {pair['mean']:.3f} (min {pair['low']:.3f}, max "
        f"{pair['high']:.3f}): measured inside the draws' range: {'yes' if pair['inside_range'] else 'no'}"
        for pair in pairs
    ]
    if summary["pairs_missing_draws"]:
        lines.append(f"{summary['pairs_missing_draws']} pair(s) lack a draw whose simulation failed (FAILED below)")
    lines.append(
        f"over {summary['pairs']} pair(s) x {summary['draws']} noise draws: measured NE/AR inside the draws' range "
        f"for {summary['inside_range']}; the draws' mean within ± {validation.TARGET_SEED_GAP} of the measured for "
        f"{summary['mean_within_0.1']} (largest gap {summary['max_mean_gap']:.3f})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", metavar="RUN_DIR")
    ap.add_argument("--json", metavar="FILE", help="write the per-run and pooled figures here")
    ap.add_argument("--calibrate", nargs="+", default=[], metavar="RUN_DIR", help="fit overheads and noise on these")
    ap.add_argument("--save-calibration", action="store_true", help=f"write the fit to {CALIBRATION}")
    ap.add_argument("--calibration-file", default=str(CALIBRATION))
    ap.add_argument("--measurement", default="replay", choices=["replay", "controller"])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--noise-draws",
        type=int,
        default=1,
        metavar="K",
        help="controller mode: simulate every run under K realisations of the noise and report the spread of "
        "NE/AR they make (draw 0 is the run's own; default 1)",
    )
    args = ap.parse_args(argv)
    if args.noise_draws < 1:
        ap.error(f"--noise-draws: K must be >= 1 (got {args.noise_draws})")
    if args.noise_draws > 1 and args.measurement != "controller":
        ap.error("--noise-draws: only with --measurement controller (replay and truth have no noise to draw)")
    runs = _runs(args.runs)
    if args.calibrate:
        cal_runs = _runs(args.calibrate)
        calibration = calibrate(cal_runs, args.jobs)
        if args.save_calibration:
            Path(args.calibration_file).parent.mkdir(parents=True, exist_ok=True)
            Path(args.calibration_file).write_text(json.dumps(calibration, indent=2) + "\n")
    else:
        calibration = load_calibration(Path(args.calibration_file))
    fitted = set(calibration.get("fitted_on", []))
    answers = simulate_runs(runs, calibration, args.measurement, args.jobs, args.noise_draws)
    by_draw: list[list[validation.RunComparison]] = [[] for _ in range(args.noise_draws)]
    failed = []
    for run in runs:
        for draw in range(args.noise_draws):
            answer = answers[draw_name(run, draw)]
            if "error" in answer:
                failed.append(f"{draw_name(run, draw)}: {answer['error']}")
                continue
            by_draw[draw].append(validation.compare_run(str(run), recorded_times(run), answer, _label(run) in fitted))
    comparisons = by_draw[0]
    over_draws = validation.ne_ar_over_draws(by_draw) if args.noise_draws > 1 else []
    print(report(comparisons))
    if args.noise_draws > 1:
        print(draws_report(over_draws))
    print(
        f"calibration: server {calibration.get('server_wall_s', 'default')} wall s/epoch, set-up "
        f"{calibration.get('setup_s', 'default')} s, fitted on {sorted(fitted) or 'nothing (defaults)'}"
    )
    if "setup_model" in calibration:
        model = calibration["setup_model"]
        print(
            f"set-up model: Reno's Mathis constant fitted on {model['loss_bound_setups']} loss-bound set-ups of the "
            f"calibration runs: {model['reno_constant_fitted']:.3f} (in use: {model['reno_constant_in_use']:.3f}); "
            f"a node's own set-up work {model['node_overhead_s']:.2f} s (median of {model['fast_setups']} fast set-ups)"
        )
    for line in failed:
        print(f"FAILED {line}", file=sys.stderr)
    if args.json:
        validation_runs = [c for c in comparisons if not c.calibration]
        data = {
            "runs": [c.as_dict() for c in comparisons],
            "pooled_validation_faithful": validation.pooled([c for c in validation_runs if c.fidelity_ok is not False]),
            "pooled_validation": validation.pooled(validation_runs),
            "pooled_all": validation.pooled(comparisons),
            "ne_ar": validation.ne_ar(comparisons),
            "ne_ar_agreement": ne_ar_agreement(validation.ne_ar(comparisons)),
            "calibration": calibration,
            "measurement": args.measurement,
        }
        if args.noise_draws > 1:
            data["noise_draws"] = {"pairs": over_draws, "summary": validation.draws_summary(over_draws)}
        Path(args.json).write_text(json.dumps(data, indent=2, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
