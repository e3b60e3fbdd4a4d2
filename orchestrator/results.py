"""The run folder: config + seed + versions, per-epoch and per-node CSVs, the summary.

Rows are appended and flushed as they happen, so a crash loses nothing that
was already measured. No file that holds results is ever truncated: a CSV is
only appended to, or replaced whole (written to a temp file in the same folder,
flushed, fsynced, renamed over the old one); so are config.json, nodes.csv and
summary.json. A write that fails (a full disk, a file-size limit) cuts off only
its own partial row, stops every later write of the run (a CSV never has a gap)
and raises RunFolderError naming the file: the CLI exits with IO_ERROR_EXIT.

A folder that already holds a run is never started over by accident:
`guard_run_folder` refuses it unless the user says `--resume` (continue it) or
`--overwrite` (the old run is moved aside to `<dir>.old-<time>`, nothing deleted).
"""

from __future__ import annotations

import csv
import errno
import importlib.metadata
import io
import json
import logging
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from edgeft.config_files import ConfigError

log = logging.getLogger(__name__)
IO_ERROR_EXIT = 74  # EX_IOERR (sysexits.h): the run folder could not be written; 2 stays "bad input"
# Files whose presence means a folder holds a run (or a comparison's rows): never started over silently.
RUN_MARKERS = (
    "config.json",
    "epochs.csv",
    "node_epochs.csv",
    "summary.json",
    "checkpoint.safetensors",  # orchestrator/checkpoint.py FILE
    "checkpoint.pt",  # its old pickle kind
    "results.csv",  # experiments/runners/mininet_sweep.py: a comparison's rows
)

EPOCH_FIELDS = [
    "epoch",
    "version",
    "active",
    "active_nodes",
    "eliminated",
    "readmitted",
    "failed",
    "scores",
    "train_loss",
    "val_loss",
    "epoch_time_s",
    "bytes_in",
    "bytes_out",
    "adapter_digest",
    "bubble_s",
    "coverage",
]
NODE_EPOCH_FIELDS = [
    "epoch",
    "node_id",
    "status",
    "score",
    "compute_power",
    "bandwidth_mbps",
    "delay_ms",
    "loss_pct",
    "loss_scored_pct",
    "loss_samples",
    "capacity_mbps",
    "capacity_source",
    "metrics_stale",
    "missing_figures",
    "train_time_s",
    "train_time_declared_s",
    "train_time_flagged",
    "compute_wall_s",
    "download_s",
    "upload_s",
    "waiting_s",
    "round_trip_s",
    "loss",
    "samples",
    "tokens",
    "work_gflop",
]
SYNC_FIELDS = ["node_id", "version", "digest", "matches_orchestrator", "at"]
NODE_FIELDS = [
    "node_id",
    "compute_power",
    "device",
    "ip",
    "final_status",
    "epochs_trained",
    "fail_reason",
    "final_digest_matches",
    "setup_s",
]
PACKAGES = ("torch", "transformers", "peft", "numpy", "fastapi", "uvicorn", "requests", "safetensors", "tokenizers")


def versions_of(packages: tuple[str, ...]) -> dict[str, str]:
    """Installed versions ("absent" where not installed)."""
    out = {}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "absent"
    return out


def package_versions() -> dict[str, str]:
    return {"python": sys.version.split()[0], "platform": platform.platform(), **versions_of(PACKAGES)}


