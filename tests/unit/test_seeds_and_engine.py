"""`--seeds` takes a comma list or an inclusive range A-B (compare, and simulate through the same
parser), and every results.csv row names the engine that ran it (issue 28 item 5)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.reports.redraw import redraw
from experiments.reports.report import ENGINES, engine_of_mode, write_results
from experiments.runners.inputs import parse_seeds

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "run_folders"
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0", [0]),
        ("0,3,7", [0, 3, 7]),
        ("0-4", [0, 1, 2, 3, 4]),
        ("5-5", [5]),
        ("0-2,10", [0, 1, 2, 10]),
        ("3,0-3", [3, 0, 1, 2]),  # each seed once, in the order first given
        (" 1 , 2 ", [1, 2]),
    ],
)
def test_seeds_are_a_comma_list_or_an_inclusive_range(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("5-2", "write the smaller seed first (2-5)"),
        ("a-b", "not a seed or a range"),
        ("1-", "not a seed or a range"),
        ("-3", "not a seed or a range"),
        ("0-99999999999", "seeds go from 0 to"),
        (",", "no seed given"),
        ("0-200000", "more than"),
    ],
)
def test_a_bad_seed_list_is_refused_naming_the_fix(text, says):
    with pytest.raises(ValueError, match=None) as caught:
        parse_seeds(text)
    assert says in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("seeds", ["5-2", "x", "0-"])
def test_compare_refuses_a_bad_range_in_one_line_with_exit_2(seeds, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "compare", "--seeds", seeds, "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("edgeft: error")]
    assert done.returncode == 2, done.stderr
    assert len(errors) == 1 and "--seeds" in errors[0], done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("mode", "engine"),
    [
        ("mininet, real artifacts", "mininet"),
        ("mininet, paper volumes x0.004", "mininet"),
        ("mininet, real artifacts, flower", "flower"),
        ("mininet, attached", "mininet"),
        ("local", "loopback"),
        ("", "loopback"),
    ],
)
def test_a_row_without_engine_gets_it_from_its_mode(mode, engine):
    assert engine_of_mode(mode) == engine


def test_results_csv_has_an_engine_column_and_keeps_a_given_engine(tmp_path):
    write_results(
        tmp_path, [{"policy": "ne", "mode": "mininet, real artifacts"}, {"policy": "ar", "engine": "simulate"}]
    )
    with (tmp_path / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["engine"] for r in rows] == ["mininet", "simulate"]
    assert set(ENGINES) == {"mininet", "loopback", "flower", "simulate"}


@pytest.mark.parametrize(("folder", "engine"), [("loopback-4n", "loopback"), ("mininet-4n", "mininet")])
def test_edgeft_report_writes_the_engine_of_recorded_runs(folder, engine, tmp_path):
    copy = tmp_path / folder
    shutil.copytree(FIXTURES / folder, copy)
    (copy / "results.csv").unlink()  # rebuilt from the run folders alone
    redraw(copy)
    with (copy / "results.csv").open() as fh:
        assert {r["engine"] for r in csv.DictReader(fh)} == {engine}
