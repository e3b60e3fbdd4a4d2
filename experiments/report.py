"""Tables and plots from finished run folders (summary.json + epochs.csv)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

RESULT_FIELDS = ["nodes", "setup", "seed", "policy", "mode", "completion_time_s", "pre_training_loss",
                 "final_val_loss", "active_at_end", "run_dir"]


def load_run(run_dir: Path) -> tuple[dict, list[dict]]:
    summary = json.loads((run_dir / "summary.json").read_text())
    with (run_dir / "epochs.csv").open() as fh:
        return summary, list(csv.DictReader(fh))


def write_results(out: Path, rows: list[dict]) -> None:
    with (out / "results.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=RESULT_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def summary_table(rows: list[dict]) -> str:
    """Markdown: NE vs AR per (nodes, setup, seed), with the completion-time ratio."""
    lines = ["| nodes | setup | seed | NE time (s) | AR time (s) | NE/AR time | NE loss | AR loss | NE/AR loss | NE nodes left |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    keyed = {(r["nodes"], r["setup"], r["seed"], r["policy"]): r for r in rows}
    for nodes, setup, seed in sorted({(r["nodes"], r["setup"], r["seed"]) for r in rows}):
        ne, ar = keyed.get((nodes, setup, seed, "ne")), keyed.get((nodes, setup, seed, "ar"))
        if not (ne and ar):
            continue
        t_ratio = ne["completion_time_s"] / ar["completion_time_s"]
        l_ratio = ne["final_val_loss"] / ar["final_val_loss"]
        lines.append(f"| {nodes} | {setup} | {seed} | {ne['completion_time_s']:.1f} | {ar['completion_time_s']:.1f} | {t_ratio:.2f} | "
                     f"{ne['final_val_loss']:.3f} | {ar['final_val_loss']:.3f} | {l_ratio:.3f} | {ne['active_at_end']} |")
    return "\n".join(lines) + "\n"


def plot_loss_per_epoch(out: Path, curves: dict[str, tuple[float, list[float]]]) -> Path:
    """Fig. 3 style: validation loss per epoch, starting at the pre-training loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (start, losses) in curves.items():
        ax.plot(range(len(losses) + 1), [start, *losses], marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation cross-entropy")
    ax.set_title("Loss per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    path = out / "loss_per_epoch.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_completion(out: Path, rows: list[dict]) -> Path:
    """Fig. 2 style: completion time per node count, NE vs AR."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for policy in sorted({r["policy"] for r in rows}):
        pts = sorted((r["nodes"], r["completion_time_s"]) for r in rows if r["policy"] == policy)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="s", label=policy.upper())
    ax.set_xlabel("edge nodes")
    ax.set_ylabel("completion time (s)")
    ax.set_title("Total completion time")
    ax.grid(alpha=0.3)
    ax.legend()
    path = out / "completion_time.png"
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
