"""`edgeft report DIR` (issue 30 item 6): every table and picture drawn again from recorded
run folders alone, for a comparison folder and for one run folder, into the folder or
into --out; time to target in results.csv and summary.md; bad input refused in one line
with exit code 2. The logic lives in experiments/reports/redraw.py (the CLI's `report`
sub-command calls its run()); here it runs as its own process, as a user runs it."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
RUNS = Path(__file__).parents[1] / "fixtures" / "run_folders"
COMPARISON_FILES = {
    "results.csv",
    "summary.md",
    "completion_time.png",
    "loss_per_epoch.png",
    "policies.png",
    "loss_vs_time.png",
}
RUN_PICTURES = {"timeline.png", "network.png"}


def _report(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "experiments.reports.redraw", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2])


def _results(folder: Path) -> dict[str, dict]:
    with (folder / "results.csv").open() as fh:
        return {r["policy"]: r for r in csv.DictReader(fh)}


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.fixture
def comparison(tmp_path) -> Path:
    """A copy of the recorded loopback comparison (NE and AR, 4 nodes, 3 epochs, seed 0)."""
    folder = tmp_path / "loopback"
    shutil.copytree(RUNS / "loopback-4n", folder)
    (folder / "results.csv").unlink()  # drawn again from the run folders alone
    return folder


def test_a_comparison_folder_gets_every_table_and_picture_again(comparison):
    proc = _report(str(comparison))
    assert proc.returncode == 0, proc.stderr
    assert COMPARISON_FILES <= _names(comparison)
    for policy in ("ne", "ar"):
        assert RUN_PICTURES <= _names(comparison / policy)
        for name in RUN_PICTURES:
            assert (comparison / policy / name).stat().st_size > 20_000
    rows = _results(comparison)
    ar_final = rows["ar"]["final_val_loss"]
    assert rows["ar"]["target_loss"] == rows["ne"]["target_loss"] == ar_final  # the default target
    assert float(rows["ar"]["time_to_target_s"]) == pytest.approx(float(rows["ar"]["completion_time_s"]))
    assert rows["ne"]["time_to_target_s"] == ""  # NE's final 7.79756 stays above AR's 7.79690: never reached
    summary = (comparison / "summary.md").read_text()
    assert "not reached" in summary and "Time to target" in summary
    assert "| 7.797 | not reached | 18.2 |" in proc.stdout


def test_target_loss_and_out_leave_the_recorded_folder_as_it_was(comparison, tmp_path):
    before = {p.relative_to(comparison) for p in comparison.rglob("*")}
    out = tmp_path / "restyled"
    proc = _report(str(comparison), "--target-loss", "9.0", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert {p.relative_to(comparison) for p in comparison.rglob("*")} == before
    assert COMPARISON_FILES <= _names(out)
    assert RUN_PICTURES <= _names(out / "ne") and RUN_PICTURES <= _names(out / "ar")
    rows = _results(out)
    for policy in ("ne", "ar"):  # both first reach 9.0 at the end of their second epoch
        assert rows[policy]["target_loss"] == "9.0"
        assert 0 < float(rows[policy]["time_to_target_s"]) < float(rows[policy]["completion_time_s"])


def test_one_run_folder_is_reported_on_its_own(comparison):
    run = comparison / "ne"
    proc = _report(str(run))
    assert proc.returncode == 0, proc.stderr
    assert COMPARISON_FILES | RUN_PICTURES <= _names(run)
    assert _results(run)["ne"]["time_to_target_s"] == ""
    assert "no target" in (run / "summary.md").read_text()  # one NE run: no AR to take a target from


@pytest.mark.parametrize(
    "args, names",
    [
        (["/nonexistent/folder"], "no such folder"),
        (["--target-loss", "-1"], "--target-loss"),
        (["--target-loss", "nan"], "--target-loss"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, names, tmp_path, comparison):
    argv = args if args[0].startswith("/") else [str(comparison), *args]
    proc = _report(*argv)
    assert proc.returncode == 2
    assert names in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_folder_without_run_folders_is_refused(tmp_path):
    proc = _report(str(tmp_path))
    assert proc.returncode == 2 and "no run folder" in proc.stderr


def test_a_mininet_comparison_folder_written_before_time_to_target_is_reported_again(tmp_path):
    """tests/fixtures/run_folders/mininet-4n: `edgeft compare --nodes 4 --setups 2 --epochs 3 --seeds 0`
    as root, recorded before results.csv had target columns and without topology.json."""
    folder = tmp_path / "mininet"
    shutil.copytree(RUNS / "mininet-4n", folder)
    proc = _report(str(folder))
    assert proc.returncode == 0, proc.stderr
    assert COMPARISON_FILES <= _names(folder)
    for policy in ("ne", "ar"):
        assert RUN_PICTURES <= _names(folder / f"n4-setup2-seed0-{policy}")
    rows = _results(folder)
    assert rows["ne"]["mode"] == rows["ar"]["mode"] == "mininet, real artifacts"  # kept from the old results.csv
    assert rows["ne"]["run_dir"] == str(folder / "n4-setup2-seed0-ne")  # found where the folder is now
    assert rows["ar"]["time_to_target_s"] != "" and rows["ne"]["time_to_target_s"] == ""
