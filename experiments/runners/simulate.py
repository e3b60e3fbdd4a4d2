"""`edgeft simulate`: the same policies on a SimGrid model of the edge network, at any scale.

    edgeft simulate --nodes 12,100,1000 --setups 1,2,3 --policies ne,ar --seeds 0-99 --epochs 10 --out DIR
    edgeft simulate --measurement replay --replay RUN_DIR... --out DIR     (recorded Mininet runs, replayed)

Every (nodes, setup, seed) draws its network as `edgeft compare` does (topologies/profiles.py), so
each policy of a seed sees the same network; the tree is topologies/edge_cloud.py's, generalised
past 100 nodes (simulator/topology.py). Each run is simulated in a process of its own (SimGrid keeps
one Engine per process), `--jobs` at a time, forked from one server process that loaded the libraries once.
DIR gets what `edgeft compare` writes: results.csv (engine `simulate`), summary.md (mean ± 95 % CI
over seeds, and NE/AR per seed), completion_time.png, and one run folder per run (epochs.csv,
node_epochs.csv, summary.json, ground_truth.json, topology.json, config.json). Every table and
figure says it is simulated. `--training none`: time only, loss columns empty. `--training real`:
every active node's update trained for real, one after another, outside simulated time
(experiments/runners/sim_training.py), so the loss columns, time_to_target_s and loss_vs_time.png are
real; its epochs are cached under `--training-cache DIR` (default: sim_training.default_cache_dir())
and reused by every run with the same nodes, seed and active sets so far.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

log = logging.getLogger("edgeft.simulate")

TITLE = "Node selection, simulated (SimGrid)"
CALIBRATION = Path(__file__).resolve().parents[1] / "data" / "calibration.json"
CALIBRATED = (
    "server_wall_s",
    "first_epoch_wall_s",
    "setup_s",
    "extra_download_rtts",
    "extra_download_rtts_per_loss",
    "extra_upload_rtts",
)


class InputError(ValueError):
    """Bad user input: one line naming the flag and the fix."""


def parse_seeds(text: str) -> list[int]:
    """--seeds: experiments/runners/inputs.py's parser (a comma list or an inclusive range A-B), shared
    with compare; sorted here so that runs come in seed order."""
    from experiments.runners.inputs import parse_seeds as shared

    try:
        return sorted(shared(str(text)))
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _ints(text: str, flag: str, low: int) -> list[int]:
    try:
        values = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{flag}: expected comma-separated integers (got {text!r})") from None
    if not values or min(values) < low:
        raise InputError(f"{flag}: expected integers >= {low} (got {text!r})")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of `edgeft simulate` (module doc)."""
    p = parser
    p.add_argument("--nodes", default="12", help="edge node counts, e.g. 12,100,1000 (default 12)")
    p.add_argument("--setups", default="2", help="the paper's link setups 1,2,3 (default 2)")
    p.add_argument("--policies", default="ne,ar", help="comma-separated policies (orchestrator/policies)")
    p.add_argument("--seeds", default="0", help="a comma list or an inclusive range A-B, e.g. 0-99 (default 0)")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--paper-volumes", type=float, default=0.0, metavar="S", help="pad to the paper's volumes x S")
    p.add_argument(
        "--measurement",
        default="truth",
        help="what the strategy sees: truth, controller (fitted noise), or replay (with --replay RUN_DIR...)",
    )
    p.add_argument("--replay", nargs="+", default=[], metavar="RUN_DIR", help="recorded run folders to replay")
    p.add_argument(
        "--scenario",
        default=None,
        metavar="FILE",
        help="a config file (YAML/TOML/JSON): its `scenario:` list (link and compute changes and crashes at epoch "
        "starts, e.g. experiments/scenarios/degrade_recover.yaml), `timeouts:` and `policy_options:` (e.g. pace_floor)",
    )
    p.add_argument(
        "--calibration",
        default=None,
        metavar="FILE",
        help="fitted overheads, round trips and controller noise (default experiments/data/calibration.json, "
        "written by experiments/validate_simulation.py --calibrate ... --save-calibration)",
    )
    p.add_argument(
        "--training",
        default="none",
        help="none (time only: loss columns empty) or real (each active node's update trained for real: the "
        "built-in model, practical to ~100 nodes)",
    )
    p.add_argument(
        "--training-cache",
        default=None,
        metavar="DIR",
        help="with --training real: where trained epochs are kept and reused (default ~/.cache/edgeft/"
        "simulate-training, or $EDGEFT_CACHE/simulate-training)",
    )
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="simulations at a time (processes)")
    p.add_argument("--out", default="results/simulate")
    p.add_argument("--overwrite", action="store_true", help="--out holds run folders: replace them")


