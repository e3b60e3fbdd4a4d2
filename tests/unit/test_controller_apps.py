"""The controller as composed apps (#27): the manager, given controller_app/edge_monitor.py
as users type it, loads the five apps beside it over one shared EdgeNetwork; each app is
small; one app (Forwarding) takes packet-ins and tells the probe replies apart by the probe
address in the header bytes, exactly as the full parser would."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller_app.compat import ether_types, ethernet, icmp, ipv4, packet, vlan
from controller_app.netgraph import HostLocation
from controller_app.openflow import PROBE_IP, arp_request, echo_request, to_probe_address

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "controller_app" / "edge_monitor.py"
APPS = {
    "controller_app.topology": "Topology",
    "controller_app.forwarding": "Forwarding",
    "controller_app.probing": "Probing",
    "controller_app.port_stats": "PortStats",
    "controller_app.rest": "RestApi",
}
LOAD = """
import json, sys
from os_ken.base.app_manager import AppManager
manager = AppManager()
manager.load_apps([sys.argv[1]])
print(json.dumps({
    "apps": {name: cls.__name__ for name, cls in manager.applications_cls.items()},
    "contexts": {key: f"{cls.__module__}.{cls.__name__}" for key, cls in manager.contexts_cls.items()},
}))
"""


def test_the_manager_loads_every_app_beside_the_one_users_name_over_one_shared_network(tmp_path):
    """What osken-manager does with the file path before it starts anything (in a child
    process: loading sets the manager's options, which belong to that process)."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(APP)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["apps"][str(APP)] == "EdgeMonitor"
    assert {name: loaded["apps"].get(name) for name in APPS} == APPS
    assert "os_ken.topology.switches" in loaded["apps"]  # LLDP discovery, for Topology's link events
    assert loaded["contexts"] == {"edge_network": "controller_app.network.EdgeNetwork"}


@pytest.mark.parametrize("module", [*APPS, "controller_app.network", "controller_app.path_monitor"])
def test_each_app_and_the_state_they_share_are_small(module):
    classes = [cls for _, cls in inspect.getmembers(__import__(module, fromlist=["_"]), inspect.isclass)]
    for cls in classes:
        if cls.__module__ == module:
            assert len(inspect.getsourcelines(cls)[0]) <= 200, cls


def test_one_app_takes_packet_ins_and_each_openflow_event_has_one_owner():
    """Every packet-in parsed once, by one event loop, as the old single app did: a second
    subscriber made the probe delays read up to 4 ms high on a loaded host."""
    owners: dict[str, list[str]] = {}
    for module, name in APPS.items():
        app = getattr(__import__(module, fromlist=["_"]), name)
        for _, method in inspect.getmembers(app, inspect.isfunction):
            for event_class in getattr(method, "callers", {}):
                owners.setdefault(event_class.__name__, []).append(name)
    assert owners["EventOFPPacketIn"] == ["Forwarding"]
    assert all(len(apps) == 1 for apps in owners.values()), owners


HOST = HostLocation("10.1.0.2", "02:00:00:00:00:02", 2, 3)


def _echo_reply(tagged: bool = False) -> bytes:
    frame = packet.Packet()
    if tagged:
        frame.add_protocol(ethernet.ethernet(dst="02:ed:9e:f7:00:01", src=HOST.mac, ethertype=0x8100))
        frame.add_protocol(vlan.vlan(vid=7, ethertype=ether_types.ETH_TYPE_IP))
    else:
        frame.add_protocol(ethernet.ethernet(dst="02:ed:9e:f7:00:01", src=HOST.mac, ethertype=ether_types.ETH_TYPE_IP))
    frame.add_protocol(ipv4.ipv4(src=HOST.ip, dst=PROBE_IP, proto=1))
    frame.add_protocol(icmp.icmp(type_=icmp.ICMP_ECHO_REPLY, data=icmp.echo(id_=1, seq=2, data=b"edgeft-probe")))
    frame.serialize()
    return bytes(frame.data)


def test_packet_ins_are_told_apart_by_the_probe_address():
    assert to_probe_address(_echo_reply())  # a probe's reply: the probing app's
    assert to_probe_address(_echo_reply(tagged=True))
    assert not to_probe_address(echo_request(HOST, 1, 2, b"x"))  # from the probe address, not to it
    assert not to_probe_address(arp_request(HOST.ip))  # ARP: forwarding's
    assert not to_probe_address(b"\x00" * 10)  # a runt frame is nobody's probe
