"""A long benchmark sweep continued across sessions runs only the (seed, policy) pairs it lacks."""

from __future__ import annotations

from pathlib import Path

from experiments.bench_ne_vs_ar import merge, missing_runs, read_rows
from experiments.reports.report import write_results


def test_only_missing_pairs_are_run_grouped_by_what_each_seed_lacks() -> None:
    done = {("0", "ne"), ("0", "ar"), ("1", "ne"), ("1", "ar"), ("2", "ne")}
    groups = missing_runs(done, ["0", "1", "2"], ["ne", "ar", "oracle"])
    assert groups == {("oracle",): ["0", "1"], ("ar", "oracle"): ["2"]}


def test_a_finished_sweep_runs_nothing() -> None:
    done = {(s, p) for s in "01" for p in ("ne", "ar")}
    assert missing_runs(done, ["0", "1"], ["ne", "ar"]) == {}


def test_merge_keeps_old_rows_replaces_rerun_ones_and_moves_run_folders(tmp_path: Path) -> None:
    out, pending = tmp_path / "scenario", tmp_path / "scenario" / "pending"
    out.mkdir()
    write_results(out, [{"seed": 0, "policy": "ne", "completion_time_s": 1.0, "run_dir": str(out / "n-ne")}])
    (pending / "n-oracle").mkdir(parents=True)
    (pending / "n-oracle" / "summary.json").write_text("{}")
    write_results(
        pending, [{"seed": 0, "policy": "oracle", "completion_time_s": 2.0, "run_dir": str(pending / "n-oracle")}]
    )

    merge(out, pending)

    rows = {(r["seed"], r["policy"]): r for r in read_rows(out)}
    assert set(rows) == {("0", "ne"), ("0", "oracle")}
    assert Path(rows[("0", "oracle")]["run_dir"]) == out / "n-oracle"
    assert (out / "n-oracle" / "summary.json").exists()
    assert read_rows(pending) == []  # folded once: the next group does not fold it again
