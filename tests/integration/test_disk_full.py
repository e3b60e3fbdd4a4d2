"""A full disk, for real: the child process runs under a file-size limit (RLIMIT_FSIZE of 64
blocks of 512 bytes) with SIGXFSZ ignored, so a write past the limit fails with EFBIG as on a
full disk (issue 26 item 5). Every line written before the failure is still there, no file is
cut in place, and the error names the path."""

import csv
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.results import EPOCH_FIELDS, IO_ERROR_EXIT, NODE_EPOCH_FIELDS, SYNC_FIELDS, csv_text

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64 * 512  # bytes: "64 blocks", smaller than the files the tests make


def _limited() -> None:
    """In the child, before exec: writes past LIMIT fail with EFBIG instead of killing it."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an ignored signal stays ignored across exec
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


def _run(args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, preexec_fn=_limited)


def _big_run_folder(folder: Path, epochs: int = 4, per_epoch: int = 500) -> None:
    """A run folder whose node_epochs.csv and syncs.csv are well over LIMIT (epoch 3 unfinished)."""
    folder.mkdir(parents=True, exist_ok=True)
    node_rows = [
        {"epoch": e, "node_id": f"node-{i:04d}", "status": "active", "train_time_s": 1.25}
        for e in range(epochs)
        for i in range(per_epoch)
    ]
    sync_rows = [
        {"node_id": r["node_id"], "version": r["epoch"] + 1, "digest": "ab" * 8, "matches_orchestrator": True}
        for r in node_rows
    ]
    (folder / "epochs.csv").write_text(csv_text(EPOCH_FIELDS, [{"epoch": e, "version": e + 1} for e in range(epochs)]))
    (folder / "node_epochs.csv").write_text(csv_text(NODE_EPOCH_FIELDS, node_rows))
    (folder / "syncs.csv").write_text(csv_text(SYNC_FIELDS, sync_rows))
    assert (folder / "syncs.csv").stat().st_size > LIMIT and (folder / "node_epochs.csv").stat().st_size > LIMIT


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix == ".csv"}


CHILD_RESUME = """
import sys
from orchestrator.results import Recorder, RunFolderError
try:
    Recorder(sys.argv[1], {}, 0, resume_after=2)
except RunFolderError as exc:
    print(exc, file=sys.stderr)
    sys.exit(74)
"""


def test_a_resume_under_a_full_disk_keeps_every_line(tmp_path):
    """Today's code rewrote each CSV in place on --resume and cut it at the limit (syncs.csv 2009 -> 712 lines)."""
    _big_run_folder(tmp_path)
    before = _snapshot(tmp_path)
    res = _run([sys.executable, "-c", CHILD_RESUME, str(tmp_path)])
    assert res.returncode == IO_ERROR_EXIT, res.stderr[-2000:]
    assert str(tmp_path / "node_epochs.csv") in res.stderr and "File too large" in res.stderr
    assert _snapshot(tmp_path) == before  # nothing cut, nothing half-replaced
    assert not list(tmp_path.glob(".*.tmp"))


CHILD_APPEND = """
import json, sys
from orchestrator.results import Recorder, RunFolderError
rec = Recorder(sys.argv[1], {}, 0)
written = 0
try:
    while True:
        rec.syncs.write({"node_id": f"node-{written:05d}", "version": 1, "digest": "cd" * 8, "at": 1.5})
        written += 1
except RunFolderError as exc:
    failure = str(exc)
refused = []
for attempt in (lambda: rec.epochs.write({"epoch": 0}), rec.sync):
    try:
        attempt()
    except RunFolderError:
        refused.append(True)
print(json.dumps({"written": written, "failure": failure, "refused": refused}))
"""


def test_appending_under_a_full_disk_keeps_whole_rows_and_stops_every_later_write(tmp_path):
    res = _run([sys.executable, "-c", CHILD_APPEND, str(tmp_path)])
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    raw = (tmp_path / "syncs.csv").read_bytes()
    assert raw.endswith(b"\r\n") and len(raw) <= LIMIT  # the partial row was cut back, not left torn
    with (tmp_path / "syncs.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["node_id"] for r in rows] == [f"node-{i:05d}" for i in range(out["written"])]
    assert str(tmp_path / "syncs.csv") in out["failure"] and "--resume" in out["failure"]
    assert out["refused"] == [True, True]  # no later row of any CSV: no gap, no checkpoint past the loss


def _checkpoint_for(folder: Path, epoch: int) -> None:
    """A complete checkpoint of epoch `epoch` whose fingerprint matches `edgeft orchestrator`'s default config."""
    import numpy as np
    import torch

    from orchestrator import checkpoint
    from orchestrator.config import OrchestratorConfig

    cfg = OrchestratorConfig()
    cfg.emulation.dilation = 1.0  # what the CLI sets for a lone orchestrator
    node = {"status": "active", "epochs_trained": epoch + 1, "fail_reason": None}
    state = {k: {} for k in checkpoint.RESUME_KEYS}
    state.update(
        fingerprint=checkpoint.fingerprint(cfg.model_dump(mode="json")),
        epoch=epoch,
        version=epoch + 1,
        val_loss=3.0,
        adapter={"w": torch.zeros(2)},
        nodes={"node-0000": node},
        total_nodes=1,
        policy=None,
        rng=np.random.default_rng(0).bit_generator.state,
        coverage=[],
        bubbles=[],
        readmissions=0,
        bytes=(0, 0),
        elapsed_s=1.0,
    )
    checkpoint.save(folder, state)


def test_orchestrator_resume_under_a_full_disk_names_the_file_and_keeps_every_line(tmp_path):
    """End to end through the CLI: the resume must drop epoch 3's rows from a file larger than the disk allows."""
    _big_run_folder(tmp_path)
    _checkpoint_for(tmp_path, epoch=2)
    before = _snapshot(tmp_path)
    res = _run(
        [sys.executable, "-m", "experiments.cli", "orchestrator", "--resume", "--out", str(tmp_path), "--port", "0"]
    )
    err = [line for line in res.stderr.splitlines() if line.startswith("edgeft: error")]
    assert len(err) == 1 and str(tmp_path / "node_epochs.csv") in err[0], res.stderr[-2000:]
    assert _snapshot(tmp_path) == before
    assert res.returncode == IO_ERROR_EXIT, res.stderr[-2000:]  # an I/O error is not bad input (exit 2)


CHILD_CHECKPOINT = """
import sys, torch
from pathlib import Path
from orchestrator import checkpoint
from orchestrator.results import RunFolderError
try:
    checkpoint.save(Path(sys.argv[1]), {"adapter": {"w": torch.zeros(64, 1024)}, "epoch": 5})  # 256 kB > LIMIT
except RunFolderError as exc:
    print(exc, file=sys.stderr)
    sys.exit(74)
"""


def test_a_checkpoint_that_does_not_fit_leaves_the_last_one_whole(tmp_path):
    import torch

    from orchestrator import checkpoint

    checkpoint.save(tmp_path, {"adapter": {"w": torch.ones(2)}, "epoch": 4})
    before = (tmp_path / checkpoint.FILE).read_bytes()
    res = _run([sys.executable, "-c", CHILD_CHECKPOINT, str(tmp_path)])
    assert res.returncode == IO_ERROR_EXIT, res.stderr[-2000:]
    assert str(tmp_path / checkpoint.FILE) in res.stderr
    assert (tmp_path / checkpoint.FILE).read_bytes() == before and checkpoint.load(tmp_path, None)["epoch"] == 4
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.FILE]  # no temp file left behind
