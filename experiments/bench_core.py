"""Benchmark of the core (issue: federated LoRA core). Prints:
- scoring + elimination time for 10, 1 000 and 10 000 nodes (target: 10 000 in <= 10 ms),
- aggregation throughput for a realistic adapter (target: >= 1 GB/s on CPU),
- seconds per local LoRA training step of the default model on this machine.

Run: .venv/bin/python experiments/bench_core.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from orchestrator.aggregation import weighted_mean
from orchestrator.policies import NodeElimination
from orchestrator.scoring import perf_scores


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_scoring() -> None:
    rng = np.random.default_rng(0)
    w, lam = np.full(5, 0.2), np.ones(5)
    print("scoring + elimination (median of 20)")
    for n in (10, 1_000, 10_000):
        values = rng.random((n, 5)) * [60, 30, 200, 5, 10]
        ids = [f"node-{i:05d}" for i in range(n)]
        policy = NodeElimination(n, 5)  # 10 nodes need fewer epochs than nodes
        t = _median_time(lambda: policy.eliminate(ids, perf_scores(values, w, lam), 0), 20)
        note = f"   target <= 10 ms: {'met' if t <= 0.010 else 'MISSED'} (ratio {t / 0.010:.2f})" if n == 10_000 else ""
        print(f"  {n:>6} nodes: {t * 1e3:8.3f} ms{note}")


def bench_aggregation() -> None:
    # A LoRA r=8 adapter on q/k/v/o of a 32-layer, 4096-wide model (Llama-7B shape): 8.4 M params.
    layers, width, r, nodes = 32, 4096, 8, 12
    g = torch.Generator().manual_seed(0)
    one = {
        f"l{i}.{m}.lora_{ab}": torch.randn((r, width) if ab == "A" else (width, r), generator=g)
        for i in range(layers)
        for m in ("q", "k", "v", "o")
        for ab in ("A", "B")
    }
    updates = [{k: v + j for k, v in one.items()} for j in range(nodes)]
    size = sum(v.numel() * 4 for v in one.values())
    t = _median_time(lambda: weighted_mean(updates, [1.0] * nodes), 5)
    rate = size * nodes / t / 1e9
    print(
        f"aggregation: {nodes} updates x {size / 1e6:.1f} MB in {t * 1e3:.1f} ms = {rate:.2f} GB/s "
        f"(target >= 1 GB/s: {'met' if rate >= 1 else 'MISSED'}, ratio {rate:.2f})"
    )


def bench_training_step() -> None:
    from edge_client.trainer import LocalTrainer
    from edgeft.modeling import BuiltinArch, LoraSettings, builtin_config
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    base = LlamaForCausalLM(builtin_config(BuiltinArch(), 2048))
    data = torch.randint(0, 2048, (16, 128))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        t = LocalTrainer(base.config.to_dict(), base.state_dict(), LoraSettings(), data, torch.device("cpu"))
        t.compute_update(2, 1e-3, 16, 0, "warmup")
        steps = 10
        sec = _median_time(lambda: t.compute_update(steps, 1e-3, 16, 0, "bench"), 3) / steps
        print(
            f"local LoRA step, default model (2 layers x 128, batch 16 x 128 tokens), {threads} thread(s): {sec:.3f} s"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the three benchmarks (no options: `--help` prints what they measure)."""
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    bench_scoring()
    bench_aggregation()
    bench_training_step()
    return 0


if __name__ == "__main__":
    sys.exit(main())
