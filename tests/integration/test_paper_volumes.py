"""The "paper volumes" option really moves the padded bytes (real HTTP, real clients)."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_paper_volumes_pad_setup_and_every_epoch(tmp_path):
    scale, nodes, epochs = 0.001, 3, 2
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"paper_volumes: {scale}\n")
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "edgeft.cli", "local", "--config", str(cfg), "--nodes", str(nodes), "--epochs", str(epochs),
           "--policy", "ar", "--out", str(out), "--timeout", "300", "--no-emulate-compute"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    model, data = 500e6 * scale, 1000e6 * scale
    down = nodes * (model + data / nodes) + epochs * nodes * model  # set-up + a parameter sync per epoch
    up = epochs * nodes * model  # a gradient upload per node and epoch
    assert s["paper_volumes"] == scale
    assert s["bytes_out"] >= down and s["bytes_in"] >= up
    assert s["bytes_in"] < up + 5e6  # padding plus the real (small) adapter gradients, nothing more
