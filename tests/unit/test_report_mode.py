"""`edgeft report` on a folder without results.csv (run folders gathered from two comparisons)
labels a Mininet run's mode as `compare` does, paper volumes included: it said only "mininet"."""

from pathlib import Path

from experiments.reports.redraw import row_of

RECORDINGS = Path(__file__).resolve().parents[2] / "experiments" / "data" / "mininet"


def test_a_paper_volume_recording_keeps_its_volumes_in_the_mode():
    run = RECORDINGS / "mn12-reno-k8-pv0.004-s1-e5-seed0" / "n12-setup1-seed0-ne"
    assert row_of(run, None)["mode"] == "mininet, paper volumes x0.004"


def test_a_real_artifact_recording_says_so():
    run = RECORDINGS / "mn12-reno-k8-s1-seed1" / "n12-setup1-seed1-ne"
    assert row_of(run, None)["mode"] == "mininet, real artifacts"


def test_results_csv_still_wins_where_it_lists_the_run():
    run = RECORDINGS / "mn12-reno-k8-s1-seed1" / "n12-setup1-seed1-ne"
    assert row_of(run, {"mode": "mininet, as listed"})["mode"] == "mininet, as listed"
