"""A switch that connects while the controller broadcasts a packet (os_ken's send_msg can yield to the
greenthread that registers it) must not abort the broadcast: a 40-node bench's controller log showed
`RuntimeError: dictionary changed size during iteration` in broadcast_to_edge_ports."""

from os_ken.ofproto import ofproto_v1_3, ofproto_v1_3_parser

from controller_app.config import ControllerSettings
from controller_app.netgraph import HostLocation, SwitchLink
from controller_app.network import EdgeNetwork


class JoiningDatapath:
    """A datapath whose first send lets another switch register. A fake only for the interleaving, which
    a unit test cannot cause with real greenthreads; the messages sent are real OpenFlow 1.3 objects."""

    ofproto, ofproto_parser = ofproto_v1_3, ofproto_v1_3_parser

    def __init__(self, dpid: int, network: EdgeNetwork, joiner: "JoiningDatapath | None" = None) -> None:
        self.id, self.network, self.joiner, self.sent = dpid, network, joiner, []

    def send_msg(self, msg) -> None:
        self.sent.append(msg.actions[0].port if hasattr(msg, "actions") else msg.instructions[0].actions[0].port)
        if self.joiner is not None:  # as controller_app/topology.py registers a switch that joins
            self.network.graph.add_switch(self.joiner.id)
            self.network.datapaths[self.joiner.id] = self.joiner
            self.network.ports[self.joiner.id] = [1]
            self.joiner = None


def _two_switches_one_about_to_join() -> tuple[EdgeNetwork, JoiningDatapath, JoiningDatapath]:
    """Switches 1 and 2 registered; switch 1's first send lets switch 3 join."""
    network = EdgeNetwork(ControllerSettings())
    late = JoiningDatapath(3, network)
    first, second = JoiningDatapath(1, network, joiner=late), JoiningDatapath(2, network)
    for dpid in (1, 2):
        network.graph.add_switch(dpid)
    network.datapaths.update({1: first, 2: second})
    return network, first, second


def test_a_switch_joining_mid_broadcast_does_not_abort_it():
    network, first, second = _two_switches_one_about_to_join()
    network.ports.update({1: [1, 2], 2: [1, 2]})
    network.broadcast_to_edge_ports(b"x" * 60, exclude=(1, 1))
    assert first.sent == [2] and second.sent == [1, 2]


def test_a_switch_joining_while_host_flows_are_installed_does_not_abort_it():
    """The same interleaving in install_host_flows (each flow-mod is a send)."""
    network, first, second = _two_switches_one_about_to_join()
    network.graph.add_link(SwitchLink(1, 5, 2, 5))
    host = HostLocation(ip="10.1.0.2", mac="00:00:00:00:00:02", dpid=2, port=1)
    network.install_host_flows(host)
    assert first.sent == [5] and second.sent == [1]
