"""loss_vs_time.png (issue 30 item 2): one line per policy (and per setup and node count
where there are several), seeds as a band, and the curves are the run folders' own."""

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from experiments.reports.loss_time import draw_loss_vs_time, series
from experiments.reports.targets import TimedCurve, read_curve, with_time_to_target

FIXTURE = Path(__file__).parents[1] / "fixtures" / "run_folders" / "loopback-4n"


def _seeded(seeds: int, setups=(2,)) -> tuple[list[dict], dict]:
    rows, curves = [], {}
    for setup in setups:
        for seed in range(seeds):
            for policy, slow in (("ne", 1.0), ("ar", 1.5)):
                run = f"s{setup}-{seed}-{policy}"
                rows.append({"policy": policy, "setup": setup, "nodes": 12, "seed": seed, "run_dir": run})
                ends = tuple(slow * (5 + seed + 2 * e) for e in range(3))
                curves[run] = TimedCurve(10.0, ends, (9.0 - seed * 0.1, 8.0, 7.0 + seed * 0.1))
    return rows, curves


def _bands(fig) -> list[str]:
    return [c.get_gid() for c in fig.axes[0].collections if (c.get_gid() or "").startswith("band|")]


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_several_seeds_are_one_band_per_policy_and_say_n():
    rows, curves = _seeded(3)
    fig = draw_loss_vs_time(rows, curves)
    assert sorted(_bands(fig)) == ["band|AR", "band|NE"]
    assert "NE (mean of n = 3, band: min–max)" in _legend(fig)
    plt.close(fig)


def test_one_seed_is_a_plain_line_without_a_band():
    rows, curves = _seeded(1)
    fig = draw_loss_vs_time(rows, curves)
    assert _bands(fig) == [] and "NE (n = 1)" in _legend(fig)
    plt.close(fig)


def test_setups_are_separate_lines():
    rows, curves = _seeded(2, setups=(1, 2))
    assert sorted(series(rows, curves)) == ["AR, Setup 1", "AR, Setup 2", "NE, Setup 1", "NE, Setup 2"]


def test_a_recorded_comparisons_lines_are_its_run_folders_curves_and_its_target():
    rows = []
    for policy in ("ne", "ar"):
        import json

        summary = json.loads((FIXTURE / policy / "summary.json").read_text())
        rows.append({**summary, "setup": 2, "run_dir": str(FIXTURE / policy)})
    curves = {r["run_dir"]: read_curve(Path(r["run_dir"])) for r in rows}
    rows = with_time_to_target(rows, curves)
    fig = draw_loss_vs_time(rows, curves)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    ne = curves[str(FIXTURE / "ne")]
    assert list(lines["NE (n = 1)"].get_xdata()) == pytest.approx([0.0, *ne.ends_s])
    assert list(lines["NE (n = 1)"].get_ydata()) == pytest.approx([ne.pre_training_loss, *ne.losses])
    assert lines["NE (n = 1)"].get_drawstyle() == "steps-post"  # the model changes only when an epoch ends
    target = rows[1]["final_val_loss"]
    assert f"target loss {target:.3f}" in lines
    plt.close(fig)
