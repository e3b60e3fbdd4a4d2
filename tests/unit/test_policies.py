import numpy as np
import pytest

from orchestrator.policies import AllResources, NodeElimination, elimination_count, make_policy, rank_ascending


@pytest.mark.parametrize("n,t,expected", [(12, 10, 1), (40, 10, 4), (11, 10, 1), (20, 10, 2), (5, 3, 2)])
def test_elimination_count(n, t, expected):
    assert elimination_count(n, t) == expected


@pytest.mark.parametrize("n,t", [(10, 10), (3, 10), (1, 1)])
def test_ne_requires_more_nodes_than_epochs(n, t):
    with pytest.raises(ValueError, match="more nodes than epochs"):
        elimination_count(n, t)


def _simulate(policy, n, epochs, seed=0):
    rng = np.random.default_rng(seed)
    active = [f"n{i:02d}" for i in range(n)]
    counts = []
    for epoch in range(epochs):
        out = policy.eliminate(active, rng.random(len(active)), epoch)
        counts.append(len(out))
        active = [a for a in active if a not in out]
    return counts, active


@pytest.mark.parametrize("n,t,left", [(12, 10, 3), (40, 10, 4), (11, 10, 2)])
def test_ne_run_leaves_at_least_one(n, t, left):
    counts, active = _simulate(NodeElimination(n, t), n, t)
    assert counts[-1] == 0  # nothing is eliminated after the last epoch
    assert len(active) == left >= 1


def test_ne_drops_lowest_and_breaks_ties_by_id():
    ne = NodeElimination(total_nodes=12, epochs=10)  # one per epoch
    assert ne.eliminate(["a", "b", "c"], np.array([0.5, 0.1, 0.9]), 0) == ["b"]
    assert ne.eliminate(["c", "b", "a"], np.array([0.3, 0.3, 0.9]), 0) == ["b"]
    assert rank_ascending(["z", "y"], np.array([0.2, 0.2])) == ["y", "z"]


def test_ne_never_empties_the_active_set():
    ne = NodeElimination(total_nodes=40, epochs=10)  # four per epoch
    assert ne.eliminate(["a", "b"], np.array([0.1, 0.2]), 0) == ["a"]
    assert ne.eliminate(["only"], np.array([0.0]), 0) == []


def test_ar_keeps_everyone():
    from orchestrator.policies import Candidate, SelectionContext

    cands = [Candidate(f"n{i}", i % 2 == 0, 30.0) for i in range(5)]  # benched ones too
    ctx = SelectionContext(0, 10, 12, cands, np.full(5, 0.2), np.ones(5), np.random.default_rng(0))
    assert AllResources().select(ctx) == {c.node_id for c in cands}


def test_make_policy_rejects_unknown():
    with pytest.raises(ValueError, match="unknown policy"):
        make_policy("greedy", 12, 10)
