"""The update guard (orchestrator/aggregation.py): the robust rules on hand-made tensors,
the norm bound that refuses an outsized update (a huge-but-finite one included), and the
rollback of a round whose result is not finite, naming the node responsible."""

import copy
import math

import pytest
import torch

from orchestrator.aggregation import (
    Replace,
    ServerOptimizer,
    combine,
    coordinate_median,
    guarded_round,
    norm_bound,
    screen,
    trimmed_mean,
    update_norm,
)
from orchestrator.config import UpdateGuardConfig
from orchestrator.strategy import Strategy


def _ups(*rows):
    return [{"w": torch.tensor(r, dtype=torch.float32)} for r in rows]


def test_trimmed_mean_cuts_each_tail_per_coordinate():
    ups = _ups([1.0, 10.0], [2.0, -50.0], [3.0, 20.0], [4.0, 30.0], [100.0, 40.0])
    # n = 5, trim 0.2: one value cut from each tail of every coordinate
    assert trimmed_mean(ups, 0.2)["w"].tolist() == pytest.approx([3.0, 20.0])
    # trim 0: the plain mean
    assert trimmed_mean(ups, 0.0)["w"].tolist() == pytest.approx([22.0, 10.0])
    # a ratio that would cut everything keeps the middle value
    assert trimmed_mean(_ups([1.0], [5.0], [9.0]), 0.49)["w"].tolist() == [5.0]


def test_median_odd_and_even_counts():
    assert coordinate_median(_ups([1.0, 9.0], [7.0, -3.0], [3.0, 4.0]))["w"].tolist() == [3.0, 4.0]
    assert coordinate_median(_ups([1.0, 9.0], [7.0, -3.0], [3.0, 4.0], [100.0, 5.0]))["w"].tolist() == [5.0, 4.5]
    # two huge values: their halves are added, so the median of finite values stays finite
    med = coordinate_median(_ups([3e38], [3e38]))["w"]
    assert torch.isfinite(med).all() and float(med[0]) == pytest.approx(3e38, rel=1e-6)


def test_combine_by_rule_and_the_mean_stays_weighted():
    ups = _ups([1.0], [3.0], [100.0])
    assert combine(ups, [1, 1, 2], "mean")["w"].tolist() == pytest.approx([51.0])
    assert combine(ups, [1, 1, 2], "median")["w"].tolist() == [3.0]  # weights buy no influence
    assert combine(ups, [1, 1, 2], "trimmed_mean", 0.34)["w"].tolist() == [3.0]


def test_norm_is_float64_and_huge_values_are_finite_there():
    assert update_norm({"a": torch.tensor([3.0, 4.0]), "b": torch.tensor([[12.0]])}) == pytest.approx(13.0)
    huge = update_norm({"w": torch.full((1000,), 3e38)})
    assert math.isfinite(huge) and huge == pytest.approx(3e38 * math.sqrt(1000), rel=1e-6)


def test_norm_bound_uses_the_upper_median_and_the_clip():
    assert norm_bound([1.0, 2.0, 3.0], 10.0, None) == 20.0
    assert norm_bound([1.0, 2.0, 3.0, 4.0], 10.0, None) == 30.0  # an even count: the upper of the middle two
    assert norm_bound([1.0, 1e40], 10.0, None) == math.inf  # two updates, no history: no relative bound
    assert norm_bound([1.0, 1e40], 10.0, None, past=[1.0]) == 10.0  # ... but the accepted norms of before
    assert norm_bound([1.0, 2.0, 3.0], 10.0, 5.0) == 5.0
    refused = screen([1.0, 1.1, 0.9, 1e6, math.inf], 10.0, None)
    assert sorted(refused) == [3, 4] and "exceeds" in refused[3] and "not finite" in refused[4]
    assert screen([1.0, 1.1, 30.0], 10.0, 2.0).keys() == {2}


def _honest(seed, n=64):
    g = torch.Generator().manual_seed(seed)
    return {"a": torch.randn(n, generator=g) * 0.01, "b": torch.randn(4, 4, generator=g) * 0.01}


