"""The controller app on a topology with redundant links (a switch triangle plus a
parallel path): every host reaches every other, with no broadcast storm."""

import re
import time

import requests
from mininet.link import TCLink
from mininet.net import Mininet
from mininet.node import OVSSwitch, RemoteController

from experiments.runners.local import free_port
from experiments.runners.progress import wait_until
from topologies import leftovers
from experiments.launcher import ProcessGroup
from tests.mininet.test_controller import start_app


def test_redundant_links_reachability_without_storm(clean_system, tmp_path):
    ofp = free_port()
    procs = ProcessGroup(tmp_path / "logs")
    leftovers.ensure_free([f"s{i}" for i in range(1, 5)])
    net = Mininet(switch=OVSSwitch, link=TCLink, controller=None, autoSetMacs=True, build=False)
    try:
        url, _ = start_app(procs, tmp_path, ofp, rest_port=free_port())
        net.addController("c0", controller=RemoteController, ip="127.0.0.1", port=ofp)
        opts = {"protocols": "OpenFlow13", "datapath": "user"}
        s = [net.addSwitch(f"s{i}", dpid=f"{i:016x}", **opts) for i in range(1, 5)]
        for a, b in [(0, 1), (1, 2), (2, 0), (2, 3), (0, 3)]:  # two cycles
            net.addLink(s[a], s[b])
        hosts = [net.addHost(f"h{i}", ip=f"10.0.0.{i}/8") for i in range(1, 5)]
        for h, sw in zip(hosts, s):
            net.addLink(h, sw)
        net.build()
        net.start()
        leftovers.mark(net)
        for h in hosts:
            h.cmd(f"ethtool -K {h.defaultIntf()} tx off rx off")
        wait_until(lambda: len(requests.get(url + "/v1/topology", timeout=2).json()["links"]) == 5, 60, "LLDP links")
        for a in hosts:
            for b in hosts:
                if a is not b:
                    assert re.search(r" [1-3] received", a.cmd(f"ping -c 3 -i 0.2 -W 2 {b.IP()}")), (a.name, b.name)
        # no storm: after the pings, the switches' packet counters stay small
        time.sleep(2)
        rx = sum(
            int(x)
            for sw in s
            for x in re.findall(r"rx pkts=(\d+)", sw.cmd(f"ovs-ofctl -O OpenFlow13 dump-ports {sw.name}"))
        )
        assert rx < 5000, rx
    finally:
        net.stop()
        procs.stop_all()
