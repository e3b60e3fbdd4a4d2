"""edgeft's edge client as a Flower ClientApp: the same LoRA trainer and compute
emulation as `edgeft edge` (edge_client/trainer.py, compute_emulation.py), driven by
Flower messages instead of edgeft's HTTP tasks (edgeft/flower_contract.py).

Flower starts a fresh ClientApp process for every message, so nothing stays in
memory between rounds: what the node was given at set-up (LoRA settings, its data
partition, where its base is) lives in `context.state`, which the SuperNode keeps for
the run, and each train message loads the base from the node's folder again. That
reload, and a warm-up step so that a cold process's first step is not counted as
compute, happen before the compute window opens: they lengthen the round, not T_i.
"""

from __future__ import annotations

import logging
import time
from dataclasses import astuple

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from edgeft import flower_contract as fc
from edgeft.modeling import LoraSettings, load_pretrained, pick_device
from edgeft.timemodel import NICE_BASE, epoch_flops
from edgeft.wire import BaseInfo, state_digest
from edge_client.base_copy import local_folder, verified_base
from edge_client.compute_emulation import emulated_phase, set_nice
from edge_client.trainer import LocalTrainer

log = logging.getLogger(__name__)

app = ClientApp()

SETUP_STATE = "edgeft-setup"  # context.state: ConfigRecord of the set-up
DATA_STATE = "edgeft-data"  # context.state: ArrayRecord with the partition's input_ids


@app.query("identify")
def identify(msg: Message, context: Context) -> Message:
    """Who this node is: its node config's name, address and compute power."""
    nc = context.node_config
    if fc.NODE_ID not in nc or fc.COMPUTE_POWER not in nc:
        raise ValueError(f"start this SuperNode with --node-config \"{fc.NODE_ID}='n1' {fc.COMPUTE_POWER}=30\"")
    about = ConfigRecord({fc.NODE_ID: str(nc[fc.NODE_ID]), fc.NODE_IP: str(nc.get(fc.NODE_IP, ""))})
    figures = MetricRecord({fc.COMPUTE_POWER: float(nc[fc.COMPUTE_POWER])})
    return Message(RecordDict({fc.NODE: about, fc.NODE_FIGURES: figures}), reply_to=msg)


@app.query("setup")
def setup(msg: Message, context: Context) -> Message:
    """Keep the LoRA settings and the data partition; prove this node holds the run's base."""
    cfg = msg.content[fc.CONFIG]
    info = BaseInfo.model_validate_json(str(cfg["base-info"]))
    folder = local_folder(str(context.node_config.get(fc.MODEL_PATH, "")) or str(cfg["base-path"]) or None, info)
    base = verified_base(folder, info)  # ValueError (an error reply) if it is not the orchestrator's
    context.state[SETUP_STATE] = ConfigRecord(
        {"lora": str(cfg["lora"]), "folder": folder, "device": str(cfg["device"])}
    )
    context.state[DATA_STATE] = msg.content["data"]
    del base
    return Message(RecordDict({fc.HELD: ConfigRecord({fc.DIGEST: info.digest})}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """One node-epoch: load the global adapter, train locally inside the node's compute
    window, reply with the update and the figures the policies need."""
    nc, cfg = context.node_config, msg.content[fc.CONFIG]
    trainer = _trainer(context, int(cfg["batch-size"]))
    trainer.load_adapter(msg.content[fc.ARRAYS].to_torch_state_dict())
    power = float(cfg.get("emulated-compute", 0.0)) or float(nc[fc.COMPUTE_POWER])
    emulate = bool(nc.get(fc.EMULATE_COMPUTE, True))
    if emulate:
        set_nice(NICE_BASE)
    seed = int(cfg["seed"]) * 100_003 + int(cfg["epoch"])  # the epoch loop's per-epoch seed
    upd, timing = emulated_phase(
        lambda: trainer.compute_update(
            int(cfg["local-steps"]), float(cfg["local-lr"]), int(cfg["batch-size"]), seed, str(nc[fc.NODE_ID])
        ),
        lambda u: u.work_tokens,
        emulate,
        power,
        trainer.linear_params,
        float(cfg["gflops-per-power"]),
        float(cfg["dilation"]),
    )
    metrics = {
        fc.TRAIN_TIME_S: timing.train_time_s,
        fc.COMPUTE_WALL_S: timing.compute_wall_s,
        fc.TRAIN_LOSS: upd.loss,
        fc.NUM_EXAMPLES: upd.samples,
        fc.NUM_TOKENS: upd.tokens,
        fc.WORK_GFLOP: epoch_flops(trainer.linear_params, upd.work_tokens) / 1e9,
        fc.COMPUTE_POWER: power,
    }
    log.info("epoch %s: loss %.4f, T_i %.2f s, compute phase %.2f s", cfg["epoch"], upd.loss, *astuple(timing))
    return Message(RecordDict({fc.UPDATE: ArrayRecord(upd.tensors), fc.METRICS: MetricRecord(metrics)}), reply_to=msg)


@app.train("sync")
def sync(msg: Message, context: Context) -> Message:
    """A benched node takes the new parameters (and says which it holds)."""
    return _hold(msg, context)


@app.evaluate()
def final(msg: Message, context: Context) -> Message:
    """The run's final parameters: hold them and report their digest."""
    return _hold(msg, context)


def _hold(msg: Message, context: Context) -> Message:
    arrays = msg.content[fc.ARRAYS]
    context.state["edgeft-adapter"] = arrays
    digest = state_digest(arrays.to_torch_state_dict())
    return Message(RecordDict({fc.HELD: ConfigRecord({fc.DIGEST: digest})}), reply_to=msg)


def _trainer(context: Context, batch_size: int) -> LocalTrainer:
    """The node's model (verified at set-up) with LoRA and its partition, in this fresh process."""
    if SETUP_STATE not in context.state:
        raise ValueError("this node was never set up (query.setup): the ServerApp must be edgeft's")
    st = context.state[SETUP_STATE]
    torch.set_num_threads(1)  # as `edgeft edge`: one thread per node
    t0 = time.perf_counter()
    part = context.state[DATA_STATE].to_torch_state_dict()["input_ids"]
    lora = LoraSettings.model_validate_json(str(st["lora"]))
    trainer = LocalTrainer.on_base(load_pretrained(str(st["folder"])), lora, part, pick_device(str(st["device"])))
    trainer.warm_up(batch_size)  # a cold process's first step is slow: not inside the compute window
    log.info("model ready in %.2f s (fresh ClientApp process)", time.perf_counter() - t0)
    return trainer
