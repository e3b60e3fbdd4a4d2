"""A run folder is never started over by accident, and its CSVs are never cut in place (issue 26 item 5):
guard_run_folder refuses a folder holding a run unless --resume or --overwrite says what to do with it;
the Recorder refuses to start a fresh run over rows; a resume keeps every row it can and replaces a file
only whole (temp file, fsync, rename)."""

import csv
import json
import os

import pytest

from edgeft.config_files import ConfigError
from orchestrator import checkpoint
from orchestrator.results import (
    EPOCH_FIELDS,
    NODE_EPOCH_FIELDS,
    RUN_MARKERS,
    SYNC_FIELDS,
    Recorder,
    csv_text,
    guard_run_folder,
)


def _finished_run(folder, epochs=3):
    """A run folder as a finished 2-node run leaves it (the Recorder's own files)."""
    rec = Recorder(folder, {"nodes": 2}, 0)
    for e in range(epochs):
        rec.epochs.write({"epoch": e, "version": e + 1, "val_loss": 3.0 - e})
        for nid in ("node-01", "node-02"):
            rec.node_epochs.write({"epoch": e, "node_id": nid, "status": "active", "train_time_s": 1.5})
            rec.syncs.write({"node_id": nid, "version": e + 1, "digest": "d", "matches_orchestrator": True, "at": 1.0})
    rec.write_nodes([{"node_id": "node-01"}, {"node_id": "node-02"}])
    rec.write_summary({"policy": "ne", "epochs": epochs})
    rec.close()
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _rows(path):
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_a_folder_holding_a_run_is_refused_in_one_line_naming_both_flags(tmp_path):
    before = _finished_run(tmp_path / "run")
    with pytest.raises(ConfigError) as err:
        guard_run_folder(tmp_path / "run", resume=False, overwrite=False)
    msg = str(err.value)
    assert "--resume" in msg and "--overwrite" in msg and str(tmp_path / "run") in msg and "\n" not in msg
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir()} == before


@pytest.mark.parametrize("marker", RUN_MARKERS)
def test_each_marker_alone_means_a_run(tmp_path, marker):
    (tmp_path / marker).write_text("x")
    with pytest.raises(ConfigError, match="already holds a run"):
        guard_run_folder(tmp_path, resume=False, overwrite=False)


def test_markers_name_the_checkpoint_files_the_checkpoint_module_writes():
    assert checkpoint.FILE in RUN_MARKERS and checkpoint.OLD_PICKLE in RUN_MARKERS


