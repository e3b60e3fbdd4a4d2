"""PACE (orchestrator/policies/pace.py) on inputs whose right answer follows from its rule:
it drops the strong node on the slow link that NE's score keeps, never covers less data than
its floor, brings a benched node back when its figures improve, and is deterministic."""

import math

import numpy as np
import pytest

from orchestrator.policies import Candidate, SelectionContext, make_policy
from orchestrator.policies.pace import PaceSelection, model_round_s, predicted_round_s, predicted_rounds

ADAPTER = 67_688  # the built-in adapter, bytes each way per epoch


def ctx(cands, epoch=1, epochs=10, nbytes=ADAPTER, seed=0):
    return SelectionContext(
        epoch, epochs, len(cands), cands, np.full(5, 0.2), np.ones(5), np.random.default_rng(seed), nbytes, nbytes
    )


def node(nid, bandwidth, delay, loss, power, train_s, active=True, samples=16, **kw):
    return Candidate(nid, active, power, bandwidth, delay, loss, train_time_s=train_s, samples=samples, **kw)


def strong_node_on_the_slowest_link_network():
    """12 nodes; node-00 has by far the most compute and the shortest T_i, on a 0.75 Mb/s link with
    300 ms and 8 % loss. node-11 is mediocre in every figure (the lowest utopia score)."""
    rng = np.random.default_rng(3)
    cands = [node("node-00", 0.75, 300.0, 8.0, 70.0, 0.4)]
    for i in range(1, 11):
        cands.append(
            node(
                f"node-{i:02d}",
                float(rng.uniform(6, 12)),
                float(rng.uniform(5, 40)),
                float(rng.uniform(0, 1)),
                float(rng.uniform(20, 40)),
                float(rng.uniform(0.8, 1.5)),
            )
        )
    cands.append(node("node-11", 1.0, 250.0, 6.0, 4.0, 8.0))
    return cands


def test_pace_drops_the_strong_node_on_the_slowest_link_that_ne_keeps():
    cands = strong_node_on_the_slowest_link_network()
    context = ctx(cands)
    kept_by_ne = make_policy("ne", 12, 10).select(context)
    assert "node-00" in kept_by_ne and "node-11" not in kept_by_ne  # NE's score keeps it, drops the mediocre one
    chosen = make_policy("pace", 12, 10).select(context)
    assert "node-00" not in chosen
    slowest = max(predicted_round_s(c, context) for c in cands if c.node_id in chosen)
    assert slowest < predicted_round_s(cands[0], context) / 2  # its round would be more than twice the set's


def test_pace_reaches_its_floor_of_data_and_adds_every_node_within_the_margin():
    cands = strong_node_on_the_slowest_link_network()
    context = ctx(cands)
    times = sorted((predicted_round_s(c, context), c.node_id) for c in cands)
    chosen = PaceSelection(floor=0.25, margin=0.0, floor_end=None).select(context)
    assert chosen == {nid for _, nid in times[:3]}  # 3 of 12 equal partitions: the first to reach 25 %
    deadline = times[2][0] * 1.5
    wider = PaceSelection(floor=0.25, margin=0.5, floor_end=None).select(context)
    assert wider == {nid for t, nid in times if t <= deadline}


@pytest.mark.parametrize("seed", range(20))
def test_pace_never_covers_less_than_its_floor(seed):
    rng = np.random.default_rng(seed)
    cands = []
    for i in range(30):
        unknown = rng.random() < 0.2  # some nodes never measured: NaN figures
        cands.append(
            node(
                f"n{i:02d}",
                math.nan if unknown else float(rng.exponential(7.5)) + 0.1,
                float(rng.exponential(78.5)) + 1,
                float(rng.exponential(1.0)),
                float(rng.uniform(3, 60)),
                float(rng.uniform(0.3, 10)),
                samples=int(rng.integers(1, 64)),
                active=bool(rng.random() < 0.6),
            )
        )
    floor = float(rng.uniform(0.05, 0.9))
    chosen = PaceSelection(floor=floor, margin=float(rng.uniform(0, 0.5))).select(ctx(cands))
    covered = sum(c.samples for c in cands if c.node_id in chosen)
    assert covered >= floor * sum(c.samples for c in cands)


def test_pace_brings_a_benched_node_back_when_its_link_recovers():
    cands = strong_node_on_the_slowest_link_network()
    benched = cands[0]
    policy = PaceSelection(floor=0.25, margin=0.25)
    assert "node-00" not in policy.select(ctx(cands))
    recovered = node("node-00", 50.0, 2.0, 0.0, 70.0, 0.4, active=False, last_epoch=1, round_time_s=0.6)
    assert benched.node_id == recovered.node_id
    assert "node-00" in policy.select(ctx([recovered, *cands[1:]], epoch=2))


def test_a_round_seen_slower_than_predicted_counts():
    fast = node("a", 10.0, 10.0, 0.0, 30.0, 1.0, last_epoch=2, round_time_s=9.0)
    model = model_round_s(fast, ctx([fast]))
    assert model < 2.0
    assert predicted_round_s(fast, ctx([fast])) == 9.0  # a shared gateway made it slow: the observation wins
    first = node("a", 10.0, 10.0, 0.0, 30.0, 1.0, last_epoch=0, round_time_s=9.0)
    assert predicted_round_s(first, ctx([first])) == model  # epoch 0 (no download, all upload at once) does not