def _check_policies(text: str, nodes: list[int], epochs: int) -> list[str]:
    from orchestrator.policies import POLICY_NAMES, SCHEDULED_POLICIES

    policies = [x.strip() for x in str(text).split(",") if x.strip()]
    bad = [x for x in policies if x not in POLICY_NAMES]
    if bad or not policies:
        raise InputError(f"--policies: unknown {bad or text!r}; choose from {', '.join(POLICY_NAMES)}")
    scheduled = [x for x in policies if x in SCHEDULED_POLICIES]
    if scheduled and min(nodes) <= epochs:
        raise InputError(f"--nodes: policy {scheduled[0]} needs more nodes than --epochs {epochs} (got {min(nodes)})")
    return policies


def _check_scalars(args: argparse.Namespace) -> None:
    from simulator.measurement import MEASUREMENTS

    if args.epochs < 1:
        raise InputError(f"--epochs: expected an integer >= 1 (got {args.epochs})")
    if not (math.isfinite(args.paper_volumes) and args.paper_volumes >= 0):
        raise InputError(f"--paper-volumes: expected a number >= 0 (got {args.paper_volumes})")
    if args.measurement not in MEASUREMENTS:
        raise InputError(f"--measurement: choose one of {', '.join(MEASUREMENTS)} (got {args.measurement!r})")
    if args.training not in ("none", "real"):
        raise InputError(f"--training: choose none or real (got {args.training!r})")
    _check_training_cache(args)
    if args.jobs < 1:
        raise InputError(f"--jobs: expected an integer >= 1 (got {args.jobs})")
    if args.measurement == "replay" and not args.replay:
        raise InputError("--measurement replay: name the recorded run folders with --replay RUN_DIR...")
    if args.replay and args.measurement != "replay":
        raise InputError("--replay: only with --measurement replay")


def _check_training_cache(args: argparse.Namespace) -> None:
    """--training-cache: only with --training real, and a folder this user can write (or create)."""
    folder = getattr(args, "training_cache", None)
    if folder is None:
        return
    if args.training != "real":
        raise InputError("--training-cache: only with --training real (--training none trains nothing)")
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise InputError(f"--training-cache: {path} is a file; give a folder (it is created if missing)")
    existing = next(p for p in (path, *path.absolute().parents) if p.exists())
    if not existing.is_dir() or not _can_write_below(path.absolute()):
        raise InputError(f"--training-cache: {existing} is not a folder you can write; choose another DIR")


