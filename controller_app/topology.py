"""Topology: which switches are connected, their ports (and nominal speeds), and the links
between them as LLDP discovery (os-ken's switches app) reports them.

Until LLDP has found every link, a packet-out on an edge port can leave over a
not-yet-known switch link and make a host look as if it sat there; once the link is known
such a host is forgotten and asked for again (ARP from the probe address), and its reply,
which the host's own switch hands to the controller, teaches its true place."""

from __future__ import annotations

import logging

from controller_app.compat import (
    DEAD_DISPATCHER,
    MAIN_DISPATCHER,
    App,
    get_all_link,
    ofp_event,
    ofproto_v1_3,
    set_ev_cls,
    topo_event,
)
from controller_app.netgraph import SwitchLink
from controller_app.network import EdgeNetwork
from controller_app.openflow import arp_request

log = logging.getLogger("edgeft.controller")


class Topology(App):
    """Keeps the shared network's switches, ports and links current, and the forwarding
    in step with them."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"edge_network": EdgeNetwork}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.network: EdgeNetwork = kwargs["edge_network"]

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def state_change(self, event) -> None:
        """A switch is up (ask for its ports) or gone."""
        datapath = event.datapath
        if event.state == MAIN_DISPATCHER:
            self.network.datapaths[datapath.id] = datapath
            self.network.graph.add_switch(datapath.id)
            datapath.send_msg(datapath.ofproto_parser.OFPPortDescStatsRequest(datapath, 0))
        elif datapath.id in self.network.datapaths:
            del self.network.datapaths[datapath.id]
            self.network.graph.remove_switch(datapath.id)

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, MAIN_DISPATCHER)
    def port_desc(self, event) -> None:
        """A switch's ports, and the nominal speed of each (a capacity when no other is known)."""
        datapath = event.msg.datapath
        physical = [port for port in event.msg.body if port.port_no < datapath.ofproto.OFPP_MAX]
        self.network.ports[datapath.id] = [port.port_no for port in physical]
        for port in physical:
            if port.curr_speed:
                self.network.monitor.port_speed[(datapath.id, port.port_no)] = port.curr_speed / 1000.0  # kb/s -> Mb/s

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def port_status(self, event) -> None:
        """A port came, went or changed: read the switch's ports again."""
        datapath = event.msg.datapath
        datapath.send_msg(datapath.ofproto_parser.OFPPortDescStatsRequest(datapath, 0))

    @set_ev_cls([topo_event.EventLinkAdd, topo_event.EventLinkDelete])
    def links_changed(self, event) -> None:
        """Take LLDP's current links, forget hosts learnt on what is now a switch port, and
        recompute every host's flows."""
        graph = self.network.graph
        graph.replace_links(
            SwitchLink(link.src.dpid, link.src.port_no, link.dst.dpid, link.dst.port_no) for link in get_all_link(self)
        )
        lost = graph.forget_misplaced_hosts()
        self.network.install_all_host_flows()
        for ip in lost:
            self._ask_for(ip)

    def _ask_for(self, ip: str) -> None:
        """ARP for a host from the probe address: its reply tells where it really sits."""
        log.info("host %s was learnt on a switch link; asking for it again", ip)
        self.network.broadcast_to_edge_ports(arp_request(ip), exclude=(-1, -1))
