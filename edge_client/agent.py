"""The edge node's task loop: enrol, then pull and run tasks until told to stop."""

from __future__ import annotations

import json
import logging
import threading
import time

import torch

from edgeft.clock import Clock
from edgeft.modeling import LoraSettings, base_state, model_from_bundle, pick_device
from edgeft.timemodel import NICE_BASE, epoch_flops
from edgeft.wire import Ack, BaseInfo, Task, TaskKind, bytes_to_tensors, read_metadata, state_digest, tensors_to_bytes
from edge_client.base_copy import release_free_memory, verified_base
from edge_client.compute_emulation import emulated_phase, set_nice
from edge_client.config import EdgeConfig
from edge_client.trainer import LocalTrainer
from edge_client.transport import OrchestratorClient, OrchestratorError

log = logging.getLogger(__name__)
REFUSED_PAUSE_S = 0.5  # after a refused request, before asking again: never a tight loop of refusals


class Heartbeat:
    """Tells the orchestrator this node is alive while it computes (own session: requests
    sessions are not thread-safe)."""

    def __init__(self, cfg: EdgeConfig, node_token: str, period: float) -> None:
        self.client = OrchestratorClient(cfg.model_copy(update={"retry_for_s": 0}))
        self.client.node_token = node_token
        self.period = period
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="heartbeat")

    def _run(self) -> None:
        while not self.stop.wait(self.period):
            try:
                self.client.heartbeat()
            except Exception as exc:  # a missed beat is not fatal; the orchestrator decides
                log.debug("heartbeat failed: %s", exc)

    def __enter__(self) -> "Heartbeat":
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        # No join: a beat still in flight (on a slow path a handshake and a request, two round trips)
        # would hold back the node's next request; the thread ends after it on its own (daemon, own session).
        self.stop.set()


