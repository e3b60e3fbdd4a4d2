"""A node worker for the Flower path: one long-lived process per edge node that keeps
the node's model loaded between Flower messages.

Flower 1.42 starts a fresh ClientApp process for every message (its warm executors
exist only on Kubernetes), and a process that imports torch and loads the model
costs seconds of CPU per message. With a worker, the ClientApp stays a thin process
(flwr and numpy, no torch) that hands the message to the worker over a UNIX socket
(`worker` in the SuperNode's node config) and returns its answer; the training, the
compute window and the digests are the worker's (edge_client/flower_node.py).

    edgeft flower-worker --socket /run/edgeft/n01.sock --node-id n01 --compute-power 30 --emulate-compute

The socket and its key file (`<socket>.key`) are readable by their owner only."""

from __future__ import annotations

import logging
import os
import secrets
from multiprocessing.connection import Client, Listener
from pathlib import Path

log = logging.getLogger(__name__)


def key_path(socket_path: str) -> Path:
    return Path(socket_path + ".key")


def serve(socket_path: str, node_id: str, compute_power: float, emulate: bool, model_path: str | None = None) -> None:
    """Answer requests until 'stop' (or a signal)."""
    from edge_client.flower_node import FlowerNodeTrainer

    node = FlowerNodeTrainer(node_id, compute_power, emulate, model_path)
    Path(socket_path).unlink(missing_ok=True)
    old = os.umask(0o077)
    try:
        key = secrets.token_bytes(32)
        listener = Listener(socket_path, family="AF_UNIX", authkey=key)
        key_path(socket_path).write_bytes(key)  # last: a key file means the worker is listening
    finally:
        os.umask(old)
    log.info("node worker %s listening on %s", node_id, socket_path)
    with listener:
        while True:
            with listener.accept() as conn:
                kind, payload = conn.recv()
                if kind == "stop":
                    conn.send(("ok", None))
                    return
                try:
                    conn.send(("ok", node.handle(kind, payload)))
                except Exception as exc:  # the ClientApp turns it into an error reply; the worker stays up
                    log.exception("request %s failed", kind)
                    conn.send(("error", f"{type(exc).__name__}: {exc}"))


class WorkerLink:
    """The ClientApp's side: one request, one answer."""

    def __init__(self, socket_path: str, timeout_s: float = 3600.0) -> None:
        self.socket_path, self.timeout_s = socket_path, timeout_s

    def call(self, kind: str, payload: dict):
        try:
            key = key_path(self.socket_path).read_bytes()
            with Client(self.socket_path, family="AF_UNIX", authkey=key) as conn:
                conn.send((kind, payload))
                if not conn.poll(self.timeout_s):
                    raise RuntimeError(f"node worker at {self.socket_path} gave no answer in {self.timeout_s:.0f} s")
                status, value = conn.recv()
        except (OSError, EOFError) as exc:
            raise RuntimeError(f"node worker at {self.socket_path} is not reachable ({exc}): is it running?") from None
        if status != "ok":
            raise RuntimeError(f"node worker: {value}")
        return value


def await_workers(socket_paths: list[str], timeout_s: float) -> None:
    """Wait until every worker listens (its key file exists); a clear error after `timeout_s`."""
    import time

    deadline = time.monotonic() + timeout_s
    while missing := [p for p in socket_paths if not key_path(p).exists()]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"node workers not listening after {timeout_s:.0f} s: {missing}; see their logs")
        time.sleep(0.2)
