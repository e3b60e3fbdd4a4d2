"""Probing: delay and loss from one small ICMP echo per node at `probe_hz`, capacity from a
train of full-size echoes per node every `train_interval_s` (the math: path_monitor.py,
capacity.py, measure.py).

Both leave the probe address by packet-out at the measuring host's switch; a high-priority
flow hands the replies, addressed to the probe address, back to the controller at the
node's gateway (forwarding.py installs it). The forwarding app, the one app that takes
packet-ins, stamps them first and hands them here (EdgeNetwork.probe_replies): with two
apps subscribed to every packet-in, the delay figures read up to 4 ms high on a loaded
host (tests/mininet/test_controller.py failed 3 of 4 runs at load 3-9, against 0 of 2)."""

from __future__ import annotations

import time

from controller_app.capacity import TRAIN_PACKETS, next_train_target
from controller_app.compat import App, hub, icmp, ipv4, ofproto_v1_3, packet
from controller_app.netgraph import HostLocation
from controller_app.network import EdgeNetwork
from controller_app.openflow import (
    PROBE_ICMP_ID,
    TRAIN_ICMP_ID,
    TRAIN_PAYLOAD,
    echo_request,
    packet_out,
)

TRAIN_SEQ_BITS = 5  # an echo's seq: the train's number, then the packet's position (< 32) in the train
PROBE_PAYLOAD = b"edgeft-probe"


class Probing(App):
    """Sends the probes and the trains, catches their replies, and closes what timed out."""

    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"edge_network": EdgeNetwork}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.network: EdgeNetwork = kwargs["edge_network"]
        self.monitor = self.network.monitor
        self.probe_seq = 0
        self.probe_route: dict[int, tuple[str, int, int]] = {}  # seq -> (node ip, out dpid, back dpid)
        self.train_number = 0
        self.train_sent_at: dict[str, float] = {}  # node ip -> when its last capacity train left
        self.network.probe_replies = self.reply
        self.threads.extend([hub.spawn(self._probe_loop), hub.spawn(self._expiry_loop)])
        if self.network.settings.train_interval_s > 0:
            self.threads.append(hub.spawn(self._train_loop))

    # -- delay and loss -------------------------------------------------------------------
    def _probe_loop(self) -> None:
        period = 1.0 / self.network.settings.probe_hz
        while True:
            started = time.monotonic()
            self._send_probes(period)
            hub.sleep(max(period - (time.monotonic() - started), 0.0))

    def _send_probes(self, period: float) -> None:
        """One probe per node, spread over the period: a burst would queue probes behind
        each other in the controller and the switch and inflate the delay figures."""
        src = self.network.orchestrator()
        if src is None or src.dpid not in self.network.datapaths:
            hub.sleep(period)
            return
        datapath = self.network.datapaths[src.dpid]
        targets = [(ip, host) for ip, host in list(self.network.graph.hosts.items()) if ip != src.ip]
        gap = 0.9 * period / max(len(targets), 1)
        for ip, host in targets:
            hub.sleep(gap)
            if self.monitor.train_busy(ip, time.time()):
                continue  # its link is busy with a capacity train: this probe would time the train's queue
            self.probe_seq = (self.probe_seq + 1) % 65536
            self.probe_route[self.probe_seq] = (ip, src.dpid, host.dpid)
            self.monitor.probe_sent(ip, self.probe_seq, time.time())
            packet_out(datapath, None, echo_request(host, PROBE_ICMP_ID, self.probe_seq, PROBE_PAYLOAD))

    def _expiry_loop(self) -> None:
        """Every poll: unanswered probes count as lost after the timeout, trains are judged
        once complete or after twice it."""
        monitor, settings = self.monitor, self.network.settings
        while True:
            monitor.expire_probes(time.time())
            monitor.close_trains(time.time(), 2 * monitor.settings.probe_timeout_s, TRAIN_PACKETS)
            hub.sleep(settings.poll_s)

    # -- capacity trains ----------------------------------------------------------------------
    def _train_loop(self) -> None:
        """One capacity train at a time, one slot per train_interval_s / nodes: each node
        about every train_interval_s, a node without a figure sooner (capacity.next_train_target)."""
        interval = self.network.settings.train_interval_s
        while True:
            src = self.network.orchestrator()
            hosts = self.network.graph.hosts
            targets = {ip: host for ip, host in hosts.items() if src is not None and ip != src.ip}
            if src is None or not targets or src.dpid not in self.network.datapaths:
                hub.sleep(1.0)
                continue
            sent = {ip: self.train_sent_at.get(ip) for ip in targets}
            measured = {ip for ip in targets if self.monitor.train_log.measured(ip)}
            ip = next_train_target(sent, measured, time.time(), interval)
            self.train_sent_at[ip] = time.time()
            self._send_train(self.network.datapaths.get(src.dpid), targets[ip])
            hub.sleep(interval / len(targets))

    def _send_train(self, datapath, host: HostLocation) -> None:
        if datapath is None:
            return
        self.train_number = (self.train_number + 1) % 2048
        padding = b"\0" * TRAIN_PAYLOAD
        self.monitor.train_sent(host.ip, self.train_number, time.time())
        for position in range(TRAIN_PACKETS):  # back to back: the bottleneck spaces them out
            seq = self.train_number << TRAIN_SEQ_BITS | position
            packet_out(datapath, None, echo_request(host, TRAIN_ICMP_ID, seq, padding))

    # -- replies ----------------------------------------------------------------------------
    def reply(self, msg, arrived_at: float) -> None:
        """A packet-in to the probe address (a probe's or a train's reply), stamped when it
        was handled: the time it arrived is the figure."""
        frame = packet.Packet(msg.data)
        ip4 = frame.get_protocol(ipv4.ipv4)
        reply = frame.get_protocol(icmp.icmp)
        if reply is None or reply.type != icmp.ICMP_ECHO_REPLY or not isinstance(reply.data, icmp.echo):
            return
        echo = reply.data
        if echo.id == TRAIN_ICMP_ID:
            position_mask = (1 << TRAIN_SEQ_BITS) - 1
            self.monitor.train_reply(ip4.src, echo.seq >> TRAIN_SEQ_BITS, echo.seq & position_mask, arrived_at)
        elif echo.id == PROBE_ICMP_ID:
            route = self.probe_route.pop(echo.seq, None)
            if route is not None and route[0] == ip4.src:
                self.monitor.probe_reply(ip4.src, echo.seq, arrived_at, route[1], msg.datapath.id)
