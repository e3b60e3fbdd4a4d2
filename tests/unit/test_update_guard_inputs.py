"""Inputs the orchestrator's view of the network reads (orchestrator/network_view.py):
a metrics file whose count overflows (`"samples": 1e400`, which JSON reads as infinity)
is refused at start with one line naming the field, exit 2 (it was an OverflowError
traceback); the source of a capacity figure travels with it to node_epochs.csv."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.network_view import NodeAddress, StaticMetrics

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "record,field",
    [
        ('{"bandwidth_mbps": 10, "delay_ms": 5, "loss_pct": 0, "samples": 1e400}', "samples"),
        ('{"bandwidth_mbps": 10, "samples": -3}', "samples"),
        ('{"bandwidth_mbps": 10, "samples": 2.5}', "samples"),
        ('{"bandwidth_mbps": 10, "updated_at": 1e400}', "updated_at"),
    ],
)
def test_a_metrics_file_with_an_overflowing_count_is_one_line_naming_it(tmp_path, record, field):
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"node-01": ' + record + "}")
    with pytest.raises(ValueError, match=f"'{field}'"):
        StaticMetrics.from_file(metrics)
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"nodes": 2, "metrics": {"source": "static", "static_file": str(metrics)}}))
    out = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "orchestrator", "--config", str(cfg)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"'{field}'" in lines[0] and "Traceback" not in out.stderr, out.stderr


def test_capacity_source_is_carried_from_the_record():
    metrics = StaticMetrics(
        {
            "n1": {"bandwidth_mbps": 10, "capacity_mbps": 12, "capacity_source": "hint"},
            "n2": {"bandwidth_mbps": 10},
        }
    )
    snap = metrics.snapshot([NodeAddress("n1", None), NodeAddress("n2", None)])
    assert snap["n1"].capacity_source == "hint" and snap["n2"].capacity_source == ""
