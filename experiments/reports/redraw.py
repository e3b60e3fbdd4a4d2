"""`edgeft report DIR`: every table and picture again, from the run folders alone.

    edgeft report results/demo                       # a comparison: its results.csv, summary.md, plots
    edgeft report results/demo/n12-setup2-seed0-ne   # one run folder
    edgeft report results/demo --target-loss 7.5 --out /tmp/restyled

DIR is a run folder (summary.json + epochs.csv) or a folder holding run folders (up to
three levels down: `edgeft compare`'s, demo_local's, bench_ne_vs_ar's). Mininet,
loopback, Flower and simulated runs write the same files, so one reader serves them
all. A results.csv in DIR supplies what a run folder does not know about itself (the
comparison's node count, setup and mode); everything else is read from the run folders,
so figures can be remade and restyled without running anything again. Without --out,
the comparison's files go into DIR and each run's timeline.png and network.png into its
run folder; with --out, all of it goes under that folder (one sub-folder per run).
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
from pathlib import Path

from edgeft.config_files import ConfigError
from experiments.reports.report import draw_run_pictures, loss_curve, write_report
from experiments.reports.run_folder import find_runs, load_record
from experiments.reports.targets import read_curve

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments (the CLI adds them to its `report` sub-command)."""
    parser.add_argument("dir", metavar="DIR", help="a run folder, or a folder of run folders (a comparison's --out)")
    parser.add_argument(
        "--target-loss",
        type=float,
        default=None,
        help="time to this validation loss in every table (default: AR's final loss of the same nodes/setup/seed)",
    )
    parser.add_argument("--out", default=None, help="where to write (default: DIR itself, and each run folder)")


def check_target(target: float | None) -> float | None:
    """A target loss must be a positive finite number."""
    if target is not None and not (math.isfinite(target) and target > 0):
        raise ConfigError(f"--target-loss {target}: give a positive validation loss, e.g. --target-loss 7.5")
    return target


def _results_rows(folder: Path) -> dict[str, dict]:
    """results.csv's rows keyed by their run folder's name (the folder may have moved)."""
    path = folder / "results.csv"
    if not path.is_file():
        return {}
    with path.open() as fh:
        return {Path(r.get("run_dir") or "").name: r for r in csv.DictReader(fh) if r.get("run_dir")}


def _mode(rec) -> str:
    """How the run ran, where results.csv does not say."""
    from experiments.reports.network_map import emulated

    engine = rec.config.get("engine") or ("flower" if "engine_versions" in rec.config else "")
    if emulated(rec):  # as `compare` writes it (runners/mininet_sweep.py): what the run moved, too
        volumes = rec.summary.get("paper_volumes")  # absent in folders older than the paper-volume mode
        if volumes is None:
            base = "mininet"
        else:
            base = "mininet" + (f", paper volumes x{float(volumes):g}" if volumes else ", real artifacts")
    else:
        base = str(rec.summary.get("mode") or "local")
    return base + (f", {engine}" if engine and engine != "edgeft" else "")


def _engine(rec) -> str:
    """What ran the run, where results.csv does not say: the engine summary.json names, Flower
    where its config says so, Mininet where the links were emulated, else loopback."""
    from experiments.reports.network_map import emulated
    from experiments.reports.report import ENGINES

    named = rec.summary.get("engine")
    if named in ENGINES:
        return named
    if (rec.config.get("engine") or ("flower" if "engine_versions" in rec.config else "")) == "flower":
        return "flower"
    return "mininet" if emulated(rec) else "loopback"


def row_of(run_dir: Path, listed: dict | None) -> dict:
    """A results row for a run folder: summary.json's figures, with nodes, setup, seed and
    mode from results.csv where it lists the run, else from the folder's own files."""
    rec = load_record(run_dir)
    row = {**rec.summary, "run_dir": str(run_dir)}
    row.setdefault("setup", (rec.ground_truth or {}).get("setup", 0))
    row.setdefault("mode", _mode(rec))
    row.setdefault("engine", _engine(rec))
    for key in ("nodes", "setup", "seed"):
        if listed and listed.get(key) not in (None, ""):
            row[key] = int(float(listed[key]))
    if listed and listed.get("mode"):
        row["mode"] = listed["mode"]
    if listed and listed.get("engine"):
        row["engine"] = listed["engine"]
    row.setdefault("seed", rec.config.get("seed", 0))
    return row


