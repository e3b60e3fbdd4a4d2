"""What an edge node does for a Flower message, with edgeft's trainer and compute
emulation (the same code as `edgeft edge`): set up (prove it holds the run's base,
keep its partition), train one node-epoch, hold new parameters.

Arrays cross this boundary as numpy (name -> array), so the ClientApp in front of it
need not import torch: it runs either in the ClientApp's own process (Flower starts
one per message) or in a node worker that keeps the model loaded between messages
(edge_client/flower_worker.py)."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from edgeft import flower_contract as fc
from edgeft.modeling import LoraSettings, pick_device
from edgeft.timemodel import NICE_BASE, epoch_flops
from edgeft.wire import BaseInfo, state_digest
from edge_client.base_copy import local_folder, verified_base
from edge_client.compute_emulation import emulated_phase, set_nice
from edge_client.trainer import LocalTrainer

log = logging.getLogger(__name__)
Arrays = dict[str, np.ndarray]


class FlowerNodeTrainer:
    """One node: its identity and compute power (node config), its trainer once set up."""

    def __init__(self, node_id: str, compute_power: float, emulate: bool, model_path: str | None = None) -> None:
        self.node_id, self.power, self.emulate, self.model_path = node_id, compute_power, emulate, model_path
        self.trainer: LocalTrainer | None = None
        torch.set_num_threads(1)  # as `edgeft edge`: one thread per node
        if emulate:
            set_nice(NICE_BASE)  # the node below the emulated network, its training lower still

    def handle(self, kind: str, payload: dict):
        """One request: 'setup' -> base digest, 'train' -> (update, metrics), 'hold' -> digest."""
        if kind == "setup":
            return self.setup(payload)
        if kind == "train":
            return self.train(payload["adapter"], payload["config"])
        if kind == "hold":
            return digest_of(payload["adapter"])
        raise ValueError(f"unknown request '{kind}'")

    def setup(self, payload: dict) -> str:
        """Load and verify this node's base (ValueError if it is not the server's), wrap it
        with LoRA around the partition, and take a warm-up step outside any window."""
        t0 = time.perf_counter()
        info = BaseInfo.model_validate_json(payload["base-info"])
        folder = local_folder(self.model_path or payload["base-path"] or None, info)
        base = verified_base(folder, info)
        lora = LoraSettings.model_validate_json(payload["lora"])
        part = torch.from_numpy(np.asarray(payload["partition"]))
        self.trainer = LocalTrainer.on_base(base, lora, part, pick_device(payload["device"]))
        self.trainer.warm_up(int(payload["batch-size"]))
        log.info("node %s set up in %.2f s (%d sequences)", self.node_id, time.perf_counter() - t0, len(part))
        return info.digest

    def train(self, adapter: Arrays, cfg: dict) -> tuple[Arrays, dict]:
        """One node-epoch inside the node's compute window; the update and the train metrics."""
        if self.trainer is None:
            raise ValueError("this node was never set up (query.setup): the ServerApp must be edgeft's")
        self.trainer.load_adapter({k: torch.from_numpy(np.asarray(v)) for k, v in adapter.items()})
        power = float(cfg.get("emulated-compute", 0.0)) or self.power
        seed = int(cfg["seed"]) * 100_003 + int(cfg["epoch"])  # the epoch loop's per-epoch seed
        steps, lr, batch = int(cfg["local-steps"]), float(cfg["local-lr"]), int(cfg["batch-size"])
        upd, timing = emulated_phase(
            lambda: self.trainer.compute_update(steps, lr, batch, seed, self.node_id),
            lambda u: u.work_tokens,
            self.emulate,
            power,
            self.trainer.linear_params,
            float(cfg["gflops-per-power"]),
            float(cfg["dilation"]),
        )
        metrics = {
            fc.TRAIN_TIME_S: timing.train_time_s,
            fc.COMPUTE_WALL_S: timing.compute_wall_s,
            fc.TRAIN_LOSS: upd.loss,
            fc.NUM_EXAMPLES: upd.samples,
            fc.NUM_TOKENS: upd.tokens,
            fc.WORK_GFLOP: epoch_flops(self.trainer.linear_params, upd.work_tokens) / 1e9,
            fc.COMPUTE_POWER: power,
        }
        log.info(
            "epoch %s: loss %.4f, T_i %.2f s, compute phase %.2f s",
            cfg["epoch"],
            upd.loss,
            timing.train_time_s,
            timing.compute_wall_s,
        )
        return {k: v.numpy() for k, v in upd.tensors.items()}, metrics


def digest_of(arrays: Arrays) -> str:
    """edgeft's digest of a parameter set (edgeft/wire.py state_digest), from numpy arrays."""
    return state_digest({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
