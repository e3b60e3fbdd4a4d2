"""experiments/scale_report.py's arithmetic on a small hand-made results.csv: NE/AR paired by seed
with the project's t-interval, the set-up share, where the paper's 2x holds, the time to AR's final
loss (an unreached target counting with the completion time), the suite against the oracle, and
whether the emulation agrees."""

from __future__ import annotations

import math

import pytest

from experiments import scale_report
from experiments.scale_grid import append_row
from experiments.scale_report import (
    Estimate,
    agreement,
    pair_cells,
    read_rows,
    suite_table,
    time_to_target_or_end,
    with_targets,
    loss_table,
)

T95_DF2 = 4.303  # Student's t, two-sided 95 %, 2 degrees of freedom


def _row(nodes, setup, regime, policy, seed, completion, setup_s=20.0, training="none", losses=None, **extra):
    times = [(completion - setup_s) / 2] * 2
    return {
        "nodes": nodes,
        "setup": setup,
        "regime": regime,
        "policy": policy,
        "seed": seed,
        "training": training,
        "completion_time_s": completion,
        "setup_s": setup_s,
        "mean_epoch_s": (completion - setup_s) / 2,
        "epoch_times_s": ";".join(str(t) for t in times),
        "val_losses": ";".join(str(v) for v in losses) if losses else "",
        "pre_training_loss": 10.0 if losses else "",
        "final_val_loss": losses[-1] if losses else "",
        **extra,
    }


@pytest.fixture()
def results(tmp_path):
    path = tmp_path / "results.csv"
    rows = [_row(12, 2, "real", "ar", seed, 100.0) for seed in (0, 1, 2)]
    rows += [_row(12, 2, "real", "ne", seed, t, setup_s=t / 2) for seed, t in ((0, 50.0), (1, 60.0), (2, 90.0))]
    rows.append(_row(12, 2, "real", "ne", 3, 10.0))  # no AR for seed 3: left out of the pairing
    rows.append(_row(12, 2, "real", "ne", 0, 999.0))  # a duplicate of a finished key: the first row wins
    for row in rows:
        append_row(path, row)
    return path


def test_ne_ar_is_paired_by_seed_with_the_projects_t_interval(results):
    (cell,) = pair_cells(read_rows(results))
    ratios = [0.5, 0.6, 0.9]
    mean = sum(ratios) / 3
    stdev = math.sqrt(sum((r - mean) ** 2 for r in ratios) / 2)
    assert cell.ratio.count == 3
    assert cell.ratio.mean == pytest.approx(mean)
    assert cell.ratio.half == pytest.approx(T95_DF2 * stdev / math.sqrt(3), rel=1e-9)
    assert cell.at_goal == 1 and cell.verdict() == "no"
    assert cell.ne.count == 4  # NE's own completion time counts every seed it ran
    assert cell.ne_setup_share.mean == pytest.approx((0.5 * 3 + 20.0 / 10.0) / 4)  # seed 3: 20 s of set-up in 10
    assert cell.ar_setup_share.mean == pytest.approx(0.2)
    assert cell.epochs_ratio.mean == pytest.approx(sum(t / 2 / 80.0 for t in (50.0, 60.0, 90.0)) / 3)


def test_the_2x_holds_only_when_the_whole_interval_is_at_or_below_a_half():
    def verdict(ratios):
        return scale_report.PairCell(
            (12, 2, "real"),
            *[Estimate.of([1.0])] * 2,
            Estimate.of(ratios),
            Estimate.of([]),
            0,
            Estimate.of([]),
            Estimate.of([]),
        ).verdict()

    assert verdict([0.30, 0.32, 0.31]) == "**holds** (CI ≤ 0.5)"
    assert verdict([0.2, 0.45, 0.8]) == "mean ≤ 0.5, CI above"
    assert verdict([0.3, 0.3]) == "too few seeds"


def test_time_to_ars_final_loss_and_an_unreached_target_counts_with_its_completion():
    rows = [
        _row(100, 2, "real", "ar", 0, 120.0, training="real", losses=[5.0, 4.0]),
        _row(100, 2, "real", "ne", 0, 80.0, training="real", losses=[4.0, 4.2]),  # reached after epoch 0
        _row(100, 2, "real", "ne", 1, 70.0, training="real", losses=[5.0, 4.5]),  # AR seed 1 below: 4.4, never
        _row(100, 2, "real", "ar", 1, 90.0, training="real", losses=[5.0, 4.4]),
    ]
    rows = {(r["policy"], r["seed"]): r for r in with_targets([{k: str(v) for k, v in r.items()} for r in rows])}
    assert rows[("ne", "0")]["target_loss"] == 4.0
    assert rows[("ne", "0")]["time_to_target_s"] == pytest.approx(20.0 + 30.0)  # set-up, then epoch 0's 30 s
    assert rows[("ar", "0")]["time_to_target_s"] == pytest.approx(120.0)  # AR reaches its own final loss at the end
    assert rows[("ne", "1")]["time_to_target_s"] is None
    times, reached = time_to_target_or_end({0: rows[("ne", "0")], 1: rows[("ne", "1")]})
    assert times == {0: pytest.approx(50.0), 1: 70.0} and reached == 1


