"""Loss with its confidence (edgeft/loss_confidence.py) and the score it feeds."""

import numpy as np
import pytest

from edgeft.loss_confidence import LossCount, scored_loss, wilson_interval
from edgeft.paths_api import PathFigures as PathMetrics
from orchestrator.network_view import settle_loss
from orchestrator.scoring import normalise


def test_wilson_interval_on_known_counts():
    lo, hi = wilson_interval(1, 100)  # textbook value: 0.18 % .. 5.45 %
    assert lo == pytest.approx(0.00177, abs=1e-4) and hi == pytest.approx(0.0545, abs=1e-4)
    lo, hi = wilson_interval(0, 75)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(0.0487, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)  # no samples: nothing known


def test_shrunk_estimate_moves_towards_the_pooled_loss():
    # pooled: 30 lost of 400 = 7.5 %; node a: 0 of 100 -> (0 + 20 x 0.075) / 120 = 1.25 %;
    # node b is clearly worse (30 of 300, interval 7.1..14 % vs a's 0..3.7 %): no tie.
    a, b = scored_loss([LossCount(0, 100), LossCount(30, 300)])
    assert a == pytest.approx(1.25)
    assert b == pytest.approx(100 * (30 + 20 * 0.075) / 320)


def test_overlapping_intervals_tie_with_the_best():
    out = scored_loss([LossCount(0, 75), LossCount(2, 75), LossCount(30, 75)])
    assert out[0] == out[1] < out[2]


def test_one_lost_probe_cannot_reorder_nodes_with_equal_true_loss():
    """12 nodes, true loss 1 %, 75 probes each, 100 seeded draws: the spread of the
    normalised loss component is <= 0.2 in at least 95 of them."""
    rng = np.random.default_rng(7)
    ok = 0
    for _ in range(100):
        counts = [LossCount(int(rng.binomial(75, 0.01)), 75) for _ in range(12)]
        x = np.zeros((12, 5))
        x[:, 3] = scored_loss(counts)
        col = normalise(x)[:, 3]
        ok += col.max() - col.min() <= 0.2
    assert ok >= 95


def test_the_demo_defaults_tell_1_from_5_percent():
    """Defaults: 2 probes/s per node and a 600-probe window; a 10-epoch demo run lasts
    well over 3 minutes of wall time, so each node's figure rests on >= 360 probes. At
    the expected counts the two intervals no longer overlap, so the tie rule keeps the
    difference."""
    n = 360
    assert wilson_interval(round(0.01 * n), n)[1] < wilson_interval(round(0.05 * n), n)[0]
    low, high = scored_loss([LossCount(round(0.01 * n), n), LossCount(round(0.05 * n), n)])
    assert high > low


def test_settle_loss_attaches_the_scored_loss_only_to_probed_figures():
    snap = {
        "a": PathMetrics(5, 10, 0.0, 0, loss_samples=75),
        "b": PathMetrics(5, 10, 1.3333, 0, loss_samples=75),
        "c": PathMetrics(5, 10, 4.0, 0),
    }  # c: a static figure, no sample count
    out = settle_loss(snap)
    assert out["a"].loss_for_scoring == out["b"].loss_for_scoring  # 0 vs 1 of 75: tied
    assert out["c"].loss_for_scoring == 4.0 and out["b"].loss_pct == 1.3333  # the measured figure is kept
