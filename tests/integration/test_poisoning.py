"""A node that tries to wreck the model (issue 25, item 1), on loopback with real
processes: an orchestrator and three enrolled edge clients, one of them HOSTILE
(tests/fixtures/poison_client.py: the real client, its every upload tampered with).

- Huge-but-finite update (every value 3e38): the norm bound refuses it in epoch 0, its
  node is failed and named in summary.json, the run ends with a finite loss and the two
  honest nodes train to the end (before: the validation loss was NaN from epoch 0, the
  honest nodes' NaN results got 400 and both clients exited).
- An honest update scaled x100: refused the same way; the final loss is within 2 % of a
  run with three honest nodes and the same seeds.
- No hostile node, but a server step that diverges by itself (Adam at lr 1e37): no subset
  of the updates gives a finite validation loss, so nobody is to blame; the run aborts
  (exit 1) naming the epoch and the cause, and no node is failed (before: every node was
  failed "for an invalid upload" and the run aborted with "no active node left")."""

import json
import math
import re
import sys

import pytest

from experiments.faults import LoopbackRun, rows

pytestmark = pytest.mark.integration
EPOCHS, SEED = 3, 11
HOSTILE = "node-02"


def _start_hostile(run: LoopbackRun, node: str, poison: tuple[str, ...]) -> None:
    """The harness's own client command (its flags, its credentials), run by the hostile
    client (tests/fixtures/poison_client.py) instead of `edgeft`."""
    start = run.procs.start
    program = [sys.executable, "-m", "tests.fixtures.poison_client", "--poison", *poison, "--"]
    run.procs.start = lambda name, args, **kw: start(name, args, program=program, **kw)
    try:
        run.start_client(node, node)
    finally:
        run.procs.start = start


def _run(out, poison: tuple[str, ...] | None, training: dict | None = None) -> dict:
    """A 3-node AR run; with `poison`, node-02 is the hostile client with those flags."""
    training = {"epochs": EPOCHS, **(training or {})}
    run = LoopbackRun(out, {"nodes": 3, "policy": "ar", "seed": SEED, "training": training})
    try:
        run.start_orchestrator()
        for i in (1, 2, 3):
            node = f"node-{i:02d}"
            if node == HOSTILE and poison:
                _start_hostile(run, node, poison)
            else:
                run.start_client(node, node)
        rc = run.finish(600)
    finally:
        run.procs.stop_all()
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    return {"rc": rc, "summary": summary, "run": run}


def _nodes(out) -> dict[str, dict]:
    return {r["node_id"]: r for r in rows(out / "nodes.csv")}


def test_a_huge_finite_update_is_refused_and_the_honest_nodes_train_to_the_end(tmp_path):
    r = _run(tmp_path, ("huge",))
    run, s = r["run"], r["summary"]
    assert r["rc"] == 0, run.log("orchestrator")[-3000:]
    assert math.isfinite(s["final_val_loss"]) and s["final_val_loss"] < s["pre_training_loss"]
    assert HOSTILE in s["failed_nodes"] and "refused" in s["failed_nodes"][HOSTILE]
    assert [u["node_id"] for u in s["refused_updates"]] == [HOSTILE] and s["refused_updates"][0]["epoch"] == 0
    assert s["rolled_back_epochs"] == []  # refused by the bound before it could count
    epochs = rows(tmp_path / "epochs.csv")
    assert len(epochs) == EPOCHS and all(math.isfinite(float(e["val_loss"])) for e in epochs)
    assert epochs[0]["failed"] == HOSTILE
    nodes = _nodes(tmp_path)
    assert nodes[HOSTILE]["final_status"] == "failed" and nodes[HOSTILE]["epochs_trained"] == "0"
    for honest in ("node-01", "node-03"):
        assert nodes[honest]["final_status"] == "active" and nodes[honest]["epochs_trained"] == str(EPOCHS)
        assert nodes[honest]["final_digest_matches"] == "True"
        assert "Traceback" not in run.log(honest)


def test_a_scaled_honest_update_is_refused_and_the_loss_matches_an_honest_run(tmp_path):
    honest = _run(tmp_path / "honest", None)
    scaled = _run(tmp_path / "scaled", ("scale", "--factor", "100"))
    assert honest["rc"] == 0 and scaled["rc"] == 0, scaled["run"].log("orchestrator")[-3000:]
    assert [u["node_id"] for u in scaled["summary"]["refused_updates"]] == [HOSTILE]
    assert honest["summary"]["refused_updates"] == [] and honest["summary"]["failed"] == 0
    want, got = honest["summary"]["final_val_loss"], scaled["summary"]["final_val_loss"]
    assert got == pytest.approx(want, rel=0.02), (got, want)


def test_a_server_step_that_diverges_by_itself_aborts_the_run_and_fails_no_one(tmp_path):
    r = _run(tmp_path, None, {"server_optimizer": "adam", "server_lr": 1e37})
    run, s = r["run"], r["summary"]
    assert r["rc"] == 1, run.log("orchestrator")[-3000:]
    assert "epoch 0" in s["error"] and "no subset" in s["error"] and "nobody failed" in s["error"], s
    log = run.log("orchestrator")
    assert "run aborted: epoch 0: no subset" in log, log[-3000:]
    assert not re.search(r"node node-\d+ failed", log), log[-3000:]  # no node failed
