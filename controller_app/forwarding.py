"""Forwarding and host learning (after Ryu's simple_switch_13, without flooding).

Every ARP packet comes to the controller, so every host is learnt and ARP never floods:
hosts are learnt from ARP/IPv4 packet-ins on edge ports (never on ports that LLDP found
facing another switch); for each host every switch gets one flow eth_dst=host -> next
hop on the shortest path (controller_app/network.py). ARP requests are answered by the
controller when it knows the target (proxy ARP) and otherwise sent out of every edge
port by packet-out, so redundant links never loop.

Restarts: a switch that connects gets this app's old flows (by cookie) deleted, so the
flows of a previous instance cannot carry traffic past a controller that has not learnt
the hosts yet. This is the one app that takes packet-ins: replies to the probe address
are stamped first and handed to the probing app (probing.py), so that every packet-in is
parsed once, by one event loop, as the delay figures need."""

from __future__ import annotations

import time

from controller_app.compat import (
    CONFIG_DISPATCHER,
    MAIN_DISPATCHER,
    App,
    arp,
    ether_types,
    ethernet,
    ipv4,
    ofp_event,
    ofproto_v1_3,
    packet,
    set_ev_cls,
)
from controller_app.network import EdgeNetwork
from controller_app.openflow import (
    PRIO_ARP,
    PRIO_MISS,
    PRIO_PROBE,
    PROBE_IP,
    PROBE_MAC,
    add_flow,
    arp_reply,
    delete_app_flows,
    packet_out,
    to_controller,
    to_probe_address,
)


class Forwarding(App):
    """Sets each switch up, learns hosts, answers and delivers ARP, delivers the first
    packets to a host until its flows take over."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"edge_network": EdgeNetwork}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.network: EdgeNetwork = kwargs["edge_network"]

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features(self, event) -> None:
        """A switch connects: drop a previous instance's flows, send unknown packets, the
        probe address's and every ARP packet to the controller."""
        datapath = event.msg.datapath
        parser = datapath.ofproto_parser
        delete_app_flows(datapath)
        add_flow(datapath, PRIO_MISS, parser.OFPMatch(), to_controller(datapath))
        probes = parser.OFPMatch(eth_type=ether_types.ETH_TYPE_IP, ipv4_dst=PROBE_IP)
        add_flow(datapath, PRIO_PROBE, probes, to_controller(datapath))
        add_flow(datapath, PRIO_ARP, parser.OFPMatch(eth_type=ether_types.ETH_TYPE_ARP), to_controller(datapath))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, event) -> None:
        """Learn the sender, then answer or deliver the packet; a reply to the probe address
        goes to the probing app, with the time it arrived."""
        arrived_at = time.time()
        msg = event.msg
        if to_probe_address(msg.data):
            if self.network.probe_replies is not None:
                self.network.probe_replies(msg, arrived_at)
            return
        datapath, in_port = msg.datapath, msg.match["in_port"]
        frame = packet.Packet(msg.data)
        eth = frame.get_protocol(ethernet.ethernet)
        if eth is None or eth.ethertype == ether_types.ETH_TYPE_LLDP:
            return
        ip4, arp_pkt = frame.get_protocol(ipv4.ipv4), frame.get_protocol(arp.arp)
        src_ip = arp_pkt.src_ip if arp_pkt else (ip4.src if ip4 else None)
        if eth.src != PROBE_MAC and src_ip != PROBE_IP:
            self._learn(src_ip, eth.src, datapath.id, in_port)
        if arp_pkt is not None:
            self._handle_arp(datapath, in_port, eth, arp_pkt, msg.data)
            return
        dst = self.network.graph.macs.get(eth.dst)
        if dst is not None:  # flows will take over; deliver this one packet directly
            self.network.send_to_host(dst, msg.data)
        else:  # unknown destination: deliver on edge ports only (no loops), its reply teaches us
            self.network.broadcast_to_edge_ports(msg.data, exclude=(datapath.id, in_port))

    def _learn(self, src_ip: str | None, mac: str, dpid: int, in_port: int) -> None:
        """Remember where the sender sits; a host new there gets its flows (and, with the
        run's service port known, the own-traffic flows: its own, or every node's if it
        is the orchestrator)."""
        graph = self.network.graph
        known = graph.macs.get(mac)
        if graph.learn_host(src_ip, mac, dpid, in_port) and (
            known is None or (known.dpid, known.port) != (dpid, in_port)
        ):
            self.network.install_host_flows(graph.macs[mac])
            if self.network.own_port is not None:
                self.network.install_all_host_flows()

    def _handle_arp(self, datapath, in_port: int, eth, arp_pkt, data: bytes) -> None:
        if eth.src == PROBE_MAC or arp_pkt.dst_mac == PROBE_MAC:
            return  # our own request back over an unknown link, or an answer to it (already learnt from)
        graph = self.network.graph
        if arp_pkt.opcode == arp.ARP_REQUEST:
            if arp_pkt.dst_ip == PROBE_IP:
                target_mac = PROBE_MAC
            else:
                target = graph.hosts.get(arp_pkt.dst_ip)
                target_mac = target.mac if target is not None else None
            if target_mac:
                packet_out(datapath, in_port, arp_reply(arp_pkt, target_mac))
                return
            self.network.broadcast_to_edge_ports(data, exclude=(datapath.id, in_port))
        elif arp_pkt.dst_mac in graph.macs:
            self.network.send_to_host(graph.macs[arp_pkt.dst_mac], data)
        else:
            self.network.broadcast_to_edge_ports(data, exclude=(datapath.id, in_port))
