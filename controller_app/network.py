"""The network the controller's apps share: one object the manager makes and hands to
every app that names it in its `_CONTEXTS` (Ryu's way of sharing state between apps, as
its dpset). It holds what the apps learn (switches, their ports, the link graph, the
hosts, the measurements) and programs the forwarding that follows from it: one flow per
host per switch, and the flows that count the run's own traffic with each node.

Apps call it from their own event loops and threads; the manager runs them all as green
threads of one OS thread, so no call is interrupted except where it sends a message."""

from __future__ import annotations

import logging
import time
from typing import Callable

from controller_app import config
from controller_app.config import ControllerSettings
from controller_app.netgraph import HostLocation, NetGraph
from controller_app.openflow import COOKIE_OWN, PRIO_HOST, PRIO_OWN, add_flow, own_traffic_matches, packet_out
from controller_app.path_monitor import MonitorSettings, PathMonitor

log = logging.getLogger("edgeft.controller")


class EdgeNetwork:
    """The controller's view of the network and the forwarding it programs. `settings`:
    the app's settings (default: from the environment, as under the manager)."""

    def __init__(self, settings: ControllerSettings | None = None) -> None:
        if settings is None:
            try:
                settings = config.from_env()
            except ValueError as exc:  # one line naming the variable, not a traceback from the manager
                raise SystemExit(f"edgeft controller app: {exc}") from None
        self.settings = settings
        self.graph = NetGraph()
        self.monitor = PathMonitor(
            MonitorSettings(loss_window=settings.loss_window, probe_timeout_s=settings.probe_timeout_s)
        )
        self.datapaths: dict[int, object] = {}
        self.ports: dict[int, list[int]] = {}
        self.measure_from: str | None = settings.measure_from or None  # where probes and trains start
        self.own_port: int | None = settings.own_port  # the orchestrator's service port: its traffic is the run's own
        self.started_at = time.time()
        # The probing app's handler of replies to the probe address (packet-in message, when it
        # arrived): the forwarding app, the one app that takes packet-ins, hands them over.
        self.probe_replies: Callable[[object, float], None] | None = None

    def orchestrator(self) -> HostLocation | None:
        """The measuring host, once it is known (learnt on an edge port)."""
        return self.graph.hosts.get(self.measure_from or "")

    def set_measuring_point(self, src_ip: str, own_port: int | None) -> None:
        """Probes and trains start from `src_ip` now; `own_port`'s traffic is the run's own."""
        if (src_ip, own_port) != (self.measure_from, self.own_port):
            log.info("measuring from %s (own port %s)", src_ip, own_port)
            self.measure_from, self.own_port = src_ip, own_port
            self.install_all_host_flows()

    # -- forwarding -------------------------------------------------------------------------
    def install_host_flows(self, host: HostLocation) -> None:
        """On every switch: packets for the host's MAC go to the next hop towards it."""
        for dpid, datapath in list(self.datapaths.items()):  # a copy: sending can yield to a joining switch
            port = host.port if dpid == host.dpid else self.graph.next_port(dpid, host.dpid)
            if port is None:
                continue
            parser = datapath.ofproto_parser
            add_flow(datapath, PRIO_HOST, parser.OFPMatch(eth_dst=host.mac), [parser.OFPActionOutput(port)])

    def install_all_host_flows(self) -> None:
        """Every host's flows, and the own-traffic flows of every node once the measuring
        host and its service port are known."""
        for host in list(self.graph.macs.values()):
            self.install_host_flows(host)
        orchestrator = self.orchestrator()
        if orchestrator is not None and self.own_port is not None:
            for host in list(self.graph.hosts.values()):
                if host.ip != orchestrator.ip:
                    self.install_own_flows(host, orchestrator)

    def install_own_flows(self, host: HostLocation, orchestrator: HostLocation) -> None:
        """At the node's gateway: the orchestrator's connections with the node (its service
        port) take flows of their own, forwarding as the host flows do, whose byte counts
        say how much of the access link's load is the run's own."""
        datapath = self.datapaths.get(host.dpid)
        if datapath is None or self.own_port is None:
            return
        if host.dpid == orchestrator.dpid:
            towards_orchestrator = orchestrator.port
        else:
            towards_orchestrator = self.graph.next_port(host.dpid, orchestrator.dpid)
            if towards_orchestrator is None:
                return
        parser = datapath.ofproto_parser
        down, up = own_traffic_matches(parser, host.ip, orchestrator.ip, self.own_port)
        add_flow(datapath, PRIO_OWN, down, [parser.OFPActionOutput(host.port)], cookie=COOKIE_OWN)
        add_flow(datapath, PRIO_OWN, up, [parser.OFPActionOutput(towards_orchestrator)], cookie=COOKIE_OWN)

    def heal_own_flows(self, dpid: int, seen: set[str]) -> None:
        """Install the own-traffic flows of the nodes on switch `dpid` that it does not hold
        (skipped while the node's path to the orchestrator was unknown, or removed since)."""
        orchestrator = self.orchestrator()
        if orchestrator is None:
            return
        for host in list(self.graph.hosts.values()):
            if host.dpid == dpid and host.ip != orchestrator.ip and host.ip not in seen:
                self.install_own_flows(host, orchestrator)

    # -- delivering one packet --------------------------------------------------------------
    def send_to_host(self, host: HostLocation, data: bytes) -> None:
        """Deliver one packet straight out of the host's own port."""
        datapath = self.datapaths.get(host.dpid)
        if datapath is not None:
            packet_out(datapath, host.port, data)

    def broadcast_to_edge_ports(self, data: bytes, exclude: tuple[int, int]) -> None:
        """Deliver one packet out of every edge port (never a switch link: no loops) but `exclude`."""
        # Copies: sending can yield to the greenthread that registers a switch joining right now.
        for dpid, datapath in list(self.datapaths.items()):
            for port in list(self.ports.get(dpid, [])):
                if (dpid, port) != exclude and not self.graph.is_switch_port(dpid, port):
                    packet_out(datapath, port, data)