def test_a_margin_lifts_the_target_and_the_table_pairs_against_ne():
    rows = [
        _row(100, 2, "pv1", "ar", 0, 120.0, training="real", losses=[5.0, 4.0]),
        _row(100, 2, "pv1", "ne", 0, 80.0, training="real", losses=[4.5, 4.05]),  # within 1 % only at its end
        _row(100, 2, "pv1", "pace", 0, 60.0, training="real", losses=[4.03, 4.2]),  # within 1 % after epoch 0
    ]
    plain = [{k: str(v) for k, v in r.items()} for r in rows]
    lifted = {r["policy"]: r for r in with_targets(plain, 0.01)}
    assert lifted["ne"]["target_loss"] == pytest.approx(4.04) and lifted["ne"]["time_to_target_s"] is None
    assert lifted["pace"]["time_to_target_s"] == pytest.approx(20.0 + 20.0)
    table = loss_table(with_targets(plain, 0.01), "ne", "AR's final loss + 1 %")
    assert "time / NE's time" in table
    pace = next(line for line in table.splitlines() if "| pace |" in line)
    assert "1/1" in pace and "0.500" in pace  # 40 s against NE's 80 s (never reached: its completion)


def test_time_only_rows_have_no_target():
    (row,) = with_targets([{k: str(v) for k, v in _row(12, 2, "real", "ar", 0, 100.0).items()}])
    assert row["target_loss"] is None and row["time_to_target_s"] is None


def test_the_suite_is_measured_against_the_oracle_by_seed():
    rows = []
    for seed in (0, 1, 2):
        rows += [
            _row(100, 2, "real", "oracle", seed, 60.0, jain_index=0.4, mean_coverage=0.3),
            _row(100, 2, "real", "ar", seed, 120.0, jain_index=1.0, mean_coverage=1.0),
            _row(100, 2, "real", "ne", seed, 80.0 + seed, jain_index=0.5, mean_coverage=0.6),
        ]
    table = suite_table([{k: str(v) for k, v in r.items()} for r in rows])
    ne_line = next(line for line in table.splitlines() if "| ne |" in line)
    ne_epoch_over_oracle = [(60.0 + s) / 2 / 20.0 for s in (0, 1, 2)]  # (completion - set-up) / 2 epochs
    assert f"{sum(ne_epoch_over_oracle) / 3:.3f} ± " in ne_line
    assert "| 0.500 ± 0.000 | 0.600 ± 0.000 |" in ne_line
    assert "| 1.000 ± 0.000 |" in next(line for line in table.splitlines() if "| oracle |" in line)


def test_agreement_follows_issue_28s_target():
    measured = {0: 0.5, 1: 0.6, 2: 0.7}
    assert agreement(measured, {0: 0.55, 1: 0.65, 2: 0.75, 3: 0.6}).startswith("agree")
    assert agreement(measured, {0: 0.75, 1: 0.6, 2: 0.7}).startswith("disagree")  # seed 0 off by 0.25
    assert agreement({0: 0.5, 1: 0.6}, {0: 0.5, 1: 0.6}).startswith("not judged: 2 measured seed(s) < 3")


def test_agreement_is_judged_on_the_same_draws_and_names_the_cells_mean_beside_it():
    # The recorded seeds sit high in their cell: the same seeds agree, the cell's mean falls outside.
    measured = {0: 0.80, 1: 0.82, 2: 0.78}  # 0.800 +- 0.050
    simulated = {0: 0.79, 1: 0.83, 2: 0.77, **{seed: 0.60 for seed in range(3, 30)}}
    text = agreement(measured, simulated)
    assert text.startswith("agree: the same seeds' simulated mean inside the measured CI")
    assert text.endswith("the cell's mean over 30 seeds outside it")
    low = agreement(measured, {0: 0.60, 1: 0.65, 2: 0.70})
    assert low.startswith("disagree: the same seeds' simulated mean outside")
    # one simulated seed of three is no verdict on the same draws
    assert agreement(measured, {0: 0.80, 5: 0.80}) == "not judged: 1 of the 3 measured seeds simulated (< 3)"


def test_the_report_writes_its_summary_and_plot(results):
    path = scale_report.write_report(results.parent)
    text = path.read_text()
    assert "simulated" in text and "0.667 ± " in text
    assert (results.parent / "ne_ar_vs_nodes.png").stat().st_size > 0


def test_the_data_folders_note_stands_under_the_title(results):
    # What the rows are not (e.g. the simulator model they predate) must survive a rewrite of summary.md.
    (results.parent / "note.md").write_text("**These rows predate the refit.**\n")
    lines = scale_report.write_report(results.parent).read_text().splitlines()
    assert lines[0].startswith("# NE against AR at scale")
    assert lines[2] == "**These rows predate the refit.**"
    assert lines[4].startswith("Everything below is **simulated**")


