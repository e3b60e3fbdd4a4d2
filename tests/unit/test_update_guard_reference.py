"""The update guard's reference norm (orchestrator/aggregation.py, item 1): the upper median
of a round of three or more, else the norms accepted in earlier rounds, else none.

Before, the bound was 10 x the round's LOWER median and a refused node was failed for the
run: in a round of two, one node sending a near-zero update made the bound near zero and
the honest update was refused (its node ejected for good); with two near-zero updates in a
round of four both honest ones were; and a round of one had no relative bound at all, so an
honest update x100 (or any finite poison) passed. A round whose step diverges with every
subset of its updates blamed them all, failing honest nodes "for an invalid upload"."""

import copy
import math

import pytest
import torch

from orchestrator.aggregation import (
    HISTORY_ROUNDS,
    Replace,
    RoundDiverged,
    ServerOptimizer,
    guarded_round,
    norm_bound,
    reference_norm,
    screen,
)
from orchestrator.config import OrchestratorConfig, UpdateGuardConfig
from orchestrator.flower.node_book import FlowerNode, NodeBook
from orchestrator.network_view import StaticMetrics
from orchestrator.registry import NodeStatus
from orchestrator.strategy import Strategy


def _honest(seed: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"a": torch.randn(64, generator=g) * 0.01 * scale, "b": torch.randn(4, 4, generator=g) * 0.01 * scale}


def _zeros() -> dict[str, torch.Tensor]:
    return {"a": torch.zeros(64), "b": torch.zeros(4, 4)}


def test_a_near_zero_update_cannot_eject_the_honest_one_in_a_round_of_two():
    assert screen([1e-9, 1.0], 10.0, None) == {}  # no history: no relative bound in a round of two
    assert screen([1e-9, 1.0], 10.0, None, past=[0.9, 1.0, 1.1]) == {}  # the history's median is honest


def test_a_near_zero_minority_cannot_eject_the_honest_updates_in_a_round_of_four():
    assert screen([1e-9, 1e-9, 1.0, 1.1], 10.0, None) == {}
    assert norm_bound([1e-9, 1e-9, 1.0, 1.1], 10.0, None) == pytest.approx(10.0)  # the upper median: 1.0


def test_the_upper_median_still_refuses_an_outsized_update_among_three():
    assert screen([1.0, 1.1, 100.0], 10.0, None).keys() == {2}
    assert screen([1e-9, 1.0, 1e6], 10.0, None).keys() == {2}  # a near-zero one does not save it
    assert screen([1.0, 1.1, 1e6, math.inf], 10.0, None).keys() == {2, 3}  # three finite: the round's own


def test_reference_by_round_size_and_history():
    assert reference_norm([1.0, 2.0, 3.0, 4.0]) == 3.0  # upper median
    assert reference_norm([1.0, 2.0, 3.0], past=[100.0]) == 2.0  # a round of three ignores the history
    assert reference_norm([5.0], past=[1.0, 2.0, 3.0, 4.0]) == 3.0
    assert reference_norm([5.0, math.inf]) is None  # epoch 0 with fewer than three: no relative bound
    assert norm_bound([1.0, 100.0], 10.0, 5.0) == 5.0  # where clip_norm still bounds it


def test_a_single_update_round_after_honest_history_refuses_x100():
    strat = Strategy.named("ar", 4, 3)
    first = strat.aggregate_round([_honest(1), _honest(2), _honest(3)], [1, 1, 1], Replace(_zeros()))
    assert first.refused == {} and len(strat.norm_history()) == 1
    alone = strat.aggregate_round([_honest(4, 100.0)], [1], Replace(_zeros()))
    assert list(alone.refused) == [0] and "exceeds" in alone.refused[0]
    assert all(torch.equal(alone.params[k], _zeros()[k]) for k in alone.params)  # nothing counted
    honest_alone = strat.aggregate_round([_honest(5)], [1], Replace(_zeros()))
    assert honest_alone.refused == {}
    pair = strat.aggregate_round([_honest(6), _honest(7, 100.0)], [1, 1], Replace(_zeros()))
    assert list(pair.refused) == [1]


def test_small_rounds_cannot_raise_their_own_bound_step_by_step():
    """An attacker in rounds of two, each time just under 10 x the reference: a round judged
    by the history adds nothing to it, so the bound does not climb."""
    strat = Strategy.named("ar", 4, 3)
    strat.aggregate_round([_honest(1), _honest(2), _honest(3)], [1, 1, 1], Replace(_zeros()))
    reference = strat.aggregate_round([_honest(4)], [1], Replace(_zeros())).reference
    scale = 9.0
    for round_no in range(2 * HISTORY_ROUNDS):
        out = strat.aggregate_round([_honest(10 + round_no), _honest(50 + round_no, scale)], [1, 1], Replace(_zeros()))
        assert out.reference <= reference * 1.01, round_no  # never climbs past the honest reference
        if out.refused:
            break
        scale *= 1.5  # the attacker tries a little more each time
    assert out.refused == {1: out.refused[1]}, "the growing update was refused in the end"


