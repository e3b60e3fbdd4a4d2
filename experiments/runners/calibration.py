"""Pick the time dilation k a run needs on this host, before it starts.

Calibration: one node-epoch of the run's real training (same model, batch,
sequence length and local steps) is timed in CPU seconds on one thread. With
every node computing at once, the emulated world asks for

    demand = sum_i cpu_s / window_i      cores (window_i from edgeft/timemodel.py)

The host has `cores - reserve` cores for training (the reserve is for the
orchestrator, and in Mininet for ovs-vswitchd and the delay lines), used up to
`utilisation`; k = demand / (usable cores), at least 1, rounded up. Above the
cap an edgeft run goes on at the cap and says, before and after, that it cannot
keep up and which k would.

On Flower's Deployment Engine every message also starts a process: flwr 1.42's
SuperNode has its `flower-superexec` launch `flwr-clientapp` for each message (one
a round per node: train, or sync for a benched node), which imports flwr and
edgeft's ClientApp module and passes the message to the node's worker. Those starts
burst at the round's start, at the same priority as the rest of a client, and
compete with the nodes whose windows are already open. Calibration measures one
such start in the Flower venv (CPU seconds, the least of two) and the Flower
engine's demand counts it with each node-epoch:

    demand = sum_i (cpu_s + message_cpu_s) / window_i

Where the automatic k this asks for exceeds the cap, a Flower run refuses to start
(ConfigError: one line naming the k that would work); an edgeft run warns and goes on.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass

from edgeft.clock import Clock
from edgeft.config_files import ConfigError
from edgeft.timemodel import compute_window_s, epoch_flops

log = logging.getLogger(__name__)
UTILISATION = 0.6
RESERVE_CORES = {"local": 0.25, "mininet": 0.6}
ENGINES = ("edgeft", "flower", "flower-no-workers")  # flower-no-workers: the ClientApp loads torch itself
# What `flwr-clientapp` imports before it handles a message: flwr's client runtime and the
# app's ClientApp module (edge_client/flower_client.py: numpy and flwr, no torch with a worker).
_MESSAGE_PROBE = {
    "flower": "from flwr.supernode.cli import flwr_clientapp; import flwr.supernode.runtime.run_clientapp; "
    "import edge_client.flower_client",
}
# Without a worker the process also imports torch and the trainer (and loads the base: not counted).
_MESSAGE_PROBE["flower-no-workers"] = _MESSAGE_PROBE["flower"] + "; import edge_client.flower_node"


@dataclass(frozen=True)
class DilationPlan:
    k: float  # the factor the run uses
    k_needed: float  # what the host needs (may exceed the cap)
    demand_cores: float  # cores the emulated nodes ask for at k = 1
    usable_cores: float
    cpu_s: float  # measured CPU seconds of one node-epoch
    window_s: tuple[float, float]  # shortest and longest compute window (emulated s)
    message_cpu_s: float = 0.0  # CPU seconds each node spends per round outside its training (Flower: a process)

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


def round_up(value: float, step: float = 0.1) -> float:
    return round(math.ceil(value / step - 1e-9) * step, 6)


def choose_dilation(
    cpu_s: float,
    flops: float,
    powers: list[float],
    gflops_per_power: float,
    cores: float,
    reserve: float,
    cap: float,
    utilisation: float = UTILISATION,
    message_cpu_s: float = 0.0,
) -> DilationPlan:
    """The plan for `powers` nodes whose node-epoch costs `cpu_s` here and `flops` emulated;
    `message_cpu_s`: what each node also spends per round here (Flower's per-message process)."""
    if not powers:
        raise ValueError("no nodes to plan for")
    windows = [compute_window_s(flops, p, gflops_per_power) for p in powers]
    demand = sum((cpu_s + message_cpu_s) / w for w in windows)
    usable = max(cores - reserve, 0.25) * utilisation
    needed = max(1.0, round_up(demand / usable))
    return DilationPlan(min(needed, cap), needed, demand, usable, cpu_s, (min(windows), max(windows)), message_cpu_s)


def measure_message_cpu_s(engine: str, runs: int = 2) -> float:
    """CPU seconds (user + system) of one per-message ClientApp process start on this host,
    as flwr 1.42's SuperNode starts it (`flwr-clientapp` from the Flower venv, which then
    loads the app's ClientApp module); the least of `runs`. 0 for edgeft's own engine, whose
    clients stay up. Measured once per process and engine."""
    if engine not in _MESSAGE_PROBE:
        return 0.0
    if engine not in _message_measured:
        from experiments.runners.flower import FLOWER_VENV, INSTALL_HINT, REPO

        python = FLOWER_VENV / "bin" / "python"
        if not python.exists():
            raise ConfigError(INSTALL_HINT)
        env = {**os.environ, "PYTHONPATH": str(REPO), "FLWR_DISABLE_UPDATE_CHECK": "1", "FLWR_TELEMETRY_ENABLED": "0"}
        _message_measured[engine] = min(
            _child_cpu_s([str(python), "-c", _MESSAGE_PROBE[engine]], env) for _ in range(runs)
        )
    return _message_measured[engine]


_message_measured: dict[str, float] = {}


def _child_cpu_s(cmd: list[str], env: dict[str, str]) -> float:
    """CPU seconds one child process used (its own rusage, not the whole family's)."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"the Flower ClientApp probe failed ({proc.returncode}): {err.read()[-400:]!r}")
    return usage.ru_utime + usage.ru_stime


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


def expected_wall_s(dilation: float, epochs: int, windows: list[float], links: list | None, cal: Calibration) -> float:
    """Wall time of a run in which every node trains every epoch (AR; NE's is shorter):
    set-up over the slowest link, then per epoch the slowest node's sync, window and
    upload, all x k. Without emulated links only the windows count."""
    from orchestrator.fidelity import predict_download_s, predict_upload_s, transfer_s

    clock = Clock(dilation)
    if not links:
        return clock.to_wall(epochs * max(windows))
    setup = max(transfer_s(cal.setup_bytes, link) for link in links)
    epoch = max(
        w + predict_download_s(cal.adapter_bytes, 0, link) + predict_upload_s(cal.adapter_bytes, 0, link, True)
        for w, link in zip(windows, links)
    )
    return clock.to_wall(setup + epochs * epoch)


def plan_for_run(
    cfg, powers: list[float], mode: str, links: list | None = None, engine: str = "edgeft"
) -> DilationPlan:
    """Calibrate, log the plan (k and the expected wall time), warn if the host cannot keep
    up. A given k is kept; the calibration then only checks it. `links`: the drawn link
    of each node (orchestrator.fidelity.Link), where the run emulates them. `engine`
    'flower' (or 'flower-no-workers') counts Flower's per-message process and refuses an
    automatic k above the cap (ConfigError) instead of running at the cap."""
    em = cfg.emulation
    if not powers:
        raise ValueError("no nodes to plan for")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}'")
    cal = measure_node_epoch(cfg, len(powers))
    cpu_s, flops = cal.cpu_s, cal.flops
    message_cpu_s = measure_message_cpu_s(engine)
    plan = choose_dilation(
        cpu_s,
        flops,
        powers,
        em.gflops_per_power,
        usable_cpus(),
        RESERVE_CORES[mode],
        em.max_dilation,
        message_cpu_s=message_cpu_s,
    )
    if em.dilation != "auto":
        plan = DilationPlan(
            float(em.dilation), plan.k_needed, plan.demand_cores, plan.usable_cores, cpu_s, plan.window_s, message_cpu_s
        )
    _log_plan(plan, flops, len(powers), em.dilation != "auto")
    if not plan.keeps_up and em.dilation == "auto" and engine != "edgeft":
        raise ConfigError(
            f"--max-dilation {em.max_dilation:g}: Flower's per-message processes on this host need k = "
            f"{plan.k_needed:g} for {len(powers)} nodes to keep their compute windows; give --max-dilation "
            f"{math.ceil(plan.k_needed):g} (or fewer nodes)"
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


def _log_plan(plan: DilationPlan, flops: float, nodes: int, given: bool) -> None:
    """The plan, in one line of the run's log."""
    log.info(
        "time model: one node-epoch = %.2f GFLOP emulated, %.3f CPU s here%s; compute windows %.2f-%.2f s; %d nodes "
        "ask for %.2f cores at k = 1, %.2f usable -> dilation k = %.2g%s",
        flops / 1e9,
        plan.cpu_s,
        f" + {plan.message_cpu_s:.2f} CPU s of Flower's per-message ClientApp process" if plan.message_cpu_s else "",
        *plan.window_s,
        nodes,
        plan.demand_cores,
        plan.usable_cores,
        plan.k,
        " (given)" if given else "",
    )