def test_no_results_is_one_line_and_exit_2(tmp_path, capsys):
    assert scale_report.main(["--data", str(tmp_path)]) == 2
    assert "results.csv" in capsys.readouterr().err


def test_update_doc_replaces_the_quoted_tables_and_keeps_the_prose(results, tmp_path):
    """A document quoting summary.md's NE/AR table (stale rows) gets summary.md's rows; its prose and a
    table summary.md does not write stay as they were."""
    summary = scale_report.write_report(results.parent).read_text()
    header = next(line for line in summary.splitlines() if line.startswith("| nodes | setup | regime | seeds |"))
    doc = tmp_path / "benchmarks.md"
    stale = "| 12 | 2 | real artifacts | 3 | 1 s | 2 s | 0.100 ± 0.001 | 3/3 | yes | - | - |"
    doc.write_text(
        f"# Benchmarks\n\nprose before\n\n{header}\n|---|\n{stale}\n\nprose after\n\n| other |\n|---|\n| 1 |\n"
    )
    assert scale_report.main(["--data", str(results.parent), "--update-doc", str(doc)]) == 0
    text = doc.read_text()
    assert stale not in text and "0.667 ± " in text
    assert text.startswith("# Benchmarks\n\nprose before\n\n") and "\nprose after\n\n| other |\n|---|\n| 1 |\n" in text
    assert scale_report.markdown_tables(text)[header] == scale_report.markdown_tables(summary)[header]


def test_update_doc_that_is_not_a_file_is_one_line_and_exit_2(results, tmp_path, capsys):
    assert scale_report.main(["--data", str(results.parent), "--update-doc", str(tmp_path / "nope.md")]) == 2
    err = capsys.readouterr().err
    assert "--update-doc" in err and len(err.strip().splitlines()) == 1


def test_splice_keeps_every_character_of_the_prose_and_the_tables_it_does_not_know():
    header = "| a | b |"
    doc = f"{header}\n|---|---|\n| 1 | 2 |\nprose\x0cwith a form feed\n\n| other |\n|---|\n| 3 |"
    text, replaced = scale_report.splice_tables(doc, {header: [header, "|---|---|", "| 9 | 9 |"]})
    assert replaced == 1
    assert text == f"{header}\n|---|---|\n| 9 | 9 |\nprose\x0cwith a form feed\n\n| other |\n|---|\n| 3 |"


def test_one_emulation_series_pools_its_seeds_at_every_node_count():
    # Each seed of a 40-node pair is its own folder, as at 12 nodes: they must pool into one measured CI.
    mininet = [
        {
            "source": f"experiments/data/mininet/mn{nodes}-reno-k8-s2-seed{seed}",
            "nodes": nodes,
            "setup": 2,
            "regime": "real",
            "seed": seed,
            "policy": policy,
            "completion_time_s": time,
        }
        for nodes in (12, 40)
        for seed in (0, 1, 2)
        for policy, time in (("ne", 80.0 + seed), ("ar", 100.0))
    ]
    ratios = scale_report.mininet_ratios(mininet)
    assert {source for _, source in ratios} == {
        "experiments/data/mininet/mn12-reno-k8-*",
        "experiments/data/mininet/mn40-reno-k8-*",
    }
    assert all(len(per_seed) == 3 for per_seed in ratios.values())
    assert scale_report._source_group("docs/benchmarks.md (40 nodes)") == "docs/benchmarks.md (40 nodes)"
    group = scale_report._source_group
    assert (
        group("experiments/data/mininet/mn12-reno-k8-pv0.004-s1-e5-seed0") == "experiments/data/mininet/mn12-reno-k8-*"
    )
    assert group("experiments/data/mininet/mn12-k8-s2-seed1") == "experiments/data/mininet/mn12-k8-s2-*"
    # a re-take of a seed is not that seed's run: it must not replace it in the series
    retake = "experiments/data/mininet/repeat-reno-k8-s1-seed2-ne"
    assert group(retake) == retake
    assert group("experiments/data/mininet/mn12-reno-k8-s1-seed2-repeat") != "experiments/data/mininet/mn12-reno-k8-*"


def test_the_emulation_table_names_every_k_its_series_ran_at():
    # One k per row: a cell's note must list each seed's, not stamp the last row's on every seed.
    mininet = [
        {
            "source": "docs/benchmarks.md (40 nodes)",
            "nodes": 40,
            "setup": 2,
            "regime": "real",
            "seed": seed,
            "policy": policy,
            "completion_time_s": 100.0 if policy == "ar" else 80.0,
            "k": k,
            "overrun_share": "0.0",
            "host_kept_up": "yes",
            "note": "",
        }
        for seed, k in ((0, "6.4"), (1, "7.0"), (2, "7.9"))
        for policy in ("ne", "ar")
    ]
    mininet[0]["host_kept_up"], mininet[0]["note"] = "no", "seed 0 overran"
    table = scale_report.emulation_table([], mininet)
    assert "| k 6.4, 7.0, 7.9, host kept up: no, yes; seed 0 overran |" in table
