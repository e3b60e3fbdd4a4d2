"""A SuperNode that goes unavailable during set-up leaves the Flower run without it, named, instead
of crashing the ServerApp. Found in the Mininet Flower test on a loaded host (2026-12-05): the
SuperLink answered for two SuperNodes that missed Flower's own heartbeat, its error replies come
from the SuperLink's id, and set_up's lookup of that id raised StopIteration (identify also logged
the SuperLink's id as the node's). A node missing its heartbeat cannot be caused on demand, so the
SuperLink's reply is made with the very function the SuperLink uses; the code under test runs in the
Flower venv, where flwr lives."""

import subprocess
from pathlib import Path

from experiments.runners.flower import FLOWER_VENV, INSTALL_HINT

REPO = Path(__file__).resolve().parents[2]
SCRIPT = r"""
from flwr.app import ConfigRecord, Message, RecordDict
from flwr.server.superlink.linkstate.utils import create_message_error_unavailable_res_message
from flwr.supercore.task_identity import TaskIdentity

from edgeft import flower_contract as fc
from orchestrator.config import OrchestratorConfig
from orchestrator.flower import server_run
from orchestrator.flower.identify import FastPollGrid
from orchestrator.flower.node_book import FlowerNode


class Grid:  # what the SuperLink hands back: node 11 answers, node 12 went unavailable
    def push_messages(self, messages):
        ids = []
        for msg in messages:
            msg.metadata.__dict__["_message_id"] = msg.object_id
            ids.append(msg.object_id)
        self.pushed = list(messages)
        return ids

    def pull_messages(self, ids):
        a, b = self.pushed
        ok = Message(RecordDict({fc.CONFIG: ConfigRecord({})}), reply_to=a)
        ok.metadata.__dict__["_message_id"] = ok.object_id
        return [ok, create_message_error_unavailable_res_message(b.metadata, "node_unavail")]


class Workload:
    lora_json = "{}"
    partitions = [type("Part", (), {"ids": __import__("torch").zeros(2, 4, dtype=__import__("torch").long)})()] * 2
    base_info = type("Info", (), {"model_dump_json": staticmethod(lambda: "{}")})()


TaskIdentity.run_id, TaskIdentity.task_id, TaskIdentity.node_id = 7, 1, 1  # what a ServerApp process is given
server_run.base_folder = lambda model: "/nonexistent"
nodes = [FlowerNode("node-01", 11, None, 30.0), FlowerNode("node-02", 12, None, 30.0)]
ready = server_run.set_up(FastPollGrid(Grid(), poll_s=0.0), nodes, Workload(), OrchestratorConfig(nodes=2, policy="ar"))
print("READY", [n.node_id for n in ready])
"""


def test_a_supernode_unavailable_at_set_up_is_left_out_not_a_crash():
    python = FLOWER_VENV / "bin" / "python"
    assert python.exists(), INSTALL_HINT
    env = {"PYTHONPATH": str(REPO)}
    proc = subprocess.run([str(python), "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "READY ['node-01']" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "node node-02 failed its set-up" in proc.stderr  # named, with Flower's reason


SETUP_CHOICE = r"""
import json, sys, tempfile
from orchestrator.config import OrchestratorConfig
from orchestrator.flower import server_run
from orchestrator.flower.node_book import FlowerNode

figures = {"node-01": {"bandwidth_mbps": 20.0, "delay_ms": 10.0, "loss_pct": 0.0},
           "node-02": {"bandwidth_mbps": 0.5, "delay_ms": 300.0, "loss_pct": 5.0}}
static = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
json.dump(figures, static); static.close()


class Workload:
    partitions = [type("Part", (), {"ids": __import__("torch").full((2, 4), i, dtype=__import__("torch").long),
                                    "__len__": lambda self: 2})() for i in range(2)]


nodes = [FlowerNode("node-01", 11, None, 30.0), FlowerNode("node-02", 12, None, 30.0)]
for policy, options in (("ar", {}), ("pace", {"pace_setup_floor": 0.5})):
    cfg = OrchestratorConfig(nodes=2, policy=policy, training={"epochs": 3}, policy_options=options,
                             metrics={"source": "static", "static_file": static.name})
    print(policy.upper(), sorted(server_run.choose_setup(nodes, Workload(), cfg)))
"""


def test_the_flower_engine_sets_up_only_the_nodes_the_policy_chooses():
    """The Flower ServerApp asks the same EpochCore.choose_setup as every engine: AR sets up both nodes,
    PACE at pace_setup_floor 0.5 only the one on the fast link (the other would download at 0.5 Mb/s)."""
    python = FLOWER_VENV / "bin" / "python"
    assert python.exists(), INSTALL_HINT
    env = {"PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [str(python), "-c", SETUP_CHOICE], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "AR ['node-01', 'node-02']" in proc.stdout and "PACE ['node-01']" in proc.stdout, proc.stdout
