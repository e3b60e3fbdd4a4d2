"""Tables and plots from finished run folders (summary.json + epochs.csv).

A comparison's folder gets results.csv, summary.md, completion_time.png,
loss_per_epoch.png, policies.png and loss_vs_time.png; each run folder in it
timeline.png and network.png (experiments/reports/timeline.py, network_map.py).
`edgeft report DIR` (experiments/reports/redraw.py) draws them all again from the
folders alone.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path

from experiments.reports.targets import TimedCurve, read_curve, with_time_to_target

log = logging.getLogger(__name__)

ENGINES = ("mininet", "loopback", "flower", "simulate")  # results.csv's `engine`: what ran the row's run
RESULT_FIELDS = [
    "nodes",
    "setup",
    "seed",
    "policy",
    "engine",
    "mode",
    "completion_time_s",
    "pre_training_loss",
    "final_val_loss",
    "target_loss",
    "time_to_target_s",
    "active_at_end",
    "jain_index",
    "jain_normalised",
    "mean_coverage",
    "mean_bubble_s",
    "readmissions",
    "dilation",
    "overrun_share",
    "overrun_p95",
    "transfer_r2",
    "transfer_median_rel_err",
    "transfer_above_share",
    "fidelity_ok",
    "run_dir",
]


def engine_of_mode(mode: str) -> str:
    """The engine a results row's `mode` text names, for rows written before the `engine` column
    ("mininet, ..., flower" -> flower; "mininet, ..." -> mininet; anything else ran on loopback)."""
    words = [word.strip() for word in str(mode or "").split(",")]
    if "flower" in words:
        return "flower"
    if "simulate" in words or "simulated" in words:
        return "simulate"
    return "mininet" if words and words[0] == "mininet" else "loopback"


def load_run(run_dir: Path) -> tuple[dict, list[dict]]:
    """A run folder's summary.json and its epochs.csv rows."""
    summary = json.loads((run_dir / "summary.json").read_text())
    with (run_dir / "epochs.csv").open() as fh:
        return summary, list(csv.DictReader(fh))


def write_results(out: Path, rows: list[dict]) -> None:
    """results.csv: one row per run, RESULT_FIELDS in order (a row without `engine` gets it from its mode)."""
    rows = [{**row, "engine": row.get("engine") or engine_of_mode(row.get("mode", ""))} for row in rows]
    with (out / "results.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=RESULT_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _num(v, fmt: str) -> str:
    return "n/a" if v is None or v == "" else format(float(v), fmt)


def fidelity_mark(row: dict) -> str:
    """'' for a run whose host kept up; a loud mark for one that did not (its times are not
    the emulated world's)."""
    return "" if row.get("fidelity_ok", True) in (True, "True") else " (!) host did not keep up"


TARGET_NOTE = (
    "Time to target: the end of the first epoch whose validation loss is at or below the target loss, on the "
    "completion-time clock (from the first send; set-up included). Target: AR's final loss in the same nodes, setup "
    "and seed, unless `--target-loss` gives one. *not reached*: the run never got there; *no target*: no AR run "
    "to take it from and no `--target-loss`."
)


def time_to_target_text(row: dict) -> str:
    """A table cell: seconds, 'not reached' or 'no target'."""
    if row.get("target_loss") in (None, ""):
        return "no target"
    t = row.get("time_to_target_s")
    return "not reached" if t in (None, "") else f"{float(t):.1f}"


def _target_text(ne: dict, ar: dict) -> str:
    targets = {x.get("target_loss") for x in (ne, ar)} - {None, ""}
    return _num(targets.pop(), ".3f") if len(targets) == 1 else "n/a"


def _table(header: list[str], body: list[str]) -> str:
    """A markdown table; '' when it has no rows."""
    if not body:
        return ""
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *body]) + "\n"


def fidelity_table(rows: list[dict]) -> str:
    """Markdown: per run, the dilation and how far its times are from the emulated world."""
    header = [
        "nodes",
        "setup",
        "seed",
        "policy",
        "k",
        "overrun share",
        "p95 wall/window",
        "transfer R²",
        "transfer median rel. err",
        "transfer time above prediction",
    ]
    lines = []
    for r in sorted(rows, key=lambda r: (r["nodes"], r["setup"], r["seed"], r["policy"])):
        lines.append(
            f"| {r['nodes']} | {r['setup']} | {r['seed']} | {r['policy']} | {_num(r.get('dilation'), '.3g')} | "
            f"{_num(r.get('overrun_share'), '.1%')}{fidelity_mark(r)} | {_num(r.get('overrun_p95'), '.2f')} | "
            f"{_num(r.get('transfer_r2'), '.3f')} | {_num(r.get('transfer_median_rel_err'), '.1%')} | "
            f"{_num(r.get('transfer_above_share'), '.1%')} |"
        )
    return _table(header, lines)


