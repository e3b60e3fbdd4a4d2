"""edgeft's SDN app (OpenFlow 1.3): forwarding, topology, probes, per-path
stats and the northbound REST API, served from inside the controller process.

    osken-manager --ofp-tcp-listen-port 6653 controller_app/edge_monitor.py
    ryu-manager   --ofp-tcp-listen-port 6653 controller_app/edge_monitor.py
    edgeft controller --ofp-port 6653 --rest-port 8080          (wrapper, same app)

Settings: one validated object, controller_app/config.py (ControllerSettings).
The wrapper passes it as EDGEFT_CONTROLLER (JSON); by hand, the single variables
EDGEFT_REST_HOST (127.0.0.1), EDGEFT_REST_PORT (8080), EDGEFT_POLL_S (1.0),
EDGEFT_PROBE_HZ (2.0), EDGEFT_LOSS_WINDOW (600), EDGEFT_PROBE_TIMEOUT_S (2.0; x k in
a dilated run), EDGEFT_TRAIN_INTERVAL_S (10; 0 = no trains), EDGEFT_TOKEN_FILE
(.edgeft/controller-<rest port>.token: the write token, generated there with mode 0600
if the file holds none; EDGEFT_TOKEN gives one instead), EDGEFT_OFP_LISTEN_HOST
(127.0.0.1), EDGEFT_MEASURE_FROM and EDGEFT_OWN_PORT (where the probes start; else
PUT /v1/measure names it).

Measurements (controller_app/path_monitor.py): delay and loss from one small ICMP
probe per node at EDGEFT_PROBE_HZ; capacity from a train of full-size probes per
node every EDGEFT_TRAIN_INTERVAL_S (controller_app/capacity.py); load from port
stats, minus the run's own traffic with each node, which flows at the node's
gateway count (installed once the measuring host and its service port are named:
--measure-from/--own-port or PUT /v1/measure; GET /v1/paths changes nothing).

Forwarding: hosts are learnt from ARP/IPv4 packet-ins on edge ports (never on
ports that LLDP found facing another switch); for each host every switch gets
one flow eth_dst=host -> next hop on the shortest path. ARP requests are
answered by the controller when it knows the target (proxy ARP) and otherwise
sent out of every edge port by packet-out, so redundant links never loop.

Restarts: a switch that connects gets this app's old flows (by cookie) deleted,
so the flows of a previous instance cannot carry traffic past a controller that
has not learnt the hosts yet. Until LLDP has found every link, a packet-out on
an edge port can leave over a not-yet-known switch link and make a host look
as if it sat there; once the link is known such a host is forgotten and asked
for again (ARP from the probe address), and its reply, which the host's own
switch hands to the controller, teaches its true place.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # loaded by file path by osken-manager/ryu-manager
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller_app.compat import (  # noqa: E402
    CONFIG_DISPATCHER,
    DEAD_DISPATCHER,
    FRAMEWORK,
    MAIN_DISPATCHER,
    App,
    arp,
    ether_types,
    ethernet,
    get_all_link,
    hub,
    icmp,
    ipv4,
    ofp_event,
    ofproto_v1_3,
    packet,
    set_ev_cls,
    topo_event,
)
from controller_app.capacity import TRAIN_PACKETS, next_train_target  # noqa: E402
from controller_app.netgraph import HostLocation, NetGraph, SwitchLink  # noqa: E402
from controller_app.northbound import NorthboundApp  # noqa: E402
from controller_app.path_monitor import MonitorSettings, PathMonitor  # noqa: E402
from controller_app import config, tokens  # noqa: E402

log = logging.getLogger("edgeft.controller")
if os.environ.get("EDGEFT_DEBUG"):
    log.setLevel(logging.DEBUG)
PROBE_IP = "10.255.255.254"
PROBE_MAC = "02:ed:9e:f7:00:01"
PROBE_ICMP_ID = 0xED9E
TRAIN_ICMP_ID = 0xED9F
PRIO_PROBE, PRIO_ARP, PRIO_OWN, PRIO_HOST, PRIO_MISS = 200, 100, 20, 10, 0
COOKIE = 0xED9EF7  # marks this app's flows, so that a restarted instance removes exactly those
COOKIE_OWN = COOKIE | (1 << 32)  # the counting flows for the run's own traffic (same low 32 bits)
COOKIE_LOW = 0xFFFFFFFF
BROADCAST = "ff:ff:ff:ff:ff:ff"


def _configure_manager() -> None:
    """Set the manager's options this app depends on before its OpenFlow listener starts
    (apps are imported first): LLDP discovery, as --observe-links would, and the OpenFlow
    listen address from the settings (loopback by default; the manager's own
    --ofp-listen-host, where given, wins)."""
    try:
        from os_ken import cfg
        from os_ken.controller import controller  # noqa: F401  (registers ofp_listen_host)
        from os_ken.topology import switches  # noqa: F401  (registers the option)
    except ImportError:  # pragma: no cover
        from ryu import cfg
        from ryu.controller import controller  # noqa: F401
        from ryu.topology import switches  # noqa: F401
    cfg.CONF.set_override("observe_links", True)
    if not any(a.startswith("--ofp-listen-host") for a in sys.argv):
        try:
            cfg.CONF.set_override("ofp_listen_host", config.from_env().ofp_listen_host)
        except ValueError:
            pass  # a bad setting: EdgeMonitor.__init__ names it and stops the manager


_configure_manager()


def _set_niceness(nice: int) -> None:
    """Run ahead of the machine's other work (settings.nice): a packet-in stamped only when
    a busy CPU gets round to the app makes a capacity train unreadable (capacity.py)."""
    if nice == 0:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    except PermissionError:
        log.warning("cannot set niceness %d (not root): capacity trains may be refused on a busy host", nice)


class EdgeMonitor(App):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        try:
            cfg = config.from_env()
        except ValueError as exc:  # one line naming the variable, not a traceback from the manager
            raise SystemExit(f"edgeft controller app: {exc}") from None
        self.rest_host, self.rest_port, self.poll_s, self.probe_hz = (
            cfg.rest_host,
            cfg.rest_port,
            cfg.poll_s,
            cfg.probe_hz,
        )
        self.train_interval_s = cfg.train_interval_s
        self.settings = cfg
        _set_niceness(cfg.nice)
        try:
            token, origin = tokens.resolve_token(cfg.token, cfg.token_path())
        except OSError as exc:
            raise SystemExit(f"edgeft controller app: token file {cfg.token_path()}: {exc}") from None
        log.info("write routes need the bearer token %s", origin)  # where it is, never the token
        self.graph = NetGraph()
        self.monitor = PathMonitor(MonitorSettings(loss_window=cfg.loss_window, probe_timeout_s=cfg.probe_timeout_s))
        self.datapaths: dict[int, object] = {}
        self.ports: dict[int, list[int]] = {}
        self.echo_sent: dict[int, float] = {}
        self.seq = 0
        self.probe_route: dict[int, tuple[str, int, int]] = {}  # seq -> (ip, out dpid, back dpid)
        self.orchestrator_ip: str | None = cfg.measure_from or None  # where probes and trains start
        self.own_port: int | None = cfg.own_port  # the orchestrator's service port: its traffic is the run's own
        self.train_no = 0
        self.train_sent_at: dict[str, float] = {}  # node ip -> when its last capacity train left
        self.own_seen: dict[int, set[str]] = {}  # per switch: nodes whose own-traffic flows its flow stats showed
        self.started_at = time.time()
        self.threads = [hub.spawn(self._poll_loop), hub.spawn(self._probe_loop), hub.spawn(self._serve, token)]
        if self.train_interval_s > 0:
            self.threads.append(hub.spawn(self._train_loop))

    # -- REST ---------------------------------------------------------------------------
    def _serve(self, token: str) -> None:
        server = hub.WSGIServer((self.rest_host, self.rest_port), NorthboundApp(self, token))
        log.info("northbound REST on http://%s:%d (%s)", self.rest_host, self.rest_port, FRAMEWORK)
        server.serve_forever()

    # -- NetworkView for the northbound API ---------------------------------------------------
    def health(self) -> dict:
        return {
            "ok": True,
            "framework": FRAMEWORK,
            "switches": len(self.datapaths),
            "hosts": len(self.graph.hosts),
            "uptime_s": round(time.time() - self.started_at, 1),
            "poll_s": self.poll_s,
            "probe_hz": self.probe_hz,
            "train_interval_s": self.train_interval_s,
            "loss_window": self.monitor.settings.loss_window,
            "measure_from": self.orchestrator_ip or "",
            "own_port": self.own_port,
            "settings": self.settings.model_dump(exclude={"token"}),  # for a run's record; never the token
        }

    def topology(self) -> dict:
        links = [
            {"src": link.src_dpid, "src_port": link.src_port, "dst": link.dst_dpid, "dst_port": link.dst_port}
            for link in self.graph.links()
        ]
        hosts = [{"ip": h.ip, "mac": h.mac, "dpid": h.dpid, "port": h.port} for h in self.graph.hosts.values()]
        return {"switches": sorted(self.datapaths), "links": links, "hosts": hosts}

    def known_host(self, ip: str) -> bool:
        return ip in self.graph.hosts

    def measuring_point(self) -> tuple[str, int | None]:
        return self.orchestrator_ip or "", self.own_port

    def set_measuring_point(self, src_ip: str, own_port: int | None) -> None:
        """Probes and trains start from `src_ip` now; `own_port`'s traffic is the run's own."""
        if (src_ip, own_port) != (self.orchestrator_ip, self.own_port):
            log.info("measuring from %s (own port %s)", src_ip, own_port)
            self.orchestrator_ip, self.own_port = src_ip, own_port
            self._install_all_host_flows()

    def paths_from(self, src_ip: str) -> list[dict]:
        """The figures of every path from `src_ip` (a known host); changes nothing."""
        src = self.graph.hosts[src_ip]
        out = []
        for ip, dst in sorted(self.graph.hosts.items()):
            if ip == src_ip:
                continue
            links = self._path_links(src, dst)
            if links is not None:
                out.append(self.monitor.path_figures(ip, links))
        return out

    def set_capacity(self, dpid: int, port: int, mbps: float) -> None:
        self.monitor.capacity[(dpid, port)] = mbps

    def has_port(self, dpid: int, port: int) -> bool:
        return port in self.ports.get(dpid, [])

    def reset_estimates(self) -> None:
        log.info("per-node estimates reset (a new experiment starts)")
        self.monitor.reset_estimates()

    def _path_links(self, src: HostLocation, dst: HostLocation) -> list[tuple[int, int]] | None:
        """(dpid, port) of every link on the path: the source's access port, each hop's out port."""
        hops = self.graph.hops(src, dst)
        if hops is None:
            return None
        return [(src.dpid, src.port)] + [(dpid, out_port) for dpid, _, out_port in hops]

    # -- switches ---------------------------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def _features(self, ev) -> None:
        dp = ev.msg.datapath
        ofp, parser = dp.ofproto, dp.ofproto_parser
        dp.send_msg(
            parser.OFPFlowMod(
                datapath=dp,
                command=ofp.OFPFC_DELETE,
                table_id=ofp.OFPTT_ALL,
                out_port=ofp.OFPP_ANY,
                out_group=ofp.OFPG_ANY,
                cookie=COOKIE,
                cookie_mask=COOKIE_LOW,
                match=parser.OFPMatch(),
            )
        )
        self._flow(
            dp, PRIO_MISS, parser.OFPMatch(), [parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)]
        )
        to_controller = [parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)]
        self._flow(dp, PRIO_PROBE, parser.OFPMatch(eth_type=ether_types.ETH_TYPE_IP, ipv4_dst=PROBE_IP), to_controller)
        # Every ARP packet comes to the controller, so every host is learnt and ARP never floods.
        self._flow(dp, PRIO_ARP, parser.OFPMatch(eth_type=ether_types.ETH_TYPE_ARP), to_controller)

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _state(self, ev) -> None:
        dp = ev.datapath
        if ev.state == MAIN_DISPATCHER:
            self.datapaths[dp.id] = dp
            self.graph.add_switch(dp.id)
            dp.send_msg(dp.ofproto_parser.OFPPortDescStatsRequest(dp, 0))
        elif dp.id in self.datapaths:
            del self.datapaths[dp.id]
            self.graph.remove_switch(dp.id)

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, MAIN_DISPATCHER)
    def _port_desc(self, ev) -> None:
        dp = ev.msg.datapath
        ports = [p.port_no for p in ev.msg.body if p.port_no < dp.ofproto.OFPP_MAX]
        self.ports[dp.id] = ports
        for p in ev.msg.body:
            if p.port_no < dp.ofproto.OFPP_MAX and p.curr_speed:
                self.monitor.port_speed[(dp.id, p.port_no)] = p.curr_speed / 1000.0  # kb/s -> Mb/s

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev) -> None:
        ev.msg.datapath.send_msg(ev.msg.datapath.ofproto_parser.OFPPortDescStatsRequest(ev.msg.datapath, 0))

    @set_ev_cls([topo_event.EventLinkAdd, topo_event.EventLinkDelete])
    def _links_changed(self, ev) -> None:
        self.graph.replace_links(
            SwitchLink(link.src.dpid, link.src.port_no, link.dst.dpid, link.dst.port_no) for link in get_all_link(self)
        )
        lost = self.graph.forget_misplaced_hosts()  # hosts wrongly learnt on what is now a switch port
        self._install_all_host_flows()
        for ip in lost:
            self._ask_for(ip)

    def _ask_for(self, ip: str) -> None:
        """ARP for a host from the probe address: its reply tells where it really sits."""
        log.info("host %s was learnt on a switch link; asking for it again", ip)
        p = packet.Packet()
        p.add_protocol(ethernet.ethernet(dst=BROADCAST, src=PROBE_MAC, ethertype=ether_types.ETH_TYPE_ARP))
        p.add_protocol(
            arp.arp(opcode=arp.ARP_REQUEST, src_mac=PROBE_MAC, src_ip=PROBE_IP, dst_mac="00:00:00:00:00:00", dst_ip=ip)
        )
        p.serialize()
        self._broadcast_to_edge_ports(p.data, exclude=(-1, -1))

    def _flow(self, dp, priority: int, match, actions, cookie: int = COOKIE) -> None:
        parser = dp.ofproto_parser
        inst = [parser.OFPInstructionActions(dp.ofproto.OFPIT_APPLY_ACTIONS, actions)]
        dp.send_msg(parser.OFPFlowMod(datapath=dp, priority=priority, match=match, instructions=inst, cookie=cookie))

    # -- forwarding -------------------------------------------------------------------------
    def _install_host_flows(self, host: HostLocation) -> None:
        for dpid, dp in self.datapaths.items():
            if dpid == host.dpid:
                port = host.port
            else:
                path = self.graph.path(dpid, host.dpid)
                if path is None or len(path) < 2:
                    continue
                port = self.graph.out_port(dpid, path[1])
            parser = dp.ofproto_parser
            self._flow(dp, PRIO_HOST, parser.OFPMatch(eth_dst=host.mac), [parser.OFPActionOutput(port)])

    def _install_all_host_flows(self) -> None:
        for host in list(self.graph.macs.values()):
            self._install_host_flows(host)
        orch = self.graph.hosts.get(self.orchestrator_ip or "")
        if orch is not None and self.own_port is not None:
            for host in list(self.graph.hosts.values()):
                if host.ip != orch.ip:
                    self._install_own_flows(host, orch)

    def _install_own_flows(self, host: HostLocation, orch: HostLocation) -> None:
        """At the node's gateway: the orchestrator's connections with the node (its service
        port) take flows of their own, forwarding as the host flows do, whose byte counts
        say how much of the access link's load is the run's own."""
        dp = self.datapaths.get(host.dpid)
        if dp is None:
            return
        if host.dpid == orch.dpid:
            towards_orch = orch.port
        else:
            path = self.graph.path(host.dpid, orch.dpid)
            if path is None or len(path) < 2:
                return
            towards_orch = self.graph.out_port(host.dpid, path[1])
        parser, tcp = dp.ofproto_parser, 6
        down = parser.OFPMatch(
            eth_type=ether_types.ETH_TYPE_IP, ip_proto=tcp, ipv4_src=orch.ip, ipv4_dst=host.ip, tcp_src=self.own_port
        )
        up = parser.OFPMatch(
            eth_type=ether_types.ETH_TYPE_IP, ip_proto=tcp, ipv4_src=host.ip, ipv4_dst=orch.ip, tcp_dst=self.own_port
        )
        self._flow(dp, PRIO_OWN, down, [parser.OFPActionOutput(host.port)], cookie=COOKIE_OWN)
        self._flow(dp, PRIO_OWN, up, [parser.OFPActionOutput(towards_orch)], cookie=COOKIE_OWN)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev) -> None:
        msg, at = ev.msg, time.time()
        dp, in_port = msg.datapath, msg.match["in_port"]
        pkt = packet.Packet(msg.data)
        eth = pkt.get_protocol(ethernet.ethernet)
        if eth is None or eth.ethertype == ether_types.ETH_TYPE_LLDP:
            return
        ip4, arp_pkt = pkt.get_protocol(ipv4.ipv4), pkt.get_protocol(arp.arp)
        if ip4 is not None and ip4.dst == PROBE_IP:
            self._probe_reply(pkt, ip4, dp.id, at)
            return
        src_ip = arp_pkt.src_ip if arp_pkt else (ip4.src if ip4 else None)
        if eth.src != PROBE_MAC and src_ip != PROBE_IP:
            known = self.graph.macs.get(eth.src)
            if self.graph.learn_host(src_ip, eth.src, dp.id, in_port) and (
                known is None or (known.dpid, known.port) != (dp.id, in_port)
            ):
                self._install_host_flows(self.graph.macs[eth.src])
                if self.own_port is not None:
                    # the node's own-traffic flows, or all of them if it is the orchestrator
                    self._install_all_host_flows()
        if arp_pkt is not None:
            self._handle_arp(dp, in_port, eth, arp_pkt, msg.data)
            return
        dst = self.graph.macs.get(eth.dst)
        if dst is not None:  # flows will take over; deliver this one packet directly
            self._send_to_host(dst, msg.data)
        else:  # unknown destination: deliver on edge ports only (no loops), its reply teaches us
            self._broadcast_to_edge_ports(msg.data, exclude=(dp.id, in_port))

    def _handle_arp(self, dp, in_port: int, eth, arp_pkt, data: bytes) -> None:
        if eth.src == PROBE_MAC or arp_pkt.dst_mac == PROBE_MAC:
            return  # our own request back over an unknown link, or an answer to it (already learnt from)
        if arp_pkt.opcode == arp.ARP_REQUEST:
            target_mac = (
                PROBE_MAC
                if arp_pkt.dst_ip == PROBE_IP
                else (self.graph.hosts[arp_pkt.dst_ip].mac if arp_pkt.dst_ip in self.graph.hosts else None)
            )
            if target_mac:
                self._arp_reply(dp, in_port, arp_pkt, target_mac)
                return
            self._broadcast_to_edge_ports(data, exclude=(dp.id, in_port))
        elif arp_pkt.dst_mac in self.graph.macs:
            self._send_to_host(self.graph.macs[arp_pkt.dst_mac], data)
        else:
            self._broadcast_to_edge_ports(data, exclude=(dp.id, in_port))

    def _arp_reply(self, dp, port: int, req, mac: str) -> None:
        p = packet.Packet()
        p.add_protocol(ethernet.ethernet(dst=req.src_mac, src=mac, ethertype=ether_types.ETH_TYPE_ARP))
        p.add_protocol(
            arp.arp(opcode=arp.ARP_REPLY, src_mac=mac, src_ip=req.dst_ip, dst_mac=req.src_mac, dst_ip=req.src_ip)
        )
        p.serialize()
        self._packet_out(dp, port, p.data)

    def _send_to_host(self, host: HostLocation, data: bytes) -> None:
        dp = self.datapaths.get(host.dpid)
        if dp is not None:
            self._packet_out(dp, host.port, data)

    def _broadcast_to_edge_ports(self, data: bytes, exclude: tuple[int, int]) -> None:
        for dpid, dp in self.datapaths.items():
            for port in self.ports.get(dpid, []):
                if (dpid, port) != exclude and not self.graph.is_switch_port(dpid, port):
                    self._packet_out(dp, port, data)

    def _packet_out(self, dp, port: int, data: bytes) -> None:
        ofp, parser = dp.ofproto, dp.ofproto_parser
        dp.send_msg(
            parser.OFPPacketOut(
                datapath=dp,
                buffer_id=ofp.OFP_NO_BUFFER,
                in_port=ofp.OFPP_CONTROLLER,
                actions=[parser.OFPActionOutput(port)],
                data=data,
            )
        )

    # -- measurement loops ----------------------------------------------------------------------
    def _poll_loop(self) -> None:
        while True:
            for dp in list(self.datapaths.values()):
                parser = dp.ofproto_parser
                ofp = dp.ofproto
                # The echo first: queued behind the stats replies its RTT would include the switch
                # building them, which no probe waits for, and every delay figure would read low.
                self.echo_sent[dp.id] = time.time()
                dp.send_msg(parser.OFPEchoRequest(dp, data=b"edgeft"))
                dp.send_msg(parser.OFPPortStatsRequest(dp, 0, ofp.OFPP_ANY))
                if self.own_port is not None:
                    dp.send_msg(
                        parser.OFPFlowStatsRequest(
                            dp,
                            0,
                            ofp.OFPTT_ALL,
                            ofp.OFPP_ANY,
                            ofp.OFPG_ANY,
                            COOKIE_OWN,
                            0xFFFFFFFFFFFFFFFF,
                            parser.OFPMatch(),
                        )
                    )
            self.monitor.expire_probes(time.time())
            self.monitor.close_trains(time.time(), 2 * self.monitor.settings.probe_timeout_s, TRAIN_PACKETS)
            hub.sleep(self.poll_s)

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def _flow_stats(self, ev) -> None:
        at, dpid = time.time(), ev.msg.datapath.id
        seen = self.own_seen.setdefault(dpid, set())
        for stat in ev.msg.body:
            if stat.cookie != COOKIE_OWN:
                continue
            src, dst = stat.match.get("ipv4_src"), stat.match.get("ipv4_dst")
            if src == self.orchestrator_ip:
                self.monitor.own_bytes(dst, "down", stat.byte_count, at)
                seen.add(dst)
            elif dst == self.orchestrator_ip:
                self.monitor.own_bytes(src, "up", stat.byte_count, at)
        if not ev.msg.flags & ev.msg.datapath.ofproto.OFPMPF_REPLY_MORE:  # the switch's whole answer is in
            self._heal_own_flows(dpid, self.own_seen.pop(dpid))

    def _heal_own_flows(self, dpid: int, seen: set[str]) -> None:
        """Install the own-traffic flows of the nodes on switch `dpid` that it does not hold
        (skipped while the node's path to the orchestrator was unknown, or removed since)."""
        orch = self.graph.hosts.get(self.orchestrator_ip or "")
        if orch is None:
            return
        for host in list(self.graph.hosts.values()):
            if host.dpid == dpid and host.ip != orch.ip and host.ip not in seen:
                self._install_own_flows(host, orch)

    @set_ev_cls(ofp_event.EventOFPPortStatsReply, MAIN_DISPATCHER)
    def _port_stats(self, ev) -> None:
        at = time.time()
        for stat in ev.msg.body:
            self.monitor.port_stats(ev.msg.datapath.id, stat.port_no, stat.tx_bytes, stat.rx_bytes, at)

    @set_ev_cls(ofp_event.EventOFPEchoReply, MAIN_DISPATCHER)
    def _echo_reply(self, ev) -> None:
        dpid = ev.msg.datapath.id
        if ev.msg.data == b"edgeft" and dpid in self.echo_sent:
            self.monitor.echo(dpid, time.time() - self.echo_sent.pop(dpid))

    def _probe_loop(self) -> None:
        while True:
            started = time.monotonic()
            self._send_probes(1.0 / self.probe_hz)
            hub.sleep(max(1.0 / self.probe_hz - (time.monotonic() - started), 0.0))

    def _send_probes(self, period: float) -> None:
        """One probe per node, spread over the period: a burst would queue probes behind
        each other in the controller and the switch and inflate the delay figures."""
        src = self.graph.hosts.get(self.orchestrator_ip or "")
        if src is None or src.dpid not in self.datapaths:
            hub.sleep(period)
            return
        dp = self.datapaths[src.dpid]
        targets = [(ip, h) for ip, h in list(self.graph.hosts.items()) if ip != src.ip]
        gap = 0.9 * period / max(len(targets), 1)
        for ip, host in targets:
            hub.sleep(gap)
            if self.monitor.train_busy(ip, time.time()):
                continue  # its link is busy with a capacity train: this probe would time the train's queue
            self.seq = (self.seq + 1) % 65536
            self.probe_route[self.seq] = (ip, src.dpid, host.dpid)
            self.monitor.probe_sent(ip, self.seq, time.time())
            self._packet_out_table(dp, _echo(host, PROBE_ICMP_ID, self.seq, b"edgeft-probe"))

    def _train_loop(self) -> None:
        """One capacity train at a time, one slot per train_interval_s / nodes: each node
        about every train_interval_s, a node without a figure sooner (capacity.next_train_target)."""
        while True:
            src = self.graph.hosts.get(self.orchestrator_ip or "")
            targets = {ip: h for ip, h in self.graph.hosts.items() if src is not None and ip != src.ip}
            if src is None or not targets or src.dpid not in self.datapaths:
                hub.sleep(1.0)
                continue
            sent = {ip: self.train_sent_at.get(ip) for ip in targets}
            measured = {ip for ip in targets if (est := self.monitor.trains.get(ip)) and est.mbps is not None}
            ip = next_train_target(sent, measured, time.time(), self.train_interval_s)
            self.train_sent_at[ip] = time.time()
            self._send_train(self.datapaths.get(src.dpid), targets[ip])
            hub.sleep(self.train_interval_s / len(targets))

    def _send_train(self, dp, host: HostLocation) -> None:
        if dp is None:
            return
        self.train_no = (self.train_no + 1) % 2048
        pad = b"\0" * TRAIN_PAYLOAD
        self.monitor.train_sent(host.ip, self.train_no, time.time())
        for pos in range(TRAIN_PACKETS):  # back to back: the bottleneck spaces them out
            self._packet_out_table(dp, _echo(host, TRAIN_ICMP_ID, self.train_no << 5 | pos, pad))

    def _packet_out_table(self, dp, data: bytes) -> None:
        parser, ofp = dp.ofproto_parser, dp.ofproto
        dp.send_msg(
            parser.OFPPacketOut(
                datapath=dp,
                buffer_id=ofp.OFP_NO_BUFFER,
                in_port=ofp.OFPP_CONTROLLER,
                actions=[parser.OFPActionOutput(ofp.OFPP_TABLE)],
                data=data,
            )
        )

    def _probe_reply(self, pkt, ip4, dpid: int, at: float) -> None:
        ic = pkt.get_protocol(icmp.icmp)
        if ic is None or ic.type != icmp.ICMP_ECHO_REPLY or not isinstance(ic.data, icmp.echo):
            return
        if ic.data.id == TRAIN_ICMP_ID:
            self.monitor.train_reply(ip4.src, ic.data.seq >> 5, ic.data.seq & 31, at)
            return
        if ic.data.id != PROBE_ICMP_ID:
            return
        route = self.probe_route.pop(ic.data.seq, None)
        if route is not None and route[0] == ip4.src:
            self.monitor.probe_reply(ip4.src, ic.data.seq, at, route[1], dpid)


TRAIN_PAYLOAD = 1500 - 20 - 8  # a full-size IP packet: IPv4 and ICMP headers + payload


def _echo(host: HostLocation, icmp_id: int, seq: int, payload: bytes) -> bytes:
    """An ICMP echo request from the probe address to `host`."""
    p = packet.Packet()
    p.add_protocol(ethernet.ethernet(dst=host.mac, src=PROBE_MAC, ethertype=ether_types.ETH_TYPE_IP))
    p.add_protocol(ipv4.ipv4(src=PROBE_IP, dst=host.ip, proto=1))
    p.add_protocol(icmp.icmp(type_=icmp.ICMP_ECHO_REQUEST, data=icmp.echo(id_=icmp_id, seq=seq, data=payload)))
    p.serialize()
    return p.data
