"""Issue 29's grid: NE against AR (and the policy suite) from 12 to 1 000 simulated nodes, resumable.

    .venv/bin/python -m experiments.scale_grid --out docs/data/scale [--cells ...] [--seeds 0-29] [--jobs N]

The question (does network-aware selection pay, where, by how much) needs ≥ 30 seeds per cell over
N ∈ {12, 40, 100, 1 000} × Setups 1-3 × two regimes (real artifacts; the paper's volumes × 1) and the
policy suite at N = 100 and 1 000, Setup 2: thousands of simulated runs, more than one working
session's machine time. So the sweep is built to be cut and continued:
- every finished run appends its row to OUT/results.csv at once (one row per (cell, seed, policy));
- a continued sweep reads that file and runs only the missing (cell, seed, policy) triples;
- the units run in order of importance (`priority`): NE and AR over every N, small N first, 1 000
  last, with the cheap suite at 100 nodes before the 1 000-node runs (those 10-40 s each: their first
  10 seeds of every cell before any later seed), so a cut sweep has the cells that matter most.
Each run is `edgeft simulate`'s own (experiments/runners/simulate.py builds the spec: the same drawn
network, calibration and noise model; simulator/driver.py simulates it), one process per run (SimGrid
keeps one Engine per process). Run folders go to --runs (default /tmp/h-scale/runs, outside git):
only results.csv and the report (experiments/scale_report.py) are committed.
Regimes: `real` = the built-in model's own artifacts (--paper-volumes 0); `pv1` = --paper-volumes 1,
i.e. 500 MB of padding on the model each way every epoch and 500 MB + 1 000 MB / N at set-up (the
base model plus the node's share of 1 000 MB of data; experiments/runners/simulate.py build_specs).
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

log = logging.getLogger("edgeft.scale_grid")

NODES = (12, 40, 100, 1000)
SETUPS = (1, 2, 3)
REGIMES = {"real": 0.0, "pv1": 1.0, "pv0.001": 0.001, "pv0.004": 0.004}  # regime name -> --paper-volumes
GRID_REGIMES = ("real", "pv1")
# The Mininet benchmarks' own paper-volume regimes (docs/benchmarks.md), simulated beside them (issue 29 item 2).
EMULATION_CELLS = ((12, 2, "pv0.001"), (12, 2, "pv0.004"))
PAIR = ("ar", "ne")  # AR first: a seed's NE row can then carry its time to AR's final loss at once
SUITE = ("ne_plus", "random", "oracle", "fedcs", "oort", "tifl", "pace")  # pace: edgeft's own (#29 item 5)
SUITE_NODES = (100, 1000)
SUITE_SETUP = 2
EPOCHS = 10
FIRST_WAVE = 10  # seeds below this run before the others at 1 000 nodes and in the suite

FIELDS = [
    "nodes",
    "setup",
    "regime",
    "paper_volumes",
    "policy",
    "seed",
    "engine",
    "measurement",
    "training",
    "epochs",
    "completion_time_s",
    "setup_s",
    "mean_epoch_s",
    "pre_training_loss",
    "final_val_loss",
    "target_loss",
    "time_to_target_s",
    "active_at_end",
    "jain_index",
    "jain_normalised",
    "mean_coverage",
    "readmissions",
    "epoch_times_s",
    "val_losses",
    "cpu_s",
    "run_dir",
]


@dataclass(frozen=True, order=True)
class Unit:
    """One simulated run of the sweep: a cell (nodes, setup, regime), a seed and a policy."""

    nodes: int
    setup: int
    regime: str
    seed: int
    policy: str
    training: str = "none"

    def key(self) -> tuple:
        """What results.csv identifies a finished run by."""
        return (self.nodes, self.setup, self.regime, self.policy, self.seed, self.training)

    def name(self) -> str:
        return f"n{self.nodes}-setup{self.setup}-{self.regime}-seed{self.seed}-{self.policy}-{self.training}"


def grid_units(seeds: Sequence[int], suite: Sequence[str] = SUITE, training: str = "none") -> list[Unit]:
    """Every unit of issue 29's grid (items 1 and 3) and of the emulation's own regimes at 12 nodes
    (item 2: EMULATION_CELLS), in the order of `priority`."""
    units = {
        Unit(nodes, setup, regime, seed, policy, training)
        for nodes in NODES
        for setup in SETUPS
        for regime in GRID_REGIMES
        for seed in seeds
        for policy in PAIR
    }
    units |= {
        Unit(nodes, setup, regime, seed, policy, training)
        for nodes, setup, regime in EMULATION_CELLS
        for seed in seeds
        for policy in PAIR
    }
    units |= {
        Unit(nodes, SUITE_SETUP, regime, seed, policy, training)
        for nodes in SUITE_NODES
        for regime in GRID_REGIMES
        for seed in seeds
        for policy in suite
    }
    return sorted(units, key=priority)


def priority(unit: Unit) -> tuple:
    """Sort key, in tiers of importance and cost: NE/AR at N <= 100 (every seed); the suite at 100
    nodes (a 100-node run takes about a second: the whole suite minutes); NE/AR at 1 000 nodes, first
    FIRST_WAVE seeds (a 1 000-node run takes 10-40 s); the suite at 1 000 nodes, first wave; then the
    later seeds at 1 000 nodes (NE/AR, then the suite). Within a tier: small N, seed, regime, setup,
    AR before NE (a seed's NE row can then carry its time to AR's final loss)."""
    in_suite = unit.policy not in PAIR
    later = unit.nodes >= 1000 and unit.seed >= FIRST_WAVE
    if unit.nodes < 1000:
        tier = 1 if in_suite else 0
    else:
        tier = (2 if not in_suite else 3) + (2 if later else 0)
    pair_rank = PAIR.index(unit.policy) if unit.policy in PAIR else len(PAIR)
    regime_rank = list(REGIMES).index(unit.regime)
    return (tier, unit.nodes, unit.seed, regime_rank, unit.setup, pair_rank, unit.policy)


def parse_cells(text: str | None) -> set[tuple[int, int, str]] | None:
    """--cells: `N:SETUP:REGIME` comma list, `*` for any part (e.g. `100:2:*,12:*:real`); None = all."""
    if not text:
        return None
    cells = set()
    for item in text.split(","):
        parts = item.strip().split(":")
        if len(parts) != 3:
            raise ValueError(f"--cells: expected N:SETUP:REGIME items, e.g. 100:2:pv1 (got {item!r})")
        nodes = NODES if parts[0] == "*" else (int(parts[0]),)
        setups = SETUPS if parts[1] == "*" else (int(parts[1]),)
        regimes = GRID_REGIMES if parts[2] == "*" else (parts[2],)
        if parts[2] not in REGIMES and parts[2] != "*":
            raise ValueError(f"--cells: regime must be one of {', '.join(REGIMES)} or * (got {parts[2]!r})")
        cells |= {(n, s, r) for n in nodes for s in setups for r in regimes}
    return cells


def select(units: Iterable[Unit], cells: set | None, policies: set[str] | None) -> list[Unit]:
    """The units inside --cells and --policies (None: no restriction)."""
    return [
        u
        for u in units
        if (cells is None or (u.nodes, u.setup, u.regime) in cells) and (policies is None or u.policy in policies)
    ]


def done_keys(results: Path) -> set[tuple]:
    """The (cell, seed, policy, training) keys results.csv already holds."""
    if not results.exists():
        return set()
    with results.open(newline="") as fh:
        return {
            (int(r["nodes"]), int(r["setup"]), r["regime"], r["policy"], int(r["seed"]), r.get("training") or "none")
            for r in csv.DictReader(fh)
        }


def missing(units: Iterable[Unit], done: set[tuple]) -> list[Unit]:
    """The units a continued sweep still has to run, in their order."""
    return [u for u in units if u.key() not in done]


def append_row(results: Path, row: dict) -> None:
    """One finished run onto results.csv (the header first when the file is new)."""
    new = not results.exists() or results.stat().st_size == 0
    with results.open("a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


def ar_targets(results: Path) -> dict[tuple, float]:
    """AR's final loss per (nodes, setup, regime, seed, training), where results.csv has it."""
    if not results.exists():
        return {}
    with results.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {
        (int(r["nodes"]), int(r["setup"]), r["regime"], int(r["seed"]), r.get("training") or "none"): float(
            r["final_val_loss"]
        )
        for r in rows
        if r["policy"] == "ar" and r.get("final_val_loss") not in (None, "")
    }


