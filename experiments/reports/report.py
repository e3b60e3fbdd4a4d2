"""Tables and plots from finished run folders (summary.json + epochs.csv)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

RESULT_FIELDS = [
    "nodes",
    "setup",
    "seed",
    "policy",
    "mode",
    "completion_time_s",
    "pre_training_loss",
    "final_val_loss",
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


def load_run(run_dir: Path) -> tuple[dict, list[dict]]:
    summary = json.loads((run_dir / "summary.json").read_text())
    with (run_dir / "epochs.csv").open() as fh:
        return summary, list(csv.DictReader(fh))


def write_results(out: Path, rows: list[dict]) -> None:
    with (out / "results.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=RESULT_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def _num(v, fmt: str) -> str:
    return "n/a" if v is None or v == "" else format(float(v), fmt)


def fidelity_mark(r: dict) -> str:
    """'' for a run whose host kept up; a loud mark for one that did not (its times are not
    the emulated world's)."""
    return "" if r.get("fidelity_ok", True) in (True, "True") else " (!) host did not keep up"


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
            f"{ne['final_val_loss']:.3f} | {ar['final_val_loss']:.3f} | {l_ratio:.3f} | {ne['active_at_end']} |"
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
            f"{r['final_val_loss']:.3f} | {r.get('jain_index', float('nan')):.3f} | "
            f"{r.get('jain_normalised', float('nan')):.3f} | "
            f"{r.get('mean_coverage', float('nan')):.2f} | {r.get('mean_bubble_s', float('nan')):.1f} | "
            f"{r.get('readmissions', 0)} | {r['active_at_end']} |"
        )
    return _table(header, lines)


def loss_curve(summary: dict, epochs: list[dict]) -> tuple[float, list[float]]:
    """A run's validation loss, starting at its pre-training loss."""
    return summary["pre_training_loss"], [float(r["val_loss"]) for r in epochs]


def _save_plot(out: Path, name: str, draw, xlabel: str, ylabel: str, title: str) -> Path:
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
    path = out / name
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


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


def plot_completion(out: Path, rows: list[dict]) -> Path:
    """Fig. 2 style: completion time per policy (and setup), mean over seeds with 95 % CI.
    One node count: bars; several: one line per (policy, setup) over the node counts.
    Setups are never merged into one line, and the time axis starts at 0."""
    from experiments.reports.stats import mean_ci95

    groups = completion_series(rows)
    counts = sorted({n for g in groups.values() for n in g})
    several_setups = len({s for _, s in groups}) > 1

    def label(policy: str, setup: int) -> str:
        return policy.upper() + (f", Setup {setup}" if several_setups else "")

    def draw(ax) -> None:
        for i, (key, by_n) in enumerate(sorted(groups.items())):
            stats = [mean_ci95(by_n[n]) if n in by_n else (float("nan"), 0.0) for n in counts]
            means, cis = [m for m, _ in stats], [c if c == c else 0.0 for _, c in stats]
            if len(counts) == 1:
                ax.bar([i], means, yerr=cis, capsize=4, label=label(*key))
            else:
                ax.errorbar(counts, means, yerr=cis, marker="s", capsize=3, label=label(*key))
        if len(counts) == 1:
            ax.set_xticks(range(len(groups)), [label(*k) for k in sorted(groups)])
        ax.set_ylim(bottom=0)

    xlabel = f"{counts[0]} edge nodes" if len(counts) == 1 else "edge nodes"
    return _save_plot(
        out, "completion_time.png", draw, xlabel, "completion time (s), mean ± 95 % CI", "Total completion time"
    )


def plot_time_vs_loss(out: Path, rows: list[dict]) -> Path:
    """One point per run: completion time against final loss (lower left is better)."""

    def draw(ax) -> None:
        for policy in sorted({r["policy"] for r in rows}):
            pts = [(r["completion_time_s"], r["final_val_loss"]) for r in rows if r["policy"] == policy]
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], label=policy)

    return _save_plot(
        out, "policies.png", draw, "completion time (s)", "final validation loss", "Policies: time vs loss"
    )


def write_report(out: Path, rows: list[dict], curves: dict[str, tuple[float, list[float]]], title: str) -> str:
    """results.csv, summary.md and the plots; returns the markdown tables."""
    write_results(out, rows)
    table = "\n".join(t for t in (summary_table(rows), policy_table(rows), fidelity_table(rows)) if t)
    (out / "summary.md").write_text(f"# {title}\n\n" + table)
    plot_completion(out, rows)
    plot_loss_per_epoch(out, curves)
    plot_time_vs_loss(out, rows)
    return table
