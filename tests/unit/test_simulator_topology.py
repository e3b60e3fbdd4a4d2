"""The simulator's tree (simulator/topology.py): Mininet's rules at small N, the documented fan-out at large N."""

import math

import pytest

from simulator import topology
from simulator.topology import CORE_BW_MBPS, Topology
from topologies.profiles import draw_profiles


@pytest.mark.parametrize(
    "n_nodes, gateways, aggregations, largest_domain",
    [(12, 4, 2, 3), (100, 4, 2, 25), (1000, 40, 20, 25), (10000, 400, 200, 25)],
)
def test_fan_outs_and_node_counts(n_nodes, gateways, aggregations, largest_domain):
    topo = topology.from_setup(n_nodes, 2, 0)
    assert len(topo.nodes) == n_nodes
    assert len(topo.gateways) == gateways
    assert len(topo.aggregations) == aggregations
    sizes = [len(g.nodes) for g in topo.gateways]
    assert max(sizes) == largest_domain and sum(sizes) == n_nodes
    assert max(sizes) - min(sizes) <= 1  # round robin keeps domains even
    every = [nid for g in topo.gateways for nid in g.nodes]
    assert sorted(every) == sorted(n.node_id for n in topo.nodes)  # each node on exactly one gateway
    per_agg = [sum(1 for g in topo.gateways if g.aggregation == a) for a in range(aggregations)]
    assert per_agg == [2] * aggregations


def test_twelve_nodes_is_the_mininet_tree():
    """topologies/edge_cloud.py at its defaults: 4 domains, node i on g((i-1) mod 4 + 1), gateway d under
    a(d // 2 + 1), uplink = min(1000, 2 x the fastest access rate of the domain), core links 1 Gb/s."""
    profiles = draw_profiles(12, 2, 0)
    topo = topology.build(profiles)
    assert [g.nodes for g in topo.gateways] == [
        tuple(p.node_id for i, p in enumerate(profiles, 1) if (i - 1) % 4 == d) for d in range(4)
    ]
    assert [g.aggregation for g in topo.gateways] == [0, 0, 1, 1]
    for g in topo.gateways:
        fastest = max(p.bandwidth_mbps for p in profiles if p.node_id in g.nodes)
        assert g.uplink_mbps == pytest.approx(min(CORE_BW_MBPS, 2 * fastest))
    assert topo.server_link_mbps == topo.core_link_mbps == CORE_BW_MBPS
    for p, link in zip(profiles, topo.nodes):
        assert (link.rate_mbps, link.delay_ms, link.loss_pct) == (p.bandwidth_mbps, p.delay_ms, p.loss_pct)


def test_default_domains_rule():
    assert [topology.default_domains(n) for n in (1, 4, 40, 100, 101, 3000)] == [4, 4, 4, 4, 5, 120]
    assert math.ceil(10000 / topology.NODES_PER_GATEWAY) == topology.default_domains(10000)


def test_fewer_nodes_than_domains_gives_one_domain_per_node():
    topo = topology.from_setup(2, 1, 0)
    assert len(topo.gateways) == 2 and len(topo.aggregations) == 1


def test_round_trip_through_json_ready_dict():
    topo = topology.from_setup(30, 3, 7)
    again = Topology.from_dict(topo.as_dict())
    assert again == topo
    assert again.node("node-07") == topo.nodes[6]


@pytest.mark.parametrize(
    "record, field",
    [
        ({"node_id": "x", "bandwidth_mbps": 0.0, "delay_ms": 1.0, "loss_pct": 0.0}, "rate"),
        ({"node_id": "x", "bandwidth_mbps": 1.0, "delay_ms": -1.0, "loss_pct": 0.0}, "delay"),
        ({"node_id": "x", "bandwidth_mbps": 1.0, "delay_ms": 1.0, "loss_pct": 100.0}, "loss"),
    ],
)
def test_bad_links_are_refused_with_the_field(record, field):
    with pytest.raises(ValueError, match=field):
        topology.build([record])


def test_empty_and_bad_factor_refused():
    with pytest.raises(ValueError, match="at least one node"):
        topology.build([])
    with pytest.raises(ValueError, match="uplink_factor"):
        topology.build(draw_profiles(3, 1, 0), uplink_factor=0)
    with pytest.raises(ValueError, match="n_nodes"):
        topology.default_domains(0)
