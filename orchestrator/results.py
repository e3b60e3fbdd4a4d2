"""The run folder: config + seed + versions, per-epoch and per-node CSVs, the summary.

Rows are appended and flushed as they happen, so a crash loses nothing that
was already measured.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

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


class _CsvLog:
    def __init__(self, path: Path, fields: list[str], keep_through_epoch: int | None = None) -> None:
        """A fresh CSV; or, resuming, the old one cut back to rows of epochs <= keep_through_epoch
        (rows of an epoch whose checkpoint was never written are measured again)."""
        self.fields = fields
        kept = []
        if keep_through_epoch is not None and path.exists():
            with path.open() as fh:
                kept = [r for r in csv.DictReader(fh) if "epoch" not in r or int(r["epoch"]) <= keep_through_epoch]
        self.fh = path.open("w", newline="")
        self.writer = csv.DictWriter(self.fh, fieldnames=fields, extrasaction="ignore")
        self.writer.writeheader()
        self.writer.writerows(kept)
        self.fh.flush()

    def write(self, row: dict[str, Any]) -> None:
        self.writer.writerow({k: _fmt(row.get(k, "")) for k in self.fields})
        self.fh.flush()

    def close(self) -> None:
        self.fh.close()


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True)
    return v


class Recorder:
    def __init__(self, out_dir: str | Path, config: dict[str, Any], seed: int, resume_after: int | None = None) -> None:
        """resume_after: the checkpointed epoch of a resumed run (its rows are kept), else None."""
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = {
            "config": config,
            "seed": seed,
            "versions": package_versions(),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (self.dir / "config.json").write_text(json.dumps(meta, indent=2))
        k = resume_after
        self.epochs = _CsvLog(self.dir / "epochs.csv", EPOCH_FIELDS, k)
        self.node_epochs = _CsvLog(self.dir / "node_epochs.csv", NODE_EPOCH_FIELDS, k)
        self.syncs = _CsvLog(self.dir / "syncs.csv", SYNC_FIELDS, k)  # no epoch column: all kept
        if k is not None:
            with (self.dir / "resumes.log").open("a") as fh:
                fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} resumed after epoch {k}\n")

    def write_nodes(self, rows: list[dict[str, Any]]) -> None:
        log = _CsvLog(self.dir / "nodes.csv", NODE_FIELDS)
        for r in rows:
            log.write(r)
        log.close()

    def write_summary(self, summary: dict[str, Any]) -> None:
        tmp = self.dir / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2))
        tmp.replace(self.dir / "summary.json")

    def close(self) -> None:
        for log in (self.epochs, self.node_epochs, self.syncs):
            log.close()