def _finite(value: object) -> bool:
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def result_row(unit: Unit, answer: dict, run_dir: str, target: float | None) -> dict:
    """results.csv's row of a finished run: the cell, the summary's figures, the epoch times and
    losses (';'-joined, so the report needs no run folder) and the time to `target` if reached."""
    from experiments.reports.targets import epoch_end_times, time_to_target

    summary = answer["summary"]
    epochs = answer.get("epochs") or []
    times = [float(r.get("epoch_time_s") or 0.0) for r in epochs]
    losses = [r.get("val_loss") for r in epochs]
    has_loss = bool(losses) and all(_finite(v) for v in losses)  # time-only runs write NaN or nothing
    completion = float(summary["completion_time_s"])
    setup_s = float(summary.get("setup_time_s") or 0.0)
    reached = None
    if has_loss and target is not None:
        reached = time_to_target(epoch_end_times(completion, times), [float(v) for v in losses], target)
    return {
        "nodes": unit.nodes,
        "setup": unit.setup,
        "regime": unit.regime,
        "paper_volumes": REGIMES[unit.regime],
        "policy": unit.policy,
        "seed": unit.seed,
        "engine": "simulate",
        "measurement": summary.get("measurement", "controller"),
        "training": unit.training,
        "epochs": summary.get("epochs", EPOCHS),
        "completion_time_s": f"{completion:.4f}",
        "setup_s": f"{setup_s:.4f}",
        "mean_epoch_s": f"{(completion - setup_s) / max(int(summary.get('epochs') or EPOCHS), 1):.4f}",
        "pre_training_loss": summary.get("pre_training_loss") if has_loss else None,
        "final_val_loss": summary.get("final_val_loss") if has_loss else None,
        "target_loss": target if has_loss else None,
        "time_to_target_s": reached,
        "active_at_end": summary.get("active_at_end"),
        "jain_index": summary.get("jain_index"),
        "jain_normalised": summary.get("jain_normalised"),
        "mean_coverage": summary.get("mean_coverage"),
        "readmissions": summary.get("readmissions"),
        "epoch_times_s": ";".join(f"{t:.4f}" for t in times),
        "val_losses": ";".join(f"{float(v):.6f}" for v in losses) if has_loss else "",
        "cpu_s": f"{float(answer.get('cpu_s') or 0.0):.2f}",
        "run_dir": run_dir,
    }


