"""`edgeft simulate --training real` end to end (experiments/runners/simulate.py, one child process per
run): the loss columns are real, the report's time to target and loss_vs_time.png come with them, AR's
curve is the same in every setup (it depends only on the nodes and the seed), and a second invocation
on the same --training-cache trains nothing and writes the same losses, bit for bit."""

import csv
import json
from pathlib import Path

import pytest

from experiments.runners import simulate

pytestmark = pytest.mark.integration
pytest.importorskip("simgrid", reason="SimGrid (python3-simgrid) is installed by scripts/install.sh")

FLAGS = ["--nodes", "12", "--setups", "1,2", "--policies", "ne,ar", "--seeds", "0", "--epochs", "2", "--jobs", "2"]


def _rows(out: Path) -> dict[tuple[str, str], dict]:
    with (out / "results.csv").open() as fh:
        return {(r["setup"], r["policy"]): r for r in csv.DictReader(fh)}


def _losses(run_dir: str) -> tuple[list[str], dict]:
    with (Path(run_dir) / "epochs.csv").open() as fh:
        val = [r["val_loss"] for r in csv.DictReader(fh)]
    return val, json.loads((Path(run_dir) / "summary.json").read_text())


def test_real_losses_reused_across_setups_and_invocations(tmp_path):
    cache = tmp_path / "cache"
    first = tmp_path / "first"
    assert simulate.main([*FLAGS, "--training", "real", "--training-cache", str(cache), "--out", str(first)]) == 0
    rows = _rows(first)
    assert len(rows) == 4 and (first / "loss_vs_time.png").stat().st_size > 0
    summaries = {}
    for key, row in rows.items():
        val, summary = _losses(row["run_dir"])
        summaries[key] = summary
        assert float(row["pre_training_loss"]) > float(val[0]) > float(val[1])  # the loss falls
        assert float(row["final_val_loss"]) == summary["final_val_loss"]
        assert row["time_to_target_s"] != "" or row["policy"] == "ne"  # AR reaches its own final loss
    # AR's curve depends only on (nodes, seed): the same in both setups, and trained once for both
    assert summaries[("1", "ar")]["final_val_loss"] == summaries[("2", "ar")]["final_val_loss"]
    trained = sum(s["training_stats"]["epochs_trained"] for s in summaries.values())
    assert trained <= 1 + 1 + 2  # epoch 0 once for all four runs, AR's epoch 1 once for both setups, NE's per setup
    second = tmp_path / "second"
    assert simulate.main([*FLAGS, "--training", "real", "--training-cache", str(cache), "--out", str(second)]) == 0
    for key, row in _rows(second).items():
        val, summary = _losses(row["run_dir"])
        assert summary["training_stats"]["epochs_trained"] == 0 and summary["training_stats"]["epochs_reused"] == 2
        # the base the losses came from, the same one, recorded by both runs
        assert summary["training_stats"]["base_digest"] == summaries[key]["training_stats"]["base_digest"]
        assert len(summary["training_stats"]["base_digest"]) == 64
        assert val == _losses(rows[key]["run_dir"])[0]
        assert summary["final_val_loss"] == summaries[key]["final_val_loss"]
        assert summary["completion_time_s"] == summaries[key]["completion_time_s"]  # time is unaffected
