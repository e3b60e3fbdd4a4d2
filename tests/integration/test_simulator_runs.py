"""Whole simulated runs (simulator/driver.py through experiments/runners/simulate.py), one child process
each: a recorded 12-node Mininet pair (Setup 3, seed 0, NE and AR at k 8 on Reno hosts, the host keeping
up; kept as a fixture) replays with the recording's selections and its times within the targets, with
the committed calibration (experiments/data/calibration.json, fitted on Setup 1 seed 0 and the one-epoch
Setup 1 set-up recordings: this pair is held out); `edgeft simulate --nodes 200 --seeds 0-1` writes every
output; a degraded link is eliminated and re-admitted as in Mininet."""

import csv
import json
from pathlib import Path

import pytest

from experiments import validate_simulation
from experiments.runners import simulate
from simulator import validation

pytestmark = pytest.mark.integration
pytest.importorskip("simgrid", reason="SimGrid (python3-simgrid) is installed by scripts/install.sh")

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_folders" / "mininet-reno-12n"


def test_a_recorded_12_node_pair_replays_with_its_selections_and_times(tmp_path):
    out = tmp_path / "validation.json"
    assert validate_simulation.main([str(FIXTURE), "--json", str(out), "--jobs", "2"]) == 0
    data = json.loads(out.read_text())
    runs = {Path(r["run_dir"]).name: r for r in data["runs"]}
    assert set(runs) == {"n12-setup3-seed0-ne", "n12-setup3-seed0-ar"}
    for run in runs.values():
        assert run["selections_match"], run["run_dir"]
        assert abs(run["rel_error"]) <= validation.TARGET_MEDIAN  # measured: +2.2 % (NE), +1.7 % (AR)
    assert data["pooled_validation"]["epoch_r2"] >= validation.TARGET_R2  # measured: 0.998
    pair = data["ne_ar"][0]
    assert pair["simulated"] == pytest.approx(pair["measured"], abs=0.1)


def test_controller_mode_over_noise_draws_reports_the_spread_beside_the_measured_ratio(tmp_path, capsys):
    out = tmp_path / "validation.json"
    argv = [str(FIXTURE), "--measurement", "controller", "--noise-draws", "3", "--json", str(out), "--jobs", "2"]
    assert validate_simulation.main(argv) == 0
    data = json.loads(out.read_text())
    (pair,) = data["noise_draws"]["pairs"]
    assert len(pair["simulated"]) == 3 and pair["low"] <= pair["mean"] <= pair["high"]
    assert pair["simulated"][0] == pytest.approx(data["ne_ar"][0]["simulated"])  # draw 0 is the run's own
    assert pair["inside_range"] == (pair["low"] <= pair["measured"] <= pair["high"])
    assert data["noise_draws"]["summary"]["draws"] == 3
    assert "noise draws" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, names",
    [(["--noise-draws", "0"], "K must be >= 1"), (["--noise-draws", "2"], "only with --measurement controller")],
)
def test_bad_noise_draws_are_one_line_and_exit_2(argv, names, capsys):
    with pytest.raises(SystemExit) as stop:
        validate_simulation.main([str(FIXTURE), *argv])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert stop.value.code == 2 and len(errors) == 1 and names in errors[0]


def test_simulate_200_nodes_two_seeds_writes_every_output(tmp_path):
    out = tmp_path / "sim"
    assert simulate.main(["--nodes", "200", "--seeds", "0-1", "--out", str(out), "--jobs", "2"]) == 0
    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["seed"], r["policy"]) for r in rows) == [("0", "ar"), ("0", "ne"), ("1", "ar"), ("1", "ne")]
    assert all(r["engine"] == "simulate" and r["nodes"] == "200" and float(r["completion_time_s"]) > 0 for r in rows)
    summary = (out / "summary.md").read_text()
    assert "simulated" in summary and "NE/AR" in summary and " ± " in summary
    assert (out / "completion_time.png").stat().st_size > 0
    for r in rows:
        run = Path(r["run_dir"])
        for name in ("epochs.csv", "node_epochs.csv", "summary.json", "ground_truth.json", "topology.json"):
            assert (run / name).is_file(), name
        with (run / "epochs.csv").open() as fh:
            epochs = list(csv.DictReader(fh))
        assert len(epochs) == 10
        expected_left = 200 - 22 * 9 if r["policy"] == "ne" else 200  # NE drops floor(199 / 9) = 22 a epoch
        assert int(epochs[-1]["active"]) == expected_left
        assert json.loads((run / "summary.json").read_text())["engine"] == "simulate"


def test_a_degraded_link_is_eliminated_and_re_admitted_as_in_mininet(tmp_path):
    """experiments/scenarios/degrade_recover.yaml: node-03 loses its link at epoch 2 and gets it back at
    epoch 4; NE eliminates it for good, NE+ re-admits it (docs/policies.md's account of the Mininet run)."""
    scenario = Path(__file__).resolve().parents[2] / "experiments" / "scenarios" / "degrade_recover.yaml"
    out = tmp_path / "scenario"
    argv = ["--nodes", "12", "--seeds", "0", "--policies", "ne,ne_plus", "--scenario", str(scenario), "--out", str(out)]
    assert simulate.main(argv) == 0
    rows = {}
    for policy in ("ne", "ne_plus"):
        with (out / f"n12-setup2-seed0-{policy}" / "epochs.csv").open() as fh:
            rows[policy] = list(csv.DictReader(fh))
    assert rows["ne"][2]["eliminated"] == "node-03"
    assert all("node-03" not in r["active_nodes"] for r in rows["ne"][3:])
    assert any("node-03" in r["readmitted"] for r in rows["ne_plus"][4:])
