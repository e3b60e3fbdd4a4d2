"""The Flower strategy's selection (orchestrator/flower/node_book.py, no Flower needed):
given fixed figures it chooses what the policy itself chooses from a SelectionContext
built by hand, and a node without network figures follows edgeft's missing-figure rule
(its figures score as the median of the others', orchestrator/scoring.py)."""

import math

import numpy as np
import pytest

from edgeft.flower_contract import TrainReport
from orchestrator.config import OrchestratorConfig
from orchestrator.flower.node_book import FlowerNode, NodeBook
from orchestrator.network_view import StaticMetrics
from orchestrator.policies import Candidate, SelectionContext, make_policy
from orchestrator.registry import NodeStatus
from orchestrator.scoring import perf_scores

LINKS = {
    "n0": dict(bandwidth_mbps=80.0, delay_ms=5.0, loss_pct=0.0),
    "n1": dict(bandwidth_mbps=60.0, delay_ms=12.0, loss_pct=0.1),
    "n2": dict(bandwidth_mbps=2.0, delay_ms=200.0, loss_pct=4.0),
    "n3": dict(bandwidth_mbps=40.0, delay_ms=20.0, loss_pct=0.2),
    "n4": dict(bandwidth_mbps=5.0, delay_ms=150.0, loss_pct=2.0),
    "n5": dict(bandwidth_mbps=70.0, delay_ms=8.0, loss_pct=0.0),
}
POWER = {"n0": 40.0, "n1": 25.0, "n2": 30.0, "n3": 35.0, "n4": 20.0, "n5": 30.0}


def _book(policy, epochs=3, links=LINKS):
    cfg = OrchestratorConfig(policy=policy, nodes=len(POWER), seed=3, training={"epochs": epochs})
    nodes = [FlowerNode(n, 1000 + i, None, POWER[n]) for i, n in enumerate(POWER)]
    return NodeBook(cfg, nodes, StaticMetrics(links))


def _report(nid, epoch, started=100.0):
    t = 10.0 * 30.0 / POWER[nid]  # a window inversely proportional to the node's power
    return TrainReport(t, t, 3.0 - 0.1 * epoch, 16, 2000, 1.0, started + t + 0.5)


def _by_hand(policy, epoch, active, history, epochs=3, rng=None):
    """The SelectionContext the epoch loop would build, written out without the Flower code."""
    cands = [
        Candidate(
            n,
            n in active,
            POWER[n],
            **LINKS[n],
            train_time_s=history[n].train_time_s,
            round_time_s=history[n].finished_at - 100.0,
            train_loss=history[n].loss,
            samples=history[n].samples,
        )
        for n in sorted(history)
    ]
    ctx = SelectionContext(epoch, epochs, len(POWER), cands, np.full(5, 0.2), np.ones(5), rng, 4096, 4096)
    return ctx


@pytest.mark.parametrize("policy", ["ne", "ar", "compute", "bandwidth", "fedcs", "oort", "tifl"])
def test_first_selection_is_the_policys_own(policy):
    book = _book(policy)
    reports = {n: _report(n, 0) for n in POWER}
    choice = book.decide(0, reports, 100.0, 4096)
    ctx = _by_hand(policy, 0, set(POWER), reports, rng=np.random.default_rng([3, 7]))
    assert choice.decision.chosen == frozenset(make_policy(policy, len(POWER), 3).select(ctx))
    assert choice.decision.scores == pytest.approx(ctx.active_scores)


def test_ne_over_two_rounds_drops_the_two_planted_weak_links_in_score_order():
    book = _book("ne")
    first = book.decide(0, {n: _report(n, 0) for n in POWER}, 100.0, 4096)
    assert first.dropped == ["n2", "n4"]  # floor((6 - 1) / (3 - 1)) = 2 per epoch, the weakest links go
    assert {n.node_id for n in book.by_status(NodeStatus.ELIMINATED)} == {"n2", "n4"}
    active = [n.node_id for n in book.by_status(NodeStatus.ACTIVE)]
    second = book.decide(1, {n: _report(n, 1) for n in active}, 100.0, 4096)
    ranked = sorted(second.decision.scores, key=lambda n: (second.decision.scores[n], n))
    assert second.dropped == sorted(ranked[:2])
    assert book.nodes["n0"].epochs_trained == 2 and book.nodes["n2"].epochs_trained == 1


def test_random_draws_the_epoch_loops_stream():
    book = _book("random")
    choice = book.decide(0, {n: _report(n, 0) for n in POWER}, 100.0, 4096)
    ctx = _by_hand("random", 0, set(POWER), {n: _report(n, 0) for n in POWER}, rng=np.random.default_rng([3, 7]))
    assert choice.decision.chosen == frozenset(make_policy("random", len(POWER), 3).select(ctx))