def tcp_settings() -> dict[str, str]:
    """The TCP that carries this process's transfers, which the fidelity model (orchestrator/fidelity.py)
    must match: the congestion control of this namespace's routes (topologies/edge_cloud.py pins one on
    every Mininet host's routes), else its default; slow start after idle. "unknown" where Linux does not say."""
    out = {"congestion_control": "unknown", "slow_start_after_idle": "unknown"}
    try:
        out["congestion_control"] = Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip()
        out["slow_start_after_idle"] = Path("/proc/sys/net/ipv4/tcp_slow_start_after_idle").read_text().strip()
        routes = json.loads(subprocess.run(["ip", "-j", "route", "show"], capture_output=True, timeout=5).stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return out
    on_routes = {m["congestion"] for r in routes for m in r.get("metrics", []) if "congestion" in m}
    if len(on_routes) == 1 and all(r.get("metrics") for r in routes):
        out["congestion_control"] = on_routes.pop()
    return out


class RunFolderError(OSError):
    """A file of the run folder could not be written or read back (disk full, file-size limit,
    permissions). Its message is one line naming the path; rows written before it are intact."""

    def __init__(self, path: Path | str, cause: OSError, action: str = "") -> None:
        super().__init__(cause.errno or errno.EIO, cause.strerror or str(cause), str(path))
        self.path, self.action = Path(path), action

    def __str__(self) -> str:
        if self.action:
            return f"cannot {self.action} {self.path}: {self.strerror}"
        return (
            f"cannot write the run folder file {self.path}: {self.strerror}; every row written before is kept "
            "(free space, then continue with --resume)"
        )


def run_files(out_dir: str | Path) -> list[str]:
    """The RUN_MARKERS present in out_dir: empty when it holds no run (or does not exist)."""
    folder = Path(out_dir)
    return [name for name in RUN_MARKERS if (folder / name).exists()] if folder.is_dir() else []


def guard_run_folder(out_dir: str | Path, resume: bool, overwrite: bool) -> None:
    """Before anything starts: refuse a folder that holds a run unless `--resume` or `--overwrite`
    says what to do with it (ConfigError, one line: exit 2). With `overwrite` the old run is moved
    aside to `<out_dir>.old-<time>` (renamed, nothing deleted) and out_dir no longer exists."""
    folder = Path(out_dir)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite exclude each other: continue the run in --out, or start it afresh")
    held = run_files(folder)
    if not held or resume:
        return  # nothing to lose; or --resume, whose checkpoint check says if the run can go on
    if not overwrite:
        raise ConfigError(
            f"{folder} already holds a run ({', '.join(held)}): add --resume to continue it, or --overwrite to move "
            f"it aside to {folder}.old-<time> and start afresh (or choose another --out)"
        )
    moved = move_aside(folder)
    log.warning("--overwrite: the earlier run in %s is now in %s", folder, moved)


def move_aside(folder: Path) -> Path:
    """Rename folder to a free `<folder>.old-<YYYYmmdd-HHMMSS>[-n]` beside it; the path it got."""
    here, target = Path.cwd().resolve(), folder.resolve()
    if target == target.parent or target == Path.home().resolve() or here.is_relative_to(target):
        raise ConfigError(
            f"--overwrite will not move {folder} (the root, your home or the working folder): choose another --out"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = target.with_name(f"{target.name}.old-{stamp}")
    n = 0
    while aside.exists():
        n += 1
        aside = target.with_name(f"{target.name}.old-{stamp}-{n}")
    try:
        target.rename(aside)
    except OSError as exc:
        raise RunFolderError(target, exc, f"move aside (to {aside.name}) the run folder") from exc
    return aside


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` by `data` whole: a temp file in the same folder, flushed, fsynced, renamed
    over it, the folder fsynced. On any failure the old file is untouched and the temp removed."""
    replace_together({path: data})


def replace_together(contents: dict[Path, bytes]) -> None:
    """write_atomic for several files of one folder, all or none: every temp file is written and
    fsynced before the first rename, so a full disk leaves every old file as it was."""
    tmps: dict[Path, Path] = {}
    path = next(iter(contents), Path("."))
    try:
        for path, data in contents.items():
            tmps[path] = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with tmps[path].open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for path, tmp in tmps.items():
            os.replace(tmp, path)
        for folder in {p.parent for p in tmps}:
            _fsync_dir(folder)
    except OSError as exc:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
        raise RunFolderError(path, exc) from exc


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a crash right after it keeps the new file)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Health:
    """The first write failure of a run folder: after it every write refuses, so no CSV gets a gap."""

    failure: RunFolderError | None = None

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure


def csv_text(fields: list[str], rows: list[dict[str, Any]], header: bool = True) -> str:
    """Rows (values formatted as in the run's CSVs) as CSV text, with the header line first unless told not."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    if header:
        writer.writeheader()
    writer.writerows({k: _fmt(r.get(k, "")) for k in fields} for r in rows)
    return buf.getvalue()


class _CsvLog:
    """One CSV of the run, appended to row by row (each row reaches the OS as it is written).
    Its file already holds the header (Recorder prepares every CSV before opening any)."""

    def __init__(self, path: Path, fields: list[str], health: _Health) -> None:
        self.path, self.fields, self.health = path, fields, health
        try:
            self.file = path.open("ab", buffering=0)
        except OSError as exc:
            raise RunFolderError(path, exc) from exc
        self.size = self.file.seek(0, os.SEEK_END)
        self.lock = threading.Lock()  # syncs.csv is written from the API's worker threads

    def write(self, row: dict[str, Any]) -> None:
        """Append one row; RunFolderError (after cutting off its own partial bytes) if it cannot."""
        data = csv_text(self.fields, [row], header=False).encode()
        with self.lock:
            self.health.check()
            view = memoryview(data)
            try:
                while view:
                    view = view[self.file.write(view) :]  # a short write (the limit reached) raises on the next call
            except OSError as exc:
                self._cut_back()
                self.health.failure = RunFolderError(self.path, exc)
                raise self.health.failure from exc
            self.size += len(data)

    def _cut_back(self) -> None:
        """Drop the partial row a failed write left, so the file ends with the last whole row."""
        try:
            os.ftruncate(self.file.fileno(), self.size)
        except OSError:
            log.warning("%s may end with a partial row (cannot cut it back)", self.path)

    def sync(self) -> None:
        """Make the rows written so far durable (fsync): before a checkpoint claims their epoch."""
        self.health.check()
        try:
            os.fsync(self.file.fileno())
        except OSError as exc:
            self.health.failure = RunFolderError(self.path, exc)
            raise self.health.failure from exc

    def close(self) -> None:
        if self.file.closed:  # a second close (the loop's and the server's teardown) is a no-op
            return
        try:
            os.fsync(self.file.fileno())
        except OSError:
            log.warning("%s: fsync at close failed", self.path)
        self.file.close()


def _has_rows(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            fh.readline()  # the header
            return bool(fh.readline().strip())
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise RunFolderError(path, exc) from exc


def _fresh_contents(logs: dict[Path, list[str]]) -> dict[Path, bytes]:
    """Header-only files for a fresh run; ConfigError if one already holds rows (guard_run_folder was skipped)."""
    for path in logs:
        if _has_rows(path):
            raise ConfigError(
                f"{path} already holds rows of a run: resume it with --resume, or start afresh with --overwrite"
            )
    return {path: csv_text(fields, []).encode() for path, fields in logs.items()}


def _resume_contents(logs: dict[Path, list[str]], keep_through_epoch: int) -> tuple[dict[Path, bytes], list[dict]]:
    """The CSVs a resume must replace, with their new contents (a file left out is appended to as it
    is), and the kept rows of syncs.csv. Rows after the checkpoint go: by their epoch column, and in
    syncs.csv (no epoch column) by version, above the version the checkpointed epoch's row published."""
    out, kept_syncs = {}, []
    ckpt_version: int | None = None
    for path, fields in logs.items():  # epochs.csv first: its kept rows name the checkpoint's version
        if "epoch" in fields:
            keep = _through_epoch(keep_through_epoch)
        else:
            keep = _through_version(ckpt_version)
        new, kept = _resumed_csv(path, fields, keep)
        if path.name == "epochs.csv":
            ckpt_version = _version_of(kept, keep_through_epoch)
        if path.name == "syncs.csv":
            kept_syncs = kept
        if new is not None:
            out[path] = new
    return out, kept_syncs


def _through_epoch(last: int) -> Callable[[dict], bool]:
    return lambda r: "epoch" not in r or not str(r["epoch"]).isdigit() or int(r["epoch"]) <= last


def _through_version(last: int | None) -> Callable[[dict], bool]:
    """Rows of versions up to `last`; every row when the checkpoint's version is not known."""
    return lambda r: last is None or not str(r.get("version", "")).isdigit() or int(r["version"]) <= last


def _version_of(epoch_rows: list[dict], epoch: int) -> int | None:
    """The version epochs.csv says `epoch` published (the checkpoint's version), None if not there."""
    for r in epoch_rows:
        if str(r.get("epoch")) == str(epoch) and str(r.get("version", "")).isdigit():
            return int(r["version"])
    return None


def _resumed_csv(path: Path, fields: list[str], keep: Callable[[dict], bool]) -> tuple[bytes | None, list[dict]]:
    """(None if `path` already holds the header of `fields` and only rows `keep` keeps, else the
    contents it must get instead; the kept rows)."""
    try:
        raw = path.read_bytes() if path.exists() else b""
    except OSError as exc:
        raise RunFolderError(path, exc) from exc
    whole = raw[: raw.rfind(b"\n") + 1]  # a row torn by a crash mid-write is dropped, not kept half
    reader = csv.DictReader(io.StringIO(whole.decode("utf-8", errors="replace")))
    rows = list(reader)
    kept = [r for r in rows if keep(r)]
    if raw and whole == raw and reader.fieldnames == fields and len(kept) == len(rows):
        return None, kept
    return csv_text(fields, kept).encode(), kept


def wall_stamp(seconds: float) -> str:
    """A wall-clock time (time.time()) for a CSV cell, to the millisecond: the cells' six significant digits
    would round it to 100 s."""
    return f"{seconds:.3f}"


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return value


class Recorder:
    def __init__(self, out_dir: str | Path, config: dict[str, Any], seed: int, resume_after: int | None = None) -> None:
        """resume_after: the checkpointed epoch of a resumed run (its rows are kept), else None."""
        self.dir = Path(out_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(self.dir, exc) from exc
        meta = {
            "config": config,
            "seed": seed,
            "versions": package_versions(),
            "tcp": tcp_settings(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        k = resume_after
        logs = {self.dir / "epochs.csv": EPOCH_FIELDS, self.dir / "node_epochs.csv": NODE_EPOCH_FIELDS}
        logs[self.dir / "syncs.csv"] = SYNC_FIELDS  # no epoch column: a resume keeps the versions up to its own
        kept_syncs: list[dict] = []
        if k is None:
            replace_together(_fresh_contents(logs))
        else:
            contents, kept_syncs = _resume_contents(logs, k)
            replace_together(contents)
        # (node, version) pairs syncs.csv already holds: one row each, even when a resumed set-up acks again
        self.synced_rows: set[tuple[str, int]] = {
            (r["node_id"], int(r["version"])) for r in kept_syncs if str(r.get("version", "")).isdigit()
        }
        self.health = _Health()  # one for the folder: a failed write of any CSV stops them all
        self.epochs, self.node_epochs, self.syncs = (_CsvLog(p, f, self.health) for p, f in logs.items())
        write_atomic(self.dir / "config.json", json.dumps(meta, indent=2).encode())
        if k is not None:
            line = f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} resumed after epoch {k}\n"
            try:
                with (self.dir / "resumes.log").open("a") as fh:
                    fh.write(line)
            except OSError as exc:
                raise RunFolderError(self.dir / "resumes.log", exc) from exc

    def write_nodes(self, rows: list[dict[str, Any]]) -> None:
        self.health.check()
        write_atomic(self.dir / "nodes.csv", csv_text(NODE_FIELDS, rows).encode())

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_atomic(self.dir / "summary.json", json.dumps(summary, indent=2).encode())

    def sync(self) -> None:
        """Every row so far durable on disk; RunFolderError if any write of the run failed."""
        for csv_log in (self.epochs, self.node_epochs, self.syncs):
            csv_log.sync()

    def close(self) -> None:
        for csv_log in (self.epochs, self.node_epochs, self.syncs):
            csv_log.close()