def collect(folder: Path) -> list[dict]:
    """Rows of every run folder in `folder`."""
    runs = find_runs(folder)
    if not runs:
        raise ConfigError(
            f"report {folder}: no run folder there (a run folder holds summary.json and epochs.csv); "
            "pass an `edgeft local --out` or `edgeft compare --out` folder"
        )
    listed = _results_rows(folder)
    rows = []
    for run in runs:
        row = row_of(run, listed.get(run.name))
        if row.get("completion_time_s") is None or row.get("final_val_loss") is None:
            log.warning("%s: the run did not finish (%s); left out", run, row.get("error", "no completion time"))
            continue
        rows.append(row)
    if not rows:
        raise ConfigError(f"report {folder}: no finished run there (every summary.json records an aborted run)")
    return rows


def _label(r: dict, rows: list[dict]) -> str:
    """A loss_per_epoch.png legend entry: the policy, plus what tells apart runs of it."""
    label = str(r["policy"]).upper()
    for key, fmt in (("nodes", " n={}"), ("setup", " s{}"), ("seed", " seed {}")):
        if len({x.get(key) for x in rows}) > 1:
            label += fmt.format(r.get(key))
    return label


def redraw(folder: Path, target_loss: float | None = None, out: Path | None = None) -> str:
    """Write every table and picture of `folder` (into `out`, default `folder`); returns the
    markdown tables."""
    folder = Path(folder)
    rows = collect(folder)
    target = Path(out) if out else folder
    target.mkdir(parents=True, exist_ok=True)
    curves = {_label(r, rows): loss_curve(*_summary_epochs(Path(r["run_dir"]))) for r in rows}
    timed = {r["run_dir"]: read_curve(Path(r["run_dir"])) for r in rows}
    single = len(rows) == 1 and Path(rows[0]["run_dir"]) == folder
    title = f"Run {folder.name}" if single else f"Node selection: {folder.name}"
    table = write_report(target, rows, curves, title, target_loss, timed, run_pictures=out is None)
    if out is not None:
        for r in rows:
            run = Path(r["run_dir"])
            draw_run_pictures(run, target if single else target / run.name)
    return table


def report_run(run_dir: Path, target_loss: float | None = None) -> str:
    """What a single run (`edgeft local`) adds at its end: timeline.png, network.png and
    loss_vs_time.png in its folder; returns one line saying the time to the target."""
    from experiments.reports.loss_time import plot_loss_vs_time
    from experiments.reports.report import time_to_target_text
    from experiments.reports.targets import with_time_to_target

    run_dir = Path(run_dir)
    rec = load_record(run_dir)
    draw_run_pictures(run_dir)
    timed = {str(run_dir): rec.curve}
    row = with_time_to_target([{**rec.summary, "run_dir": str(run_dir)}], timed, check_target(target_loss))[0]
    plot_loss_vs_time(run_dir, [row], timed)
    if target_loss is None:
        return "time to target: no target (pass --target-loss X); timeline.png, network.png, loss_vs_time.png written"
    return f"time to target loss {target_loss:g}: {time_to_target_text(row)} s".replace("not reached s", "not reached")


def _summary_epochs(run_dir: Path) -> tuple[dict, list[dict]]:
    rec = load_record(run_dir)
    return rec.summary, rec.epochs


def run(args: argparse.Namespace) -> int:
    """`edgeft report`: check the arguments, redraw, print the tables and where they went."""
    folder = Path(args.dir)
    if not folder.is_dir():
        raise ConfigError(f"report {folder}: no such folder; pass a run folder or a comparison's --out folder")
    table = redraw(folder, check_target(args.target_loss), Path(args.out) if args.out else None)
    print(table)
    where = args.out or folder
    print(
        f"results.csv, summary.md, completion_time.png, loss_per_epoch.png, policies.png, loss_vs_time.png in "
        f"{where}/; timeline.png and network.png per run"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run without the `edgeft` CLI: python -m experiments.reports.redraw DIR."""
    from experiments.standalone import one_line_errors, run_script

    args = run_script(__doc__, add_arguments, argv, "%(levelname)s %(name)s: %(message)s")
    return one_line_errors("report", run, args)


if __name__ == "__main__":
    raise SystemExit(main())