def _can_write_below(folder: Path) -> bool:
    """Whether a file can be made in `folder` (created if missing), tried for real and undone: a
    permission check says yes to root where the file system still says no (/proc, a read-only mount)."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
        return True
    except OSError:
        return False
    finally:
        for created in missing:  # innermost first: leave nothing behind before the run starts
            try:
                created.rmdir()
            except OSError:
                pass


def training_cache(args: argparse.Namespace) -> str | None:
    """The folder trained epochs are cached in (None without --training real)."""
    if getattr(args, "training", "none") != "real":
        return None
    if getattr(args, "training_cache", None):
        return str(Path(args.training_cache).absolute())
    from experiments.runners.sim_training import default_cache_dir

    return str(default_cache_dir())


def _calibration(args: argparse.Namespace) -> dict:
    """The calibration (--calibration, else the committed fit, else the simulator's defaults: said so)."""
    path = Path(args.calibration) if args.calibration else CALIBRATION
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if args.calibration:
            raise InputError(f"--calibration: {path} does not exist") from None
        log.warning("no calibration at %s: the simulator's defaults apply (docs/simulator.md)", path)
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(f"--calibration: {path} is not a calibration file ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k, 0.0), (int, float)) for k in CALIBRATED):
        raise InputError(f"--calibration: {path} is not a calibration file (numbers for {', '.join(CALIBRATED)})")
    return data


def _calibrated(spec: object, calibration: dict, measurement: str) -> object:
    """The calibration's fitted figures onto a spec; its noise model for the controller model."""
    for name in CALIBRATED:
        if name in calibration:
            setattr(spec, name, float(calibration[name]))
    if measurement == "controller":
        spec.noise = dict(calibration.get("noise") or {})
    return spec


def build_specs(args: argparse.Namespace) -> list[tuple[str, dict, object]]:
    """(run folder name, results-row extras, RunSpec) of every run; InputError on bad input."""
    from simulator.driver import RunSpec
    from topologies.profiles import SETUPS, draw_profiles

    _check_scalars(args)
    calibration = _calibration(args)
    given = _scenario_file(args)
    scenario, heartbeat_timeout_s = _scenario(args, given), _heartbeat_timeout(args, given)
    options = _policy_options(args, given)
    if args.measurement == "replay":
        replays = [(name, extra, _calibrated(spec, calibration, "replay")) for name, extra, spec in _replay_specs(args)]
        for _, _, spec in replays:
            spec.training = args.training
        return replays
    nodes = _ints(args.nodes, "--nodes", 2)
    setups = _ints(args.setups, "--setups", 1)
    bad = [s for s in setups if s not in SETUPS]
    if bad:
        raise InputError(f"--setups: {bad} do not exist; the paper's setups are {', '.join(map(str, sorted(SETUPS)))}")
    policies = _check_policies(args.policies, nodes, args.epochs)
    seeds = parse_seeds(args.seeds)
    pv = args.paper_volumes
    specs = []
    for n in nodes:
        for setup in setups:
            for seed in seeds:
                profiles = [asdict(p) for p in draw_profiles(n, setup, seed)]
                for policy in policies:
                    spec = RunSpec(profiles, policy, args.epochs, seed, setup, args.measurement)
                    _calibrated(spec, calibration, args.measurement).scenario = scenario
                    spec.model_pad, spec.setup_pad = int(500e6 * pv), int((500e6 + 1000e6 / n) * pv)
                    spec.paper_volumes, spec.training = pv, args.training
                    spec.heartbeat_timeout_s, spec.policy_options = heartbeat_timeout_s, options
                    extra = {"nodes": n, "setup": setup, "seed": seed, "policy": policy}
                    specs.append((f"n{n}-setup{setup}-seed{seed}-{policy}", extra, spec))
    return specs


def _scenario_file(args: argparse.Namespace) -> dict:
    """--scenario FILE, read once: its `scenario:`, `timeouts:` and `policy_options:` ({} without one)."""
    if not args.scenario:
        return {}
    from edgeft.config_files import ConfigError, read_file

    try:
        data = read_file(args.scenario)
        if not isinstance(data, dict):
            raise ValueError("expected a mapping of sections (scenario:, timeouts:, policy_options:)")
    except (ConfigError, OSError, ValueError) as exc:
        raise InputError(f"--scenario: {args.scenario}: {_one_line(exc)}") from None
    return data


def _scenario(args: argparse.Namespace, given: dict) -> list[dict]:
    """The --scenario file's events, checked as the orchestrator's config checks them."""
    from orchestrator.config import ScenarioEvent

    try:
        return [ScenarioEvent(**event).model_dump() for event in given.get("scenario") or []]
    except (TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"--scenario: {args.scenario}: {_one_line(exc)}") from None


def _heartbeat_timeout(args: argparse.Namespace, given: dict) -> float:
    """The silence that fails a crashed node: the --scenario file's timeouts.heartbeat_timeout_s, as the
    orchestrator's config would take it from the same file, else the orchestrator's default."""
    from orchestrator.config import TimeoutConfig

    try:
        return TimeoutConfig(**(given.get("timeouts") or {})).heartbeat_timeout_s
    except (TypeError, ValueError) as exc:
        raise InputError(f"--scenario: {args.scenario}: timeouts: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    """An input error as one line: a validation error names its field (edgeft/config_files.describe)."""
    from pydantic import ValidationError

    from edgeft.config_files import describe

    if isinstance(exc, ValidationError):
        return describe(exc)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _policy_options(args: argparse.Namespace, given: dict) -> dict:
    """The --scenario file's policy_options, checked as the orchestrator's config checks them (only the
    fields the file sets: the rest keep their defaults); the oracles' truth file is the simulation's own."""
    from orchestrator.config import PolicyOptions

    options = given.get("policy_options") or {}
    try:
        if not isinstance(options, dict):
            raise ValueError("a mapping of option: value")
        if "truth_file" in options:
            raise ValueError("truth_file: the simulation hands the oracles its own drawn network; leave it out")
        PolicyOptions(**options)
    except (TypeError, ValueError) as exc:
        raise InputError(f"--scenario: {args.scenario}: policy_options: {_one_line(exc)}") from None
    return dict(options)


def _replay_specs(args: argparse.Namespace) -> list[tuple[str, dict, object]]:
    from simulator.recorded import spec_from_run

    specs = []
    for folder in args.replay:
        try:
            spec = spec_from_run(folder)
        except (ValueError, KeyError, json.JSONDecodeError) as exc:
            raise InputError(f"--replay: {exc}") from None
        extra = {"nodes": len(spec.profiles), "setup": spec.setup, "seed": spec.seed, "policy": spec.policy}
        specs.append((Path(folder).resolve().name, extra, spec))
    return specs


def simulate_in_worker(spec_dict: dict, cache_dir: str | None = None) -> dict:
    """One run, in a worker process of its own (max_tasks_per_child=1: one SimGrid Engine each); under
    --training real with its trainer (experiments/runners/sim_training.py), epochs cached in `cache_dir`."""
    from simulator.driver import RunSpec, simulate_run

    try:
        spec = RunSpec.from_dict(spec_dict)
        training = None
        if spec.training == "real":
            from experiments.runners.sim_training import for_spec

            training = for_spec(spec, cache_dir)
        return simulate_run(spec, training)
    except Exception as exc:  # noqa: BLE001 - reported with the run's name by the parent (or the sweep's unit)
        return {"error": f"{type(exc).__name__}: {exc}"}


def run_all(specs: list, jobs: int, show_progress: bool = True, training_cache: str | None = None) -> dict[str, dict]:
    """Simulate every spec, `jobs` processes at a time; {run name: answer}. `training_cache`: the
    folder of trained epochs for specs with training real (None: nothing cached)."""
    import multiprocessing

    from tqdm import tqdm

    answers: dict[str, dict] = {}
    context = multiprocessing.get_context("forkserver")  # every worker forked from one that loaded the libraries
    trains = any(spec.training == "real" for _, _, spec in specs)
    context.set_forkserver_preload(["simulator.driver", *(["experiments.runners.sim_training"] if trains else [])])
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {pool.submit(simulate_in_worker, spec.as_dict(), training_cache): name for name, _, spec in specs}
        bar = tqdm(total=len(futures), desc="simulated runs", unit="run", disable=not show_progress)
        for future in as_completed(futures):
            name = futures[future]
            try:
                answers[name] = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker that died (SimGrid aborts on some faults)
                answers[name] = {"error": f"the simulation process died: {exc!r}"}
            bar.update(1)
        bar.close()
    return answers


def write_run_folder(run_dir: Path, spec, answer: dict) -> dict:
    """The run folder `edgeft compare` would write, from a simulated run; returns its summary."""
    from experiments.reports.network_map import edge_cloud_topology
    from orchestrator.results import EPOCH_FIELDS, NODE_EPOCH_FIELDS, csv_text
    from simulator.topology import default_domains

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "epochs.csv").write_text(csv_text(EPOCH_FIELDS, answer["epochs"]))
    (run_dir / "node_epochs.csv").write_text(csv_text(NODE_EPOCH_FIELDS, answer["node_epochs"]))
    summary = dict(answer["summary"])
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    truth = {"setup": spec.setup, "seed": spec.seed, "nodes": spec.profiles}
    (run_dir / "ground_truth.json").write_text(json.dumps(truth, indent=2))
    domains = spec.domains or default_domains(len(spec.profiles))
    (run_dir / "topology.json").write_text(json.dumps(edge_cloud_topology(spec.profiles, domains=domains)))
    settings = {k: v for k, v in spec.as_dict().items() if k != "profiles"}
    (run_dir / "config.json").write_text(json.dumps({"engine": "simulate", "config": settings}, indent=2))
    return summary


def run(args: argparse.Namespace) -> int:
    """`edgeft simulate` (module doc); 2 on bad input (one line), 1 when a simulation failed."""
    try:
        specs = build_specs(args)
        out = Path(args.out)
        if out.exists() and any(out.glob("*/summary.json")) and not args.overwrite:
            raise InputError(f"--out: {out} already holds run folders; pass --overwrite or choose another --out")
    except InputError as exc:
        print(f"simulate: error: {exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    answers = run_all(specs, args.jobs, training_cache=training_cache(args))
    rows, failed = [], []
    for name, extra, spec in specs:
        answer = answers[name]
        if "error" in answer:
            failed.append(f"{name}: {answer['error']}")
            continue
        summary = write_run_folder(out / name, spec, answer)
        mode = "simulated" + (f", paper volumes x{spec.paper_volumes:g}" if spec.paper_volumes else ", real artifacts")
        rows.append(
            {
                **summary,
                **extra,
                "engine": "simulate",
                "mode": f"{mode}, {spec.measurement}",
                "run_dir": str(out / name),
            }
        )
    table = write_report(out, rows)
    print("\n" + table)
    for line in failed:
        print(f"simulate: FAILED {line}", file=sys.stderr)
    print(f"results.csv, summary.md, completion_time.png and {len(rows)} run folders in {out}/")
    return 1 if failed else 0


def completion_table(rows: list[dict]) -> str:
    """Markdown: completion time per (nodes, setup, policy), mean ± 95 % CI over seeds."""
    from experiments.reports.stats import fmt_ci

    groups: dict[tuple, list[float]] = {}
    for r in rows:
        groups.setdefault((int(r["nodes"]), int(r["setup"]), r["policy"]), []).append(float(r["completion_time_s"]))
    lines = [
        "| nodes | setup | policy | seeds | simulated completion time (s), mean ± 95 % CI |",
        "|---|---|---|---|---|",
    ]
    for (nodes, setup, policy), values in sorted(groups.items()):
        lines.append(f"| {nodes} | {setup} | {policy} | {len(values)} | {fmt_ci(values, '.1f')} |")
    return "\n".join(lines) + "\n"


def ratio_table(rows: list[dict], shown_seeds: int = 10) -> str:
    """Markdown: NE/AR completion time per (nodes, setup), mean ± 95 % CI over the seeds that
    ran both; per seed too where there are at most `shown_seeds` of them. '' without both."""
    from experiments.reports.stats import fmt_ci

    keyed = {(int(r["nodes"]), int(r["setup"]), int(r["seed"]), r["policy"]): r for r in rows}
    ratios: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for (nodes, setup, seed, policy), r in keyed.items():
        ar = keyed.get((nodes, setup, seed, "ar"))
        if policy == "ne" and ar:
            ratios.setdefault((nodes, setup), []).append((seed, r["completion_time_s"] / ar["completion_time_s"]))
    if not ratios:
        return ""
    lines = ["| nodes | setup | seeds | simulated NE/AR time, mean ± 95 % CI | per seed |", "|---|---|---|---|---|"]
    for (nodes, setup), pairs in sorted(ratios.items()):
        pairs.sort()
        values = [v for _, v in pairs]
        per_seed = ", ".join(f"{s}: {v:.2f}" for s, v in pairs) if len(pairs) <= shown_seeds else "(many)"
        lines.append(f"| {nodes} | {setup} | {len(values)} | {fmt_ci(values, '.3f')} | {per_seed} |")
    return "\n".join(lines) + "\n"


def write_report(out: Path, rows: list[dict]) -> str:
    """results.csv (experiments/reports/report.py's columns and `engine`), summary.md and
    completion_time.png, every one marked as simulated; with trained losses (--training real) also
    each row's time to AR's final loss and loss_vs_time.png; returns the markdown tables."""
    from experiments.reports.report import RESULT_FIELDS, TARGET_NOTE, draw_completion, save_figure, write_results

    trained = any(r.get("final_val_loss") is not None for r in rows)
    timed = {}
    if trained:
        from experiments.reports.targets import read_curve, with_time_to_target

        timed = {str(r["run_dir"]): read_curve(Path(r["run_dir"])) for r in rows if r.get("run_dir")}
        rows = with_time_to_target(rows, timed)
    if "engine" not in RESULT_FIELDS:  # the engine column every runner writes (issue 28)
        fields = [*RESULT_FIELDS[:4], "engine", *RESULT_FIELDS[4:]]
        _write_rows(out / "results.csv", fields, rows)
    else:
        write_results(out, rows)
    tables = (completion_table(rows), ratio_table(rows), loss_table(rows) if trained else "")
    table = "\n".join(t for t in tables if t)
    losses = (
        "Losses trained for real (--training real: the built-in model, each active node's update computed with the "
        "orchestrator's trainer, aggregation and validation), on the simulated clock."
        if trained
        else "Time only (--training none): no losses."
    )
    note = (
        "Simulated with SimGrid (simulator/, docs/simulator.md), not measured: believe these numbers as far as "
        f"experiments/validate_simulation.py shows the simulator reproduces recorded Mininet runs. {losses}\n"
    )
    (out / "summary.md").write_text(f"# {TITLE}\n\n{note}\n{table}" + (f"\n{TARGET_NOTE}\n" if trained else ""))
    if rows:
        fig = draw_completion(rows)
        fig.axes[0].set_title("Total completion time (simulated, SimGrid)")
        save_figure(fig, out / "completion_time.png")
    if trained:
        from experiments.reports.loss_time import draw_loss_vs_time

        fig = draw_loss_vs_time(rows, timed)
        fig.axes[0].set_title("Validation loss against simulated time (SimGrid; losses trained for real)")
        fig.axes[0].set_xlabel("simulated time since the first send (s)")
        save_figure(fig, out / "loss_vs_time.png")
    return table


def loss_table(rows: list[dict]) -> str:
    """Markdown: final validation loss and time to the target loss (AR's final loss of the same nodes,
    setup and seed) per (nodes, setup, policy), mean ± 95 % CI over the seeds; how many reached it."""
    from experiments.reports.stats import fmt_ci

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("final_val_loss") is not None:
            groups.setdefault((int(r["nodes"]), int(r["setup"]), r["policy"]), []).append(r)
    lines = [
        "| nodes | setup | policy | seeds | final val loss, mean ± 95 % CI | simulated time to target (s), mean ± "
        "95 % CI over the seeds that reached it | reached |",
        "|---|---|---|---|---|---|---|",
    ]
    for (nodes, setup, policy), group in sorted(groups.items()):
        finals = [float(r["final_val_loss"]) for r in group]
        times = [float(r["time_to_target_s"]) for r in group if r.get("time_to_target_s") is not None]
        with_target = sum(r.get("target_loss") is not None for r in group)
        reach = fmt_ci(times, ".1f") if times else "not reached" if with_target else "no target"
        lines.append(
            f"| {nodes} | {setup} | {policy} | {len(group)} | {fmt_ci(finals, '.4f')} | {reach} | "
            f"{len(times)}/{with_target} |"
        )
    return "\n".join(lines) + "\n"


def _write_rows(path: Path, fields: list[str], rows: list[dict]) -> None:
    import csv

    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