def test_a_benched_node_is_predicted_on_the_seen_nodes_footing():
    """Rounds seen after epoch 0 took twice the model's time (server, shared gateways): a node not
    seen since is predicted at twice its model time too, not as if it had the network to itself."""
    seen = [node(f"s{i}", 8.0, 20.0, 0.5, 30.0, 1.0, last_epoch=3) for i in range(3)]
    context = ctx(seen)
    seen = [
        node(f"s{i}", 8.0, 20.0, 0.5, 30.0, 1.0, last_epoch=3, round_time_s=2 * model_round_s(c, context))
        for i, c in enumerate(seen)
    ]
    benched = node("b", 20.0, 5.0, 0.0, 40.0, 0.8, active=False, last_epoch=0, round_time_s=0.5)
    context = ctx([*seen, benched])
    assert predicted_rounds(context)["b"] == pytest.approx(2 * model_round_s(benched, context))


def test_pace_is_deterministic_and_takes_every_tie_with_the_last_node_it_needs():
    twins = [node(f"n{i}", 8.0, 20.0, 0.5, 30.0, 1.0) for i in (3, 1, 2, 0)]
    assert PaceSelection(floor=0.25, margin=0.0).select(ctx(twins)) == {"n0", "n1", "n2", "n3"}  # all finish together
    cands = strong_node_on_the_slowest_link_network()
    first = make_policy("pace", 12, 10).select(ctx(cands, seed=1))
    assert all(make_policy("pace", 12, 10).select(ctx(cands, seed=s)) == first for s in range(5))


def test_pace_refuses_a_floor_outside_zero_one():
    with pytest.raises(ValueError, match="floor"):
        PaceSelection(floor=0.0)
    with pytest.raises(ValueError, match="margin"):
        PaceSelection(margin=-0.1)


def test_the_config_sets_paces_floor_and_margin():
    from orchestrator.config import PolicyOptions

    policy = make_policy("pace", 12, 10, PolicyOptions(pace_floor=0.4, pace_margin=0.1))
    assert (policy.floor, policy.margin) == (0.4, 0.1)
    assert make_policy("pace", 12, 10).floor == make_policy("pace", 12, 10, PolicyOptions()).floor == 0.5
    assert make_policy("pace", 12, 10).floor_end == make_policy("pace", 12, 10, PolicyOptions()).floor_end == 1.0
    with pytest.raises(ValueError, match="pace_floor"):
        PolicyOptions(pace_floor=0.0)


def test_a_floor_that_grows_to_its_end_in_the_last_epoch():
    pace = PaceSelection(floor=0.3, floor_end=0.9)
    assert [round(pace.floor_for(e, 10), 3) for e in (1, 5, 9)] == [0.3, 0.6, 0.9]
    assert PaceSelection(floor=0.4, floor_end=None).floor_for(9, 10) == 0.4  # None: the same throughout
    assert PaceSelection().floor_for(9, 10) == 1.0  # the default grows to every set-up node's data
    cands = [node(f"n{i:02d}", 10.0 - i * 0.5, 20.0 + i, 0.0, 20.0, 1.0 + 0.1 * i) for i in range(10)]
    first = pace.select(ctx(cands, epoch=0))
    last = pace.select(ctx(cands, epoch=8))
    assert len(first) < len(last) and len(last) >= 9  # the last epoch holds 90 % of the data
    with pytest.raises(ValueError, match="floor_end"):
        PaceSelection(floor=0.3, floor_end=1.5)


def setup_ctx(cands, nbytes=3_768_200):
    """The set-up's context (epoch -1, no T_i yet): what EpochCore.choose_setup builds."""
    context = ctx([node(c.node_id, c.bandwidth_mbps, c.delay_ms, c.loss_pct, c.compute_power, math.nan) for c in cands])
    context.epoch, context.download_bytes, context.upload_bytes = -1, nbytes, 0
    return context


def test_pace_sets_up_the_fastest_downloads_until_its_setup_floor_of_data():
    """Rule 4: ranked by the set-up download alone on the measured link; the fastest nodes until they hold
    setup_floor of the data; the strong node on the 0.75 Mb/s link (a 40 s download) is left out."""
    from orchestrator.policies.pace import setup_download_s

    cands = strong_node_on_the_slowest_link_network()
    context = setup_ctx(cands)
    chosen = PaceSelection(setup_floor=0.5).select_setup(context)
    times = sorted((setup_download_s(c, context.download_bytes), c.node_id) for c in context.candidates)
    assert chosen == {nid for _, nid in times[:6]}  # 12 equal partitions: 6 hold half the data
    assert "node-00" not in chosen and "node-11" not in chosen
    assert setup_download_s(context.candidates[0], context.download_bytes) > 30.0


def test_pace_sets_up_every_node_at_setup_floor_one_and_refuses_one_outside_zero_one():
    context = setup_ctx(strong_node_on_the_slowest_link_network())
    assert PaceSelection(setup_floor=1.0).select_setup(context) == {c.node_id for c in context.candidates}
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="setup_floor"):
            PaceSelection(setup_floor=bad)


def test_the_config_sets_paces_setup_floor():
    from orchestrator.config import PolicyOptions

    policy = make_policy("pace", 12, 10, PolicyOptions(pace_setup_floor=0.7))
    assert policy.setup_floor == 0.7
    assert make_policy("pace", 12, 10).setup_floor == 0.7  # the tuned default (docs/policies.md)
