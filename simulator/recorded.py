"""A recorded run folder (written by `edgeft compare`) as the spec of its simulation (pure, no SimGrid).

What a replay may take from a recording (issue 28): what the strategy saw (node_epochs.csv's
figures and T_i, read by simulator/measurement.ReplayModel), the drawn network (ground_truth.json;
the tree from topology.json, or topologies/edge_cloud.py's defaults where the folder has none) and
the run's settings (config.json: policy, seed, epochs, paper volumes, dilation k, time model,
scoring weights). Byte counts are settings too: the adapter's size from epochs.csv's bytes_in, the
set-up's from summary.json's setup_bytes_out, the work of a node-epoch from work_gflop. No recorded
download, upload, waiting, round-trip or epoch time enters the spec; `recorded_times` reads them
for the comparison only.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from simulator import driver
from simulator.topology import MININET_DOMAINS

PAPER_MODEL_BYTES, PAPER_DATASET_BYTES = 500 * 10**6, 1000 * 10**6  # orchestrator/config.py
METRIC_KEYS = ("compute", "bandwidth", "delay", "loss", "train_time")  # orchestrator/scoring.py COLUMNS order


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}


def _rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh))


def _float(text: object, default: float = math.nan) -> float:
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def check_run_folder(run_dir: Path) -> None:
    """ValueError naming the first file a replay needs that the folder lacks."""
    for name in ("config.json", "ground_truth.json", "epochs.csv", "node_epochs.csv", "summary.json"):
        if not (run_dir / name).is_file():
            raise ValueError(f"{run_dir}: no {name} (a run folder written by `edgeft compare` has it)")


def spec_from_run(run_dir: str | Path, measurement: str = "replay", noise: dict | None = None) -> driver.RunSpec:
    """The RunSpec that simulates this recorded run on its own drawn network (module doc)."""
    run_dir = Path(run_dir)
    check_run_folder(run_dir)
    recorded = _read_json(run_dir / "config.json")
    config = recorded.get("config", {})
    truth = _read_json(run_dir / "ground_truth.json")
    summary = _read_json(run_dir / "summary.json")
    epochs = _rows(run_dir / "epochs.csv")
    profiles = [dict(n) for n in truth["nodes"]]
    n = len(profiles)
    volumes = float(config.get("paper_volumes") or 0.0)
    model_pad = int(PAPER_MODEL_BYTES * volumes)
    setup_pad = int((PAPER_MODEL_BYTES + PAPER_DATASET_BYTES / max(n, 1)) * volumes)
    adapter = _adapter_bytes(epochs, model_pad)
    emulation = config.get("emulation") or {}
    dilation = _float(emulation.get("dilation"), 1.0)
    setup_per_node = (
        _float(summary.get("setup_bytes_out")) / n - setup_pad if summary.get("setup_bytes_out") else math.nan
    )
    base_and_part = (
        setup_per_node - adapter if math.isfinite(setup_per_node) else driver.BASE_BYTES + driver.PARTITION_BYTES
    )
    transferred = (config.get("model") or {}).get("distribution", "transfer") == "transfer"
    scoring = config.get("scoring") or {}
    works = [_float(r.get("work_gflop")) for r in _rows(run_dir / "node_epochs.csv")]
    works = [w for w in works if math.isfinite(w) and w > 0]
    return driver.RunSpec(
        profiles=profiles,
        policy=str(config.get("policy") or summary["policy"]),
        epochs=int((config.get("training") or {}).get("epochs") or summary["epochs"]),
        seed=int(config.get("seed", truth.get("seed", 0))),
        setup=int(truth.get("setup", 0)),
        measurement=measurement,
        replay_dir=str(run_dir) if measurement == "replay" else "",
        noise=noise or {},
        domains=recorded_domains(run_dir),
        adapter_bytes=adapter,
        base_bytes=int(max(base_and_part - driver.PARTITION_BYTES, 0)) if transferred else 0,
        partition_bytes=driver.PARTITION_BYTES if transferred else int(max(base_and_part, 0)),
        model_pad=model_pad,
        setup_pad=setup_pad,
        work_gflop=statistics.median(works) if works else driver.WORK_GFLOP,
        gflops_per_power=_float(emulation.get("gflops_per_power"), driver.GFLOPS_PER_POWER),
        dilation=dilation,
        # the TCP the recording's hosts ran (runs before it was recorded: the model's default, Reno's bound)
        congestion_control=str((recorded.get("tcp") or {}).get("congestion_control") or "reno"),
        weights=tuple(float((scoring.get("weights") or {}).get(k, 0.2)) for k in METRIC_KEYS),
        utopia=tuple(float((scoring.get("utopia") or {}).get(k, 1.0)) for k in METRIC_KEYS),
        paper_volumes=volumes,
        samples=int((config.get("data") or {}).get("sequences_per_node") or 16),
        scenario=list(config.get("scenario") or []),
        heartbeat_timeout_s=_float(
            (config.get("timeouts") or {}).get("heartbeat_timeout_s"), driver.HEARTBEAT_TIMEOUT_S
        ),
    )


def _adapter_bytes(epochs: list[dict], model_pad: int = 0) -> int:
    """One adapter version's bytes: epoch 0's uploads (bytes_in) over its active nodes, less the
    padding each upload carried in a paper-volume run (the spec adds `model_pad` to every transfer)."""
    if epochs:
        first = epochs[0]
        active = int(_float(first.get("active"), 0))
        total = _float(first.get("bytes_in"))
        if active > 0 and math.isfinite(total) and total > 0:
            per_node = total / active
            return int(round(per_node - model_pad)) if per_node > model_pad else int(round(per_node))
    return driver.ADAPTER_BYTES


def recorded_domains(run_dir: Path) -> int:
    """The gateways of the recorded tree (topology.json), else edge_cloud.py's default of 4."""
    topo = _read_json(run_dir / "topology.json")
    gateways = [n for n in topo.get("nodes", []) if n.get("role") == "gateway"]
    return len(gateways) or MININET_DOMAINS


@dataclass(frozen=True)
class RecordedTimes:
    """What a recorded run measured, for the comparison with its simulation (never its input)."""

    completion_s: float
    epoch_s: list[float]
    active: list[list[str]]  # per epoch, the nodes that trained
    eliminated: list[list[str]]
    dilation: float
    fidelity_ok: bool | None


def recorded_times(run_dir: str | Path) -> RecordedTimes:
    """The recording's completion time, epoch times and selections (module doc)."""
    run_dir = Path(run_dir)
    summary = _read_json(run_dir / "summary.json")
    epochs = _rows(run_dir / "epochs.csv")
    config = _read_json(run_dir / "config.json").get("config", {})
    return RecordedTimes(
        float(summary["completion_time_s"]),
        [_float(r["epoch_time_s"]) for r in epochs],
        [sorted(x for x in r["active_nodes"].split(";") if x) for r in epochs],
        [sorted(x for x in r["eliminated"].split(";") if x) for r in epochs],
        _float((config.get("emulation") or {}).get("dilation"), 1.0),
        summary.get("fidelity_ok"),
    )
