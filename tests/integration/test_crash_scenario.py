"""A scenario's node crash (experiments/scenarios/crash.yaml), caused for real by `edgeft local` (the
client is killed as the epoch starts) and played by `edgeft simulate`: both fail the same node in the
same epoch for its silence, that epoch lasts at least the heartbeat timeout, and the run goes on
without the node."""

import csv
import json
import subprocess
from pathlib import Path

import pytest

from experiments.runners import simulate
from experiments.runners.local import local_command

pytestmark = pytest.mark.integration
SCENARIO = Path(__file__).resolve().parents[2] / "experiments" / "scenarios" / "crash.yaml"
NODES, EPOCHS, VICTIM, CRASH_EPOCH, TIMEOUT_S = 4, 4, "node-02", 2, 6.0


def _rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _check(run: Path) -> None:
    epochs = _rows(run / "epochs.csv")
    assert len(epochs) == EPOCHS
    assert [r["failed"] for r in epochs] == ["", "", VICTIM, ""], [r["failed"] for r in epochs]
    assert float(epochs[CRASH_EPOCH]["epoch_time_s"]) >= TIMEOUT_S
    assert all(VICTIM not in r["active_nodes"] for r in epochs[CRASH_EPOCH + 1 :])
    assert int(epochs[-1]["active"]) == NODES - 1
    failed = [r for r in _rows(run / "node_epochs.csv") if r["status"] == "failed"]
    assert [(r["epoch"], r["node_id"]) for r in failed] == [(str(CRASH_EPOCH), VICTIM)]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["failed"] == 1


def test_a_crash_fails_the_same_node_in_the_same_epoch_emulated_and_simulated(tmp_path):
    local = tmp_path / "local"
    cmd = local_command(str(local), "--config", str(SCENARIO), nodes=NODES, epochs=EPOCHS, policy="ar", seed="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check(local)
    sim = tmp_path / "sim"
    argv = ["--nodes", str(NODES), "--seeds", "0", "--policies", "ar", "--epochs", str(EPOCHS)]
    assert simulate.main([*argv, "--scenario", str(SCENARIO), "--out", str(sim)]) == 0
    _check(sim / f"n{NODES}-setup2-seed0-ar")


def test_a_crash_at_epoch_zero_is_refused_before_anything_starts(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario:\n  - {epoch: 0, node_id: node-01, crash: true}\n")
    cmd = local_command(str(tmp_path / "run"), "--config", str(bad), nodes=NODES, epochs=2, policy="ar", seed="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "crash of node-01 needs epoch >= 1" in proc.stderr, proc.stderr
    assert not (tmp_path / "run" / "epochs.csv").exists()
