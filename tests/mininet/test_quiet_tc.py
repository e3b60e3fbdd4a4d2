"""Shaped links raise no false 'quantum of class ... is big' alarm (Mininet prints tc's
warning as '*** Error'), and the quantum is really on the HTB class. The same network
with Mininet's own TCLink does raise it: the test can tell the two apart."""

import logging

from mininet.link import TCLink
from mininet.log import lg
from mininet.net import Mininet
from mininet.node import OVSSwitch

from topologies import leftovers
from topologies.quiet_tc import QuietTCLink


def _tc_messages(link_cls) -> tuple[list[str], str]:
    seen: list[str] = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = lambda record: seen.append(record.getMessage())
    old_level = lg.level
    lg.setLevel(logging.ERROR)
    lg.addHandler(handler)
    leftovers.ensure_free(["qs9"])
    net = Mininet(switch=OVSSwitch, link=link_cls, controller=None, build=False)
    try:
        sw = net.addSwitch("qs9", failMode="standalone", datapath="user")
        h1, h2 = net.addHost("qh1", ip="10.9.0.1/24"), net.addHost("qh2", ip="10.9.0.2/24")
        net.addLink(h1, sw, bw=1000)
        net.addLink(h2, sw, bw=50)
        net.build()
        net.start()
        leftovers.mark(net)
        return seen, h1.cmd("tc -d class show dev qh1-eth0")
    finally:
        net.stop()
        lg.removeHandler(handler)
        lg.setLevel(old_level)


def test_shaped_links_name_their_quantum_and_raise_no_false_alarm(clean_system):
    quiet, classes = _tc_messages(QuietTCLink)
    assert not [m for m in quiet if "quantum" in m], quiet
    assert "quantum 200000" in classes or "quantum 200Kb" in classes or "quantum 200000b" in classes, classes
    loud, _ = _tc_messages(TCLink)
    assert [m for m in loud if "quantum of class" in m and "is big" in m], loud
