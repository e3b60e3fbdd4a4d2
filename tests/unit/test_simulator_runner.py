"""`edgeft simulate`'s inputs (experiments/runners/simulate.py) and the validation's arithmetic
(simulator/validation.py), without SimGrid: bad input is one line and exit 2 before anything
starts; seeds take a list or an inclusive range; a recorded run folder becomes a replay spec that
holds no recorded time; the comparison and the overhead fit do what their docs say."""

import argparse
import math
from pathlib import Path

import pytest

from experiments.runners import simulate
from simulator import driver, recorded, validation
from simulator.recorded import RecordedTimes

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_folders" / "mininet-4n" / "n4-setup2-seed0-ne"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_seeds_take_a_list_or_an_inclusive_range():
    assert simulate.parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert simulate.parse_seeds("3,1,1") == [1, 3]
    assert simulate.parse_seeds("0-2,9") == [0, 1, 2, 9]


@pytest.mark.parametrize(
    "argv, names",
    [
        (["--seeds", "5-2"], "--seeds"),
        (["--seeds", "x"], "--seeds"),
        (["--nodes", "12,a"], "--nodes"),
        (["--nodes", "1"], "--nodes"),
        (["--setups", "4"], "--setups"),
        (["--policies", "ne,nope"], "--policies"),
        (["--nodes", "8", "--epochs", "10"], "--nodes"),
        (["--epochs", "0"], "--epochs"),
        (["--paper-volumes", "-1"], "--paper-volumes"),
        (["--measurement", "guess"], "--measurement"),
        (["--measurement", "replay"], "--measurement replay"),
        (["--training", "guess"], "--training"),
        (["--training-cache", "/tmp/x"], "--training-cache"),  # only with --training real
        (["--jobs", "0"], "--jobs"),
        (["--measurement", "replay", "--replay", "/nonexistent/run"], "--replay"),
        (["--scenario", "/nonexistent/scenario.yaml"], "--scenario"),
        (["--calibration", "/nonexistent/calibration.json"], "--calibration"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, names, tmp_path, capsys):
    assert simulate.run(_args(*argv, "--out", str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simulate: error: ") and names in err and "\n" not in err
    assert not (tmp_path / "out").exists()  # nothing started


def test_a_scenario_with_a_bad_event_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario:\n  - {epoch: -1, node_id: node-01, bandwidth_mbps: 1}\n")
    assert simulate.run(_args("--scenario", str(bad), "--out", str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simulate: error: --scenario") and "\n" not in err


def test_a_bad_policy_option_names_its_field_on_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy_options:\n  pace_floor: 1.5\n")
    assert simulate.run(_args("--policies", "pace", "--scenario", str(bad), "--out", str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err.strip()
    assert "policy_options" in err and "'pace_floor'" in err and "1.5" in err and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_policy_options_reach_every_spec(tmp_path):
    given = tmp_path / "pace.yaml"
    given.write_text("policy_options:\n  pace_floor: 0.5\n")
    specs = simulate.build_specs(_args("--policies", "pace,ne", "--scenario", str(given)))
    assert {name: spec.policy_options for name, _, spec in specs} == {
        "n12-setup2-seed0-pace": {"pace_floor": 0.5},
        "n12-setup2-seed0-ne": {"pace_floor": 0.5},
    }
    adapter = driver.prepare_run(specs[0][2]).adapter
    assert adapter.core.strategy.policy.floor == 0.5


def test_a_folder_holding_runs_is_not_overwritten_unasked(tmp_path, capsys):
    (tmp_path / "n12-setup2-seed0-ne").mkdir(parents=True)
    (tmp_path / "n12-setup2-seed0-ne" / "summary.json").write_text("{}")
    assert simulate.run(_args("--out", str(tmp_path))) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_one_spec_per_nodes_setup_seed_policy_on_the_same_draw():
    specs = simulate.build_specs(
        _args("--nodes", "12,20", "--setups", "1,3", "--seeds", "0-1", "--paper-volumes", "0.004")
    )
    assert len(specs) == 2 * 2 * 2 * 2
    by_name = {name: spec for name, _, spec in specs}
    ne, ar = by_name["n20-setup3-seed1-ne"], by_name["n20-setup3-seed1-ar"]
    assert ne.profiles == ar.profiles and len(ne.profiles) == 20
    assert ne.model_pad == 2_000_000 and ne.setup_pad == int((500e6 + 1000e6 / 20) * 0.004)


def test_a_replay_spec_takes_settings_and_sizes_never_recorded_times():
    spec = recorded.spec_from_run(FIXTURE)
    assert (spec.policy, spec.epochs, spec.seed, spec.setup, len(spec.profiles)) == ("ne", 3, 0, 2, 4)
    assert spec.adapter_bytes == 270752 // 4  # epoch 0's uploads over its active nodes
    assert spec.base_bytes + spec.partition_bytes + spec.adapter_bytes == 15072800 // 4  # set-up per node
    assert spec.domains == 4  # no topology.json: edge_cloud.py's default
    assert (spec.dilation, spec.congestion_control) == (1.0, "reno")  # recorded before its TCP was: Reno's bound
    text = str(spec.as_dict())
    for recorded_time in ("57.09", "5.9382", "0.256852", "1.43625"):  # completion, epoch, upload, round trip
        assert recorded_time not in text


def test_a_paper_volume_replay_counts_the_padding_once(tmp_path):
    """A paper-volume recording's epoch-0 bytes_in holds each upload's padding: the adapter is what is
    left, and the padding comes on top once (a replay of a x 0.004 run moved 4 MB a way, not 2: found
    on the first such recording, every transfer twice as long as measured)."""
    import csv
    import json
    import shutil

    run = tmp_path / "n4-setup2-seed0-ne"
    shutil.copytree(FIXTURE, run)
    config = json.loads((run / "config.json").read_text())
    config.setdefault("config", {})["paper_volumes"] = 0.004
    (run / "config.json").write_text(json.dumps(config))
    with (run / "epochs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    pad = 2_000_000  # 500 MB x 0.004
    rows[0]["bytes_in"] = str(int(rows[0]["bytes_in"]) + pad * int(rows[0]["active"]))
    with (run / "epochs.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    spec = recorded.spec_from_run(run)
    assert spec.model_pad == pad
    assert spec.adapter_bytes == 270752 // 4  # the adapter alone, as in the unpadded recording


def _answer(epoch_times, active, eliminated, total):
    rows = [
        {"epoch_time_s": t, "active_nodes": ";".join(a), "eliminated": ";".join(e)}
        for t, a, e in zip(epoch_times, active, eliminated)
    ]
    summary = {"policy": "ne", "nodes": 3, "seed": 0, "setup": 2, "completion_time_s": total, "setup_time_s": 4.0}
    return {"summary": summary, "epochs": rows}


def test_compare_run_and_pooled_figures():
    rec = RecordedTimes(20.0, [4.0, 6.0, 8.0], [["a", "b", "c"], ["a", "b"], ["a"]], [["c"], ["b"], []], 2.0, True)
    same = validation.compare_run("r1", rec, _answer([4.0, 6.0, 8.0], rec.active, rec.eliminated, 21.0))
    assert same.rel_error == pytest.approx(0.05) and same.epoch_r2 == pytest.approx(1.0) and same.selections_match
    other = validation.compare_run("r2", rec, _answer([5.0, 6.0, 8.0], rec.active, [["b"], ["c"], []], 17.0))
    assert not other.selections_match and other.rel_error == pytest.approx(-0.15)
    pooled = validation.pooled([same, other])
    assert pooled["median_abs_error"] == pytest.approx(0.10) and pooled["max_abs_error"] == pytest.approx(0.15)
    assert pooled["selections_match"] == 1
    assert pooled["targets_met"]["max_abs_error<=15%"] and not pooled["targets_met"]["median_abs_error<=5%"]


def test_ne_ar_over_noise_draws_gives_each_pairs_spread_and_whether_the_measured_ratio_is_inside():
    def pair(policy, measured, simulated, seed=0):
        return validation.RunComparison(
            f"cmp/n3-setup2-seed{seed}-{policy}",
            policy,
            3,
            2,
            seed,
            measured,
            simulated,
            0.0,
            1.0,
            0.0,
            True,
            [],
            [],
            True,
        )

    # seed 0 measured NE/AR 0.70; the draws give 0.60, 0.90, 0.75: inside [0.60, 0.90], mean 0.75
    # seed 1 measured 0.50; the draws give 0.70, 0.80, 0.75: outside, mean gap 0.25
    draws = [
        [pair("ne", 70, ne, 0), pair("ar", 100, 100, 0), pair("ne", 50, ne1, 1), pair("ar", 100, 100, 1)]
        for ne, ne1 in ((60, 70), (90, 80), (75, 75))
    ]
    pairs = validation.ne_ar_over_draws(draws)
    assert [p["seed"] for p in pairs] == [0, 1]
    assert pairs[0]["simulated"] == pytest.approx([0.6, 0.9, 0.75]) and pairs[0]["inside_range"]
    assert (pairs[0]["low"], pairs[0]["high"], pairs[0]["mean"]) == pytest.approx((0.6, 0.9, 0.75))
    assert not pairs[1]["inside_range"] and pairs[1]["measured"] == pytest.approx(0.5)
    summary = validation.draws_summary(pairs)
    assert summary == {
        "pairs": 2,
        "draws": 3,
        "pairs_missing_draws": 0,
        "inside_range": 1,
        "mean_within_0.1": 1,
        "max_mean_gap": pytest.approx(0.25),
    }
    # a draw whose simulation of seed 1's NE failed: that pair has two draws and says which
    draws[1] = [run for run in draws[1] if not (run.seed == 1 and run.policy == "ne")]
    pairs = validation.ne_ar_over_draws(draws)
    assert pairs[1]["draws"] == [0, 2] and pairs[0]["draws"] == [0, 1, 2]
    assert validation.draws_summary(pairs)["pairs_missing_draws"] == 1
    # two comparison folders of one name under different parents stay two pairs
    other = [[validation.RunComparison(**{**vars(r), "run_dir": "elsewhere/" + r.run_dir}) for r in d] for d in draws]
    assert len(validation.ne_ar_over_draws([a + b for a, b in zip(draws, other)])) == 4


def test_overheads_are_the_median_recorded_excess():
    rec = RecordedTimes(30.0, [4.0, 6.0, 8.0, 7.0], [["a"]] * 4, [[]] * 4, 2.0, True)
    answer = _answer([3.0, 5.0, 7.5, 6.0], rec.active, rec.eliminated, 25.5)  # sim set-up 4.0, recorded 5.0
    fit = validation.fit_overheads([("cmp/r", rec, answer)])
    assert fit.setup_s == pytest.approx(5.0 - 4.0)  # reported seconds
    assert fit.server_wall_s == pytest.approx(2.0 * 1.0)  # epochs 1-3 exceed by 1.0, 0.5, 1.0 s: wall = x k
    assert fit.first_epoch_wall_s == pytest.approx(2.0 * 1.0 - 2.0)  # epoch 0's excess beyond the others'
    assert fit.fitted_on == ("cmp/r",)


def test_extra_round_trips_are_the_median_excess_per_one_way_delay():
    recorded = [
        {"epoch": "0", "node_id": "a", "download_s": "9", "upload_s": "9"},  # epoch 0: not counted
        {"epoch": "1", "node_id": "a", "download_s": "0.30", "upload_s": "0.50"},
        {"epoch": "2", "node_id": "a", "download_s": "0.25", "upload_s": "0.40"},
        {"epoch": "1", "node_id": "b", "download_s": "0.12", "upload_s": "0.16"},
    ]
    simulated = [{"epoch": e, "node_id": n, "download_s": 0.1, "upload_s": 0.1} for e in (0, 1, 2) for n in "ab"]
    trips = validation.fit_round_trips([(recorded, simulated, {"a": 0.1, "b": 0.02}, {})])
    assert trips.download == pytest.approx(1.5, abs=1e-3)  # (2.0, 1.5, 1.0): no loss, the median
    assert trips.download_per_loss == pytest.approx(0.0, abs=1e-3)
    assert trips.upload == pytest.approx(3.0)  # (4.0, 3.0, 3.0)


def test_a_download_pays_its_round_trips_per_expected_loss_and_a_stall_does_not_move_the_fit():
    """Downloads built as delay x (0.7 + 2.5 x losses), one of them stalled by 2 s: the fit finds the
    line (least absolute deviations), where least squares would be pulled towards the stall."""
    nodes = {f"n{i}": (0.01 + 0.02 * i, 0.1 * (i % 5)) for i in range(12)}  # (one-way delay s, expected losses)
    recorded, simulated = [], []
    for epoch in (1, 2, 3):
        for nid, (delay, losses) in nodes.items():
            excess = delay * (0.7 + 2.5 * losses) + (2.0 if (epoch, nid) == (2, "n3") else 0.0)
            recorded.append({"epoch": str(epoch), "node_id": nid, "download_s": 1.0 + excess, "upload_s": 1.0})
            simulated.append({"epoch": epoch, "node_id": nid, "download_s": 1.0, "upload_s": 1.0})
    delays = {nid: d for nid, (d, _) in nodes.items()}
    losses = {nid: lo for nid, (_, lo) in nodes.items()}
    trips = validation.fit_round_trips([(recorded, simulated, delays, losses)])
    assert trips.download == pytest.approx(0.7, abs=0.01)
    assert trips.download_per_loss == pytest.approx(2.5, abs=0.05)


def test_the_set_up_fit_finds_the_constant_and_the_overhead_that_made_the_set_ups():
    """Set-ups made by the simulator's own set-up plan with a Mathis constant of 1.40 and 0.3 s of a
    node's own work, each off by up to +-8 % and one stalled by 30 s: the fit finds both (the median
    is not pulled by the stall), and says it has no constant where no set-up is loss-bound."""
    from orchestrator import fidelity

    links = [
        fidelity.Link(bw, delay, loss)
        for bw in (2.0, 20.0, 40.0)
        for delay in (20.0, 90.0, 160.0)
        for loss in (0.3, 1.0, 3.0)
    ]
    links += [fidelity.Link(50.0, delay, 0.05) for delay in (1.0, 2.0, 3.0, 4.0, 5.0)]  # fast: the overhead shows
    samples = []
    for index, link in enumerate(links):
        clean = validation.SetupSample(link, 3_770_000, 8.0, 0.0)
        made = validation.predicted_setup_s(clean, 1.40, 0.3) * (1 + 0.08 * math.sin(index))
        samples.append(validation.SetupSample(link, 3_770_000, 8.0, made + (30.0 if index == 7 else 0.0)))
    fit = validation.fit_setup_model(samples)
    assert fit.reno_constant == pytest.approx(1.40, rel=0.03)
    assert fit.overhead_s == pytest.approx(0.3, abs=0.1)
    assert fit.loss_bound >= 10 and fit.fast >= 5
    clean_only = validation.fit_setup_model([s for s in samples if s.link.loss_pct < 0.1])
    assert math.isnan(clean_only.reno_constant) and clean_only.loss_bound == 0


def test_slow_start_losses_count_a_short_transfer_whole_and_a_long_one_up_to_its_loss_limited_window():
    from orchestrator import fidelity
    from simulator.phases import slow_start_losses

    light = fidelity.Link(10.0, 50.0, 0.1)  # Mathis's window 34 segments: the adapter's 47 all in slow start
    assert slow_start_losses(68_000, light) == pytest.approx(0.001 * math.ceil(68_000 / fidelity.MSS))
    lossy = fidelity.Link(10.0, 50.0, 2.0)
    window = fidelity.loss_limited_bps(lossy) * 0.05 / (fidelity.MSS * 8)  # Mathis's, 8.7 segments
    assert slow_start_losses(68_000, lossy) == pytest.approx(0.02 * 2 * window)
    assert slow_start_losses(500_000_000, lossy) == slow_start_losses(68_000, lossy)  # the Mathis rate carries the rest
    assert slow_start_losses(68_000, fidelity.Link(10.0, 50.0, 0.0)) == 0.0


def test_a_lossier_link_waits_longer_after_its_download_by_the_calibrated_price():
    from simulator.driver import RunSpec, download_extra_rtts, profile_link
    from simulator.phases import slow_start_losses

    spec = RunSpec([], "ar", 10, extra_download_rtts=1.0, extra_download_rtts_per_loss=2.0)
    waits = []
    for loss in (0.0, 0.1, 1.0, 3.0):
        link = profile_link({"bandwidth_mbps": 10, "delay_ms": 50, "loss_pct": loss})
        waits.append(download_extra_rtts(spec, link))
        assert waits[-1] == pytest.approx(1.0 + 2.0 * slow_start_losses(spec.adapter_bytes, link))
    assert waits[0] == 1.0 and waits == sorted(waits) and len(set(waits)) == 4


def test_a_typo_never_moves_a_finished_simulation_aside(tmp_path):
    """`edgeft simulate --overwrite` with a bad flag: one line, exit 2, and the old results stay
    where they were (the CLI moved them aside before checking the flags: found in review)."""
    import subprocess
    import sys

    out = tmp_path / "sims"
    out.mkdir()
    (out / "results.csv").write_text("engine\nsimulate\n")
    (out / "config.json").write_text("{}")  # a run marker (orchestrator/results.py RUN_MARKERS)
    repo = Path(__file__).resolve().parents[2]
    argv = ["simulate", "--policies", "bogus", "--overwrite", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "experiments.cli", *argv], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "--policies" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert (out / "results.csv").read_text() == "engine\nsimulate\n"
    assert not list(tmp_path.glob("sims.old-*"))


def test_a_plan_keeps_its_tcp_on_the_way_to_the_simulation():
    from simulator import run_epoch, topology
    from simulator.phases import NodeEpoch
    from simulator.transfers import EpochPlan

    topo = topology.from_setup(3, 2, 0)
    plan = EpochPlan((NodeEpoch("node-01", True, 0, 0, 1.0, 10),), dilation=8.0, congestion_control="cubic")
    _, (back,) = run_epoch.parse(run_epoch.request(topo, [plan]))
    assert back == plan


def test_set_up_samples_come_from_reno_runs_without_padding_only():
    """The committed calibration recordings give one sample per node set up (its drawn link, its share
    of the set-up bytes, the run's k); a padded (paper-volume) recording and one from before nodes.csv
    recorded set-ups give none."""
    from experiments.validate_simulation import setup_samples

    data = Path(__file__).resolve().parents[2] / "experiments" / "data" / "mininet"
    samples = setup_samples(data / "cal12-reno-k8-s1-setups" / "n12-setup1-seed4-ar")
    assert len(samples) == 12 and {s.dilation for s in samples} == {8.0} and {s.gets for s in samples} == {3}
    assert {s.nbytes for s in samples} == {3_768_200}  # base, partition, adapter v0: summary.json / 12
    assert all(s.measured_s > 0 for s in samples)
    assert any(s.link.loss_pct > 1 for s in samples)
    assert setup_samples(data / "mn12-reno-k8-pv0.004-s1-e5-seed1" / "n12-setup1-seed1-ne") == []  # padded
    assert setup_samples(data / "mn12-reno-k8-s3-seed0" / "n12-setup3-seed0-ne") == []  # no setup_s yet
