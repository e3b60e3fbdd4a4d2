"""The orchestrator SIGKILLed mid-run and restarted with --resume continues from its
last checkpoint; the clients notice, enrol again and go on. The result equals an
uninterrupted run of the same seed in everything but wall time: every epoch's
validation loss and adapter digest, and the nodes the (seeded, random) policy chose."""

import csv
from pathlib import Path

import pytest

from experiments.faults import resumed_run

pytestmark = pytest.mark.integration
SAME = ("epoch", "version", "active_nodes", "eliminated", "val_loss", "train_loss", "adapter_digest", "coverage")


def test_killed_orchestrator_resumes_to_the_same_result(tmp_path):
    ref = resumed_run(tmp_path / "ref", kill=False)
    res = resumed_run(tmp_path / "res", kill=True)
    assert ref["rc"] == 0 and res["rc"] == 0, (tmp_path / "res" / "logs" / "orchestrator.log").read_text()[-3000:]
    a, b = ref["epochs"], res["epochs"]
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        assert {k: x[k] for k in SAME} == {k: y[k] for k in SAME}
    for key in ("final_val_loss", "final_adapter_digest", "final_version", "failed"):
        assert ref["summary"][key] == res["summary"][key], key
    for key in ("jain_index", "mean_coverage"):
        assert ref["summary"][key] == pytest.approx(res["summary"][key], rel=1e-12), key
    assert res["summary"]["failed"] == 0
    assert _trained(tmp_path / "ref") == _trained(tmp_path / "res")
    assert "resumed after epoch" in (tmp_path / "res" / "resumes.log").read_text()
    assert "enrolling again" in (tmp_path / "res" / "logs" / "node-01.log").read_text()


def _trained(out: Path) -> list[str]:
    with (out / "nodes.csv").open() as fh:
        return [r["epochs_trained"] for r in csv.DictReader(fh)]
