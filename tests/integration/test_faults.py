"""Faults caused for real on loopback (experiments/faults.py): a client frozen
mid-training (SIGSTOP: alive, never answers) is failed by the heartbeat deadline,
the run goes on, and the same client restarted with its identity re-syncs and
trains again. Ten such rounds in one run, without the orchestrator gaining
threads or file descriptors."""

import re

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
    assert epochs[-1]["failed"] == ""
    # Every restarted client came back: it set up again, and from the first epoch it was chosen for it trained in
    # every epoch to the end (AR keeps every live node training). The harness itself waited for six of them to
    # train again (the victims of epochs 4-9 are restarted clients). How soon the last restarts are back is the
    # machine's speed: a client restarted after epoch 8 that needs longer than epoch 9 to start and set up trains
    # only in epoch 10, one restarted after epoch 9 in none (this check once demanded 3 active in the last epoch,
    # and failed on a starved CPU for that reason alone).
    assert all("set up" in log for log in r["restarted_logs"])
    for log in r["restarted_logs"]:
        trained = sorted({int(m) for m in re.findall(r"task=train epoch=(\d+) ", log)})
        if trained:
            assert trained == list(range(trained[0], ROUNDS + 1)), trained
    threads, fds = zip(*r["footprints"])
    assert max(threads[3:]) <= threads[2] + 2, threads  # flat after warm-up
    assert max(fds[3:]) <= fds[2] + 6, fds
    assert r["summary"]["epochs"] == ROUNDS + 1
    last = f"node-{(ROUNDS - 1) % NODES + 1:02d}"  # restarted during the last epoch: may not be back before the end
    final = {n["node_id"]: n["final_status"] for n in rows(tmp_path / "nodes.csv")}
    assert all(status != "failed" for node, status in final.items() if node != last), final