def summary_table(rows: list[dict]) -> str:
    """Markdown: NE vs AR per (nodes, setup, seed), with the completion-time ratio."""
    header = [
        "nodes",
        "setup",
        "seed",
        "NE time (s)",
        "AR time (s)",
        "NE/AR time",
        "NE loss",
        "AR loss",
        "NE/AR loss",
        "target loss",
        "NE to target (s)",
        "AR to target (s)",
        "NE nodes left",
    ]
    lines = []
    keyed = {(r["nodes"], r["setup"], r["seed"], r["policy"]): r for r in rows}
    for nodes, setup, seed in sorted({(r["nodes"], r["setup"], r["seed"]) for r in rows}):
        ne, ar = keyed.get((nodes, setup, seed, "ne")), keyed.get((nodes, setup, seed, "ar"))
        if not (ne and ar):
            continue
        t_ratio = ne["completion_time_s"] / ar["completion_time_s"]
        l_ratio = ne["final_val_loss"] / ar["final_val_loss"]
        lines.append(
            f"| {nodes} | {setup} | {seed} | {ne['completion_time_s']:.1f}{fidelity_mark(ne)} | "
            f"{ar['completion_time_s']:.1f}{fidelity_mark(ar)} | {t_ratio:.2f} | "
            f"{ne['final_val_loss']:.3f} | {ar['final_val_loss']:.3f} | {l_ratio:.3f} | {_target_text(ne, ar)} | "
            f"{time_to_target_text(ne)} | {time_to_target_text(ar)} | {ne['active_at_end']} |"
        )
    return _table(header, lines)


def policy_table(rows: list[dict]) -> str:
    """Markdown: every policy of every (nodes, setup, seed), with the fairness figures."""
    header = [
        "nodes",
        "setup",
        "seed",
        "policy",
        "time (s)",
        "final loss",
        "to target (s)",
        "Jain",
        "F_norm",
        "coverage",
        "bubble (s)",
        "re-admitted",
        "left",
    ]
    lines = []
    for r in sorted(rows, key=lambda r: (r["nodes"], r["setup"], r["seed"], r["completion_time_s"])):
        lines.append(
            f"| {r['nodes']} | {r['setup']} | {r['seed']} | {r['policy']} | "
            f"{r['completion_time_s']:.1f}{fidelity_mark(r)} | "
            f"{r['final_val_loss']:.3f} | {time_to_target_text(r)} | {r.get('jain_index', float('nan')):.3f} | "
            f"{r.get('jain_normalised', float('nan')):.3f} | "
            f"{r.get('mean_coverage', float('nan')):.2f} | {r.get('mean_bubble_s', float('nan')):.1f} | "
            f"{r.get('readmissions', 0)} | {r['active_at_end']} |"
        )
    return _table(header, lines)


def loss_curve(summary: dict, epochs: list[dict]) -> tuple[float, list[float]]:
    """A run's validation loss, starting at its pre-training loss."""
    return summary["pre_training_loss"], [float(r["val_loss"]) for r in epochs]


def _figure(draw, xlabel: str, ylabel: str, title: str):
    """A 6 x 4 figure drawn by `draw(ax)`, labelled; the caller saves or inspects it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    draw(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def save_figure(fig, path: Path) -> Path:
    """Write and close a figure."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _save_plot(out: Path, name: str, draw, xlabel: str, ylabel: str, title: str) -> Path:
    return save_figure(_figure(draw, xlabel, ylabel, title), out / name)


def plot_loss_per_epoch(out: Path, curves: dict[str, tuple[float, list[float]]]) -> Path:
    """Fig. 3 style: validation loss per epoch, starting at the pre-training loss."""

    def draw(ax) -> None:
        for label, (start, losses) in curves.items():
            ax.plot(range(len(losses) + 1), [start, *losses], marker="o", label=label)

    return _save_plot(out, "loss_per_epoch.png", draw, "epoch", "validation cross-entropy", "Loss per epoch")


def completion_series(rows: list[dict]) -> dict[tuple[str, int], dict[int, list[float]]]:
    """Completion times by (policy, setup), then node count: one series per policy and setup."""
    groups: dict[tuple[str, int], dict[int, list[float]]] = {}
    for r in rows:
        groups.setdefault((r["policy"], int(r.get("setup", 0) or 0)), {}).setdefault(int(r["nodes"]), []).append(
            float(r["completion_time_s"])
        )
    return groups


def _mean_ci_n(values: list[float] | None) -> tuple[float, float | None, int]:
    """(mean, CI half-width or None, n): no interval from fewer than two seeds."""
    from experiments.reports.stats import mean_ci95

    if not values:
        return math.nan, None, 0
    mean, half = mean_ci95(values)
    return mean, None if math.isnan(half) else half, len(values)


def _n_text(ns: list[int]) -> str:
    """'n = 3', or 'n = 1–3' where node counts had different numbers of seeds."""
    ns = sorted({n for n in ns if n})
    return f"n = {ns[0]}" if len(ns) == 1 else f"n = {ns[0]}–{ns[-1]}"


