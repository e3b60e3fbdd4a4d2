"""Statistics, polled (after Ryu's simple_monitor_13): every `poll_s` each switch gets a
control-channel echo (its RTT is taken off the probes' delays), a port-stats request (the
load on each link) and, once the run's service port is known, a flow-stats request for the
flows counting the run's own traffic with each node (not load). The answers go to the
path monitor (controller_app/path_monitor.py)."""

from __future__ import annotations

import time

from controller_app.compat import MAIN_DISPATCHER, App, hub, ofp_event, ofproto_v1_3, set_ev_cls
from controller_app.network import EdgeNetwork
from controller_app.openflow import COOKIE_OWN, ECHO_DATA, own_flow_stats_request


class PortStats(App):
    """Polls every switch and feeds its echo times, port counters and own-traffic counters
    to the path monitor."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"edge_network": EdgeNetwork}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.network: EdgeNetwork = kwargs["edge_network"]
        self.monitor = self.network.monitor
        self.echo_sent: dict[int, float] = {}
        self.own_seen: dict[int, set[str]] = {}  # per switch: nodes whose own-traffic flows its flow stats showed
        self.threads.append(hub.spawn(self._poll_loop))

    def _poll_loop(self) -> None:
        while True:
            for datapath in list(self.network.datapaths.values()):
                self._poll(datapath)
            hub.sleep(self.network.settings.poll_s)

    def _poll(self, datapath) -> None:
        ofproto, parser = datapath.ofproto, datapath.ofproto_parser
        # The echo first: queued behind the stats replies its RTT would include the switch
        # building them, which no probe waits for, and every delay figure would read low.
        self.echo_sent[datapath.id] = time.time()
        datapath.send_msg(parser.OFPEchoRequest(datapath, data=ECHO_DATA))
        datapath.send_msg(parser.OFPPortStatsRequest(datapath, 0, ofproto.OFPP_ANY))
        if self.network.own_port is not None:
            datapath.send_msg(own_flow_stats_request(datapath))

    @set_ev_cls(ofp_event.EventOFPEchoReply, MAIN_DISPATCHER)
    def echo_reply(self, event) -> None:
        """The control channel's round trip to this switch."""
        dpid = event.msg.datapath.id
        if event.msg.data == ECHO_DATA and dpid in self.echo_sent:
            self.monitor.echo(dpid, time.time() - self.echo_sent.pop(dpid))

    @set_ev_cls(ofp_event.EventOFPPortStatsReply, MAIN_DISPATCHER)
    def port_stats(self, event) -> None:
        """Byte counters of every port of a switch: the load on its links."""
        arrived_at = time.time()
        for stat in event.msg.body:
            self.monitor.port_stats(event.msg.datapath.id, stat.port_no, stat.tx_bytes, stat.rx_bytes, arrived_at)

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def flow_stats(self, event) -> None:
        """Byte counters of the own-traffic flows at a switch; once the switch's whole answer
        is in, the nodes there whose flows it lacks get them again."""
        arrived_at, datapath = time.time(), event.msg.datapath
        seen = self.own_seen.setdefault(datapath.id, set())
        orchestrator_ip = self.network.measure_from
        for stat in event.msg.body:
            if stat.cookie != COOKIE_OWN:
                continue
            src, dst = stat.match.get("ipv4_src"), stat.match.get("ipv4_dst")
            if src == orchestrator_ip:
                self.monitor.own_bytes(dst, "down", stat.byte_count, arrived_at)
                seen.add(dst)
            elif dst == orchestrator_ip:
                self.monitor.own_bytes(src, "up", stat.byte_count, arrived_at)
        if not event.msg.flags & datapath.ofproto.OFPMPF_REPLY_MORE:
            self.network.heal_own_flows(datapath.id, self.own_seen.pop(datapath.id))
