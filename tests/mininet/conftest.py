"""Mininet tests need root, Open vSwitch and Mininet; scripts/install.sh sets them up.

They stop only what they started (net.stop(), their own PIDs) and never run
`mn -c`, which kills processes by name machine-wide.
"""

import os
import re
import subprocess

import pytest


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="Mininet tests need root: run `sudo bash scripts/test.sh`")
    for item in items:
        if "tests/mininet" in str(item.fspath):
            item.add_marker(skip)


def system_state() -> dict:
    """What a test must leave as it found it: bridges, links, namespaces, root iptables, our processes."""

    def out(cmd):
        return subprocess.run(cmd, capture_output=True, text=True).stdout

    links = sorted(re.findall(r"^\d+: ([^:@]+)", out(["ip", "-o", "link"]), re.M))
    rules = [
        rule
        for rule in out(["iptables-save"]).splitlines()
        if rule and not rule.startswith("#") and not rule.startswith(":")
    ]
    procs = sorted(
        proc
        for proc in out(["ps", "-eo", "args"]).splitlines()
        if "delay_line" in proc or "delay-line" in proc or "mnexec" in proc or "iperf3" in proc
    )
    return {
        "bridges": out(["ovs-vsctl", "list-br"]).split(),
        "links": links,
        "netns": out(["ip", "netns", "list"]).split(),
        "iptables": rules,
        "procs": procs,
    }


@pytest.fixture(scope="session", autouse=True)
def no_leftovers_of_killed_runs():
    """A run killed before it could stop its network (an interrupted earlier suite) left
    bridges and veths that would collide with ours; remove those, and only those."""
    if os.geteuid() == 0:
        from topologies import leftovers

        leftovers.reclaim()


@pytest.fixture
def clean_system():
    """Asserts that the test left no bridge, interface, namespace, iptables rule or process behind."""
    before = system_state()
    yield
    after = system_state()
    assert after == before
