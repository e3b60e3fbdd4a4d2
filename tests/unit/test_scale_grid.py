"""experiments/scale_grid.py's bookkeeping without SimGrid: the grid's units and their order, and a
continued sweep running only the (cell, seed, policy) triples results.csv does not hold yet."""

from __future__ import annotations

import csv

import pytest

from experiments import scale_grid
from experiments.scale_grid import Unit, append_row, done_keys, grid_units, missing, parse_cells, result_row, select


def _answer(completion: float, setup: float, losses: list[float] | None = None) -> dict:
    epochs = [{"epoch_time_s": (completion - setup) / 2, "val_loss": "" if losses is None else v} for v in (0, 1)]
    if losses is not None:
        epochs = [{"epoch_time_s": (completion - setup) / 2, "val_loss": v} for v in losses]
    summary = {"completion_time_s": completion, "setup_time_s": setup, "epochs": 2, "measurement": "controller"}
    summary |= {"final_val_loss": None if losses is None else losses[-1], "jain_index": 0.5, "mean_coverage": 0.75}
    return {"summary": summary, "epochs": epochs, "cpu_s": 1.5}


def test_the_grid_holds_every_cell_and_the_suite_once():
    units = grid_units([0, 1])
    pairs = [u for u in units if u.policy in ("ne", "ar") and u.regime in ("real", "pv1")]
    assert len(pairs) == 4 * 3 * 2 * 2 * 2  # N x setups x regimes x seeds x {ne, ar}
    beside = [u for u in units if u.regime not in ("real", "pv1")]
    assert {(u.nodes, u.setup, u.regime) for u in beside} == set(scale_grid.EMULATION_CELLS)
    assert len(beside) == len(scale_grid.EMULATION_CELLS) * 2 * 2
    suite = [u for u in units if u.policy not in ("ne", "ar")]
    assert len(suite) == 2 * 2 * 2 * len(scale_grid.SUITE)  # N in {100, 1000} x regimes x seeds x policies
    assert {u.setup for u in suite} == {2} and {u.nodes for u in suite} == {100, 1000}
    assert len(set(units)) == len(units)


def test_ne_and_ar_come_first_small_n_first_and_1000_nodes_in_waves():
    units = grid_units(list(range(30)))
    position = {u: i for i, u in enumerate(units)}
    small_pairs = [u for u in units if u.policy in ("ne", "ar") and u.nodes < 1000]
    assert [u.nodes for u in small_pairs] == sorted(u.nodes for u in small_pairs)
    first_thousand = min(i for u, i in position.items() if u.nodes == 1000)
    assert max(position[u] for u in small_pairs) < first_thousand  # every NE/AR run at N <= 100 before 1 000
    big = [u.seed for u in units if u.nodes == 1000 and u.policy in ("ne", "ar")]
    assert max(big[: 10 * 3 * 2 * 2]) == 9  # every 1 000-node cell's first ten seeds before any later one
    suite_100 = [i for u, i in position.items() if u.policy not in ("ne", "ar") and u.nodes == 100]
    assert max(suite_100) < first_thousand  # the cheap suite at 100 nodes is not starved by 1 000-node runs
    first = units[0]
    assert (first.nodes, first.policy) == (12, "ar")  # a seed's AR before its NE


def test_a_continued_sweep_runs_only_the_missing_triples(tmp_path):
    results = tmp_path / "results.csv"
    units = grid_units([0, 1, 2])
    finished = units[:7] + units[20:23]
    for unit in finished:
        append_row(results, result_row(unit, _answer(100.0, 40.0), "", None))
    left = missing(units, done_keys(results))
    assert len(left) == len(units) - len(finished)
    assert not set(left) & set(finished)
    assert left == [u for u in units if u not in finished]  # the order is kept
    with results.open() as fh:
        assert sum(1 for _ in csv.DictReader(fh)) == len(finished)  # one header, one row per run


def test_training_is_part_of_a_runs_identity(tmp_path):
    results = tmp_path / "results.csv"
    unit = Unit(12, 2, "real", 0, "ne")
    append_row(results, result_row(unit, _answer(100.0, 40.0), "", None))
    assert missing([unit], done_keys(results)) == []
    real = Unit(12, 2, "real", 0, "ne", "real")
    assert missing([real], done_keys(results)) == [real]


def test_cells_select_and_reject():
    cells = parse_cells("100:2:*,12:*:real")
    assert cells == {(100, 2, "real"), (100, 2, "pv1"), (12, 1, "real"), (12, 2, "real"), (12, 3, "real")}
    chosen = select(grid_units([0]), cells, {"ne"})
    assert {(u.nodes, u.setup, u.regime) for u in chosen} == cells and {u.policy for u in chosen} == {"ne"}
    with pytest.raises(ValueError, match="--cells"):
        parse_cells("100:2:x1")
    with pytest.raises(ValueError, match="--cells"):
        parse_cells("100:2")


def test_a_row_carries_the_set_up_the_mean_epoch_and_the_time_to_target():
    row = result_row(Unit(12, 2, "pv1", 3, "ne"), _answer(100.0, 40.0, [5.0, 4.0]), "", 4.5)
    assert row["regime"] == "pv1" and row["paper_volumes"] == 1.0 and row["engine"] == "simulate"
    assert float(row["setup_s"]) == 40.0 and float(row["mean_epoch_s"]) == 30.0
    assert row["time_to_target_s"] == 100.0  # epoch 1 ends at the completion time, loss 4.0 <= 4.5
    assert row["val_losses"] == "5.000000;4.000000"
    time_only = result_row(Unit(12, 2, "real", 3, "ne"), _answer(100.0, 40.0), "", 4.5)
    assert time_only["time_to_target_s"] is None and time_only["val_losses"] == ""


def test_bad_input_is_one_line_and_exit_2(capsys):
    assert scale_grid.main(["--cells", "12:2", "--out", "unused"]) == 2
    assert "--cells" in capsys.readouterr().err
    assert scale_grid.main(["--seeds", "x-y", "--out", "unused"]) == 2
    assert scale_grid.main(["--training", "fake", "--out", "unused"]) == 2
