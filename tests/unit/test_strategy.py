"""The strategy seam: the scores the run records are the ones the policy ranked, the
last epoch selects nobody, and aggregation is the weighted mean of what was handed out."""

import numpy as np
import pytest
import torch

from orchestrator.aggregation import weighted_mean
from orchestrator.policies import Candidate, SelectionContext
from orchestrator.scoring import perf_scores
from orchestrator.strategy import Strategy

W, U = np.full(5, 0.2), np.ones(5)
FIGS = {"a": (50, 20, 10, 0, 1), "b": (30, 10, 50, 1, 2), "c": (10, 2, 100, 5, 5), "d": (40, 8, 30, 0.5, 1.5)}


def _ctx(active=("a", "b", "c", "d"), epoch=0, epochs=3):
    cands = [Candidate(n, n in active, c, b, d, loss, t) for n, (c, b, d, loss, t) in FIGS.items()]
    return SelectionContext(epoch, epochs, len(cands) + 1, cands, W, U, np.random.default_rng(0))


def test_ne_records_exactly_the_scores_it_ranked():
    decision = Strategy.named("ne", 5, 3).configure_train(_ctx())
    rows = np.array([FIGS[n] for n in sorted(FIGS)], dtype=float)
    expected = dict(zip(sorted(FIGS), perf_scores(rows, W, U)))
    assert decision.scores == pytest.approx(expected)
    weakest = min(decision.scores, key=lambda n: (decision.scores[n], n))
    assert decision.chosen == frozenset(FIGS) - {weakest, sorted(decision.scores, key=decision.scores.get)[1]}


def test_only_the_nodes_that_trained_are_scored_and_normalised_among_themselves():
    decision = Strategy.named("ar", 5, 3).configure_train(_ctx(active=("a", "c")))
    assert set(decision.scores) == {"a", "c"}
    assert decision.scores["a"] == pytest.approx(1.0)  # the best of the two on every figure: the utopia point itself
    assert decision.chosen == frozenset(FIGS)  # AR keeps benched nodes too


def test_after_the_last_epoch_nobody_is_chosen_but_the_scores_are_kept():
    decision = Strategy.named("ne", 5, 3).configure_train(_ctx(epoch=2), last_epoch=True)
    assert decision.chosen is None and set(decision.scores) == set(FIGS)


def test_a_policy_that_chooses_nobody_is_an_error_naming_it():
    class Nobody:
        name = "nobody"

        def select(self, ctx):
            return set()

    with pytest.raises(ValueError, match="policy 'nobody' chose no node for epoch 1"):
        Strategy(Nobody()).configure_train(_ctx())


def test_aggregation_is_the_weighted_mean():
    ups = [{"w": torch.tensor([1.0, 0.0])}, {"w": torch.tensor([0.0, 3.0])}]
    out = Strategy.named("ar", 5, 3).aggregate_train(ups, [3, 1])
    assert torch.allclose(out["w"], weighted_mean(ups, [3, 1])["w"]) and torch.allclose(
        out["w"], torch.tensor([0.75, 0.75])
    )