def spec_of(unit: Unit, epochs: int = EPOCHS):
    """The RunSpec `edgeft simulate --measurement controller` would build for this unit."""
    from experiments.runners.simulate import add_arguments, build_specs

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    argv = [
        *("--nodes", str(unit.nodes), "--setups", str(unit.setup), "--policies", unit.policy),
        *("--seeds", str(unit.seed), "--epochs", str(epochs), "--measurement", "controller"),
        *("--paper-volumes", str(REGIMES[unit.regime]), "--training", unit.training),
    ]
    ((_, _, spec),) = build_specs(parser.parse_args(argv))
    return spec


def _pool(jobs: int, trains: bool) -> ProcessPoolExecutor:
    import multiprocessing

    context = multiprocessing.get_context("forkserver")  # workers forked from one that loaded the libraries
    context.set_forkserver_preload(["simulator.driver", *(["experiments.runners.sim_training"] if trains else [])])
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, max_tasks_per_child=1)


def _finish(unit: Unit, spec, answer: dict, out: Path, runs: Path | None, epochs: int) -> bool:
    """Write a finished run's folder (if kept) and append its row; False for a failed run."""
    from experiments.runners.simulate import write_run_folder

    if "error" in answer:
        log.error("%s failed: %s", unit.name(), answer["error"])
        return False
    run_dir = ""
    if runs is not None:
        run_dir = str(runs / unit.name())
        write_run_folder(Path(run_dir), spec, answer)
    target = (
        None
        if unit.policy == "ar"
        else ar_targets(out / "results.csv").get((unit.nodes, unit.setup, unit.regime, unit.seed, unit.training))
    )
    append_row(out / "results.csv", result_row(unit, answer, run_dir, target))
    return True


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """End the simulations still running. Forkserver workers are not this process's children, so a cut
    sweep (SIGTERM, Ctrl-C) would otherwise leave them simulating for nobody (seen: for most of an hour)."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):  # the executor has no public handle
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run_units(
    units: Sequence[Unit], out: Path, runs: Path | None, jobs: int, epochs: int = EPOCHS, cache: str | None = None
) -> int:
    """Simulate the units, `jobs` at a time, in order, appending each row as it finishes; the
    number that failed. Specs are built just before they are submitted (a 1 000-node spec holds
    every drawn profile: thousands of them at once would fill the memory)."""
    out.mkdir(parents=True, exist_ok=True)
    pending: Iterator[Unit] = iter(units)
    failed = finished = 0
    started = time.monotonic()
    from experiments.runners.simulate import simulate_in_worker  # edgeft simulate's own worker

    pool = _pool(jobs, any(u.training == "real" for u in units))
    try:
        in_flight: dict = {}
        while True:
            while len(in_flight) < 2 * jobs:
                unit = next(pending, None)
                if unit is None:
                    break
                if unit.key() in done_keys(out / "results.csv"):
                    continue  # another sweep on the same results.csv finished it meanwhile
                spec = spec_of(unit, epochs)
                in_flight[pool.submit(simulate_in_worker, spec.as_dict(), cache)] = (unit, spec)
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                unit, spec = in_flight.pop(future)
                try:
                    answer = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker that died (SimGrid aborts on some faults)
                    answer = {"error": f"the simulation process died: {exc!r}"}
                ok = _finish(unit, spec, answer, out, runs, epochs)
                failed += not ok
                finished += ok
                log.info(
                    "%d/%d done (%s, %.0f s)", finished + failed, len(units), unit.name(), time.monotonic() - started
                )
    except BaseException:
        _stop_workers(pool)
        raise
    pool.shutdown()
    return failed


def main(argv: list[str] | None = None) -> int:
    """The CLI (module doc): 2 on bad input, 1 when a run failed, else 0."""
    from experiments.runners.inputs import parse_seeds

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="docs/data/scale", help="where results.csv grows")
    parser.add_argument("--cells", default=None, help="N:SETUP:REGIME items, * for any part (default: the grid)")
    parser.add_argument("--policies", default=None, help="only these policies (default: every one of the grid)")
    parser.add_argument("--suite", default=",".join(SUITE), help="the suite's policies beside ne and ar")
    parser.add_argument("--seeds", default="0-29", help="a comma list or an inclusive range A-B")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--training", default="none", help="none (time only) or real")
    parser.add_argument("--training-cache", default=None, help="trained epochs (default: the runner's own cache)")
    parser.add_argument("--jobs", type=int, default=2, help="simulations at a time (processes)")
    parser.add_argument("--runs", default="/tmp/h-scale/runs", help="run folders (outside git); 'none' keeps none")
    parser.add_argument("--dry-run", action="store_true", help="print the missing units and stop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # a cut sweep ends its workers too (_stop_workers)
    try:
        seeds = sorted(parse_seeds(args.seeds))
        cells = parse_cells(args.cells)
        policies = {p.strip() for p in args.policies.split(",") if p.strip()} if args.policies else None
        suite = tuple(p.strip() for p in args.suite.split(",") if p.strip())
        if args.training not in ("none", "real"):
            raise ValueError(f"--training: choose none or real (got {args.training!r})")
        if args.jobs < 1:
            raise ValueError(f"--jobs: expected an integer >= 1 (got {args.jobs})")
    except ValueError as exc:
        print(f"scale_grid: error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    units = missing(select(grid_units(seeds, suite, args.training), cells, policies), done_keys(out / "results.csv"))
    print(f"{len(units)} runs missing from {out / 'results.csv'}")
    if args.dry_run or not units:
        for unit in units[:50]:
            print(unit.name())
        return 0
    runs = None if args.runs == "none" else Path(args.runs)
    cache = None
    if args.training == "real":
        from experiments.runners.sim_training import default_cache_dir

        cache = str(Path(args.training_cache).absolute()) if args.training_cache else str(default_cache_dir())
    return 1 if run_units(units, out, runs, args.jobs, args.epochs, cache) else 0


if __name__ == "__main__":
    sys.exit(main())