class EdgeAgent:
    def __init__(self, cfg: EdgeConfig) -> None:
        self.cfg = cfg
        self.device = pick_device(cfg.device)
        torch.set_num_threads(cfg.threads)
        if cfg.emulate_compute:
            # The emulated node as a whole runs below the emulated network; its training goes lower still.
            set_nice(NICE_BASE)
        self.client = OrchestratorClient(cfg)
        self.trainer: LocalTrainer | None = None
        self._held: tuple[str, LoraSettings] | None = None  # (base digest, LoRA settings) of self.trainer
        self.version = -1
        self.clock = Clock.identity()  # the run's, from each task (edgeft/clock.py)
        self.last_download_s = 0.0  # wall seconds of the last sync
        self.heartbeat_s = 2.0

    def run(self) -> None:
        enrolled = self.client.enroll(str(self.device))
        self.heartbeat_s = enrolled.heartbeat_s
        log.info(
            "node %s enrolled (compute power %.1f, device %s)", self.cfg.node_id, self.cfg.compute_power, self.device
        )
        while True:
            try:
                task = self.client.next_task()
                if task is None:
                    continue
                if task.kind == TaskKind.STOP:
                    log.info("stop received at v%d", task.version)
                    return
                self.handle(task)
            except OrchestratorError as exc:
                if exc.status == 401:
                    # The orchestrator restarted (e.g. --resume) and lost its registry: enrol again. A refused
                    # enrolment (these credentials are not this run's) raises, and ends the client.
                    log.warning("orchestrator does not know this node any more (%s); enrolling again", exc)
                    self.client.enroll(str(self.device))
                elif 400 <= exc.status < 500:
                    # Stale (409: the round moved on) or refused (400, 403, 413, ...): this answer did not
                    # count, the node did nothing wrong by asking; the orchestrator decides what comes next.
                    log.warning("orchestrator refused this answer (%s); waiting for the next task", exc)
                    time.sleep(REFUSED_PAUSE_S)
                else:
                    raise

    def handle(self, task: Task) -> None:
        log.info("task=%s epoch=%d v%d", task.kind.value, task.epoch, task.version)
        self.clock = Clock(task.dilation)
        with Heartbeat(self.cfg, self.client.node_token, self.heartbeat_s):
            if task.kind == TaskKind.SETUP:
                self._setup(task.version, task.pad_down, task.batch_size)
            elif task.kind == TaskKind.SYNC:
                self._sync(task.version, pad_down=task.pad_down)
            elif task.kind == TaskKind.TRAIN:
                self._train(task)

    def _setup(self, version: int, pad_down: int = 0, batch_size: int = 8) -> None:
        t0 = time.perf_counter()
        self.client.download_padding(pad_down)
        info = self.client.base_info()
        lora = LoraSettings.model_validate(self.client.lora_settings())
        part = bytes_to_tensors(self.client.download(f"/v1/artifacts/partition/{self.cfg.node_id}"))["input_ids"]
        moved = 0
        if self._held == (info.digest, lora) and info.distribution == "preinstalled":
            self.trainer.data = part.long()  # a second set-up (resume, a node back after a cut): same base, new data
        else:
            self.trainer = None  # the old model goes before the new one loads
            base, moved = self._base(info)
            self.trainer = LocalTrainer.on_base(base, lora, part, self.device)
            # A fresh process's first step is slow: pay for it here, not in a timed window, at the run's
            # batch size (a larger one would leave its activations' memory with every client).
            self.trainer.warm_up(batch_size)
            release_free_memory()
            self._held = (info.digest, lora)
        log.info("set up: base %s (%.1f MB moved), %d sequences", info.distribution, moved / 1e6, len(part))
        self._sync(version, started=t0, kind=TaskKind.SETUP)
        self.last_download_s = 0.0  # set-up is not part of any epoch's download time

    def _base(self, info: BaseInfo) -> tuple[torch.nn.Module, int]:
        """The base model and the bytes it took over the network."""
        if info.distribution == "preinstalled":
            return verified_base(self.cfg.model_path, info), 0
        bundle = self.client.download("/v1/artifacts/base")
        base = model_from_bundle(json.loads(read_metadata(bundle)["config"]), bytes_to_tensors(bundle))
        if state_digest(base_state(base)) != info.digest:  # e.g. a tied weight that did not tie again
            raise ValueError(
                "the base model rebuilt from the orchestrator's transfer differs from the orchestrator's own"
            )
        return base, len(bundle)

    def _sync(
        self, version: int, started: float | None = None, kind: TaskKind = TaskKind.SYNC, pad_down: int = 0
    ) -> None:
        t0 = started or time.perf_counter()
        # The adapter first, the padding (the rest of the paper's parameter volume) after: a node
        # that is behind takes the version it was sent while the orchestrator still keeps it.
        try:
            state = bytes_to_tensors(self.client.download(f"/v1/artifacts/adapter/{version}"))
        except OrchestratorError as exc:
            if exc.status != 404 or kind != TaskKind.SYNC:
                raise
            # Fell behind so far that v{version} is gone: a sync to a newer version is queued
            # (the orchestrator keeps only the newest one per node), so this one is moot.
            log.info("v%d superseded while this node was behind (%s); the newer sync follows", version, exc)
            return
        self.client.download_padding(pad_down)
        self.trainer.load_adapter(state)
        self.version = version
        self.last_download_s = time.perf_counter() - t0
        digest = state_digest(self.trainer.adapter())
        self.client.ack(
            Ack(
                node_id=self.cfg.node_id,
                kind=kind,
                version=version,
                digest=digest,
                download_s=self.clock.to_reported(self.last_download_s),
            )
        )

    def _compute(self, task: Task) -> tuple:
        upd = self.trainer.compute_update(task.local_steps, task.local_lr, task.batch_size, task.seed, self.cfg.node_id)
        return upd, tensors_to_bytes(upd.tensors)

    def _train(self, task: Task) -> None:
        if task.version != self.version:
            self._sync(task.version)
        power = task.emulated_compute or self.cfg.compute_power
        emulate = self.cfg.emulate_compute
        # Preparing the update (serialising it) is the node's compute too, not its link's time.
        (upd, body), timing = emulated_phase(
            lambda: self._compute(task),
            lambda out: out[0].work_tokens,
            emulate,
            power,
            self.trainer.linear_params,
            task.gflops_per_power,
            task.dilation,
        )
        flops = epoch_flops(self.trainer.linear_params, upd.work_tokens)
        meta = {
            "node_id": self.cfg.node_id,
            "epoch": task.epoch,
            "version": task.version,
            "train_time_s": timing.train_time_s,
            "compute_wall_s": timing.compute_wall_s,
            "download_s": self.clock.to_reported(self.last_download_s),
            "loss": upd.loss,
            "samples": upd.samples,
            "tokens": upd.tokens,
            "work_gflop": flops / 1e9,
        }
        self.client.upload_padding(task.pad_up)
        self.client.post_result(meta, body)
        self.last_download_s = 0.0
        log.info(
            "epoch %d: loss %.4f, T_i %.2f s, compute phase %.2f s",
            task.epoch,
            upd.loss,
            timing.train_time_s,
            timing.compute_wall_s,
        )
