"""One simulation per process: `python -m simulator.run_epoch` reads a request (JSON) on stdin and
prints the simulated times (JSON) on stdout; `run()` is how Python code calls it.

SimGrid 3.32 keeps one Engine per process (a second one keeps the first one's clock), and an actor
that fails can abort the whole process: so every simulation, in tests too, runs in a fresh child.

Request: {"topology": Topology.as_dict(), "epochs": [{"nodes": [NodeEpoch fields...], "server_s": 0.0,
"wait_for_downloads": false}, ...]}. Answer: {"epochs": [EpochTimes.as_dict()...], "wall_s": ...,
"cpu_s": ..., "peak_rss_mib": ...} or, on failure, {"error": "..."} and exit status 1. Bad requests: exit status 2.
"""

from __future__ import annotations

import json
from dataclasses import asdict
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from simulator.phases import NodeEpoch
from simulator.topology import AccessLink, Topology

REPO = Path(__file__).resolve().parent.parent


def request(topology: Topology, plans: list[Any], resolution_s: float | None = None) -> dict[str, Any]:
    """The JSON request for these epochs (transfers.EpochPlan objects); `resolution_s`: SimGrid's
    time resolution (None: simulator/platform.py's for the topology's size)."""
    return {
        "topology": topology.as_dict(),
        "resolution_s": resolution_s,
        "epochs": [
            {
                "nodes": [n.__dict__ for n in p.nodes],
                "server_s": p.server_s,
                "wait_for_downloads": p.wait_for_downloads,
                "links": [asdict(link) for link in p.links],
                "dilation": p.dilation,
                "congestion_control": p.congestion_control,
            }
            for p in plans
        ],
    }


def parse(data: dict[str, Any]) -> tuple[Topology, list[Any]]:
    """The topology and epoch plans of a request; ValueError naming what is wrong (the time
    resolution is read by resolution())."""
    from simulator.transfers import EpochPlan

    try:
        topology = Topology.from_dict(data["topology"])
        plans = [
            EpochPlan(
                tuple(NodeEpoch(**n) for n in e["nodes"]),
                float(e.get("server_s", 0.0)),
                bool(e.get("wait_for_downloads", False)),
                tuple(AccessLink(**link) for link in e.get("links", [])),
                float(e.get("dilation", 1.0)),
                str(e.get("congestion_control", "reno")),
            )
            for e in data["epochs"]
        ]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed simulation request: {exc!r}") from None
    return topology, plans


def resolution(data: dict[str, Any], topology: Topology) -> float:
    """A request's time resolution: its own, or the default for its topology's size."""
    from simulator.platform import engine_config, time_resolution_s

    value = data.get("resolution_s")
    chosen = time_resolution_s(len(topology.nodes)) if value is None else float(value)
    engine_config(chosen)  # ValueError unless > 0
    return chosen


def run(
    topology: Topology, plans: list[Any], timeout_s: float | None = None, resolution_s: float | None = None
) -> dict[str, Any]:
    """Simulate in a fresh child process; returns the answer (raises RuntimeError on failure)."""
    return in_child("simulator.run_epoch", request(topology, plans, resolution_s), "epochs", timeout_s)


def in_child(module: str, payload: dict[str, Any], expect: str, timeout_s: float | None = None) -> dict[str, Any]:
    """`python -m module` with `payload` as JSON on stdin; its JSON answer, which must hold `expect`
    (RuntimeError naming the child's error or its stderr's tail otherwise)."""
    proc = subprocess.run(
        [sys.executable, "-m", module],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout_s,
    )
    try:
        answer = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except json.JSONDecodeError:
        answer = {}
    if proc.returncode != 0 or expect not in answer:
        detail = answer.get("error") or proc.stderr.strip()[-2000:]
        raise RuntimeError(f"simulation failed (exit status {proc.returncode}): {detail}")
    return answer


def main() -> int:
    try:
        data = json.load(sys.stdin)
        topology, plans = parse(data)
        resolution_s = resolution(data, topology)
        from simulator.transfers import check_plans

        check_plans(topology, plans)
    except (ValueError, TypeError) as exc:  # json.JSONDecodeError is one
        print(json.dumps({"error": str(exc)}))
        return 2
    from simulator.transfers import SimulationError, simulate

    started = time.perf_counter()
    try:
        epochs = simulate(topology, plans, resolution_s)
    except SimulationError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "epochs": [e.as_dict() for e in epochs],
                "time_resolution_s": resolution_s,
                "wall_s": time.perf_counter() - started,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_mib": usage.ru_maxrss / 1024,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
