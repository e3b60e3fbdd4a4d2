"""What the bounded aggregation costs per epoch (issue 25, item 1): the time of one
round's aggregation at 12 and 100 nodes on the built-in model's adapter, the paper's
plain path (weighted mean + the server optimiser's step) against the guarded round of
orchestrator/aggregation.py (norms, the bound, a snapshot to roll back to, the rule, the
step, the finiteness checks), for each rule. The validation loss, computed once per
epoch on either path, is not included. Prints milliseconds: the best of the repeats
(on a shared, loaded host the least disturbed one) and their median.

Run: .venv/bin/python experiments/bench_aggregation.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import torch

from orchestrator.aggregation import ServerOptimizer, Tensors, guarded_round, weighted_mean
from orchestrator.config import UpdateGuardConfig


def builtin_adapter() -> Tensors:
    """The LoRA adapter of the built-in model with the default settings (what a run aggregates)."""
    from transformers import LlamaForCausalLM

    from edge_client.trainer import LocalTrainer
    from edgeft.modeling import BuiltinArch, LoraSettings, builtin_config

    torch.manual_seed(0)
    base = LlamaForCausalLM(builtin_config(BuiltinArch(), 2048))
    data = torch.randint(0, 2048, (4, 32))
    trainer = LocalTrainer(base.config.to_dict(), base.state_dict(), LoraSettings(), data, torch.device("cpu"))
    return trainer.adapter()


def _ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(best, median) milliseconds of `fn` over `repeats` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3, statistics.median(times) * 1e3


def bench(nodes: int, adapter: Tensors, repeats: int) -> dict[str, tuple[float, float]]:
    """(best, median) milliseconds of one round's aggregation at `nodes` updates, per path."""
    g = torch.Generator().manual_seed(nodes)
    updates = [{k: torch.randn(v.shape, generator=g) * 1e-3 for k, v in adapter.items()} for _ in range(nodes)]
    weights = [1000.0 + i for i in range(nodes)]
    opt = ServerOptimizer(adapter, "sgd", 1.0)
    out = {"plain mean + step": _ms(lambda: opt.step(weighted_mean(updates, weights)), repeats)}
    for rule in ("mean", "trimmed_mean", "median"):
        guard = UpdateGuardConfig(aggregation=rule)
        out[f"guarded {rule}"] = _ms(lambda: guarded_round(updates, weights, guard, opt), repeats)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)  # an orchestrator's aggregation shares the host with everything else
    adapter = builtin_adapter()
    params = sum(v.numel() for v in adapter.values())
    print(f"built-in model's adapter: {len(adapter)} tensors, {params} parameters ({params * 4 / 1e3:.0f} kB)")
    for nodes in (12, 100):
        figures = bench(nodes, adapter, args.repeats)
        base = figures["plain mean + step"][0]
        for name, (best, median) in figures.items():
            extra = "" if name.startswith("plain") else f"  (+{best - base:.2f} ms over the plain path)"
            print(f"  {nodes:>3} nodes  {name:<20} best {best:8.2f} ms  median {median:8.2f} ms{extra}")


if __name__ == "__main__":
    main()