def test_empty_missing_or_unrelated_folders_and_resume_pass(tmp_path):
    guard_run_folder(tmp_path / "absent", resume=False, overwrite=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    guard_run_folder(tmp_path / "other", resume=False, overwrite=False)
    _finished_run(tmp_path / "run")
    guard_run_folder(tmp_path / "run", resume=True, overwrite=False)
    assert (tmp_path / "run" / "epochs.csv").is_file()


def test_overwrite_moves_the_old_run_aside_whole_and_twice(tmp_path):
    before = _finished_run(tmp_path / "run")
    guard_run_folder(tmp_path / "run", resume=False, overwrite=True)
    assert not (tmp_path / "run").exists()
    (aside,) = tmp_path.glob("run.old-*")
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == before
    _finished_run(tmp_path / "run")  # a second run, overwritten within the same second: a second free name
    guard_run_folder(tmp_path / "run", resume=False, overwrite=True)
    assert len(list(tmp_path.glob("run.old-*"))) == 2 and not (tmp_path / "run").exists()


def test_resume_and_overwrite_together_and_overwriting_the_working_folder_are_refused(tmp_path, monkeypatch):
    _finished_run(tmp_path / "run")
    with pytest.raises(ConfigError, match="exclude each other"):
        guard_run_folder(tmp_path / "run", resume=True, overwrite=True)
    monkeypatch.chdir(tmp_path / "run")
    with pytest.raises(ConfigError, match="will not move"):
        guard_run_folder(".", resume=False, overwrite=True)
    assert (tmp_path / "run" / "epochs.csv").is_file()


def test_a_fresh_recorder_never_truncates_a_finished_run(tmp_path):
    """Issue 26: a fresh orchestrator in a finished run's folder cut its CSVs to their header."""
    before = _finished_run(tmp_path)
    with pytest.raises(ConfigError, match="--resume") as err:
        Recorder(tmp_path, {"nodes": 2}, 0)
    assert "\n" not in str(err.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_fresh_recorder_over_header_only_files_starts_cleanly(tmp_path):
    Recorder(tmp_path, {}, 0).close()
    rec = Recorder(tmp_path, {}, 0)  # nothing measured yet: nothing to lose
    rec.epochs.write({"epoch": 0})
    rec.close()
    assert [r["epoch"] for r in _rows(tmp_path / "epochs.csv")] == ["0"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_resume_appends_in_place_when_every_row_is_kept(tmp_path):
    _finished_run(tmp_path)
    inode = {n: os.stat(tmp_path / n).st_ino for n in ("epochs.csv", "syncs.csv")}
    rec = Recorder(tmp_path, {"nodes": 2}, 0, resume_after=2)
    rec.epochs.write({"epoch": 3})
    rec.close()
    assert [r["epoch"] for r in _rows(tmp_path / "epochs.csv")] == ["0", "1", "2", "3"]
    assert len(_rows(tmp_path / "syncs.csv")) == 6
    assert {n: os.stat(tmp_path / n).st_ino for n in inode} == inode  # appended, not rewritten
    assert "resumed after epoch 2" in (tmp_path / "resumes.log").read_text()


def test_resume_drops_an_unfinished_epoch_by_replacing_the_file_whole(tmp_path):
    _finished_run(tmp_path)
    inode = os.stat(tmp_path / "node_epochs.csv").st_ino
    rec = Recorder(tmp_path, {"nodes": 2}, 0, resume_after=0)
    rec.close()
    assert [r["epoch"] for r in _rows(tmp_path / "epochs.csv")] == ["0"]
    assert [r["epoch"] for r in _rows(tmp_path / "node_epochs.csv")] == ["0", "0"]
    assert os.stat(tmp_path / "node_epochs.csv").st_ino != inode  # a new file renamed over, never cut in place
    # syncs.csv has no epoch column: rows of versions after the checkpoint's (v1) go, as later epochs' rows do
    assert [(r["node_id"], r["version"]) for r in _rows(tmp_path / "syncs.csv")] == [("node-01", "1"), ("node-02", "1")]
    assert not list(tmp_path.glob(".*.tmp"))


def test_resume_drops_a_row_torn_by_a_crash_and_adopts_new_columns(tmp_path):
    old_fields = [f for f in NODE_EPOCH_FIELDS if f != "capacity_source"]  # a run from before the column existed
    text = csv_text(old_fields, [{"epoch": 0, "node_id": "node-01", "capacity_mbps": 9.5}])
    (tmp_path / "node_epochs.csv").write_text(text + "1,node-02,act")  # the crash came mid-row
    (tmp_path / "epochs.csv").write_text(csv_text(EPOCH_FIELDS, [{"epoch": 0}]))
    (tmp_path / "syncs.csv").write_text(csv_text(SYNC_FIELDS, []))
    Recorder(tmp_path, {}, 0, resume_after=1).close()
    with (tmp_path / "node_epochs.csv").open() as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert reader.fieldnames == NODE_EPOCH_FIELDS
    assert [(r["node_id"], r["capacity_mbps"], r["capacity_source"]) for r in rows] == [("node-01", "9.5", "")]


def test_summary_and_nodes_are_replaced_whole(tmp_path):
    rec = Recorder(tmp_path, {}, 0)
    rec.write_summary({"a": 1})
    rec.write_summary({"a": 2})
    rec.write_nodes([{"node_id": "n1"}])
    rec.close()
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 2}
    assert [r["node_id"] for r in _rows(tmp_path / "nodes.csv")] == ["n1"]
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob("*.tmp"))
