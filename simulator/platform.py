"""A Topology (simulator/topology.py) as a SimGrid 3.32 platform, and the network model settings.

Zones: the route table of a full zone grows as N^2 (141 MiB at 3 000 hosts), so the tree is built
as nested star zones, whose tables grow as N: the root star holds the server's zone and one zone
per aggregation; an aggregation's star holds one zone per gateway and its router (in a zone of its
own: SimGrid routes between the zones of a zone, not from a router beside them); a gateway's star
holds its router and its nodes. Every link is split-duplex (one resource per direction: a shared
SimGrid link would make downloads and uploads contend, 10 MB each way over 10 Mb/s in 16 s instead
of 8 s). Links carry wire bytes per second (Mb/s x 1e6 / 8); only access links have a latency.

Network model, chosen rather than accepted (SimGrid's default LV08 was fitted to other networks):
- network/latency-factor:1 (LV08: 13.01) and network/bandwidth-factor:1 (LV08: 0.97). LV08's
  factors stand for slow start and header overhead; here the protocol's round trips and slow start
  are modelled explicitly by simulator/phases.py and headers by the wire-byte sizes, exactly as the
  fidelity report (orchestrator/fidelity.py) predicts each phase, so the factors would count them twice.
- network/crosstraffic:0: LV08 adds 5 % of each flow as ACK traffic on the reverse direction; the
  fidelity model's rates already net the headers, and ACKs are not what bounds these links.
- network/TCP-gamma:1e12: no binding window cap (LV08: 4 MiB / (2 x latency)); Linux autotunes its
  windows well past that, and the fidelity model has no cap. Not 0, which also means "no cap": with 0,
  SimGrid 3.32 drops a communication's rate cap (Comm.set_rate) once its latency has passed, and loss
  is modelled with that cap (tests/unit/test_simulator_engine.py's lone lossy flow caught it).
- network/weight-S kept at LV08's 20537 bytes: flows sharing a bottleneck get rates in proportion to
  1 / (route latency + sum of S / link bandwidth) -- TCP's bias to the short round trip, softened by
  the queueing delay every flow of a bottleneck shares. Measured with these settings: 5 MB of payload
  each (5.23 MB on the wire) over a shared 10 Mb/s link from paths of 6 ms and 101 ms finish at 4.98 s
  and 8.37 s, exactly what those weights give (weight-S 0, pure 1 / RTT weighting: 4.43 s and 8.37 s);
  equal round trips share equally.
- network/optim:Full (LV08: Lazy): the same shares and times (an epoch of 1 000 and of 5 000 nodes
  ends at the same simulated second either way), at less cost here, where every epoch starts and
  ends thousands of flows together: one mid-run epoch of 5 000 nodes took 23.7 s of CPU against
  43.1 s, 1 000 nodes x 10 epochs 7.0 s against 7.5 s (experiments/bench_simulate.py's plans).
These are not fitted: the calibration against recorded Mininet runs (issue 28, validate_simulation)
is still to be done, and may change them; change them here only, with the run names they were fitted on.

Time resolution (surf/precision, seconds): SimGrid ends a flow's latency phase, or a sleep (a compute
window, a protocol wait), once less than this is left of it, so events closer than this are handled
in one step and one solve of the sharing. Up to 1 000 nodes it is SimGrid 3.32's default, 1e-9 s (set
explicitly it gives the same results to the last bit as leaving it unset: a 300-node run, 1 800 values): every
run validated against Mininet and every scale-grid row (12-1 000 nodes) is simulated at it. Above,
1 ms: each of the 4 flow events a node-epoch costs a solve over every flow on the server's link, and
at 10 000 nodes most latency ends fall within 1 ms of another, so batching them cut a mid-run epoch
from 134 to 90 CPU s (side by side, 2026-12-06) while its time moved by 8e-8 and no node's finish by
more than 11 ms of 298 s (3 000 nodes: 6.4 -> 5.0 CPU s, 1e-6, 7 ms; 1 000 x 3 epochs: 2.5 -> 2.0,
1e-6, 3 ms). 1 ms is below what the emulation resolves: its delay line and its recorded phase times
carry millisecond jitter, and replays err by percents (docs/simulator.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.topology import Topology

NETWORK_CONFIG: tuple[str, ...] = (
    "network/latency-factor:1",
    "network/bandwidth-factor:1",
    "network/crosstraffic:0",
    "network/TCP-gamma:1e12",
    "network/optim:Full",
)
HOST_SPEED = 1e9  # flop/s; irrelevant: compute windows are waits, not executions
FINE_RESOLUTION_S = 1e-9  # SimGrid 3.32's own surf/precision (not maxmin/precision's 1e-5)
COARSE_RESOLUTION_S = 1e-3
FINE_UP_TO_NODES = 1000  # the largest validated and gridded size keeps SimGrid's default (module doc)


def time_resolution_s(n_nodes: int) -> float:
    """SimGrid's surf/precision for a platform of n nodes (module doc: why 1 ms above 1 000 nodes)."""
    return FINE_RESOLUTION_S if n_nodes <= FINE_UP_TO_NODES else COARSE_RESOLUTION_S