def test_a_node_without_network_figures_scores_as_the_median_of_the_others():
    links = {n: v for n, v in LINKS.items() if n != "n1"}  # the controller (or file) has nothing for n1
    book = _book("ne", links=links)
    reports = {n: _report(n, 0) for n in POWER}
    choice = book.decide(0, reports, 100.0, 4096)
    assert choice.snap.get("n1") is None
    rows = np.array(
        [[POWER[n], *(LINKS[n].values() if n != "n1" else [math.nan] * 3), reports[n].train_time_s] for n in POWER]
    )
    expected = dict(zip(POWER, perf_scores(rows, np.full(5, 0.2), np.ones(5))))
    assert choice.decision.scores == pytest.approx(expected)
    assert "n1" not in choice.dropped  # missing figures are neutral, not a penalty


def test_failed_nodes_are_out_of_the_selection():
    book = _book("ar")
    book.fail("n3", "no reply within the round timeout")
    reports = {n: _report(n, 0) for n in POWER if n != "n3"}
    choice = book.decide(0, reports, 100.0, 4096)
    assert "n3" not in choice.decision.chosen and "n3" not in choice.decision.scores
    assert book.nodes["n3"].status == NodeStatus.FAILED


def test_two_supernodes_with_one_name_are_refused():
    cfg = OrchestratorConfig(policy="ar", nodes=2)
    with pytest.raises(ValueError, match="same node-id"):
        NodeBook(cfg, [FlowerNode("a", 1, None, 1.0), FlowerNode("a", 2, None, 1.0)], StaticMetrics({}))


def test_a_train_reply_without_the_required_keys_names_them():
    with pytest.raises(ValueError, match=r"train-time-s.*docs/flower.md"):
        TrainReport.parse({"train-loss": 1.0, "num-examples": 3}, 0.0)
    r = TrainReport.parse({"train-time-s": 2.0, "train-loss": 1.0, "num-examples": 3}, 5.0)
    assert (r.compute_wall_s, r.tokens, math.isnan(r.work_gflop)) == (2.0, 3, True)


def test_the_flower_book_aggregates_through_the_epoch_loops_guarded_round():
    """NodeBook.aggregate (what NetworkAwareFedAvg.aggregate_train calls) is the same guarded
    round as the epoch loop's (Strategy.aggregate_round -> orchestrator/aggregation.py): the
    same parameters for the same updates, a huge-but-finite update refused and its node failed
    and named, on both optimisers and with the configured robust rule."""
    import torch

    from orchestrator.aggregation import ServerOptimizer, guarded_round
    from orchestrator.config import UpdateGuardConfig

    g = torch.Generator().manual_seed(0)
    honest = {n: {"w": torch.randn(16, generator=g) * 0.01} for n in ("n0", "n1", "n3", "n5")}
    updates = {**honest, "n2": {"w": torch.full((16,), 3e38)}}
    weights = {n: 100 + i for i, n in enumerate(sorted(updates))}
    for guard in (
        UpdateGuardConfig(),
        UpdateGuardConfig(aggregation="trimmed_mean"),
        UpdateGuardConfig(aggregation="median"),
    ):
        book = _book("ar")
        book.strategy.guard = guard
        start = {"w": torch.zeros(16)}
        out = book.aggregate(0, updates, weights, ServerOptimizer(start, "adam", 0.01))
        ids = sorted(updates)
        ref = guarded_round(
            [updates[i] for i in ids], [weights[i] for i in ids], guard, ServerOptimizer(start, "adam", 0.01)
        )
        torch.testing.assert_close(out.params, ref.params)
        assert [ids[i] for i in out.refused] == ["n2"] and torch.isfinite(out.params["w"]).all()
        assert book.nodes["n2"].status == NodeStatus.FAILED and "refused" in book.nodes["n2"].fail_reason
        assert [r["node_id"] for r in book.refused] == ["n2"]


def test_flower_flags_a_claim_longer_than_the_measured_round_trip():
    """T_i cannot be measured on the Flower path (module docstring of
    orchestrator/flower/node_book.py): the round trip the server saw is recorded, and a claim
    longer than that whole trip (beyond the tolerance) is flagged as provably false."""
    book = _book("ar")
    reports = {n: _report(n, 0) for n in POWER}
    over = reports["n0"]
    reports["n0"] = TrainReport(99.0, 99.0, over.loss, over.samples, over.tokens, 1.0, over.finished_at)
    choice = book.decide(0, reports, 100.0, 4096)
    assert book.history["n4"].round_time_s == pytest.approx(reports["n4"].finished_at - 100.0)
    assert choice.declared["n0"] == 99.0 and choice.flagged["n0"]
    assert not any(choice.flagged[n] for n in POWER if n != "n0")
