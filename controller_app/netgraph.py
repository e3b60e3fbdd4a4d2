"""The network as the controller knows it: switches, links, hosts (networkx)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import networkx as nx


@dataclass(frozen=True)
class HostLocation:
    """Where a learnt host sits: its switch (dpid) and that switch's port facing it."""

    ip: str
    mac: str
    dpid: int
    port: int


@dataclass(frozen=True)
class SwitchLink:
    """A link between two switch ports, as LLDP discovery reports it."""

    src_dpid: int
    src_port: int
    dst_dpid: int
    dst_port: int


class NetGraph:
    """Switches and the links between them (a graph), and the hosts learnt on edge ports."""

    def __init__(self) -> None:
        self.switch_graph = nx.Graph()  # edge attrs: ports {dpid: port}
        self.hosts: dict[str, HostLocation] = {}  # by ip
        self.macs: dict[str, HostLocation] = {}

    def add_switch(self, dpid: int) -> None:
        self.switch_graph.add_node(dpid)

    def remove_switch(self, dpid: int) -> None:
        if dpid in self.switch_graph:
            self.switch_graph.remove_node(dpid)

    def add_link(self, link: SwitchLink) -> None:
        self.switch_graph.add_edge(
            link.src_dpid, link.dst_dpid, ports={link.src_dpid: link.src_port, link.dst_dpid: link.dst_port}
        )

    def replace_links(self, links: Iterable[SwitchLink]) -> None:
        """The links are exactly `links` now (LLDP's whole current view); switches stay."""
        self.switch_graph.remove_edges_from(list(self.switch_graph.edges))
        for link in links:
            self.add_link(link)

    def links(self) -> list[SwitchLink]:
        """Every link, once, in the graph's order."""
        return [
            SwitchLink(src, ports[src], dst, ports[dst])
            for src, dst, ports in self.switch_graph.edges(data="ports")  # type: ignore[misc]
        ]

    def is_switch_port(self, dpid: int, port: int) -> bool:
        return any(ports.get(dpid) == port for _, _, ports in self.switch_graph.edges(dpid, data="ports"))

    def learn_host(self, ip: str | None, mac: str, dpid: int, port: int) -> bool:
        """Remember where a host sits; ports that face other switches never hold hosts."""
        if self.is_switch_port(dpid, port):
            return False
        location = HostLocation(ip or "", mac, dpid, port)
        self.macs[mac] = location
        if ip:
            self.hosts[ip] = location
        return True

    def forget_misplaced_hosts(self) -> list[str]:
        """Forget the hosts learnt on what is now known to be a switch port (a flooded packet
        left over a link LLDP had not found yet); returns their IPs (those known)."""
        lost = []
        for mac, location in list(self.macs.items()):
            if self.is_switch_port(location.dpid, location.port):
                del self.macs[mac]
                self.hosts.pop(location.ip, None)
                lost.append(location.ip)
        return [ip for ip in lost if ip]

    def path(self, src_dpid: int, dst_dpid: int) -> list[int] | None:
        try:
            return nx.shortest_path(self.switch_graph, src_dpid, dst_dpid)
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None

    def out_port(self, dpid: int, next_dpid: int) -> int:
        return self.switch_graph.edges[dpid, next_dpid]["ports"][dpid]

    def next_port(self, dpid: int, dst_dpid: int) -> int | None:
        """The port of switch `dpid` on the shortest path towards switch `dst_dpid` (None: no
        path, or the same switch)."""
        path = self.path(dpid, dst_dpid)
        if path is None or len(path) < 2:
            return None
        return self.out_port(dpid, path[1])

    def hops(self, src: HostLocation, dst: HostLocation) -> list[tuple[int, int, int]] | None:
        """(dpid, in_port, out_port) per switch from src to dst, or None."""
        switches = self.path(src.dpid, dst.dpid)
        if switches is None:
            return None
        out, in_port = [], src.port
        for index, dpid in enumerate(switches):
            last = index == len(switches) - 1
            port = dst.port if last else self.out_port(dpid, switches[index + 1])
            out.append((dpid, in_port, port))
            if not last:
                in_port = self.out_port(switches[index + 1], dpid)
        return out

    def path_links(self, src: HostLocation, dst: HostLocation) -> list[tuple[int, int]] | None:
        """(dpid, port) of every link on the path: the source's access port, each hop's out port."""
        hops = self.hops(src, dst)
        if hops is None:
            return None
        return [(src.dpid, src.port)] + [(dpid, out_port) for dpid, _, out_port in hops]
