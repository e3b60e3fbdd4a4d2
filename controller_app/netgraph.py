"""The network as the controller knows it: switches, links, hosts (networkx)."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx


@dataclass(frozen=True)
class HostLocation:
    ip: str
    mac: str
    dpid: int
    port: int


class NetGraph:
    def __init__(self) -> None:
        self.g = nx.Graph()  # switch graph; edge attrs: ports {dpid: port}
        self.hosts: dict[str, HostLocation] = {}  # by ip
        self.macs: dict[str, HostLocation] = {}

    def add_switch(self, dpid: int) -> None:
        self.g.add_node(dpid)

    def remove_switch(self, dpid: int) -> None:
        if dpid in self.g:
            self.g.remove_node(dpid)

    def add_link(self, a: int, a_port: int, b: int, b_port: int) -> None:
        self.g.add_edge(a, b, ports={a: a_port, b: b_port})

    def remove_link(self, a: int, b: int) -> None:
        if self.g.has_edge(a, b):
            self.g.remove_edge(a, b)

    def is_switch_port(self, dpid: int, port: int) -> bool:
        return any(d["ports"].get(dpid) == port for _, _, d in self.g.edges(dpid, data=True))

    def learn_host(self, ip: str | None, mac: str, dpid: int, port: int) -> bool:
        """Remember where a host sits; ports that face other switches never hold hosts."""
        if self.is_switch_port(dpid, port):
            return False
        loc = HostLocation(ip or "", mac, dpid, port)
        self.macs[mac] = loc
        if ip:
            self.hosts[ip] = loc
        return True

    def path(self, src_dpid: int, dst_dpid: int) -> list[int] | None:
        try:
            return nx.shortest_path(self.g, src_dpid, dst_dpid)
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None

    def out_port(self, dpid: int, next_dpid: int) -> int:
        return self.g.edges[dpid, next_dpid]["ports"][dpid]

    def hops(self, src: HostLocation, dst: HostLocation) -> list[tuple[int, int, int]] | None:
        """(dpid, in_port, out_port) per switch from src to dst, or None."""
        sw = self.path(src.dpid, dst.dpid)
        if sw is None:
            return None
        out, in_port = [], src.port
        for i, dpid in enumerate(sw):
            port = dst.port if i == len(sw) - 1 else self.out_port(dpid, sw[i + 1])
            out.append((dpid, in_port, port))
            if i < len(sw) - 1:
                in_port = self.out_port(sw[i + 1], dpid)
        return out

    def flood_ports(self, dpid: int, all_ports: list[int]) -> list[int]:
        """Ports to flood on: host-facing ports plus spanning-tree links (no storms on loops)."""
        tree = nx.minimum_spanning_tree(self.g) if self.g.number_of_nodes() else self.g
        tree_ports = {d["ports"][dpid] for _, _, d in tree.edges(dpid, data=True)} if dpid in tree else set()
        return [p for p in all_ports if not self.is_switch_port(dpid, p) or p in tree_ports]
