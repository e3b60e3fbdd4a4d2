"""Client memory in the paper-volume mode: the peak RSS of one edge client in a
2-node, 2-epoch AR run on loopback at `--paper-volumes 1` (500 MB of parameter
padding down and up per epoch, 1 GB of data over the nodes at set-up) against
the same run without padding. Target (the reliability issue): under 100 MiB
more, i.e. the padding is streamed, never held in memory.

    .venv/bin/python experiments/bench_padding_memory.py [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import psutil

from experiments.runners.loopback import LoopbackRun
from experiments.measure.peak_memory import PeakMemory, rss


def peak_client_rss(out: Path, scale: float) -> tuple[float, int]:
    """(peak RSS of node-01 in MiB, bytes the orchestrator sent) for one run."""
    run = LoopbackRun(
        out,
        {
            "nodes": 2,
            "policy": "ar",
            "paper_volumes": scale,
            "training": {"epochs": 2},
            "timeouts": {"sync_s": 600, "round_s": 1200},
        },
    )
    try:
        run.start_orchestrator()
        run.start_client("node-01", "node-01")
        run.start_client("node-02", "node-02")
        with PeakMemory({"node-01": (psutil.Process(run.procs.procs["node-01"].pid), rss)}, period_s=0.05) as mem:
            rc = run.finish(1800)
    finally:
        run.procs.stop_all()
    if rc != 0:
        raise RuntimeError(f"run at paper_volumes={scale} exited with {rc}; see {out / 'logs'}")
    return mem.peak["node-01"] / 2**20, json.loads((out / "summary.json").read_text())["bytes_out"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        base, base_bytes = peak_client_rss(Path(d) / "plain", 0.0)
        padded, padded_bytes = peak_client_rss(Path(d) / "padded", a.scale)
    print(
        f"client peak RSS: {base:.0f} MiB without padding, {padded:.0f} MiB at paper_volumes {a.scale:g} "
        f"({(padded_bytes - base_bytes) / 1e9:.2f} GB more sent by the orchestrator): "
        f"+{padded - base:.0f} MiB (target < 100)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
