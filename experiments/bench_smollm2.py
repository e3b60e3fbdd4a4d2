"""SmolLM2-135M on this machine (issue: a real pretrained LLM): prints

1. seconds per LoRA step (batch x seq of the model's defaults; one thread, as a client
   trains, and all threads) and per node-epoch (the model's default local work);
2. bytes the orchestrator really sent at set-up per node, under `transfer` and
   `preinstalled` (two 2-node, 1-epoch loopback runs; counted by the orchestrator);
3. peak memory of the fork pool at N clients (default 12; `--clients 12,40`): one
   orchestrator and one `edgeft edge-pool` parent forking N real clients on loopback,
   every client training in the same epoch (no compute emulation, the worst case for
   memory); the figure is the proportional set size (PSS) summed over the pool's
   processes, so weights shared copy-on-write count once, plus the orchestrator's RSS.
   Target: 12 clients in <= 8 GiB in all. Needs root (the pool joins network namespaces).

    sudo .venv/bin/python experiments/bench_smollm2.py [--clients 12,40] [--skip-transfer]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil
import torch

from experiments.runners.loopback import LoopbackRun
from experiments.measure.peak_memory import PeakMemory, pss, rss

MODEL = "smollm2-135m"
log = logging.getLogger("bench_smollm2")


def step_seconds() -> dict:
    """Seconds per LoRA step and per node-epoch, least of 3 (interference only adds)."""
    from edge_client.trainer import LocalTrainer
    from orchestrator.config import OrchestratorConfig
    from orchestrator.workload import base_folder, build_workload
    from edgeft.modeling import load_pretrained

    cfg = OrchestratorConfig.model_validate({"model": {"name": MODEL}, "device": "cpu"})
    w = build_workload(cfg, 2)
    trainer = LocalTrainer.on_base(
        load_pretrained(str(base_folder(cfg.model))), cfg.model.lora, w.partitions[0].ids, torch.device("cpu")
    )
    tr, out = cfg.training, {}
    for threads in (1, os.cpu_count() or 1):
        torch.set_num_threads(threads)
        trainer.warm_up(tr.batch_size)
        epoch = min(
            _timed(lambda: trainer.compute_update(tr.local_steps, tr.local_lr, tr.batch_size, 0, "b")) for _ in range(3)
        )
        out[threads] = (epoch / tr.local_steps, epoch)
    t0 = time.perf_counter()
    w.val_loss()
    out["val_s"] = time.perf_counter() - t0
    out["shape"] = (tr.batch_size, cfg.data.seq_len, tr.local_steps)
    out["lora"] = f"r={cfg.model.lora.r} on {cfg.model.lora.target_modules}"
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def setup_bytes(distribution: str, out: Path) -> float:
    """Bytes per node the orchestrator sent at set-up in a 2-node, 1-epoch run."""
    from orchestrator.workload import base_folder
    from orchestrator.config import ModelConfig

    run = LoopbackRun(
        out,
        {
            "nodes": 2,
            "policy": "ar",
            "model": {"name": MODEL, "distribution": distribution},
            "training": {"epochs": 1},
            "timeouts": {"round_s": 600, "sync_s": 600},
        },
    )
    held = str(base_folder(ModelConfig(name=MODEL)))
    try:
        run.start_orchestrator()
        for n in ("node-01", "node-02"):
            run.start_client(n, n, *(["--model-path", held] if distribution == "preinstalled" else []))
        rc = run.finish(1800)
    finally:
        run.procs.stop_all()
    if rc != 0:
        raise RuntimeError(f"{distribution} run exited with {rc}; see {out / 'logs'}")
    return json.loads((out / "summary.json").read_text())["setup_bytes_out"] / 2


def pool_memory(nodes: int, out: Path) -> dict:
    """Peak PSS of the fork pool (parent + clients) and of the orchestrator, in GiB."""
    from orchestrator.workload import base_folder
    from orchestrator.config import ModelConfig

    run = LoopbackRun(
        out,
        {
            "nodes": nodes,
            "policy": "ar",
            "model": {"name": MODEL},
            "training": {"epochs": 1},
            "timeouts": {"round_s": 3600, "sync_s": 3600, "heartbeat_timeout_s": 600},
        },
    )
    held = str(base_folder(ModelConfig(name=MODEL)))
    spec = [
        {
            "netns_pid": os.getpid(),
            "log": str(out / "logs" / f"node-{i:02d}.log"),
            "config": {
                "orchestrator": run.url,
                "token_file": run.token_file(f"node-{i:02d}"),  # each node its own secret (edgeft provision)
                "node_id": f"node-{i:02d}",
                "model_path": held,
            },
        }
        for i in range(1, nodes + 1)
    ]
    (out / "clients.json").write_text(json.dumps(spec))
    try:
        orch = psutil.Process(run.start_orchestrator().pid)
        pool = psutil.Process(run.procs.start("clients", ["edge-pool", "--spec", str(out / "clients.json")]).pid)
        with PeakMemory({"pool": (pool, pss), "orchestrator": (orch, rss)}) as mem:
            rc = run.finish(3600)
    finally:
        run.procs.stop_all()
    if rc != 0:
        raise RuntimeError(f"pool run with {nodes} clients exited with {rc}; see {out / 'logs'}")
    return {k: v / 2**30 for k, v in mem.peak.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="12", help="comma-separated fork-pool sizes")
    ap.add_argument("--skip-transfer", action="store_true", help="skip the set-up bytes runs")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if os.geteuid() != 0:
        print("bench_smollm2: error: run as root (the fork pool joins network namespaces)", file=sys.stderr)
        return 2
    sizes = [int(x) for x in a.clients.split(",")]
    t = step_seconds()
    b, s, k = t["shape"]
    print(f"SmolLM2-135M, LoRA {t['lora']}, batch {b} x {s} tokens, {k} local steps per node-epoch:")
    for threads in (1, os.cpu_count() or 1):
        step, epoch = t[threads]
        print(f"  {threads} thread(s): {step:.2f} s per LoRA step, {epoch:.2f} s per node-epoch")
    print(f"  validation loss (the orchestrator, every epoch): {t['val_s']:.2f} s")
    with tempfile.TemporaryDirectory(prefix="bench-smollm2-") as tmp:
        if not a.skip_transfer:
            for dist in ("transfer", "preinstalled"):
                print(
                    f"set-up bytes per node, {dist}: {setup_bytes(dist, Path(tmp) / dist) / 1e6:.1f} MB "
                    "(sent by the orchestrator)"
                )
        for n in sizes:
            m = pool_memory(n, Path(tmp) / f"pool{n}")
            verdict = (
                "" if n != 12 else ("  (target <= 8 GiB: met)" if m["total"] <= 8 else "  (target <= 8 GiB: MISSED)")
            )
            print(
                f"fork pool, {n} clients training at once: peak PSS {m['pool']:.2f} GiB (parent + clients), "
                f"orchestrator {m['orchestrator']:.2f} GiB, together {m['total']:.2f} GiB{verdict}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
