"""Each selection policy on small fixed inputs whose right answer was worked out by hand."""

import math

import numpy as np
import pytest

from orchestrator.policies import Candidate, SelectionContext, Truth, make_policy
from orchestrator.policies.base import budget, predicted_round_s

W, U = np.full(5, 0.2), np.ones(5)
BEST = dict(compute_power=50.0, bandwidth_mbps=20.0, delay_ms=10.0, loss_pct=0.0, train_time_s=1.0)
MID = dict(compute_power=30.0, bandwidth_mbps=10.0, delay_ms=50.0, loss_pct=1.0, train_time_s=2.0)
WORST = dict(compute_power=10.0, bandwidth_mbps=2.0, delay_ms=100.0, loss_pct=5.0, train_time_s=5.0)


def ctx(cands, epoch=0, epochs=3, total=None, seed=0, nbytes=0, truth=None):
    return SelectionContext(
        epoch, epochs, total or len(cands), cands, W, U, np.random.default_rng(seed), nbytes, nbytes, truth or {}
    )


def node(nid, active=True, **kw):
    return Candidate(nid, active, kw.pop("compute_power", 30.0), **kw)


def test_ne_drops_the_weakest_active_node():
    c = ctx([node("a", **BEST), node("b", **MID), node("c", **WORST)], total=4)  # 4 nodes, 3 epochs: one per epoch
    assert make_policy("ne", 4, 3).select(c) == {"a", "b"}


def test_budget_follows_the_ne_schedule():
    cands = [node(f"n{i}") for i in range(5)]
    assert [budget(ctx(cands, epoch=e, epochs=3)) for e in (0, 1)] == [3, 1]  # 5 nodes, 3 epochs: two per epoch
    assert budget(ctx(cands[:2], epoch=0, epochs=3, total=5)) == 2  # never more than are alive


def test_random_keeps_the_budget_reproducibly_and_reaches_everyone():
    cands = [node(f"n{i}") for i in range(5)]
    pick = make_policy("random", 5, 3).select
    assert len(pick(ctx(cands, seed=1))) == 3
    assert pick(ctx(cands, seed=1)) == pick(ctx(cands, seed=1))
    seen = set().union(*(pick(ctx(cands, seed=s)) for s in range(20)))
    assert seen == {c.node_id for c in cands}


def test_single_metric_ranks_one_column_nan_last_ties_by_id():
    cands = [
        node("a", bandwidth_mbps=5.0, compute_power=40.0),
        node("b", bandwidth_mbps=9.0, compute_power=10.0),
        node("c", bandwidth_mbps=math.nan, compute_power=60.0),
        node("d", bandwidth_mbps=5.0, compute_power=20.0),
        node("e", bandwidth_mbps=1.0, compute_power=5.0),
    ]
    assert make_policy("bandwidth", 5, 3).select(ctx(cands)) == {"b", "a", "d"}  # a beats d on the tie by id
    assert make_policy("compute", 5, 3).select(ctx(cands)) == {"c", "a", "d"}


def test_oracle_score_uses_the_truth_not_the_measurements():
    measured = [node("a", **WORST), node("b", **MID), node("c", **BEST), node("d", **MID)]
    truth = {
        "a": Truth("a", 50, 20, 10, 0),
        "b": Truth("b", 30, 10, 50, 1),
        "c": Truth("c", 10, 2, 100, 5),
        "d": Truth("d", 29, 9, 55, 1.5),
    }
    assert make_policy("oracle_score", 4, 3).select(ctx(measured, truth=truth)) == {"a", "b", "d"}  # budget 3
    with pytest.raises(ValueError, match="ground truth"):
        make_policy("oracle_score", 4, 3).select(ctx(measured))


def test_oracle_is_time_optimal_for_its_budget():
    from itertools import combinations

    from orchestrator.policies.baselines import truth_round_s

    # Windows: 7.5 GFLOP at C x 0.25 GFLOP/s = 30 / C s. a computes fastest but sits behind a 0.5 Mb/s link.
    truth = {
        "a": Truth("a", 60, 0.5, 200, 0),
        "b": Truth("b", 10, 20, 10, 0),
        "c": Truth("c", 30, 10, 10, 0),
        "d": Truth("d", 5, 50, 5, 0),
    }
    c = ctx([node(n, **MID) for n in "abcd"], nbytes=500_000, truth=truth)
    c.work_gflop, c.gflops_per_power = 7.5, 0.25
    chosen = make_policy("oracle", 4, 3).select(c)
    assert chosen == {"b", "c", "d"}
    rounds = {n: truth_round_s(t, c) for n, t in truth.items()}
    assert rounds["d"] == pytest.approx(6.0, abs=0.2) and rounds["a"] > 8  # 4 Mb over 0.5 Mb/s
    best = min(max(rounds[n] for n in combo) for combo in combinations("abcd", 3))
    assert max(rounds[n] for n in chosen) == best  # no other choice of 3 has a shorter epoch
    assert make_policy("oracle_score", 4, 3).select(c) != chosen  # the score prefers a's compute