def draw_completion(rows: list[dict]):
    """Fig. 2 style: completion time per policy (and setup), the mean over seeds. One node
    count: bars, each marked with its n (and CI); several: one line per (policy, setup)
    over the node counts, its n in the legend. A 95 % CI (Student's t) is drawn only where
    there are two seeds or more: one seed gives no interval, and the figure does not
    pretend it does. Setups are never merged into one line; the time axis starts at 0."""
    groups = completion_series(rows)
    counts = sorted({n for g in groups.values() for n in g})
    several_setups = len({s for _, s in groups}) > 1
    all_n = [len(v) for g in groups.values() for v in g.values()]

    def label(policy: str, setup: int) -> str:
        return policy.upper() + (f", Setup {setup}" if several_setups else "")

    def draw(ax) -> None:
        for i, (key, by_n) in enumerate(sorted(groups.items())):
            stats = [_mean_ci_n(by_n.get(n)) for n in counts]
            xs = [i] if len(counts) == 1 else counts
            if len(counts) == 1:
                ax.bar(xs, [stats[0][0]], color=f"C{i}", label=label(*key))
                mean, half, n = stats[0]
                text = f"n = {n}" + ("" if half is None else f"\n± {half:.1f}")
                top = mean + (half or 0.0)  # above the error bar, where there is one
                ax.annotate(text, (i, top), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=7)
            else:
                ax.plot(xs, [m for m, _, _ in stats], marker="s", color=f"C{i}")
                ax.plot([], [], marker="s", color=f"C{i}", label=f"{label(*key)} ({_n_text([n for *_, n in stats])})")
            for x, (mean, half, n) in zip(xs, stats):
                if half is not None:
                    colour = "black" if len(counts) == 1 else f"C{i}"
                    ax.errorbar([x], [mean], yerr=[half], color=colour, capsize=4, ls="", gid=f"ci|{key[0]}|{n}")
        if len(counts) == 1:
            ax.set_xticks(range(len(groups)), [label(*k) for k in sorted(groups)])
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.12)

    xlabel = f"{counts[0]} edge nodes" if len(counts) == 1 else "edge nodes"
    if min(all_n) >= 2:
        ylabel = "completion time (s), mean ± 95 % CI"
    else:
        ylabel = "completion time (s), one seed" if max(all_n) == 1 else "time (s), mean; ± 95 % CI where n ≥ 2"
    return _figure(draw, xlabel, ylabel, "Total completion time")


def plot_completion(out: Path, rows: list[dict]) -> Path:
    """completion_time.png (draw_completion)."""
    return save_figure(draw_completion(rows), out / "completion_time.png")


def plot_time_vs_loss(out: Path, rows: list[dict]) -> Path:
    """One point per run: completion time against final loss (lower left is better)."""

    def draw(ax) -> None:
        for policy in sorted({r["policy"] for r in rows}):
            pts = [(r["completion_time_s"], r["final_val_loss"]) for r in rows if r["policy"] == policy]
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], label=policy)

    return _save_plot(
        out, "policies.png", draw, "completion time (s)", "final validation loss", "Policies: time vs loss"
    )


def draw_run_pictures(run_dir: Path, out: Path | None = None) -> list[Path]:
    """timeline.png and network.png of one run folder, into `out` (default: the run folder)."""
    from experiments.reports.network_map import plot_network
    from experiments.reports.run_folder import load_record
    from experiments.reports.timeline import plot_timeline

    rec = load_record(run_dir)
    out = Path(out or run_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [plot_timeline(rec, out / "timeline.png"), plot_network(rec, out / "network.png")]


def write_report(
    out: Path,
    rows: list[dict],
    curves: dict[str, tuple[float, list[float]]],
    title: str,
    target_loss: float | None = None,
    timed: dict[str, TimedCurve | None] | None = None,
    run_pictures: bool = True,
) -> str:
    """results.csv, summary.md and the plots; returns the markdown tables. Each row gets
    `target_loss` and `time_to_target_s` (targets.with_time_to_target) from its run
    folder's curve (or `timed`, keyed by run_dir); with `run_pictures`, every run folder
    that exists gets its timeline.png and network.png."""
    out = Path(out)
    if timed is None:
        timed = {str(r.get("run_dir", "")): read_curve(Path(r["run_dir"])) for r in rows if r.get("run_dir")}
    rows = with_time_to_target(rows, timed, target_loss)
    write_results(out, rows)
    table = "\n".join(t for t in (summary_table(rows), policy_table(rows), fidelity_table(rows)) if t)
    (out / "summary.md").write_text(f"# {title}\n\n" + table + ("\n" + TARGET_NOTE + "\n" if table else ""))
    plot_completion(out, rows)
    plot_loss_per_epoch(out, curves)
    plot_time_vs_loss(out, rows)
    from experiments.reports.loss_time import plot_loss_vs_time

    plot_loss_vs_time(out, rows, timed)
    for r in rows if run_pictures else []:
        run_dir = Path(r.get("run_dir") or "")
        if r.get("run_dir") and (run_dir / "summary.json").exists():
            try:  # a picture must not cost a finished comparison its printed tables
                draw_run_pictures(run_dir)
            except Exception:  # noqa: BLE001 - logged with its traceback
                log.exception("could not draw %s's timeline/network; `edgeft report %s` tries again", run_dir, out)
    return table
