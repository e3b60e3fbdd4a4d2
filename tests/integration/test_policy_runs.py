"""Every selection policy drives a real run on loopback (orchestrator + LoRA clients as
processes), and NE+ re-admits a node whose link recovers where NE cannot."""

import json
import subprocess
from pathlib import Path

import pytest

from experiments.runners.progress import read_rows
from experiments.runners.local import local_command

pytestmark = pytest.mark.integration
NODES, EPOCHS = 4, 3
SCHEDULED = {"random", "bandwidth", "compute", "oort", "oracle", "ne_plus"}  # keep NE's count: 4, 3, 2


def _local(out: Path, policy: str, nodes: int, epochs: int, config: Path | None = None) -> None:
    cmd = local_command(str(out), nodes=nodes, epochs=epochs, policy=policy, seed="0", timeout="600") + (
        ["--config", str(config)] if config else []
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=700)
    assert proc.returncode == 0, proc.stderr[-3000:] + (out / "logs" / "orchestrator.log").read_text()[-3000:]


@pytest.mark.parametrize("policy", ["random", "bandwidth", "compute", "fedcs", "oort", "tifl", "oracle", "ne_plus"])
def test_policy_runs_three_epochs(tmp_path, policy):
    _local(tmp_path, policy, NODES, EPOCHS)
    s = json.loads((tmp_path / "summary.json").read_text())
    epochs = read_rows(tmp_path / "epochs.csv")
    assert s["policy"] == policy and s["failed"] == 0 and len(epochs) == EPOCHS
    assert float(epochs[-1]["val_loss"]) < s["pre_training_loss"] - 0.5
    active = [int(r["active"]) for r in epochs]
    assert active[0] == NODES and all(1 <= a <= NODES for a in active)
    if policy in SCHEDULED:
        assert active == [4, 3, 2]
    trained = {n: int(r["epochs_trained"]) for n, r in ((r["node_id"], r) for r in read_rows(tmp_path / "nodes.csv"))}
    assert sum(trained.values()) == sum(active)
    assert 1 / NODES <= s["jain_index"] <= 1.0 and 0.0 <= s["jain_normalised"] <= 1.0
    assert 0.0 < s["mean_coverage"] <= 1.0


def test_ne_plus_readmits_a_recovered_node_that_ne_loses(tmp_path):
    """node-03 is one of the best of 6 drawn nodes; its link collapses in epoch 1 and is back in epoch 2."""
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "scenario": [
                    {"epoch": 1, "node_id": "node-03", "bandwidth_mbps": 0.3, "delay_ms": 800, "loss_pct": 9},
                    {"epoch": 2, "node_id": "node-03", "restore": True},
                ]
            }
        )
    )
    runs = {}
    for policy in ("ne", "ne_plus"):
        _local(tmp_path / policy, policy, 6, 5, scenario)
        runs[policy] = read_rows(tmp_path / policy / "epochs.csv")
    for rows in runs.values():
        assert rows[1]["eliminated"] == "node-03"  # the collapse is seen and acted on by both
    assert not any("node-03" in r["active_nodes"].split(";") for r in runs["ne"][2:])
    back = [int(r["epoch"]) for r in runs["ne_plus"] if "node-03" in r["readmitted"].split(";")]
    assert back and back[0] >= 2
    assert "node-03" in runs["ne_plus"][back[0] + 1]["active_nodes"].split(";")
    assert json.loads((tmp_path / "ne_plus" / "summary.json").read_text())["readmissions"] >= 1


def test_pace_sets_up_only_the_nodes_its_setup_floor_needs_and_the_others_stop_cleanly(tmp_path):
    """PACE's set-up choice on the orchestrator (real HTTP, real clients): with pace_setup_floor 0.5
    two of four nodes are set up; the other two never get a task or a score, and are stopped at the
    end like every client (the run finishes, nobody failed)."""
    config = tmp_path / "pace.json"
    config.write_text(json.dumps({"policy_options": {"pace_setup_floor": 0.5}}))
    _local(tmp_path / "run", "pace", NODES, EPOCHS, config)
    run = tmp_path / "run"
    s = json.loads((run / "summary.json").read_text())
    assert len(s["not_set_up"]) == 2 and s["failed"] == 0, s
    epochs = read_rows(run / "epochs.csv")
    assert len(epochs) == EPOCHS and float(epochs[-1]["val_loss"]) < s["pre_training_loss"]
    seen = {nid for row in epochs for nid in row["active_nodes"].split(";")}
    assert seen and not seen & set(s["not_set_up"])
    rows = read_rows(run / "node_epochs.csv")
    assert not {row["node_id"] for row in rows} & set(s["not_set_up"])
