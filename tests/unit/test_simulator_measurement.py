"""The simulator's measurement models (simulator/measurement.py), without SimGrid: ground truth as
drawn, the controller's noise model (it reproduces the moments it was fitted with; its loss is
scored by edgeft/loss_confidence.py's rule), and replay of a recorded run's figures."""

from pathlib import Path

import numpy as np
import pytest

from edgeft.loss_confidence import LossCount, scored_loss
from simulator import measurement
from simulator.measurement import ControllerModel, Moments, NoiseModel, Pair, TruthModel

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_folders" / "mininet-4n"


def _truth(n: int) -> dict[str, tuple[float, float, float]]:
    rng = np.random.default_rng(5)
    return {
        f"node-{i:04d}": (float(rng.uniform(1, 50)), float(rng.uniform(5, 200)), float(rng.uniform(0, 5)))
        for i in range(n)
    }


def test_truth_is_the_drawn_link():
    truth = _truth(3)
    seen = TruthModel(truth).figures(0, sorted(truth), 10.0)
    for node_id, (bw, delay, loss) in truth.items():
        assert (seen[node_id].bandwidth_mbps, seen[node_id].delay_ms, seen[node_id].loss_pct) == (bw, delay, loss)


def test_fit_moments_recovers_a_known_split():
    rng = np.random.default_rng(1)
    offsets = rng.normal(0.0, 0.3, 2000)
    groups = {str(i): list(0.1 + o + rng.normal(0.0, 0.05, 8)) for i, o in enumerate(offsets)}
    got = measurement.fit_moments(groups)
    assert got.mean == pytest.approx(0.1, abs=0.02)
    assert got.between_sd == pytest.approx(0.3, rel=0.05)
    assert got.within_sd == pytest.approx(0.05, rel=0.05)


def test_the_noise_model_reproduces_its_fitted_moments():
    """Draw a controller's figures from a fitted model, fit again: the same moments come back."""
    model = NoiseModel(Moments(-0.04, 0.08, 0.03), Moments(0.12, 0.25, 0.1), probe_hz=2.0, loss_window=600)
    truth = _truth(1500)
    sim = ControllerModel(truth, model, seed=3)
    pairs = []
    for epoch in range(6):
        for node_id, seen in sim.figures(epoch, sorted(truth), 100.0 * epoch).items():
            bw, delay, _ = truth[node_id]
            pairs.append(Pair("synthetic", node_id, seen.bandwidth_mbps, bw, seen.delay_ms, delay))
    refit = measurement.fit_noise(pairs)
    for name in ("bandwidth", "delay"):
        want, got = getattr(model, name), getattr(refit, name)
        assert got.mean == pytest.approx(want.mean, abs=0.01), name
        assert got.between_sd == pytest.approx(want.between_sd, rel=0.08), name
        assert got.within_sd == pytest.approx(want.within_sd, rel=0.05), name


def test_controller_loss_is_scored_by_the_wilson_rule_of_its_probe_counts():
    truth = _truth(30)
    model = NoiseModel(probe_hz=2.0, loss_window=600, probes_at_start=10)
    seen = ControllerModel(truth, model, seed=0).figures(2, sorted(truth), 50.0)
    samples = model.samples_at(50.0)
    assert samples == 110
    counts = [LossCount(round(seen[i].raw_loss_pct * samples / 100), samples) for i in sorted(truth)]
    assert [seen[i].loss_pct for i in sorted(truth)] == pytest.approx(scored_loss(counts))
    assert all(seen[i].loss_samples == samples for i in truth)
    assert model.samples_at(1e6) == 600  # the window is full


def test_controller_draws_are_fixed_by_the_seed():
    truth = _truth(5)
    noise = NoiseModel(Moments(0, 0.1, 0.1), Moments(0, 0.1, 0.1))
    first = ControllerModel(truth, noise, seed=4).figures(1, sorted(truth), 30.0)
    again = ControllerModel(truth, noise, seed=4).figures(1, sorted(truth), 30.0)
    other = ControllerModel(truth, noise, seed=5).figures(1, sorted(truth), 30.0)
    assert first == again and first != other


def test_controller_noise_draws_are_other_realisations_and_draw_0_is_the_runs_own():
    truth = _truth(5)
    noise = NoiseModel(Moments(0, 0.1, 0.1), Moments(0, 0.1, 0.1))
    own = ControllerModel(truth, noise, seed=4).figures(1, sorted(truth), 30.0)
    assert ControllerModel(truth, noise, seed=4, draw=0).figures(1, sorted(truth), 30.0) == own
    draws = [ControllerModel(truth, noise, seed=4, draw=d).figures(1, sorted(truth), 30.0) for d in (1, 2)]
    assert draws[0] != own and draws[1] != own and draws[0] != draws[1]
    assert ControllerModel(truth, noise, seed=4, draw=2).figures(1, sorted(truth), 30.0) == draws[1]
    # the streams themselves: draw 1's node offsets are not draw 0's epoch-0 stream (a key [4, 28, 1] would be)
    keys = [ControllerModel(truth, noise, seed=4, draw=d)._key() for d in (0, 1, 2)]
    streams = [np.random.default_rng(k).random(4).tolist() for k in keys]
    streams += [np.random.default_rng([*keys[0], epoch + 1]).random(4).tolist() for epoch in range(3)]
    assert len({tuple(x) for x in streams}) == len(streams)
    # draw 0 is the stream every earlier run drew: its first offset, pinned
    assert np.random.default_rng(keys[0]).normal(0.0, 1.0) == np.random.default_rng([4, 28]).normal(0.0, 1.0)
    assert keys[0] == [4, 28]


def test_a_specs_noise_draw_reaches_its_controller_model():
    from simulator import driver

    profiles = [{"node_id": "node-01", "bandwidth_mbps": 10.0, "delay_ms": 5.0, "loss_pct": 0.5, "compute_power": 30}]
    spec = driver.RunSpec(profiles, "ne", 2, seed=3, measurement="controller", noise_draw=2)
    model = driver.measurement_model(driver.RunSpec.from_dict(spec.as_dict()))
    assert model.draw == 2 and model.seed == 3


def test_replay_returns_what_the_recording_scored_with():
    run = FIXTURE / "n4-setup2-seed0-ne"
    seen = measurement.ReplayModel.from_run(run).figures(0, ["node-01", "node-03", "node-99"], 0.0)
    assert set(seen) == {"node-01", "node-03"}
    assert seen["node-01"].bandwidth_mbps == 2.658 and seen["node-01"].delay_ms == 21.167
    assert seen["node-01"].loss_pct == pytest.approx(1.78159)  # loss_scored_pct, not the raw 1.46
    assert seen["node-01"].train_time_s == pytest.approx(0.967395)
    assert measurement.ReplayModel.from_run(run).figures(2, ["node-03"], 0.0) == {}  # benched: not recorded


def test_noise_model_round_trips_through_json(tmp_path):
    model = NoiseModel(Moments(0.1, 0.2, 0.3), Moments(0.4, 0.5, 0.6), 2.0, 600, 12.0, ("a", "b"), 40)
    path = tmp_path / "noise.json"
    import json

    path.write_text(json.dumps(model.as_dict()))
    assert NoiseModel.load(path) == model
