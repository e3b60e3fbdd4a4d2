"""Soak (not in CI): 8 loopback nodes x 200 epochs of AR; one client SIGKILLed and
restarted under its identity every 20 epochs, the orchestrator SIGKILLed once
(at epoch 100) and resumed from its checkpoint. Prints the orchestrator's RSS,
threads and open fds near the start and at the end (they should stay flat, within
10 %), the results lost (epochs missing or recorded twice; should be 0) and
whether every node ends holding the orchestrator's final adapter.

    .venv/bin/python experiments/soak.py [--nodes 8] [--epochs 200] [--out results/soak]
"""

from __future__ import annotations

import argparse
import csv
import signal
import sys
import time
from collections import Counter
from pathlib import Path


import psutil

from experiments.runners.loopback import LoopbackRun, wait_for


def _footprint(pid: int) -> tuple[float, int, int]:
    p = psutil.Process(pid)
    return p.memory_info().rss / 2**20, p.num_threads(), p.num_fds()


def soak(out: Path, nodes: int, epochs: int, kill_every: int, resume_at: int) -> dict:
    run = LoopbackRun(
        out,
        {
            "nodes": nodes,
            "policy": "ar",
            "training": {"epochs": epochs},
            "timeouts": {"heartbeat_s": 0.5, "heartbeat_timeout_s": 3, "round_s": 120},
        },
    )
    gen = {f"node-{i:02d}": 0 for i in range(1, nodes + 1)}
    footprints = {}
    try:
        orch = run.start_orchestrator()
        for node in gen:
            run.start_client(f"{node}.0", node)
        for epoch in range(kill_every, epochs, kill_every):
            wait_for(lambda: len(run.epochs()) >= epoch, 600, f"epoch {epoch}")
            if "start" not in footprints:
                footprints["start"] = _footprint(orch.pid)
            if epoch == resume_at + kill_every:
                footprints["resumed"] = _footprint(orch.pid)
            victim = f"node-{(epoch // kill_every - 1) % nodes + 1:02d}"
            run.signal(f"{victim}.{gen[victim]}", signal.SIGKILL)
            gen[victim] += 1
            run.start_client(f"{victim}.{gen[victim]}", victim)
            if epoch == resume_at:
                footprints["before_kill"] = _footprint(orch.pid)
                orch.send_signal(signal.SIGKILL)
                orch.wait()
                orch = run.start_orchestrator("--resume")
            print(
                f"epoch {epoch}: killed and restarted {victim}"
                f"{'; orchestrator killed and resumed' if epoch == resume_at else ''}",
                flush=True,
            )
        wait_for(lambda: len(run.epochs()) >= epochs - 1, 900, "the last epochs")
        footprints["end"] = _footprint(orch.pid)
        rc = run.finish(600)
    finally:
        run.procs.stop_all()
    counts = Counter(int(r["epoch"]) for r in run.epochs())
    lost = sum(1 for e in range(epochs) if counts[e] != 1)
    with (out / "nodes.csv").open() as fh:
        digests = [r["final_digest_matches"] == "True" for r in csv.DictReader(fh)]
    return {"rc": rc, "footprints": footprints, "lost": lost, "digests_equal": all(digests), "nodes": len(digests)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", type=int, default=8)
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--kill-every", type=int, default=20)
    p.add_argument("--out", default="results/soak")
    a = p.parse_args()
    t0 = time.monotonic()
    r = soak(Path(a.out), a.nodes, a.epochs, a.kill_every, resume_at=(a.epochs // 2) // a.kill_every * a.kill_every)
    f = r["footprints"]
    print(f"soak: {a.nodes} nodes x {a.epochs} epochs of AR in {(time.monotonic() - t0) / 60:.1f} min, rc {r['rc']}")
    for label, a_key, b_key in (("first process", "start", "before_kill"), ("resumed process", "resumed", "end")):
        (rss0, thr0, fd0), (rss1, thr1, fd1) = f[a_key], f[b_key]
        print(
            f"orchestrator, {label}: RSS {rss0:.0f} -> {rss1:.0f} MiB ({100 * (rss1 / rss0 - 1):+.1f} %), "
            f"threads {thr0} -> {thr1}, open fds {fd0} -> {fd1}"
        )
    print(f"results lost: {r['lost']}; every node holds the final adapter: {r['digests_equal']} ({r['nodes']} nodes)")
    return 0 if r["rc"] == 0 and r["lost"] == 0 and r["digests_equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
