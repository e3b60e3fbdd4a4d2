"""Review C6: on --resume, syncs.csv kept every row while the nodes' sync records restart
empty, so the versions after the checkpoint were recorded twice. A resumed Recorder keeps
the rows of versions up to the checkpoint's (the version epochs.csv says the checkpointed
epoch published), replaced atomically like the other CSVs, and a re-acknowledged version
that already has its row adds none."""

from __future__ import annotations

import csv
from pathlib import Path

from edgeft.wire import Ack, TaskKind
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import Coordinator
from orchestrator.registry import Node, Registry
from orchestrator.results import Recorder

NODES = ("n1", "n2")


def _syncs(folder: Path) -> list[tuple[str, int]]:
    with (folder / "syncs.csv").open() as fh:
        return [(r["node_id"], int(r["version"])) for r in csv.DictReader(fh)]


def _first_run(folder: Path) -> None:
    """Epochs 0..2 publish v1..v3; every node acknowledges v0..v3; the run stops after epoch 2."""
    rec = Recorder(folder, {}, 0)
    for epoch in range(3):
        rec.epochs.write({"epoch": epoch, "version": epoch + 1})
    for version in range(4):
        for node in NODES:
            rec.syncs.write({"node_id": node, "version": version, "digest": "d" * 64, "matches_orchestrator": True})
    rec.close()


def test_resume_drops_sync_rows_after_the_checkpoint(tmp_path):
    _first_run(tmp_path)
    rec = Recorder(tmp_path, {}, 0, resume_after=1)  # the checkpoint: epoch 1, v2
    assert _syncs(tmp_path) == [(n, v) for v in range(3) for n in NODES]
    assert rec.synced_rows == {(n, v) for v in range(3) for n in NODES}
    assert not list(tmp_path.glob(".syncs.csv.*.tmp"))  # replaced whole, no temp left
    rec.close()


def test_resumed_run_records_each_version_once(tmp_path):
    _first_run(tmp_path)
    rec = Recorder(tmp_path, {}, 0, resume_after=1)
    coord = Coordinator(OrchestratorConfig(nodes=2, policy="ar"), Registry("s3cret"), rec, "runtok")
    coord.version = 2
    coord.adapters = {2: (b"", "a" * 64), 3: (b"", "b" * 64)}
    for nid in NODES:
        coord.registry.nodes[nid] = Node(node_id=nid, token="", compute_power=30.0, device="cpu", ip=None)
    for version, digest in ((2, "a" * 64), (3, "b" * 64)):  # the resumed set-up acks v2; epoch 2 again gives v3
        for nid in NODES:
            node = coord.registry.nodes[nid]
            assert coord.record_ack(node, Ack(node_id=nid, kind=TaskKind.SYNC, version=version, digest=digest))
    rec.sync()
    rows = _syncs(tmp_path)
    assert rows == [(n, v) for v in range(4) for n in NODES]  # v2 not twice, v3 once (it was dropped, then redone)
    assert len(set(rows)) == len(rows)
    rec.close()
