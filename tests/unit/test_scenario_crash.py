"""Scenario crash events: validated, found by epoch, kept out of the link and compute state, and a
pool's pid file names each client's process."""

import json
import os
import signal
import subprocess
import sys

import pytest
from pydantic import ValidationError

from edge_client.forkserver import pids_path
from experiments.runners.crashes import crash_clients, pool_killer
from orchestrator.config import ScenarioEvent
from orchestrator.scenario import Scenario
from simulator.driver import RunSpec


def test_a_crash_needs_an_epoch_after_the_first():
    with pytest.raises(ValidationError, match="crash of node-01 needs epoch >= 1"):
        ScenarioEvent(epoch=0, node_id="node-01", crash=True)


def test_crashes_are_found_by_epoch_and_stay_out_of_the_link_state():
    events = [
        ScenarioEvent(epoch=3, node_id="node-02", crash=True),
        ScenarioEvent(epoch=1, node_id="node-02", crash=True),  # the first crash counts
        ScenarioEvent(epoch=2, node_id="node-03", bandwidth_mbps=1.0),
    ]
    scenario = Scenario(events)
    assert scenario.crashes() == {"node-02": 1}
    assert scenario.crashing_at(1) == ["node-02"] and scenario.crashing_at(3) == []
    assert scenario.state("node-02", 5) == {} and scenario.state("node-03", 2) == {"bandwidth_mbps": 1.0}
    spec = RunSpec([], "ar", 4, scenario=[e.model_dump() for e in events])
    assert spec.crashes() == {"node-02": 1}


def test_a_pool_client_is_killed_by_its_node_id(tmp_path):
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    spec = tmp_path / "clients.json"
    pids_path(spec).write_text(json.dumps({"node-02": victim.pid}))
    try:
        killed = crash_clients(Scenario([ScenarioEvent(epoch=2, node_id="node-02", crash=True)]), 2, pool_killer(spec))
        assert killed == ["node-02"]
        assert victim.wait(timeout=10) == -signal.SIGKILL
    finally:
        if victim.poll() is None:
            os.kill(victim.pid, signal.SIGKILL)
