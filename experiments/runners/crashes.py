"""A scenario's node crashes, caused for real (config `scenario`, events with `crash: true`).

As epoch e starts (its predecessor's row appears: experiments/runners/progress.py `follow`),
the client of every node whose crash epoch is e gets SIGKILL: no goodbye, its sockets closed by
the kernel, as a machine that loses power or a process the OOM killer takes. The orchestrator is
not told: it finds out by the node's silence (timeouts.heartbeat_timeout_s), as with any crash.
The simulator (simulator/driver.py) plays the same events."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from typing import Callable

from edge_client.forkserver import pids_path
from experiments.launcher import ProcessGroup
from orchestrator.scenario import Scenario

log = logging.getLogger(__name__)


def crash_clients(scenario: Scenario, epoch: int, kill: Callable[[str], None]) -> list[str]:
    """Kill the clients that crash as `epoch` starts; the nodes killed."""
    nodes = scenario.crashing_at(epoch)
    for node_id in nodes:
        kill(node_id)
        log.warning("epoch %d: %s crashed (its client killed, as the scenario says)", epoch, node_id)
    return nodes


def pool_killer(spec_path: Path) -> Callable[[str], None]:
    """SIGKILL for one client of an `edgeft edge-pool` started with `spec_path` (its pid file)."""

    def kill(node_id: str) -> None:
        pids = json.loads(pids_path(spec_path).read_text())
        try:
            os.kill(int(pids[node_id]), signal.SIGKILL)
        except ProcessLookupError:
            pass  # gone already

    return kill


def process_killer(procs: ProcessGroup) -> Callable[[str], None]:
    """SIGKILL for a client started as a process of its own, named by its node id."""

    def kill(node_id: str) -> None:
        try:
            os.killpg(procs.procs[node_id].pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    return kill
