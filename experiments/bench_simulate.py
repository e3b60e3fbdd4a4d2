"""Speed of the SimGrid simulator (simulator/): wall time and peak memory of AR epochs, time only.

    .venv/bin/python experiments/bench_simulate.py                 # the issue's set (minutes)
    .venv/bin/python experiments/bench_simulate.py --runs 1000x10:real --runs 10000x10:paper
    .venv/bin/python experiments/bench_simulate.py --whole 1000x10:ne --whole 1000x10:ar --runs none

Each run is one child process (simulator/run_epoch.py), timed from the parent (start-up, platform
and JSON included) and from inside (Engine, platform, simulation); `cpu s` is the child's CPU time
(what the wall time would be on an idle machine: one SimGrid actor runs at a time); peak memory is
the child's max RSS.

The network is a Setup 2 draw (seed 0) on simulator/topology.py's tree. Every epoch is AR: every
node downloads the parameters (not in epoch 0: the set-up delivered them), computes, uploads; epoch
0's uploads start from a fresh TCP window. A one-epoch run simulates a mid-run epoch (with its
downloads, the costly part: every node starts one at once through the server's link), not epoch 0.
Volumes: `real` moves the built-in model's LoRA adapter each way (about 64 kB, docs/benchmarks.md);
`paper` adds the paper's 500 MB each way as padding, as `--paper-volumes 1` does. Compute windows:
30 s x 30 / C_i (the time model's T = W / C, with W set so that a node of the mean power C = 30
computes for 30 s). Targets (issue 28): 1 000 x 10 <= 10 s; 10 000 x 10 <= 15 min and <= 4 GiB.

`--whole NODESxEPOCHS:POLICY` times a whole run the way `edgeft simulate` makes it (simulator/driver.py:
set-up with the built-in model's base, then epochs whose nodes the policy chooses, measurement
`truth`, a Setup 2 draw), in a child process: `wall s` from the parent (interpreter and library
start-up included: about 3 s here), `cpu s` the simulation's own CPU time.

Where the time goes (perf, 2026-12-05, SimGrid 3.32; CPU seconds, the machine shared at load 6-16, so
CPU figures run 1.3-2.5x an idle machine's and only pairs run side by side compare):
- 3 000 nodes, one mid-run paper-volume epoch (36 CPU s): SimGrid's max-min solver 78 % (MaxMin::do_solve
  72 %, Action::get_rate 6 %), thread switches 9 %, Python 4 %. Each flow event (a flow's latency paid, a
  flow done: 4 per node-epoch) re-solves every flow on the server's link, one saturation round per flow
  its access link bounds, each round a scan of every active link: O(N^2) an event, O(N^3) an epoch. No
  setting helps (same simulated times to the last bit, 3 000 x 1 real: network/optim:Full 10.9 CPU s,
  Full + maxmin-selective-update 12.7, Lazy 14.9); Python's garbage collector is not it (off: 6.0 vs 5.4).
- 1 000 nodes x 10 real epochs: a linear scan of the driver actor's std::list of activities 27 %
  (fixed: simulator/transfers.py detaches the server's side of each download), solver 18 %, thread
  switches 23 %, Python 15 %.
After the fix, side by side: 1 000 x 10 real 7.6 CPU s against 8.8 before (11.2 -> 9.1 in a second pair),
simulated times bit-identical. 1 000-node NE and AR whole runs (calibrated, 2 forked workers): 10.1 CPU s
a run under load -> 100 seeds x NE and AR about 2 000 CPU s, 17 min on two idle cores (target 30 min).
10 000 nodes, one mid-run real epoch after the fix: 117 CPU s (load 3-6; 151 before, at another load),
499 MiB peak (in one process with torch loaded). Run whole and alone (2026-12-06): 1 187 CPU s at SimGrid's
default time resolution (1 ns), NOT met; 797.5 CPU s (817 s wall, 496 MiB) at the 1 ms resolution simulator/platform.py
uses above 1 000 nodes (events within 1 ms batched into one solve; same simulated 2 975 s): met.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator import fidelity  # noqa: E402
from orchestrator.config import PAPER_MODEL_BYTES  # noqa: E402
from simulator import run_epoch, topology  # noqa: E402
from simulator.phases import NodeEpoch  # noqa: E402
from simulator.transfers import EpochPlan  # noqa: E402
from topologies.profiles import draw_profiles  # noqa: E402

ADAPTER_BYTES = 64_000  # the built-in model's adapter, each way (docs/benchmarks.md)
# The speed targets (AR, time only, 10 epochs) at 1 000, 3 000 and 10 000 nodes; the paper
# volumes' mid-run epoch beside them (the costliest epochs: every flow stays on the server's link).
DEFAULT_RUNS = ("1000x10:real", "3000x10:real", "10000x10:real", "1000x1:paper", "3000x1:paper")
TARGETS_S = {(1000, 10): 10.0, (10000, 10): 15 * 60.0}  # issue 28: one policy, time only
TARGET_MIB = 4 * 1024
DEFAULT_WHOLE = ("1000x10:ne", "1000x10:ar")


def plans_for(n_nodes: int, epochs: int, volumes: str, setup: int = 2, seed: int = 0):
    """The tree and the AR epochs of one benchmark run."""
    profiles = draw_profiles(n_nodes, setup, seed)
    pad = PAPER_MODEL_BYTES if volumes == "paper" else 0
    plans = []
    for epoch in range(epochs):
        first = epoch == 0 and epochs > 1  # a one-epoch run is a mid-run epoch: the typical cost
        down, down_pad = (0, 0) if first else (ADAPTER_BYTES, pad)
        nodes = tuple(
            NodeEpoch(
                p.node_id,
                True,
                download_bytes=down,
                download_pad=down_pad,
                compute_s=30.0 * 30.0 / p.compute_power,
                upload_bytes=ADAPTER_BYTES,
                upload_pad=pad,
                upload_cwnd=fidelity.INIT_CWND if first else math.inf,  # epoch 0: a fresh window; later: open
            )
            for p in profiles
        )
        plans.append(EpochPlan(nodes))
    return topology.build(profiles), plans


def parse_run(text: str) -> tuple[int, int, str]:
    """'NxE:volumes' -> (nodes, epochs, volumes); SystemExit 2 naming the field otherwise."""
    try:
        size, volumes = text.split(":")
        nodes, epochs = (int(x) for x in size.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--runs: expected NODESxEPOCHS:real|paper, e.g. 1000x10:real (got {text!r})") from None
    if nodes < 1 or epochs < 1 or volumes not in ("real", "paper"):
        raise SystemExit(f"--runs: nodes and epochs >= 1, volumes real or paper (got {text!r})")
    return nodes, epochs, volumes


def parse_whole(text: str) -> tuple[int, int, str]:
    """'NxE:policy' -> (nodes, epochs, policy); SystemExit naming the field otherwise."""
    try:
        size, policy = text.split(":")
        nodes, epochs = (int(x) for x in size.lower().split("x"))
    except ValueError:
        raise SystemExit(f"--whole: expected NODESxEPOCHS:POLICY, e.g. 1000x10:ne (got {text!r})") from None
    if nodes <= epochs or epochs < 1:
        raise SystemExit(f"--whole: nodes > epochs >= 1 (got {text!r})")
    return nodes, epochs, policy


def bench_whole(runs: list[tuple[int, int, str]]) -> None:
    """Whole runs through simulator/driver.py (module doc)."""
    from dataclasses import asdict

    from simulator.driver import RunSpec, run_in_child

    print(f"{'nodes':>6} {'epochs':>6} {'policy':>7} {'wall s':>8} {'cpu s':>7} {'simulated s':>12}  (whole runs)")
    for nodes, epochs, policy in runs:
        spec = RunSpec([asdict(p) for p in draw_profiles(nodes, 2, 0)], policy, epochs, 0, 2)
        started = time.perf_counter()
        answer = run_in_child(spec)
        wall = time.perf_counter() - started
        simulated = answer["summary"]["completion_time_s"]
        print(f"{nodes:>6} {epochs:>6} {policy:>7} {wall:>8.1f} {answer['cpu_s']:>7.1f} {simulated:>12.0f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", action="append", help=f"NODESxEPOCHS:real|paper (repeat; default {DEFAULT_RUNS}; none)")
    ap.add_argument("--whole", action="append", help=f"NODESxEPOCHS:POLICY (repeat; default {DEFAULT_WHOLE}; none)")
    args = ap.parse_args(argv)
    wholes = [] if args.whole == ["none"] else [parse_whole(w) for w in (args.whole or DEFAULT_WHOLE)]
    if wholes:
        bench_whole(wholes)
    runs = [] if args.runs == ["none"] else [parse_run(r) for r in (args.runs or DEFAULT_RUNS)]
    if not runs:
        return 0
    print(
        f"{'nodes':>6} {'epochs':>6} {'volumes':>7} {'wall s':>8} {'inside s':>9} {'cpu s':>7} {'peak MiB':>9} "
        f"{'simulated s':>12} {'resolution s':>12}"
    )
    for nodes, epochs, volumes in runs:
        topo, plans = plans_for(nodes, epochs, volumes)
        started = time.perf_counter()
        answer = run_epoch.run(topo, plans)
        wall = time.perf_counter() - started
        simulated = sum(e["epoch_s"] for e in answer["epochs"])
        print(
            f"{nodes:>6} {epochs:>6} {volumes:>7} {wall:>8.1f} {answer['wall_s']:>9.1f} {answer['cpu_s']:>7.1f} "
            f"{answer['peak_rss_mib']:>9.0f} {simulated:>12.0f} {answer['time_resolution_s']:>12g}"
            f"{verdict(nodes, epochs, answer)}",
            flush=True,
        )
    return 0


def verdict(nodes: int, epochs: int, answer: dict) -> str:
    """'  target ...: met/NOT met' for a run the issue sets a target for (CPU s: the idle machine's wall)."""
    target = TARGETS_S.get((nodes, epochs))
    if target is None:
        return ""
    met = answer["cpu_s"] <= target and answer["peak_rss_mib"] <= TARGET_MIB
    return f"  target <= {target:.0f} s, <= {TARGET_MIB} MiB: {'met' if met else 'NOT met'}"


if __name__ == "__main__":
    sys.exit(main())