def test_fedcs_prediction_and_deadline():
    mb = 1_000_000  # 8 Mb/s = 1 MB/s: 1 s down + 1 s up
    x = node("x", bandwidth_mbps=8.0, delay_ms=0.0, loss_pct=0.0, train_time_s=1.0)
    y = node("y", bandwidth_mbps=4.0, delay_ms=0.0, loss_pct=0.0, train_time_s=1.0)
    z = node("z", bandwidth_mbps=8.0, delay_ms=0.0, loss_pct=0.0, train_time_s=10.0)
    assert [predicted_round_s(n, mb, mb) for n in (x, y, z)] == pytest.approx([3.0, 5.0, 12.0])
    assert make_policy("fedcs", 3, 3).select(ctx([x, y, z], nbytes=mb)) == {"x", "y"}  # default: the median, 5 s

    class Opts:
        deadline_s = 2.0

    assert make_policy("fedcs", 3, 3, Opts).select(ctx([x, y, z], nbytes=mb)) == {"x"}  # none fits: the fastest


def test_oort_exploits_utility_with_the_duration_penalty():
    p = node("p", samples=10, train_loss=2.0, round_time_s=1.0, last_epoch=0)
    q = node("q", samples=10, train_loss=3.0, round_time_s=10.0, last_epoch=0)  # 30 x (1/10)^2 = 0.3
    r = node("r", samples=10, train_loss=1.0, round_time_s=1.0, last_epoch=0)

    class Opts:
        oort_alpha, oort_epsilon, preferred_round_s = 2.0, 0.0, None

    late = dict(total=6, epochs=5, epoch=3)  # 6 nodes, 5 epochs: one out per epoch, so 2 may train in epoch 4
    assert make_policy("oort", 6, 5, Opts).select(ctx([p, q, r], **late)) == {"p", "r"}
    Opts.oort_epsilon = 0.5
    picks = [make_policy("oort", 6, 5, Opts).select(ctx([p, q, r], seed=s, **late)) for s in range(10)]
    assert all(len(x) == 2 and "p" in x for x in picks)  # one exploited (p), one explored
    assert {frozenset(x) for x in picks} == {frozenset({"p", "q"}), frozenset({"p", "r"})}


def test_tifl_trains_one_latency_tier_per_epoch_within_credits():
    lat = {"a": 1.0, "b": 1.1, "c": 2.0, "d": 2.1, "e": 9.0, "f": 9.1}
    cands = [node(n, round_time_s=t) for n, t in lat.items()]
    tifl = make_policy("tifl", 6, 4)  # 3 tiers, ceil(3 / 3) = 1 credit each
    assert tifl.make_tiers(ctx(cands)) == [["a", "b"], ["c", "d"], ["e", "f"]]
    picks = [tifl.select(ctx(cands, epoch=e, epochs=4, seed=e)) for e in range(3)]
    assert sorted(map(sorted, picks)) == [["a", "b"], ["c", "d"], ["e", "f"]]  # each tier once: slow ones not starved


def _ne_plus(margin, patience):
    class Opts:
        readmit_margin, readmit_patience = margin, patience

    return make_policy("ne_plus", 5, 4, Opts)


def _round(d_recovered=True):
    d = BEST if d_recovered else WORST
    cands = [
        node("a", **BEST),
        node("b", **MID),
        node("c", **WORST),
        node("d", active=False, last_epoch=0, eliminated_at=0, **d),
    ]  # benched at epoch 0
    return ctx(cands, epoch=1, epochs=4, total=5)


def test_ne_plus_readmits_a_recovered_node_in_place_of_the_weakest():
    assert _ne_plus(0.05, 1).select(_round()) == {"a", "d"}  # c dropped by NE, then d (1.0) beats b by more than 0.05


def test_ne_plus_hysteresis_keeps_the_set_when_the_lead_is_small():
    assert _ne_plus(1.0, 1).select(_round()) == {"a", "b"}  # plain NE


def test_ne_plus_patience_needs_consecutive_leads():
    p = _ne_plus(0.05, 2)
    assert p.select(_round()) == {"a", "b"}  # one lead is not enough
    assert p.select(_round()) == {"a", "d"}  # the second in a row is
    q = _ne_plus(0.05, 2)
    q.select(_round())
    q.select(_round(d_recovered=False))  # the streak breaks
    assert q.select(_round()) == {"a", "b"}


def test_ne_plus_never_returns_a_node_in_the_epoch_it_was_dropped():
    cands = [node("a", **MID), node("b", **WORST)]
    chosen = make_policy("ne_plus", 3, 2).select(ctx(cands, epoch=0, epochs=2, total=3))
    assert chosen == {"a"}


@pytest.mark.parametrize(
    "name", ["ne", "ar", "random", "bandwidth", "compute", "fedcs", "oort", "tifl", "oracle", "oracle_score", "ne_plus"]
)
def test_one_node_left_is_always_chosen(name):
    only = node("solo", **MID)
    c = ctx([only], epoch=4, epochs=10, total=12, truth={"solo": Truth("solo", 30, 10, 50, 1)})
    assert make_policy(name, 12, 10).select(c) == {"solo"}


def test_unknown_policy_names_the_choices():
    with pytest.raises(ValueError, match="ne_plus"):
        make_policy("greedy", 12, 10)
