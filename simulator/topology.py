"""The edge network the simulator runs on: topologies/edge_cloud.py's Mininet tree as plain data.

    server --1 Gb/s-- core --1 Gb/s-- aggregation a_j --uplink-- gateway g_d --access link-- node i

What Mininet builds (topologies/edge_cloud.py) and this description reproduces exactly:
- node i (1-based) hangs on gateway (i - 1) mod D (round robin), D = the number of domains;
- gateway d hangs on aggregation d // 2 (two gateways per aggregation, ceil(D / 2) aggregations);
- server-core and aggregation-core links carry CORE_BW_MBPS, with no delay and no loss;
- a gateway's uplink carries min(CORE_BW_MBPS, uplink_factor x the fastest access rate in its domain):
  one node alone gets its full rate, busy nodes of a domain contend (the paper's dynamic network);
- node i's access link carries its drawn profile (topologies/profiles.py: Setups 1-3 of the paper):
  rate both ways, delay and loss on the server -> node direction only (topologies/shaping.py), so a
  round trip costs delay_ms.

Generalised to N up to 10 000 by one documented fan-out: D = max(4, ceil(N / NODES_PER_GATEWAY)),
NODES_PER_GATEWAY = 25. Up to 100 nodes that is Mininet's default of 4 domains (its 12- and 40-node
runs are these trees); 1 000 nodes get 40 gateways under 20 aggregations, 10 000 nodes 400 gateways
under 200 aggregations. Every other rule stays Mininet's. Pure: no SimGrid here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from edgeft.link_figures import LinkFigures

CORE_BW_MBPS = 1000.0  # topologies/edge_cloud.py: server-core and aggregation-core links
MININET_DOMAINS = 4  # topologies/edge_cloud.py's default --domains
NODES_PER_GATEWAY = 25  # the fan-out that grows the tree past 100 nodes
GATEWAYS_PER_AGGREGATION = 2  # topologies/edge_cloud.py: gateway d under aggregation d // 2
UPLINK_FACTOR = 2.0  # topologies/edge_cloud.py's default uplink_factor


@dataclass(frozen=True)
class AccessLink:
    """One node's access link (gateway <-> node): rate both ways; delay and loss server -> node."""

    node_id: str
    rate_mbps: float
    delay_ms: float
    loss_pct: float

    @property
    def figures(self) -> LinkFigures:
        return LinkFigures(self.rate_mbps, self.delay_ms, self.loss_pct)


@dataclass(frozen=True)
class Gateway:
    """A domain: its gateway switch, its shared uplink to an aggregation switch, its nodes."""

    name: str
    aggregation: int  # index into Topology.aggregations
    uplink_mbps: float
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Topology:
    """The whole tree, every link with its rate (Mb/s), delay (ms) and loss (%)."""

    server_link_mbps: float
    core_link_mbps: float  # each aggregation's link to the core
    aggregations: tuple[str, ...]
    gateways: tuple[Gateway, ...]
    nodes: tuple[AccessLink, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the simulation subprocess reads it back with from_dict)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Topology":
        return cls(
            server_link_mbps=float(data["server_link_mbps"]),
            core_link_mbps=float(data["core_link_mbps"]),
            aggregations=tuple(data["aggregations"]),
            gateways=tuple(
                Gateway(g["name"], int(g["aggregation"]), float(g["uplink_mbps"]), tuple(g["nodes"]))
                for g in data["gateways"]
            ),
            nodes=tuple(AccessLink(**n) for n in data["nodes"]),
        )

    def node(self, node_id: str) -> AccessLink:
        """The access link of `node_id` (KeyError if it is not in the tree)."""
        return self._by_id()[node_id]

    def _by_id(self) -> dict[str, AccessLink]:
        cache = self.__dict__.get("_index")
        if cache is None:
            cache = {n.node_id: n for n in self.nodes}
            object.__setattr__(self, "_index", cache)
        return cache


def default_domains(n_nodes: int) -> int:
    """The number of gateways (domains) for n nodes: Mininet's 4 up to 100 nodes, then one per 25."""
    if n_nodes < 1:
        raise ValueError(f"n_nodes must be >= 1 (got {n_nodes})")
    return max(MININET_DOMAINS, math.ceil(n_nodes / NODES_PER_GATEWAY))


def build(
    profiles: Iterable[Any],
    domains: int | None = None,
    uplink_factor: float = UPLINK_FACTOR,
) -> Topology:
    """The tree for these node profiles (anything with node_id and the three link figures:
    topologies/profiles.NodeProfile, a ground_truth.json node record). `domains` None: the
    documented fan-out (default_domains); like Mininet, never more domains than nodes."""
    links = [_access(p) for p in profiles]
    if not links:
        raise ValueError("a topology needs at least one node")
    if uplink_factor <= 0:
        raise ValueError(f"uplink_factor must be > 0 (got {uplink_factor})")
    n_domains = max(1, min(domains if domains is not None else default_domains(len(links)), len(links)))
    n_aggs = math.ceil(n_domains / GATEWAYS_PER_AGGREGATION)
    gateways = []
    for d in range(n_domains):
        members = links[d::n_domains]  # node i (1-based) -> domain (i - 1) mod D
        uplink = min(CORE_BW_MBPS, uplink_factor * max(m.rate_mbps for m in members))
        gateways.append(Gateway(f"g{d + 1}", d // GATEWAYS_PER_AGGREGATION, uplink, tuple(m.node_id for m in members)))
    return Topology(
        server_link_mbps=CORE_BW_MBPS,
        core_link_mbps=CORE_BW_MBPS,
        aggregations=tuple(f"a{j + 1}" for j in range(n_aggs)),
        gateways=tuple(gateways),
        nodes=tuple(links),
    )


def from_setup(n_nodes: int, setup: int, seed: int, domains: int | None = None) -> Topology:
    """The tree of a drawn network: topologies/profiles.draw_profiles(n_nodes, setup, seed)."""
    from topologies.profiles import draw_profiles

    return build(draw_profiles(n_nodes, setup, seed), domains=domains)


def _access(profile: Any) -> AccessLink:
    node_id = profile["node_id"] if isinstance(profile, dict) else profile.node_id
    figures = LinkFigures.of(profile)
    if not figures.bandwidth_mbps > 0 or figures.delay_ms < 0 or not 0 <= figures.loss_pct < 100:
        raise ValueError(f"node {node_id}: rate must be > 0, delay >= 0 and 0 <= loss < 100 (got {figures})")
    return AccessLink(str(node_id), figures.bandwidth_mbps, figures.delay_ms, figures.loss_pct)
