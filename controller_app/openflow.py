"""The OpenFlow messages and packets the controller's apps send, in one place: the flows
they install (marked with the app's cookie, so that a restarted instance removes exactly
its own), packet-outs, and the probe address's ICMP echoes and ARP packets.

Pure builders over a datapath's own parser: no state, no event handling."""

from __future__ import annotations

import ipaddress

from controller_app.compat import arp, ether_types, ethernet, icmp, ipv4, packet
from controller_app.netgraph import HostLocation

PROBE_IP = "10.255.255.254"  # the reserved address probes and trains leave from (answered by proxy ARP)
PROBE_MAC = "02:ed:9e:f7:00:01"
PROBE_ICMP_ID = 0xED9E
TRAIN_ICMP_ID = 0xED9F
PRIO_PROBE, PRIO_ARP, PRIO_OWN, PRIO_HOST, PRIO_MISS = 200, 100, 20, 10, 0
COOKIE = 0xED9EF7  # marks this app's flows, so that a restarted instance removes exactly those
COOKIE_OWN = COOKIE | (1 << 32)  # the counting flows for the run's own traffic (same low 32 bits)
COOKIE_LOW = 0xFFFFFFFF
BROADCAST = "ff:ff:ff:ff:ff:ff"
TRAIN_PAYLOAD = 1500 - 20 - 8  # a full-size IP packet: IPv4 and ICMP headers + payload
ECHO_DATA = b"edgeft"  # tells the app's own control-channel echoes apart
TCP = 6
_PROBE_IP_BYTES = ipaddress.IPv4Address(PROBE_IP).packed
_VLAN_TYPES = (b"\x81\x00", b"\x88\xa8")


def to_probe_address(data: bytes) -> bool:
    """Whether an Ethernet frame carries an IPv4 packet to the probe address (a reply to a
    probe or a train), read from the header bytes: each app parses only its own packets."""
    ethertype = data[12:14]
    if ethertype == b"\x08\x00":
        return data[30:34] == _PROBE_IP_BYTES  # the IPv4 destination, ahead of any options
    if ethertype in _VLAN_TYPES:  # tagged: let the parser find the IPv4 header
        ip4 = packet.Packet(data).get_protocol(ipv4.ipv4)
        return ip4 is not None and ip4.dst == PROBE_IP
    return False


def add_flow(datapath, priority: int, match, actions, cookie: int = COOKIE) -> None:
    """Install one flow applying `actions` to packets matching `match`."""
    parser = datapath.ofproto_parser
    instructions = [parser.OFPInstructionActions(datapath.ofproto.OFPIT_APPLY_ACTIONS, actions)]
    datapath.send_msg(
        parser.OFPFlowMod(datapath=datapath, priority=priority, match=match, instructions=instructions, cookie=cookie)
    )


def delete_app_flows(datapath) -> None:
    """Delete the flows of any instance of this app (by cookie), in every table."""
    ofproto, parser = datapath.ofproto, datapath.ofproto_parser
    datapath.send_msg(
        parser.OFPFlowMod(
            datapath=datapath,
            command=ofproto.OFPFC_DELETE,
            table_id=ofproto.OFPTT_ALL,
            out_port=ofproto.OFPP_ANY,
            out_group=ofproto.OFPG_ANY,
            cookie=COOKIE,
            cookie_mask=COOKIE_LOW,
            match=parser.OFPMatch(),
        )
    )


def to_controller(datapath) -> list:
    """The actions that hand a whole packet to the controller."""
    ofproto, parser = datapath.ofproto, datapath.ofproto_parser
    return [parser.OFPActionOutput(ofproto.OFPP_CONTROLLER, ofproto.OFPCML_NO_BUFFER)]


def packet_out(datapath, port: int | None, data: bytes) -> None:
    """Send `data` out of `port`, or through the switch's flow table when `port` is None."""
    ofproto, parser = datapath.ofproto, datapath.ofproto_parser
    datapath.send_msg(
        parser.OFPPacketOut(
            datapath=datapath,
            buffer_id=ofproto.OFP_NO_BUFFER,
            in_port=ofproto.OFPP_CONTROLLER,
            actions=[parser.OFPActionOutput(ofproto.OFPP_TABLE if port is None else port)],
            data=data,
        )
    )


def own_traffic_matches(parser, node_ip: str, orchestrator_ip: str, own_port: int) -> tuple:
    """(towards the node, from the node): the orchestrator's TCP connections with a node on
    its service port, the run's own traffic."""
    down = parser.OFPMatch(
        eth_type=ether_types.ETH_TYPE_IP, ip_proto=TCP, ipv4_src=orchestrator_ip, ipv4_dst=node_ip, tcp_src=own_port
    )
    up = parser.OFPMatch(
        eth_type=ether_types.ETH_TYPE_IP, ip_proto=TCP, ipv4_src=node_ip, ipv4_dst=orchestrator_ip, tcp_dst=own_port
    )
    return down, up


def own_flow_stats_request(datapath):
    """A flow-stats request for the run's own-traffic flows (by their cookie)."""
    ofproto, parser = datapath.ofproto, datapath.ofproto_parser
    return parser.OFPFlowStatsRequest(
        datapath,
        0,
        ofproto.OFPTT_ALL,
        ofproto.OFPP_ANY,
        ofproto.OFPG_ANY,
        COOKIE_OWN,
        0xFFFFFFFFFFFFFFFF,
        parser.OFPMatch(),
    )


def echo_request(host: HostLocation, icmp_id: int, seq: int, payload: bytes) -> bytes:
    """An ICMP echo request from the probe address to `host`."""
    frame = packet.Packet()
    frame.add_protocol(ethernet.ethernet(dst=host.mac, src=PROBE_MAC, ethertype=ether_types.ETH_TYPE_IP))
    frame.add_protocol(ipv4.ipv4(src=PROBE_IP, dst=host.ip, proto=1))
    frame.add_protocol(icmp.icmp(type_=icmp.ICMP_ECHO_REQUEST, data=icmp.echo(id_=icmp_id, seq=seq, data=payload)))
    frame.serialize()
    return frame.data


def arp_request(target_ip: str) -> bytes:
    """A broadcast ARP request for `target_ip` from the probe address."""
    frame = packet.Packet()
    frame.add_protocol(ethernet.ethernet(dst=BROADCAST, src=PROBE_MAC, ethertype=ether_types.ETH_TYPE_ARP))
    frame.add_protocol(
        arp.arp(
            opcode=arp.ARP_REQUEST,
            src_mac=PROBE_MAC,
            src_ip=PROBE_IP,
            dst_mac="00:00:00:00:00:00",
            dst_ip=target_ip,
        )
    )
    frame.serialize()
    return frame.data


def arp_reply(request, mac: str) -> bytes:
    """The ARP reply to `request` saying its target IP is at `mac` (proxy ARP)."""
    frame = packet.Packet()
    frame.add_protocol(ethernet.ethernet(dst=request.src_mac, src=mac, ethertype=ether_types.ETH_TYPE_ARP))
    frame.add_protocol(
        arp.arp(
            opcode=arp.ARP_REPLY,
            src_mac=mac,
            src_ip=request.dst_ip,
            dst_mac=request.src_mac,
            dst_ip=request.src_ip,
        )
    )
    frame.serialize()
    return frame.data
