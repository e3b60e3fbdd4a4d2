"""Faults caused for real on loopback (experiments/faults.py): a client frozen
mid-training (SIGSTOP: alive, never answers) is failed by the heartbeat deadline,
the run goes on, and the same client restarted with its identity re-syncs and
trains again. Ten such rounds in one run, without the orchestrator gaining
threads or file descriptors."""

import pytest

from experiments.faults import hung_clients, rows

pytestmark = pytest.mark.integration
NODES, ROUNDS, HEARTBEAT_TIMEOUT = 4, 10, 3.0


def test_hung_clients_fail_by_deadline_rejoin_and_leak_nothing(tmp_path):
    r = hung_clients(tmp_path, ROUNDS, NODES, HEARTBEAT_TIMEOUT)
    assert r["rc"] == 0, (tmp_path / "logs" / "orchestrator.log").read_text()[-3000:]
    epochs = r["epochs"]
    assert len(epochs) == ROUNDS + 1  # nothing lost
    for epoch in range(ROUNDS):
        assert epochs[epoch]["failed"] == f"node-{epoch % NODES + 1:02d}"
    assert max(r["detect_s"]) < HEARTBEAT_TIMEOUT + 10  # the heartbeat deadline, not the 120 s round
    assert epochs[-1]["failed"] == "" and int(epochs[-1]["active"]) >= NODES - 1  # the restarted came back
    assert all("set up" in log for log in r["restarted_logs"])
    threads, fds = zip(*r["footprints"])
    assert max(threads[3:]) <= threads[2] + 2, threads  # flat after warm-up
    assert max(fds[3:]) <= fds[2] + 6, fds
    assert r["summary"]["epochs"] == ROUNDS + 1
    last = f"node-{(ROUNDS - 1) % NODES + 1:02d}"  # restarted during the last epoch: may not be back before the end
    final = {n["node_id"]: n["final_status"] for n in rows(tmp_path / "nodes.csv")}
    assert all(status != "failed" for node, status in final.items() if node != last), final
