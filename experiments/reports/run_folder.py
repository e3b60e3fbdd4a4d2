"""A finished run folder, read once for every picture and table drawn from it.

Every engine writes the same files (orchestrator/results.py; the Flower path through
orchestrator/flower/records.py), so one reader serves Mininet, loopback, Flower and
simulated runs; what an engine does not record (the Flower path's transfer times, a
loopback run's topology) is simply absent, and each picture says so.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from experiments.reports.targets import TimedCurve, curve_of


@dataclass
class RunRecord:
    """What the pictures need from one run folder."""

    run_dir: Path
    summary: dict
    epochs: list[dict]
    node_epochs: list[dict] = field(default_factory=list)
    nodes: list[dict] = field(default_factory=list)
    ground_truth: dict | None = None
    topology: dict | None = None  # topology.json, where the runner wrote one
    config: dict = field(default_factory=dict)  # config.json's "config"

    @property
    def curve(self) -> TimedCurve:
        return curve_of(self.summary, self.epochs)

    def node_ids(self) -> list[str]:
        """Every node the run knew: nodes.csv, its rows and the drawn profiles, in id order."""
        ids = {r["node_id"] for r in self.nodes} | {r["node_id"] for r in self.node_epochs}
        ids |= {n["node_id"] for n in (self.ground_truth or {}).get("nodes", [])}
        return sorted(ids)


def _csv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def is_run_folder(path: Path) -> bool:
    """A folder a run finished in: summary.json and epochs.csv."""
    return (path / "summary.json").is_file() and (path / "epochs.csv").is_file()


def load_record(run_dir: Path) -> RunRecord:
    """Read a run folder (summary.json and epochs.csv must be there; the rest is optional)."""
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    return RunRecord(
        run_dir=run_dir,
        summary=summary,
        epochs=_csv(run_dir / "epochs.csv"),
        node_epochs=_csv(run_dir / "node_epochs.csv"),
        nodes=_csv(run_dir / "nodes.csv"),
        ground_truth=_json(run_dir / "ground_truth.json"),
        topology=_json(run_dir / "topology.json"),
        config=(_json(run_dir / "config.json") or {}).get("config", {}),
    )


def find_runs(folder: Path, depth: int = 3) -> list[Path]:
    """The run folders in `folder` (itself included), at most `depth` levels down, sorted."""
    folder = Path(folder)
    if is_run_folder(folder):
        return [folder]
    if depth == 0 or not folder.is_dir():
        return []
    return sorted(p for sub in sorted(folder.iterdir()) if sub.is_dir() for p in find_runs(sub, depth - 1))


def number(text: object) -> float | None:
    """A CSV cell as a float; None for an empty, 'nan' or malformed cell."""
    try:
        v = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v
