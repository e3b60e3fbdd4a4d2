"""What an interrupted run leaves behind, and how the next run gets rid of it.

A run killed before `net.stop()` (SIGKILL, a crashed machine, a CI stop) leaves
Open vSwitch bridges, which OVS keeps in its database across restarts, and the
switch-side veth ends in the root namespace. The next run then dies in Mininet
with "RTNETLINK answers: File exists". Each run therefore marks what it creates
with its owner (boot id + pid): bridges in `external_ids`, interfaces in their
alias. `reclaim()` removes only what belongs to owners that no longer exist, so a
concurrent run, or someone else's Mininet network, is never touched. This is
why we do not run `mn -c`: it deletes every bridge and kills processes by name.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)
OWNER_KEY = "edgeft-owner"


def _boot_id() -> str:
    return Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def owner_tag(pid: int | None = None) -> str:
    """Who owns a bridge or interface: this boot and this process."""
    return f"{_boot_id()}:{pid or os.getpid()}"


def owner_alive(tag: str) -> bool:
    """True while the owning process of this boot still runs."""
    boot, _, pid = tag.rpartition(":")
    if boot != _boot_id() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run(cmd: list[str], stdin: str | None = None) -> str:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True).stdout


def root_links() -> list[dict]:
    """Every interface of the root namespace, as `ip -j link` reports it."""
    return json.loads(_run(["ip", "-j", "link"]) or "[]")


def bridge_owners() -> dict[str, str]:
    """Bridge name -> owner tag ('' for bridges edgeft did not create)."""
    out = _run(["ovs-vsctl", "--timeout=10", "--format=json", "--columns=name,external_ids", "list", "Bridge"])
    owners = {}
    for name, (_, pairs) in json.loads(out or '{"data": []}')["data"]:
        owners[name] = dict(pairs).get(OWNER_KEY, "")
    return owners


def mark(net) -> None:
    """Tag the bridges and root-namespace interfaces of a built Mininet network as ours."""
    tag = owner_tag()
    root_nodes = [n for n in net.switches + net.hosts if not getattr(n, "inNamespace", True)]
    names = [intf.name for n in root_nodes for intf in n.intfList() if intf.name != "lo"]
    batch = "".join(f"link set dev {name} alias {OWNER_KEY}={tag}\n" for name in names)
    if batch:
        _run(["ip", "-force", "-batch", "-"], stdin=batch)
    for sw in net.switches:
        _run(["ovs-vsctl", "--timeout=10", "set", "Bridge", sw.name, f"external_ids:{OWNER_KEY}={tag}"])


def reclaim() -> dict[str, list[str]]:
    """Delete the bridges and interfaces of edgeft runs whose process is gone."""
    dead_bridges = [b for b, tag in bridge_owners().items() if tag and not owner_alive(tag)]
    for bridge in dead_bridges:
        _run(["ovs-vsctl", "--timeout=10", "--if-exists", "del-br", bridge])
    dead_links = []
    for link in root_links():
        alias = link.get("ifalias", "")
        if alias.startswith(f"{OWNER_KEY}=") and not owner_alive(alias.split("=", 1)[1]):
            dead_links.append(link["ifname"])
    for name in dead_links:
        _run(["ip", "link", "del", name])  # deleting one veth end removes its peer too
    if dead_bridges or dead_links:
        log.warning("removed leftovers of interrupted runs: bridges %s, interfaces %s", dead_bridges, dead_links)
    return {"bridges": dead_bridges, "links": dead_links}


def clashes(switch_names: list[str]) -> list[str]:
    """Bridges or root-namespace interfaces that would collide with these switches."""
    pattern = re.compile(rf"^({'|'.join(map(re.escape, switch_names))})(-eth\d+)?$")
    found = [b for b in bridge_owners() if pattern.match(b)]
    found += [link["ifname"] for link in root_links() if pattern.match(link["ifname"]) and link["ifname"] not in found]
    return found


class NameClash(RuntimeError):
    """Another network (or an old one nobody stopped) uses our switch names."""


def ensure_free(switch_names: list[str]) -> None:
    """Reclaim our own leftovers, then fail with the fix if foreign ones still collide."""
    reclaim()
    taken = clashes(switch_names)
    if taken:
        raise NameClash(
            f"switch names already in use on this machine: {', '.join(taken[:8])}{' ...' if len(taken) > 8 else ''}. "
            "Another Mininet network is running, or one was killed before it could clean up. "
            "Stop the other network, or if none runs, remove the leftovers with `sudo mn -c`."
        )