def engine_config(resolution_s: float) -> tuple[str, ...]:
    """Every --cfg setting of a simulation's Engine: the network model and the time resolution."""
    if not resolution_s > 0:
        raise ValueError(f"time resolution must be > 0 s (got {resolution_s})")
    return (*NETWORK_CONFIG, f"surf/precision:{resolution_s:g}")


def engine_args(resolution_s: float) -> list[str]:
    """The argv of the one Engine of a simulation process: its settings and quiet logs."""
    return ["edgeft-simulate", *(f"--cfg={c}" for c in engine_config(resolution_s)), "--log=root.thres:critical"]


def bytes_per_s(mbps: float) -> float:
    return mbps * 1e6 / 8


def set_access(link: Any, figures: Any) -> None:
    """A scenario's change of an access link (rate both ways, delay), as Mininet's set_shape makes it."""
    link.set_bandwidth(bytes_per_s(figures.bandwidth_mbps))
    link.set_latency(figures.delay_ms / 1000)


@dataclass
class Platform:
    """The built platform: the server host and every node's host, by node id."""

    server: Any  # simgrid.Host
    hosts: dict[str, Any]
    access: dict[str, Any]  # node id -> its access link (a scenario changes it mid-run)


def build(topology: Topology) -> Platform:
    """Create the platform in the current process's Engine (create the Engine first)."""
    import simgrid as sg

    root = sg.NetZone.create_star_zone("world")
    server_zone = sg.NetZone.create_star_zone("server-zone")
    server_zone.set_parent(root)
    server = server_zone.create_host("server", HOST_SPEED)
    server_zone.seal()
    _attach(root, server_zone, server.netpoint, "server-core", topology.server_link_mbps, 0.0)
    hosts: dict[str, Any] = {}
    access: dict[str, Any] = {}
    by_agg: dict[int, list] = {}
    for gw in topology.gateways:
        by_agg.setdefault(gw.aggregation, []).append(gw)
    for index, agg_name in enumerate(topology.aggregations):
        agg_zone = sg.NetZone.create_star_zone(f"zone-{agg_name}")
        agg_zone.set_parent(root)
        agg_router = _door(agg_zone, f"router-{agg_name}")
        for gw in by_agg.get(index, []):
            _gateway_zone(agg_zone, gw, topology, hosts, access)
        agg_zone.seal()
        _attach(root, agg_zone, agg_router, f"{agg_name}-core", topology.core_link_mbps, 0.0)
    root.seal()
    return Platform(server, hosts, access)


def _gateway_zone(parent: Any, gw: Any, topology: Topology, hosts: dict[str, Any], access: dict[str, Any]) -> None:
    """A gateway's star: its router, then each node's host behind its access link."""
    import simgrid as sg

    zone = sg.NetZone.create_star_zone(f"zone-{gw.name}")
    zone.set_parent(parent)
    router = zone.create_router(f"router-{gw.name}")
    for node_id in gw.nodes:
        drawn = topology.node(node_id)
        host = zone.create_host(node_id, HOST_SPEED)
        link = zone.create_split_duplex_link(f"access-{node_id}", bytes_per_s(drawn.rate_mbps))
        link.set_latency(drawn.delay_ms / 1000).seal()
        zone.add_route(host.netpoint, None, None, None, [sg.LinkInRoute(link, sg.LinkInRoute.Direction.UP)], True)
        hosts[node_id], access[node_id] = host, link
    zone.seal()
    _attach(parent, zone, router, f"{gw.name}-uplink", gw.uplink_mbps, 0.0)


def _door(zone: Any, name: str) -> Any:
    """A router for a zone that holds zones: SimGrid 3.32 routes between zones only, so a router
    beside child zones is unreachable; it lives in a child zone of its own, behind no link."""
    import simgrid as sg

    door_zone = sg.NetZone.create_star_zone(f"door-{name}")
    door_zone.set_parent(zone)
    router = door_zone.create_router(name)
    door_zone.seal()
    zone.add_route(door_zone.netpoint, None, router, None, [], True)
    return router


def _attach(parent: Any, zone: Any, gateway: Any, name: str, mbps: float, latency_s: float) -> None:
    """Hang `zone` in its parent star behind a split-duplex link, `gateway` its door."""
    import simgrid as sg

    link = parent.create_split_duplex_link(name, bytes_per_s(mbps))
    link.set_latency(latency_s).seal()
    parent.add_route(zone.netpoint, None, gateway, None, [sg.LinkInRoute(link, sg.LinkInRoute.Direction.UP)], True)