def test_a_huge_finite_update_is_refused_and_the_round_stays_finite():
    params = {"a": torch.zeros(64), "b": torch.zeros(4, 4)}
    opt = ServerOptimizer(params, "sgd", 1.0)
    poison = {k: torch.full_like(v, 3e38) for k, v in params.items()}
    ups = [_honest(1), poison, _honest(2)]
    out = guarded_round(
        ups, [1, 1, 1], UpdateGuardConfig(), opt, lambda p: float(sum(v.abs().sum() for v in p.values()))
    )
    assert list(out.refused) == [1] and not out.rolled_back
    expected = {k: -(ups[0][k] + ups[2][k]) / 2 for k in params}
    for k in params:
        torch.testing.assert_close(out.params[k], expected[k])
    assert math.isfinite(out.val_loss)


def test_a_scaled_honest_update_is_refused():
    ups = [_honest(1), _honest(2), _honest(3), {k: v * 100 for k, v in _honest(4).items()}]
    out = guarded_round(ups, [1, 1, 1, 1], UpdateGuardConfig(), Replace({"a": torch.zeros(64), "b": torch.zeros(4, 4)}))
    assert list(out.refused) == [3]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_non_finite_round_is_rolled_back_and_the_culprit_named(optimizer):
    """A first round of two updates has no reference norm, so the norm bound cannot refuse the
    poison; the step overflows (its weighted mean 2.25e38 x lr 2 is inf in float32; Adam's
    second moment of it too): rolled back, parameters and optimiser state as before, and the
    poison, taken out first, is named (the honest update alone steps finite)."""
    params = {"a": torch.full((64,), 0.5), "b": torch.zeros(4, 4)}
    opt = ServerOptimizer(params, optimizer, 2.0)
    opt.step(_honest(9))  # some optimiser state to roll back to
    before, before_state = opt.state(), copy.deepcopy(opt.state_dict())
    poison = {k: torch.full_like(v, -3e38) for k, v in params.items()}
    evaluate = lambda p: float(sum(v.double().pow(2).sum() for v in p.values()))  # noqa: E731
    out = guarded_round([_honest(1), poison], [1, 3], UpdateGuardConfig(), opt, evaluate)
    assert out.rolled_back and list(out.blamed) == [1] and not out.refused
    for k in params:
        assert torch.equal(out.params[k], before[k]) and torch.equal(opt.state()[k], before[k])
    assert out.val_loss == pytest.approx(evaluate(before))
    torch.testing.assert_close(opt.state_dict()["state"], before_state["state"])


def test_rollback_blames_only_the_update_that_broke_the_loss():
    """Finite parameters, a non-finite validation loss: the largest update is taken out first,
    and once the rest evaluate finite the search stops there."""
    params = {"w": torch.zeros(3)}
    ups = [
        {"w": torch.tensor([0.1, 0.1, 0.1])},
        {"w": torch.tensor([0.2, 0.1, 0.0])},
        {"w": torch.tensor([0.5, 0.5, 0.5])},
    ]
    guard = UpdateGuardConfig(norm_factor=1e6)  # let everything past the bound
    evaluate = lambda p: math.inf if float(p["w"].abs().max()) > 0.2 else 1.0  # noqa: E731
    out = guarded_round(ups, [1, 1, 1], guard, Replace(params), evaluate)
    assert out.rolled_back and list(out.blamed) == [2] and out.params["w"].tolist() == [0.0, 0.0, 0.0]
    assert out.failed() == out.blamed


def test_the_strategy_aggregates_through_the_guard_with_the_configured_rule():
    ups = _ups([1.0], [2.0], [3.0], [1e9])
    strat = Strategy.named("ar", 4, 3, guard=UpdateGuardConfig(aggregation="median"))
    out = strat.aggregate_round(ups, [1, 1, 1, 1], Replace({"w": torch.zeros(1)}))
    assert list(out.refused) == [3] and out.params["w"].tolist() == [2.0]
    assert Strategy.named("ar", 4, 3).guard.aggregation == "mean"  # the paper's rule stays the default
