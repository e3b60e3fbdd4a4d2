"""loss_vs_time.png: validation loss against reported time, one line per policy.

Loss per epoch hides what node selection is for: NE's epochs are shorter, so its curve
against epochs lies on AR's while against time it arrives first. One line per policy
(and per setup and node count where a comparison has several); seeds are drawn as the
band between their lowest and highest loss on a common time grid (targets.band), over
the span every seed covers, with their mean as the line and each seed's own curve
faint behind it. Curves are steps: the global model, and so its validation loss,
changes only when an epoch ends (the pre-training loss holds through the set-up).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Mapping, Sequence

from experiments.reports.targets import TimedCurve, band


def series(rows: Sequence[Mapping], curves: Mapping[str, TimedCurve | None]) -> dict[str, list[TimedCurve]]:
    """The curves by line label: policy, plus setup and node count where they vary."""
    several_setups = len({str(r.get("setup", "")) for r in rows}) > 1
    several_counts = len({str(r.get("nodes", "")) for r in rows}) > 1
    out: dict[str, list[TimedCurve]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: (str(r.get("policy")), str(r.get("setup")), str(r.get("nodes")))):
        curve = curves.get(str(r.get("run_dir", "")))
        if curve is None or not curve.ends_s:
            continue
        label = str(r.get("policy", "?")).upper()
        label += f", Setup {r.get('setup')}" if several_setups else ""
        label += f", {r.get('nodes')} nodes" if several_counts else ""
        out[label].append(curve)
    return dict(out)


def _common_target(rows: Sequence[Mapping]) -> float | None:
    targets = {r.get("target_loss") for r in rows if r.get("target_loss") not in (None, "")}
    return float(targets.pop()) if len(targets) == 1 else None


def draw_loss_vs_time(rows: Sequence[Mapping], curves: Mapping[str, TimedCurve | None]):
    """The figure: a line per series; several seeds as a band (min to max) around their mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (label, group) in enumerate(series(rows, curves).items()):
        colour = f"C{i}"
        if len(group) == 1:
            ax.plot(
                *group[0].points(), marker="o", ms=3, color=colour, drawstyle="steps-post", label=f"{label} (n = 1)"
            )
            continue
        for c in group:
            ax.plot(*c.points(), color=colour, alpha=0.25, lw=0.8, drawstyle="steps-post")
        grid, mean, low, high = band(group, points=1000)
        ax.fill_between(grid, low, high, color=colour, alpha=0.2, step="post", gid=f"band|{label}")
        ax.plot(
            grid, mean, color=colour, drawstyle="steps-post", label=f"{label} (mean of n = {len(group)}, band: min–max)"
        )
    target = _common_target(rows)
    if target is not None:
        ax.axhline(target, color="black", ls=":", lw=1, label=f"target loss {target:.3f}")
    ax.set_xlabel("time since the first send (s; reported time = wall / k)")
    ax.set_ylabel("validation cross-entropy")
    ax.set_title("Validation loss against time")
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_loss_vs_time(out: Path, rows: Sequence[Mapping], curves: Mapping[str, TimedCurve | None]) -> Path:
    """Draw loss_vs_time.png into `out`."""
    import matplotlib.pyplot as plt

    fig = draw_loss_vs_time(rows, curves)
    path = Path(out) / "loss_vs_time.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
