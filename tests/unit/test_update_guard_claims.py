"""A node's claimed weight on the Flower path (orchestrator/flower/node_book.py
`round_weights`, what NetworkAwareFedAvg.aggregate_train uses). When the ServerApp handed
out no weights, the strategy used each node's own `num-tokens` claim as it was: under
`mean` a node claiming 1e12 tokens took the whole aggregate. Now a claim counts at most as
the round's lower-median claim."""

import pytest
import torch

from orchestrator.aggregation import ServerOptimizer
from orchestrator.config import OrchestratorConfig
from orchestrator.flower.node_book import FlowerNode, NodeBook, round_weights
from orchestrator.network_view import StaticMetrics


def test_claims_are_capped_at_the_lower_median_claim():
    assert round_weights({}, {"n0": 1000, "n1": 1200, "n2": 10**12}) == {"n0": 1000, "n1": 1200, "n2": 1200}
    assert round_weights({}, {"n0": 1000, "n1": 10**12}) == {"n0": 1000, "n1": 1000}  # a round of two
    assert round_weights({}, {"n0": 800, "n1": 1000, "n2": 1200}) == {"n0": 800, "n1": 1000, "n2": 1000}


def test_claims_of_nothing_give_equal_weights_and_handed_out_weights_win():
    assert round_weights({}, {"n0": 0, "n1": -5, "n2": 10**12}) == {"n0": 1.0, "n1": 1.0, "n2": 1.0}
    assert round_weights({"n0": 5, "n1": 7}, {"n0": 10**12, "n1": 1}) == {"n0": 5.0, "n1": 7.0}


def test_a_node_claiming_1e12_tokens_does_not_take_the_mean():
    """Three nodes under `mean`: two honest updates, and a third in the opposite direction
    with the same norm (so the norm bound lets it through) claiming 1e12 tokens. With the
    claims as weights the aggregate was the third update; capped, it is the equal mean."""
    cfg = OrchestratorConfig(policy="ar", nodes=3, seed=3, training={"epochs": 3})
    book = NodeBook(cfg, [FlowerNode(f"n{i}", 1000 + i, None, 30.0) for i in range(3)], StaticMetrics({}))
    honest = torch.full((16,), 0.01)
    updates = {"n0": {"w": honest.clone()}, "n1": {"w": honest.clone()}, "n2": {"w": -honest}}
    weights = round_weights({}, {"n0": 2000, "n1": 2000, "n2": 10**12})
    out = book.aggregate(0, updates, weights, ServerOptimizer({"w": torch.zeros(16)}, "sgd", 1.0))
    assert out.refused == {} and out.params["w"].tolist() == pytest.approx([-0.01 / 3] * 16, rel=1e-5)
