"""Time to a target loss (issue 30 item 1), on hand-made rows: reached, never reached, the
default target (AR's final loss in the same comparison), --target-loss, and the epoch
ends on the completion-time clock."""

import pytest

from experiments.reports.report import policy_table, summary_table
from experiments.reports.targets import (
    TimedCurve,
    band,
    curve_of,
    epoch_end_times,
    loss_at,
    time_to_target,
    with_time_to_target,
)


def test_epoch_ends_put_the_time_outside_epochs_before_epoch_0_and_end_at_the_completion_time():
    ends = epoch_end_times(16.5, [2.0, 1.5, 1.0])
    assert ends == pytest.approx([14.0, 15.5, 16.5])
    assert epoch_end_times(None, [2.0, 1.5]) == pytest.approx([2.0, 3.5])  # a run cut short: no set-up known


def test_reached_at_the_end_of_the_first_epoch_at_or_below_the_target():
    ends, losses = [14.0, 15.5, 16.5], [9.7, 8.9, 7.8]
    assert time_to_target(ends, losses, 8.9) == 15.5  # "at" counts
    assert time_to_target(ends, losses, 9.0) == 15.5
    assert time_to_target(ends, losses, 10.0) == 14.0


def test_never_reached_and_no_target_are_empty():
    assert time_to_target([1.0, 2.0], [9.7, 8.9], 8.0) is None
    assert time_to_target([1.0, 2.0], [9.7, 8.9], None) is None


def test_a_loss_equal_to_the_target_up_to_the_csv_rounding_has_reached_it():
    # epochs.csv keeps 6 significant digits, summary.json the full float: AR reaches its own final loss
    assert time_to_target([3.0], [7.79756], 7.797563552856445) == 3.0


def _rows():
    """NE and AR of one comparison, and NE of another seed with no AR run."""
    return [
        {"nodes": 4, "setup": 2, "seed": 0, "policy": "ne", "final_val_loss": 7.9, "run_dir": "ne0"},
        {"nodes": 4, "setup": 2, "seed": 0, "policy": "ar", "final_val_loss": 7.8, "run_dir": "ar0"},
        {"nodes": 4, "setup": 2, "seed": 1, "policy": "ne", "final_val_loss": 7.0, "run_dir": "ne1"},
    ]


def _curves():
    return {
        "ne0": TimedCurve(10.3, (5.0, 6.0, 7.0), (9.0, 7.8, 7.9)),  # reaches AR's 7.8 in its second epoch
        "ar0": TimedCurve(10.3, (5.0, 8.0, 11.0), (9.5, 8.5, 7.8)),
        "ne1": TimedCurve(10.3, (5.0, 6.0, 7.0), (9.0, 8.0, 7.0)),
    }


def test_default_target_is_ars_final_loss_of_the_same_nodes_setup_and_seed():
    rows = {r["run_dir"]: r for r in with_time_to_target(_rows(), _curves())}
    assert rows["ne0"]["target_loss"] == 7.8 and rows["ne0"]["time_to_target_s"] == 6.0
    assert rows["ar0"]["time_to_target_s"] == 11.0
    assert rows["ne1"]["target_loss"] is None and rows["ne1"]["time_to_target_s"] is None  # no AR for seed 1


def test_target_loss_overrides_and_a_target_never_reached_is_empty():
    rows = {r["run_dir"]: r for r in with_time_to_target(_rows(), _curves(), target_loss=7.5)}
    assert rows["ne1"]["time_to_target_s"] == 7.0
    assert rows["ne0"]["time_to_target_s"] is None and rows["ar0"]["time_to_target_s"] is None


def test_the_tables_say_not_reached_and_no_target():
    base = {"completion_time_s": 10.0, "active_at_end": 2}
    rows = [{**base, **r} for r in with_time_to_target(_rows(), _curves(), target_loss=None)]
    rows[1]["time_to_target_s"] = None  # AR that never got there
    summary = summary_table(rows)
    assert "| 7.800 | 6.0 | not reached |" in summary
    assert "no target" in policy_table(rows)


def test_curve_of_a_run_folder_reads_epochs_and_summary():
    summary = {"completion_time_s": 16.475654, "pre_training_loss": 10.2954}
    epochs = [
        {"epoch": "0", "val_loss": "9.75859", "epoch_time_s": "2.02423"},
        {"epoch": "1", "val_loss": "8.95374", "epoch_time_s": "1.4126"},
        {"epoch": "2", "val_loss": "7.79756", "epoch_time_s": "1.05833"},
    ]
    curve = curve_of(summary, epochs)
    assert curve.ends_s[-1] == pytest.approx(16.475654)
    assert curve.ends_s[0] == pytest.approx(16.475654 - 1.4126 - 1.05833)
    assert curve.points()[0][0] == 0.0 and curve.points()[1][0] == 10.2954


def test_seed_band_puts_seeds_on_a_common_grid_over_the_span_every_seed_covers():
    a = TimedCurve(10.0, (2.0, 4.0), (8.0, 6.0))
    b = TimedCurve(10.0, (1.0, 3.0), (6.0, 5.0))
    grid, mean, low, high = band([a, b], points=7)
    assert grid[0] == 0.0 and grid[-1] == 3.0  # b ends at 3 s
    at = {t: i for i, t in enumerate(grid)}
    # the loss of the model in hand: a still has its pre-training 10 at 1 s, b its first epoch's 6
    assert (low[at[1.0]], high[at[1.0]], mean[at[1.0]]) == pytest.approx((6.0, 10.0, 8.0))
    assert (low[at[2.0]], high[at[2.0]]) == pytest.approx((6.0, 8.0))  # a's first epoch ends at 2 s
    assert (low[at[0.5]], high[at[0.5]]) == pytest.approx((10.0, 10.0))


def test_loss_at_holds_each_epochs_loss_until_the_next_epoch_ends():
    curve = TimedCurve(10.0, (2.0, 4.0), (8.0, 6.0))
    assert loss_at(curve, [0.0, 1.99, 2.0, 3.0, 4.0, 9.0]) == [10.0, 10.0, 8.0, 8.0, 6.0, 6.0]