def test_near_zero_rounds_of_one_cannot_lower_the_bound_under_an_honest_node():
    """An attacker alone in many rounds sends near-zero updates; an honest node training alone
    afterwards is still judged against the honest history, not against the attacker's."""
    strat = Strategy.named("ar", 4, 3)
    strat.aggregate_round([_honest(1), _honest(2), _honest(3)], [1, 1, 1], Replace(_zeros()))
    for round_no in range(2 * HISTORY_ROUNDS):
        tiny = strat.aggregate_round([_honest(20 + round_no, 1e-9)], [1], Replace(_zeros()))
        assert tiny.refused == {}
    assert strat.aggregate_round([_honest(4)], [1], Replace(_zeros())).refused == {}
    assert strat.aggregate_round([_honest(5), _honest(6, 1e-9)], [1, 1], Replace(_zeros())).refused == {}


def test_history_survives_a_checkpoint_as_plain_floats():
    strat = Strategy.named("ar", 4, 3)
    for seed in range(HISTORY_ROUNDS + 2):
        strat.aggregate_round([_honest(seed), _honest(seed + 100), _honest(seed + 200)], [1, 1, 1], Replace(_zeros()))
    saved = strat.norm_history()
    assert len(saved) == HISTORY_ROUNDS and all(isinstance(v, float) for r in saved for v in r)
    again = Strategy.named("ar", 4, 3)
    again.restore_norm_history(saved)
    out = again.aggregate_round([_honest(999, 100.0)], [1], Replace(_zeros()))
    assert list(out.refused) == [0]
    fresh = Strategy.named("ar", 4, 3)
    fresh.restore_norm_history([])  # a checkpoint from before the history: no relative bound
    assert fresh.aggregate_round([_honest(999, 100.0)], [1], Replace(_zeros())).refused == {}


def _square_loss(params: dict[str, torch.Tensor]) -> float:
    """A validation loss of the parameters, in float32 as the model's: inf once they are huge."""
    return float(sum((v.float() ** 2).sum() for v in params.values()))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_step_that_diverges_whatever_the_updates_blames_no_one(optimizer):
    """The server optimiser diverges by itself (lr 1e37: any update's step makes the loss
    overflow): every subset of the honest updates gives a non-finite loss, so no node is to
    blame; the round is rolled back and RoundDiverged raised (before: all three blamed)."""
    params = {"a": torch.full((64,), 0.5), "b": torch.zeros(4, 4)}
    opt = ServerOptimizer(params, optimizer, 1e37)
    before, before_state = opt.state(), copy.deepcopy(opt.state_dict())
    with pytest.raises(RoundDiverged, match="no subset"):
        guarded_round([_honest(1), _honest(2), _honest(3)], [1, 1, 1], UpdateGuardConfig(), opt, _square_loss)
    for k in params:
        assert torch.equal(opt.state()[k], before[k])
    assert opt.state_dict()["state"] == before_state["state"]


def test_one_culprit_among_honest_updates_is_still_named():
    """The search that finds no culprit above still names one when taking it out helps."""
    params = {"a": torch.full((64,), 0.5), "b": torch.zeros(4, 4)}
    opt = ServerOptimizer(params, "sgd", 1.0)
    poison = {k: torch.full_like(v, -3e38) for k, v in params.items()}  # no history, round of two: no bound
    out = guarded_round([_honest(1), poison], [1, 1], UpdateGuardConfig(), opt, _square_loss)
    assert out.rolled_back and list(out.blamed) == [1] and out.remember == []


def test_the_flower_book_fails_no_one_when_the_step_diverges_by_itself():
    cfg = OrchestratorConfig(policy="ar", nodes=3, seed=3, training={"epochs": 3})
    nodes = [FlowerNode(f"n{i}", 1000 + i, None, 30.0) for i in range(3)]
    book = NodeBook(cfg, nodes, StaticMetrics({}))
    updates = {f"n{i}": _honest(i) for i in range(3)}
    with pytest.raises(RuntimeError, match="round 2: no subset"):
        book.aggregate(1, updates, {n: 1.0 for n in updates}, ServerOptimizer(_zeros(), "adam", 1e37), _square_loss)
    assert all(n.status == NodeStatus.ACTIVE for n in book.nodes.values())
    assert book.refused == [] and book.rolled_back == [1]


def test_the_flower_book_uses_the_configs_guard():
    cfg = OrchestratorConfig(policy="ar", nodes=3, training={"epochs": 3}, updates={"aggregation": "median"})
    book = NodeBook(cfg, [FlowerNode(f"n{i}", 1000 + i, None, 30.0) for i in range(3)], StaticMetrics({}))
    assert book.strategy.guard.aggregation == "median"
