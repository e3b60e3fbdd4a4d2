"""The running network, described in a file (default ./edgeft-net.json) that the
topology script writes while the network is up and removes on exit, and that
`edgeft compare --attach FILE` reads to run experiments in that network.

    {"format": 1, "topology_pid": 4242, "setup": 2, "seed": 0, "dilation": 1.0,
     "controller": {"openflow": "127.0.0.1:6653", "rest": "http://127.0.0.1:8080",
                    "rest_from_server": "http://10.254.0.1:8080",
                    "token_file": "/home/me/edgeft/.edgeft/controller-8080.token"},
     "server": {"name": "server", "ip": "10.0.0.1", "pid": 4250},
     "hosts": [{"node_id": "node-01", "name": "n1", "ip": "10.1.0.2", "pid": 4251}, ...],
     "ground_truth": {... as topologies/profiles.as_ground_truth ...},
     "links": {"node-01": {"rate_mbps": 7.5, "delay_ms": 40.0, "loss_pct": 1.0}, ...}}

Link figures are in the emulated world's units (a dilated network shapes them
rate / k, delay x k; `dilation` says k). The controller's write token is never in the
file (it is readable by others): `controller.token_file` names the 0600 file that holds
it, which only its owner (and root) can read.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1
DEFAULT_PATH = "edgeft-net.json"


class DescriptionError(ValueError):
    """The file does not describe a network that is running now."""


def describe(edge, setup: int, seed: int, controller: dict, ground_truth: dict) -> dict:
    """The description of a started EdgeCloudNet (topologies/edge_cloud.py). Raises
    ValueError if `controller` holds a token: the file names the token file instead."""
    if any("token" in key and key != "token_file" for key in controller):
        raise ValueError("a network description names the controller's token_file, never a token")
    server = edge.server
    hosts = [
        {
            "node_id": p.node_id,
            "name": edge.hosts[p.node_id].name,
            "ip": edge.hosts[p.node_id].IP(),
            "pid": edge.hosts[p.node_id].pid,
        }
        for p in edge.profiles
    ]
    k, clock = edge.dilation, edge.clock
    shapes = {p.node_id: edge.shaper.shapes[edge.hosts[p.node_id].name] for p in edge.profiles}
    links = {  # the figures of the emulated world, back from the shapes on the wall
        node_id: {
            "rate_mbps": clock.reported_rate_mbps(shape.rate_mbps),
            "delay_ms": clock.reported_delay_ms(shape.delay_ms),
            "loss_pct": shape.loss_pct,
        }
        for node_id, shape in shapes.items()
    }
    return {
        "format": FORMAT,
        "topology_pid": os.getpid(),
        "setup": setup,
        "seed": seed,
        "dilation": k,
        "controller": controller,
        "server": {"name": server.name, "ip": server.IP(), "pid": server.pid},
        "hosts": hosts,
        "ground_truth": ground_truth,
        "links": links,
    }


def write(path: Path, data: dict) -> None:
    """Atomically: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)


@dataclass(frozen=True)
class AttachedHost:
    """A host of a network another process runs: enough to start processes in it."""

    name: str
    ip: str
    pid: int

    def IP(self) -> str:  # noqa: N802 - Mininet's name, so runners take either kind of host
        return self.ip

    def popen(self, cmd: list[str], **kw):
        """Start cmd in this host's network namespace, in its own session (as Mininet's
        Host.popen does, through mnexec)."""
        import subprocess

        return subprocess.Popen(["mnexec", "-da", str(self.pid), *cmd], **kw)

    def cmd(self, command: str) -> str:
        import subprocess

        return subprocess.run(
            ["mnexec", "-a", str(self.pid), "sh", "-c", command], capture_output=True, text=True
        ).stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def load(path: Path) -> dict:
    """Read and check a description: refuses, naming the fix, a file that is missing,
    malformed, or whose network is gone."""
    fix = (
        "start the topology script (sudo .venv/bin/python topologies/edge_cloud.py --cli ...) "
        "and pass the file it writes"
    )
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DescriptionError(f"--attach {path}: no such file; {fix}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DescriptionError(f"--attach {path}: not a network description ({exc}); {fix}") from None
    need = {"format", "topology_pid", "controller", "server", "hosts", "ground_truth", "links", "dilation"}
    if not isinstance(data, dict) or not need <= set(data) or data["format"] != FORMAT:
        raise DescriptionError(f"--attach {path}: not a format-{FORMAT} network description; {fix}")
    pids = [data["topology_pid"], data["server"]["pid"], *(h["pid"] for h in data["hosts"])]
    if not all(_alive(int(p)) for p in pids):
        raise DescriptionError(f"--attach {path}: the network it describes is gone (its processes have exited); {fix}")
    return data
