"""Pick the time dilation k a run needs on this host, before it starts.

Calibration: one node-epoch of the run's real training (same model, batch,
sequence length and local steps) is timed in CPU seconds on one thread. With
every node computing at once, the emulated world asks for

    demand = sum_i cpu_s / window_i      cores (window_i from edgeft/timemodel.py)

The host has `cores - reserve` cores for training (the reserve is for the
orchestrator, and in Mininet for ovs-vswitchd and the delay lines), used up to
`utilisation`; k = demand / (usable cores), at least 1, rounded up. Above the
cap the run goes on at the cap and says, before and after, that it cannot keep
up and which k would.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass

from edgeft.timemodel import compute_window_s, epoch_flops

log = logging.getLogger(__name__)
UTILISATION = 0.6
RESERVE_CORES = {"local": 0.25, "mininet": 0.6}


@dataclass(frozen=True)
class DilationPlan:
    k: float  # the factor the run uses
    k_needed: float  # what the host needs (may exceed the cap)
    demand_cores: float  # cores the emulated nodes ask for at k = 1
    usable_cores: float
    cpu_s: float  # measured CPU seconds of one node-epoch
    window_s: tuple[float, float]  # shortest and longest compute window (emulated s)

    @property
    def keeps_up(self) -> bool:
        return self.k >= self.k_needed


def round_up(x: float, step: float = 0.1) -> float:
    return math.ceil(x / step - 1e-9) * step


def choose_dilation(cpu_s: float, flops: float, powers: list[float], gflops_per_power: float, cores: float,
                    reserve: float, cap: float, utilisation: float = UTILISATION) -> DilationPlan:
    """The plan for `powers` nodes whose node-epoch costs `cpu_s` here and `flops` emulated."""
    if not powers:
        raise ValueError("no nodes to plan for")
    windows = [compute_window_s(flops, p, gflops_per_power) for p in powers]
    demand = sum(cpu_s / w for w in windows)
    usable = max(cores - reserve, 0.25) * utilisation
    needed = max(1.0, round_up(demand / usable))
    return DilationPlan(min(needed, cap), needed, demand, usable, cpu_s, (min(windows), max(windows)))


def measure_node_epoch(cfg, n_nodes: int) -> tuple[float, float]:
    """(CPU seconds, emulated FLOPs) of one node-epoch of this run's training, measured on
    one thread in this process (the base model comes from the cache the run uses)."""
    import torch

    from edge_client.trainer import LocalTrainer
    from edgeft.wire import bytes_to_tensors, read_metadata
    from orchestrator.workload import build_workload
    import json

    torch.set_num_threads(1)
    w = build_workload(cfg.model_copy(update={"device": "cpu"}), n_nodes)
    config = json.loads(read_metadata(w.base_bundle)["config"])
    trainer = LocalTrainer(config, bytes_to_tensors(w.base_bundle), cfg.model.lora, w.partitions[0].ids, torch.device("cpu"))
    trainer.warm_up(cfg.training.batch_size)
    tr, best, tokens = cfg.training, math.inf, 0
    for _ in range(2):
        c0 = time.process_time()
        upd = trainer.compute_update(tr.local_steps, tr.local_lr, tr.batch_size, cfg.seed, "calibration")
        best, tokens = min(best, time.process_time() - c0), upd.work_tokens
    return best, epoch_flops(trainer.linear_params, tokens)


def plan_for_run(cfg, powers: list[float], mode: str) -> DilationPlan:
    """Calibrate (unless k is given), log the plan, warn if the host cannot keep up."""
    em = cfg.emulation
    cpu_s, flops = measure_node_epoch(cfg, len(powers))
    plan = choose_dilation(cpu_s, flops, powers, em.gflops_per_power, os.cpu_count() or 1, RESERVE_CORES[mode], em.max_dilation)
    if em.dilation != "auto":
        plan = DilationPlan(float(em.dilation), plan.k_needed, plan.demand_cores, plan.usable_cores, cpu_s, plan.window_s)
    log.info("time model: one node-epoch = %.2f GFLOP emulated, %.3f CPU s here; compute windows %.2f-%.2f s; %d nodes ask "
             "for %.2f cores at k = 1, %.2f usable -> dilation k = %.2g%s", flops / 1e9, cpu_s, *plan.window_s, len(powers),
             plan.demand_cores, plan.usable_cores, plan.k, " (given)" if em.dilation != "auto" else "")
    if not plan.keeps_up:
        log.warning("FIDELITY: this host cannot keep up with %d nodes at k = %.2g: k = %.2g would be needed%s. The run goes on; "
                    "its fidelity report will show the overruns.", len(powers), plan.k, plan.k_needed,
                    f" (the cap is --max-dilation {em.max_dilation:g})" if em.dilation == "auto" else "")
    return plan
