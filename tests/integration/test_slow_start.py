"""Clients that enrol while the orchestrator is still building its workload (a first
run pre-trains the base model) must not be failed as silent at set-up: an idle node
waits in a long poll and sends no heartbeats until it is given work. Found on a
GPU machine with a fresh model cache, where every node was failed 0 s after set-up
was sent."""

import re
from datetime import datetime

import pytest

from experiments.faults import LoopbackRun, rows

pytestmark = pytest.mark.integration
HEARTBEAT_TIMEOUT = 1.0


def _stamp(log: str, pattern: str) -> datetime:
    line = next(entry for entry in log.splitlines() if re.search(pattern, entry))
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")


def test_nodes_enrolled_during_a_slow_build_are_set_up(tmp_path):
    cfg = {
        "nodes": 2,
        "policy": "ar",
        "training": {"epochs": 2},
        "model": {"cache_dir": str(tmp_path / "cache"), "recipe": {"steps": 60}},  # fresh cache: the base is built now
        "timeouts": {"heartbeat_s": 0.3, "heartbeat_timeout_s": HEARTBEAT_TIMEOUT, "round_s": 60},
    }
    run = LoopbackRun(tmp_path / "run", cfg)
    try:
        run.procs.start("orchestrator", ["orchestrator", "--config", str(run.cfg_file)])
        for node in ("node-01", "node-02"):
            run.start_client(node, node)
        rc = run.finish(240)
    finally:
        run.procs.stop_all()
    orch = run.log("orchestrator")
    assert rc == 0, orch[-3000:]
    built = _stamp(orch, r"orchestrator\.workload: workload:")
    enrolled = max(_stamp(run.log(n), "enrolled") for n in ("node-01", "node-02"))
    # The condition under test really happened: the nodes sat idle longer than the heartbeat timeout.
    assert (built - enrolled).total_seconds() > 2 * HEARTBEAT_TIMEOUT, (enrolled, built)
    assert "did not finish set-up" not in orch
    assert [int(r["active"]) for r in run.epochs()] == [2, 2]
    assert {r["final_status"] for r in rows(tmp_path / "run" / "nodes.csv")} == {"active"}
