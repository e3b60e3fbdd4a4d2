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

import json
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


def usable_cpus() -> float:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 quota."""
    cpus = float(len(os.sched_getaffinity(0)))
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            cpus = min(cpus, int(quota) / int(period))
    except (OSError, ValueError):
        pass
    return cpus


def round_up(x: float, step: float = 0.1) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 6)


def choose_dilation(
    cpu_s: float,
    flops: float,
    powers: list[float],
    gflops_per_power: float,
    cores: float,
    reserve: float,
    cap: float,
    utilisation: float = UTILISATION,
) -> DilationPlan:
    """The plan for `powers` nodes whose node-epoch costs `cpu_s` here and `flops` emulated."""
    if not powers:
        raise ValueError("no nodes to plan for")
    windows = [compute_window_s(flops, p, gflops_per_power) for p in powers]
    demand = sum(cpu_s / w for w in windows)
    usable = max(cores - reserve, 0.25) * utilisation
    needed = max(1.0, round_up(demand / usable))
    return DilationPlan(min(needed, cap), needed, demand, usable, cpu_s, (min(windows), max(windows)))


@dataclass(frozen=True)
class Calibration:
    cpu_s: float  # CPU seconds of one node-epoch here (one thread)
    flops: float  # its declared work
    setup_bytes: int  # what a node downloads at set-up (base model + its partition)
    adapter_bytes: int  # what moves each way per node-epoch


def measure_node_epoch(cfg, n_nodes: int) -> Calibration:
    """One node-epoch of this run's training, measured on one thread in this process
    (the base model comes from the cache the run uses). Measured once per process and
    setting: every run of a comparison is planned from the same figure."""
    key = json.dumps(
        [cfg.training.model_dump(), cfg.model.model_dump(), cfg.data.model_dump(), cfg.paper_volumes, n_nodes],
        sort_keys=True,
        default=str,
    )
    if key not in _measured:
        _measured[key] = _measure(cfg, n_nodes)
    return _measured[key]


_measured: dict[str, Calibration] = {}


def _measure(cfg, n_nodes: int) -> Calibration:
    import torch

    from edge_client.trainer import LocalTrainer
    from orchestrator.workload import build_workload

    torch.set_num_threads(1)
    w = build_workload(cfg.model_copy(update={"device": "cpu"}), n_nodes)
    trainer = LocalTrainer.on_base(_fresh_base(w, cfg), cfg.model.lora, w.partitions[0].ids, torch.device("cpu"))
    trainer.warm_up(cfg.training.batch_size)
    tr, best, tokens = cfg.training, math.inf, 0
    for _ in range(3):  # the least of three: interference only ever adds
        c0 = time.process_time()
        upd = trainer.compute_update(tr.local_steps, tr.local_lr, tr.batch_size, cfg.seed, "calibration")
        best, tokens = min(best, time.process_time() - c0), upd.work_tokens
    from edgeft.wire import tensors_to_bytes

    setup = (
        len(w.base_bundle or b"") + len(tensors_to_bytes({"input_ids": w.partitions[0].ids})) + cfg.setup_pad(n_nodes)
    )
    return Calibration(
        best, epoch_flops(trainer.linear_params, tokens), setup, len(tensors_to_bytes(w.adapter())) + cfg.model_pad()
    )


def _fresh_base(w, cfg):
    """The base model as a node gets it (the workload's own copy already carries the LoRA)."""
    from edgeft.modeling import load_pretrained, model_from_bundle
    from edgeft.wire import bytes_to_tensors, read_metadata
    from orchestrator.workload import base_folder

    if w.base_bundle is None:
        return load_pretrained(str(base_folder(cfg.model)))
    return model_from_bundle(json.loads(read_metadata(w.base_bundle)["config"]), bytes_to_tensors(w.base_bundle))


def expected_wall_s(k: float, epochs: int, windows: list[float], links: list | None, cal: Calibration) -> float:
    """Wall time of a run in which every node trains every epoch (AR; NE's is shorter):
    set-up over the slowest link, then per epoch the slowest node's sync, window and
    upload, all x k. Without emulated links only the windows count."""
    from orchestrator.fidelity import predict_download_s, predict_upload_s, transfer_s

    if not links:
        return k * epochs * max(windows)
    setup = max(transfer_s(cal.setup_bytes, link) for link in links)
    epoch = max(
        w + predict_download_s(cal.adapter_bytes, 0, link) + predict_upload_s(cal.adapter_bytes, 0, link, True)
        for w, link in zip(windows, links)
    )
    return k * (setup + epochs * epoch)


def plan_for_run(cfg, powers: list[float], mode: str, links: list | None = None) -> DilationPlan:
    """Calibrate, log the plan (k and the expected wall time), warn if the host cannot keep
    up. A given k is kept; the calibration then only checks it. `links`: the drawn link
    of each node (orchestrator.fidelity.Link), where the run emulates them."""
    em = cfg.emulation
    if not powers:
        raise ValueError("no nodes to plan for")
    cal = measure_node_epoch(cfg, len(powers))
    cpu_s, flops = cal.cpu_s, cal.flops
    plan = choose_dilation(
        cpu_s, flops, powers, em.gflops_per_power, usable_cpus(), RESERVE_CORES[mode], em.max_dilation
    )
    if em.dilation != "auto":
        plan = DilationPlan(
            float(em.dilation), plan.k_needed, plan.demand_cores, plan.usable_cores, cpu_s, plan.window_s
        )
    log.info(
        "time model: one node-epoch = %.2f GFLOP emulated, %.3f CPU s here; compute windows %.2f-%.2f s; %d nodes ask "
        "for %.2f cores at k = 1, %.2f usable -> dilation k = %.2g%s",
        flops / 1e9,
        cpu_s,
        *plan.window_s,
        len(powers),
        plan.demand_cores,
        plan.usable_cores,
        plan.k,
        " (given)" if em.dilation != "auto" else "",
    )
    windows = [compute_window_s(flops, p, em.gflops_per_power) for p in powers]
    log.info(
        "expected wall time: about %.1f min per run with every node training every epoch (NE's is shorter), "
        "plus start-up (controller, network, enrolment: ~20 s in Mininet)",
        expected_wall_s(plan.k, cfg.training.epochs, windows, links, cal) / 60,
    )
    if not plan.keeps_up:
        log.warning(
            "FIDELITY: this host cannot keep up with %d nodes at k = %.2g: k = %.2g would be needed%s. "
            "The run goes on; "
            "its fidelity report will show the overruns.",
            len(powers),
            plan.k,
            plan.k_needed,
            f" (the cap is --max-dilation {em.max_dilation:g})" if em.dilation == "auto" else "",
        )
    return plan
