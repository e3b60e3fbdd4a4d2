"""edgeft's edge client as a Flower ClientApp: the same LoRA trainer and compute
emulation as `edgeft edge`, driven by Flower messages instead of edgeft's HTTP tasks
(edgeft/flower_contract.py; the node's work is edge_client/flower_node.py).

Flower starts a fresh ClientApp process for every message. Where the SuperNode's node
config names a node worker (`worker = "<socket>"`, edge_client/flower_worker.py), this
process only passes the message on: the worker keeps the model loaded. Without one,
the process does the work itself: what the node was given at set-up (LoRA settings,
its partition, where its base is) lives in `context.state`, which the SuperNode keeps
for the run, and every train message imports torch and loads the base again, before
the compute window opens (it lengthens the round, not T_i). This module imports no
torch, so that a worker's ClientApp stays light.

`identify` and `sync` are plain functions a user's own ClientApp can register too:
`app.query("identify")(identify)`, `app.train("sync")(sync)` (docs/flower.md).
"""

from __future__ import annotations

import logging

import numpy as np
from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from edgeft import flower_contract as fc
from edge_client.flower_worker import WorkerLink

log = logging.getLogger(__name__)

app = ClientApp()

SETUP_STATE = "edgeft-setup"  # context.state: ConfigRecord of the set-up
DATA_STATE = "edgeft-data"  # context.state: ArrayRecord with the partition's input_ids
WORKER = "worker"  # node config: the node worker's socket


@app.query("identify")
def identify(msg: Message, context: Context) -> Message:
    """Who this node is: its node config's name, address and compute power."""
    nc = context.node_config
    if fc.NODE_ID not in nc or fc.COMPUTE_POWER not in nc:
        raise ValueError(f"start this SuperNode with --node-config \"{fc.NODE_ID}='n1' {fc.COMPUTE_POWER}=30.0\"")
    about = ConfigRecord({fc.NODE_ID: str(nc[fc.NODE_ID]), fc.NODE_IP: str(nc.get(fc.NODE_IP, ""))})
    figures = MetricRecord({fc.COMPUTE_POWER: float(nc[fc.COMPUTE_POWER])})
    return Message(RecordDict({fc.NODE: about, fc.NODE_FIGURES: figures}), reply_to=msg)


@app.query("setup")
def setup(msg: Message, context: Context) -> Message:
    """Keep the LoRA settings and the data partition; prove this node holds the run's base."""
    cfg = msg.content[fc.CONFIG]
    keep = ("lora", "base-info", "base-path", "device", "batch-size")
    context.state[SETUP_STATE] = ConfigRecord({k: cfg[k] for k in keep})
    context.state[DATA_STATE] = msg.content["data"]
    digest = _node(context, fresh=True).call("setup", _setup_payload(context, int(cfg["batch-size"])))
    return Message(RecordDict({fc.HELD: ConfigRecord({fc.DIGEST: digest})}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """One node-epoch: the global adapter in, the update and the figures the policies need out."""
    cfg = dict(msg.content[fc.CONFIG])
    payload = {"adapter": _numpy(msg.content[fc.ARRAYS]), "config": cfg}
    update, metrics = _node(context).call("train", payload)
    content = {fc.UPDATE: ArrayRecord({k: Array(v) for k, v in update.items()}), fc.METRICS: MetricRecord(metrics)}
    return Message(RecordDict(content), reply_to=msg)


@app.train("sync")
def sync(msg: Message, context: Context) -> Message:
    """A benched node takes the new parameters and says which it holds (their digest)."""
    return _hold(msg, context)


@app.evaluate()
def final(msg: Message, context: Context) -> Message:
    """The run's final parameters: hold them and report their digest."""
    return _hold(msg, context)


def _hold(msg: Message, context: Context) -> Message:
    arrays = msg.content[fc.ARRAYS]
    context.state["edgeft-adapter"] = arrays
    if WORKER in context.node_config:
        digest = WorkerLink(str(context.node_config[WORKER])).call("hold", {"adapter": _numpy(arrays)})
    else:
        from edge_client.flower_node import digest_of

        digest = digest_of(_numpy(arrays))
    return Message(RecordDict({fc.HELD: ConfigRecord({fc.DIGEST: digest})}), reply_to=msg)


def _numpy(arrays: ArrayRecord) -> dict[str, np.ndarray]:
    return {k: a.numpy() for k, a in arrays.items()}


def _setup_payload(context: Context, batch_size: int) -> dict:
    st = context.state[SETUP_STATE]
    part = context.state[DATA_STATE]["input_ids"].numpy()
    return {**{k: str(v) for k, v in st.items()}, "partition": part, "batch-size": batch_size}


class _InProcess:
    """The node's work in this (per-message) process: set up again from context.state."""

    def __init__(self, context: Context, fresh: bool) -> None:
        from edge_client.flower_node import FlowerNodeTrainer

        nc = context.node_config
        emulate = bool(nc.get(fc.EMULATE_COMPUTE, True))
        model_path = str(nc.get(fc.MODEL_PATH, "")) or None
        self.node = FlowerNodeTrainer(str(nc[fc.NODE_ID]), float(nc[fc.COMPUTE_POWER]), emulate, model_path)
        if not fresh:
            if SETUP_STATE not in context.state:
                raise ValueError("this node was never set up (query.setup): the ServerApp must be edgeft's")
            self.node.setup(_setup_payload(context, int(context.state[SETUP_STATE]["batch-size"])))

    def call(self, kind: str, payload: dict):
        return self.node.handle(kind, payload)


def _node(context: Context, fresh: bool = False):
    """The node worker named in the node config, else this process."""
    if WORKER in context.node_config:
        return WorkerLink(str(context.node_config[WORKER]))
    return _InProcess(context, fresh)
