"""`edgeft simulate --training real`: the active nodes' updates computed for real, so a simulated
run's loss columns are what the orchestrator's real run would have written.

The simulator asks, after each simulated epoch, for the epoch's training (simulator/training.py); this
module answers with the same parts as the orchestrator's run with the built-in model: the same
workload (orchestrator/workload.py: base model, partitions handed out in node-id order, validation
set, the adapter initialised with the run's seed), the same edge trainer (edge_client/trainer.py,
with the task's seed `seed x 100 003 + epoch` and the node's id), the same guarded aggregation with
the label-token weights and the same server optimiser (orchestrator/epoch_core.py `aggregate`, as
orchestrator/epoch_loop.py calls it), and the validation loss of the aggregate. One base model is in
memory for all nodes: a node's partition is swapped into one trainer and the global adapter loaded
before its update (every active node trains from the global adapter of the round, as after its
sync), so 100 nodes cost one model, not 100.

Training is the expensive part and its outcome depends only on the run's model, data and training
settings, its seed, its nodes and the active set of every epoch so far (simulator/training.py), so
each epoch is cached on disk under a key of exactly those (`TrainingCache`): AR's curve for
(nodes, seed) is trained once and reused by every setup, regime and measurement model, and an epoch
prefix two runs share (NE's epoch 0 and AR's) is trained once. A reused epoch is bit-identical to a
fresh one: the cache keeps the server's state after every epoch (adapter, optimiser state, the
aggregation's norm history) and a run that leaves the cached path resumes from there. Runs that
train the same entry at once wait for each other (a file lock) rather than train it twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Sequence

import torch

from simulator.training import EpochTraining

log = logging.getLogger(__name__)

CACHE_FORMAT = 2  # raise when what a cached epoch holds, or how it is computed, changes
THREADS = 1  # as `edgeft edge` trains (edge_client/config.py threads): one thread, the same bits every time
TASK_SEED_STRIDE = 100_003  # orchestrator/epoch_loop.py: a train task's seed is seed x this + epoch


def default_cache_dir() -> Path:
    """Where cached epochs go without --training-cache: beside the built-in model's cache, so every
    `edgeft simulate` of this user shares them (EDGEFT_CACHE moves both)."""
    from edgeft.pretrain import default_cache_dir as edgeft_cache

    return edgeft_cache() / "simulate-training"


def training_config(nodes: int, seed: int, epochs: int):
    """The orchestrator's config of the real run a simulated one stands for: the defaults (the
    built-in model and its data), with the run's node count, seed and epochs."""
    from orchestrator.config import OrchestratorConfig

    return OrchestratorConfig(nodes=nodes, seed=seed, policy="ar", training={"epochs": epochs})


def cache_key(cfg, node_ids: Sequence[str]) -> dict:
    """Everything that decides a run's losses besides its active sets: the model and the digest of its
    base's weights (a base built on another machine from the same recipe differs), the data and how it
    is split, the local and server training, the aggregation's guard, the seed, the nodes (their ids
    pick partitions and dropout seeds), and the libraries and device that compute it. Not the epochs
    (a shorter run is a prefix of a longer one), the network, the setup or the policy."""
    import peft
    import transformers

    from edgeft.modeling import pick_device
    from orchestrator.workload import base_identity

    training = cfg.training
    return {
        "format": CACHE_FORMAT,
        "seed": cfg.seed,
        "nodes": sorted(node_ids),
        # where the base lives is not what it is: the folders out, the weights' digest in
        "model": cfg.model.model_dump(mode="json", exclude={"cache_dir", "base_model_path"}),
        "base": base_identity(cfg.model),
        "data": cfg.data.model_dump(mode="json"),
        "training": {
            "local_steps": training.local_steps,
            "local_lr": training.local_lr,
            "batch_size": training.batch_size,
            "server_optimizer": training.server_optimizer,
            "server_lr": training.server_lr,
        },
        "updates": cfg.updates.model_dump(mode="json"),
        "device": pick_device(cfg.device).type,
        "threads": THREADS,
        "libraries": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }


def digest_of(value: object) -> str:
    """A stable hex digest of a JSON-able value."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def next_prefix(prefix: str, active: Sequence[str]) -> str:
    """The digest of the active sets so far, one epoch on: it names the state after that epoch."""
    return digest_of([prefix, sorted(active)])


class TrainingCache:
    """One key's cached epochs in a folder: `<prefix>.json` (the epoch's outcome, written last: its
    presence means the entry is whole) and `<prefix>.pt` (the server's state after it)."""

    def __init__(self, root: Path, key: dict) -> None:
        prune_older_formats(Path(root))
        self.folder = Path(root) / digest_of(key)[:24]
        self.folder.mkdir(parents=True, exist_ok=True)
        key_file = self.folder / "key.json"
        if not key_file.exists():  # what the entries are for, readable
            _write_atomic(key_file, json.dumps(key, indent=2, sort_keys=True).encode())

    def read(self, prefix: str) -> dict | None:
        """The cached outcome of the epoch that ends `prefix`, or None."""
        try:
            return json.loads((self.folder / f"{prefix[:32]}.json").read_text())
        except FileNotFoundError:
            return None

    def state(self, prefix: str) -> dict:
        """The server's state after the epoch that ends `prefix` (it must be cached)."""
        return torch.load(self.folder / f"{prefix[:32]}.pt", weights_only=False)

    def write(self, prefix: str, outcome: dict, state: dict) -> None:
        """One epoch: its state first, then its outcome (which marks it whole)."""
        path = self.folder / f"{prefix[:32]}.pt"
        with _temporary(path) as tmp:
            torch.save(state, tmp)
        _write_atomic(self.folder / f"{prefix[:32]}.json", json.dumps(outcome).encode())

    def pre_training_loss(self) -> float | None:
        try:
            return float(json.loads((self.folder / "pre_training.json").read_text())["pre_training_loss"])
        except FileNotFoundError:
            return None

    def write_pre_training_loss(self, loss: float) -> None:
        _write_atomic(self.folder / "pre_training.json", json.dumps({"pre_training_loss": loss}).encode())

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Held while one process trains entry `name`; another that wants it waits, then reads it."""
        with open(self.folder / f"{name[:32]}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def prune_older_formats(root: Path) -> int:
    """Remove the key folders under `root` that an older CACHE_FORMAT wrote: no run of this version
    can hit them (the format is in every key), so they only hold disk (573 MB here after format 2).
    A folder without a readable key.json, or from a newer format, is left alone. Returns the bytes freed."""
    freed = 0
    for key_file in root.glob("*/key.json"):
        try:
            found = json.loads(key_file.read_text()).get("format")
        except (OSError, ValueError, AttributeError):
            continue
        if not isinstance(found, int) or found >= CACHE_FORMAT:
            continue
        folder = key_file.parent
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            freed += size
            log.info(
                "removed %s: cached by format %d, this version writes %d (%.0f MB)",
                folder,
                found,
                CACHE_FORMAT,
                size / 1e6,
            )
    return freed


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` that becomes `path` when the block ends without error."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_atomic(path: Path, data: bytes) -> None:
    with _temporary(path) as tmp:
        tmp.write_bytes(data)


@dataclass
class _Server:
    """The real run's parts, built on the first epoch that is not cached."""

    workload: object  # orchestrator.workload.Workload
    trainer: object  # edge_client.trainer.LocalTrainer: one base, partitions swapped in
    core: object  # orchestrator.epoch_core.EpochCore: the guarded aggregation and its norm history
    opt: object  # orchestrator.aggregation.ServerOptimizer
    partition_of: dict[str, int]
    weights: dict[str, int]  # label tokens handed out: the aggregation weight (orchestrator/coordinator.py)


@dataclass
class TrainingStats:
    """What one run's training cost: epochs trained here, epochs reused from the cache, CPU seconds."""

    epochs_trained: int = 0
    epochs_reused: int = 0
    cpu_s: float = 0.0
    cache: str = ""
    base_digest: str = ""  # the base the losses were trained from (cache_key)


@contextlib.contextmanager
def _threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class RealTraining:
    """simulator/training.py's Training, for real (module doc); `cache_dir` None: nothing cached."""

    def __init__(self, cfg, node_ids: Sequence[str], cache_dir: Path | str | None = None) -> None:
        self.cfg = cfg
        self.node_ids = sorted(node_ids)
        started = time.process_time()
        key = None
        if cache_dir:
            with _threads(THREADS):  # the key loads the base, pre-training it on a machine's first use
                key = cache_key(cfg, self.node_ids)
        self.cache = TrainingCache(Path(cache_dir), key) if key else None
        self.prefix = ""  # the active sets so far ("" before epoch 0)
        self._server: _Server | None = None
        self._server_at = ""  # the prefix whose end state the server holds
        self.counts = TrainingStats(
            cache=str(self.cache.folder) if self.cache else "",
            base_digest=key["base"]["weights"] if key else "",
            cpu_s=time.process_time() - started,
        )

    def pre_training_loss(self) -> float | None:
        """The adapter-initialised model's validation loss, as the workload measures it."""
        cached = self.cache.pre_training_loss() if self.cache else None
        if cached is not None:
            return cached
        return float(self._built().workload.pre_training_loss)

    def train_epoch(self, epoch: int, active: Sequence[str]) -> EpochTraining:
        """Epoch `epoch` over `active`: from the cache when the same active sets led here, else trained."""
        prefix = next_prefix(self.prefix, active)
        outcome = self.cache.read(prefix) if self.cache else None
        if outcome is None:
            with self.cache.lock(prefix) if self.cache else contextlib.nullcontext():
                outcome = self.cache.read(prefix) if self.cache else None  # trained meanwhile by another run
                if outcome is None:
                    outcome = self._train(epoch, sorted(active), prefix)
                    self.counts.epochs_trained += 1
                else:
                    self.counts.epochs_reused += 1
        else:
            self.counts.epochs_reused += 1
        self.prefix = prefix
        return EpochTraining(
            outcome["node_loss"],
            float(outcome["val_loss"]),
            outcome["node_weight"],
            outcome["digest"],
            outcome["refused"],
        )

    def stats(self) -> dict:
        return asdict(self.counts)

    def _built(self) -> _Server:
        if self._server is None:
            started = time.process_time()
            with _threads(THREADS):
                self._server = build_server(self.cfg, self.node_ids)
            self.counts.base_digest = self._server.workload.base_info.digest
            if self.cache and self.cache.pre_training_loss() is None:
                self.cache.write_pre_training_loss(float(self._server.workload.pre_training_loss))
            self.counts.cpu_s += time.process_time() - started
        return self._server

    def _train(self, epoch: int, active: list[str], prefix: str) -> dict:
        """One epoch trained here, from the state after the previous one (loaded from the cache when
        this run reused it), and cached with the state it leaves."""
        server = self._built()
        started = time.process_time()
        with _threads(THREADS):
            if self._server_at != self.prefix:
                restore_state(server, self.cache.state(self.prefix))
            outcome = train_round(server, self.cfg, epoch, active)
        self._server_at = prefix
        if self.cache:
            self.cache.write(prefix, {"epoch": epoch, "active": active, **outcome}, server_state(server))
        self.counts.cpu_s += time.process_time() - started
        return outcome


def build_server(cfg, node_ids: Sequence[str]) -> _Server:
    """The workload, one trainer on a base rebuilt from what a node receives, the epoch core's
    aggregation and the server optimiser, as orchestrator/epoch_loop.py sets them up."""
    from orchestrator.aggregation import ServerOptimizer
    from orchestrator.epoch_core import EpochCore
    from orchestrator.network_view import StaticMetrics
    from orchestrator.workload import build_workload

    ids = sorted(node_ids)
    workload = build_workload(cfg, len(ids))
    partition_of = {node_id: index for index, node_id in enumerate(ids)}  # hand-out order: sorted node ids
    parts = workload.partitions
    weights = {node_id: parts[i].ids.numel() - len(parts[i]) for node_id, i in partition_of.items()}
    samples = {node_id: len(parts[i]) for node_id, i in partition_of.items()}
    core = EpochCore(cfg, samples, StaticMetrics({}), sum(len(p) for p in parts), len(ids))
    opt = ServerOptimizer(workload.adapter(), cfg.training.server_optimizer, cfg.training.server_lr)
    trainer = _trainer(cfg, workload, parts[0].ids)
    return _Server(workload, trainer, core, opt, partition_of, weights)


def _trainer(cfg, workload, partition: torch.Tensor):
    """The nodes' one trainer: the base as a node gets it (rebuilt from the transfer bundle, or
    loaded from the preinstalled folder, edge_client/agent.py), LoRA wrapped around it in place."""
    from edge_client.trainer import LocalTrainer
    from edgeft.modeling import LoraSettings, load_pretrained, model_from_bundle
    from edgeft.wire import bytes_to_tensors, read_metadata
    from orchestrator.workload import base_folder

    bundle = workload.base_bundle
    if bundle is not None:
        base = model_from_bundle(json.loads(read_metadata(bundle)["config"]), bytes_to_tensors(bundle))
    else:
        base = load_pretrained(str(base_folder(cfg.model)))
    lora = LoraSettings.model_validate_json(workload.lora_json)
    return LocalTrainer.on_base(base, lora, partition, workload.device)


def train_round(server: _Server, cfg, epoch: int, active: Sequence[str]) -> dict:
    """Every active node's update from the current global adapter, one after another, then the
    round through the epoch core's guarded aggregation and the server optimiser; the outcome."""
    from edgeft.modeling import load_adapter_state
    from edgeft.wire import state_digest
    from orchestrator.aggregation import RoundDiverged

    training, parts = cfg.training, server.workload.partitions
    current = server.opt.state()  # the version every active node synced to
    updates, losses = {}, {}
    for node_id in sorted(active):
        server.trainer.data = parts[server.partition_of[node_id]].ids.long()
        server.trainer.load_adapter(current)
        update = server.trainer.compute_update(
            training.local_steps,
            training.local_lr,
            training.batch_size,
            cfg.seed * TASK_SEED_STRIDE + epoch,
            node_id,
        )
        updates[node_id], losses[node_id] = update.tensors, update.loss

    def evaluate(params: dict) -> float:
        load_adapter_state(server.workload.model, params)
        return server.workload.val_loss()

    weights = {node_id: server.weights[node_id] for node_id in updates}
    try:
        outcome, refused = server.core.aggregate(epoch, updates, weights, server.opt, evaluate)
    except RoundDiverged as exc:
        raise ValueError(f"epoch {epoch}: {exc}") from None
    return {
        "node_loss": {node_id: loss for node_id, loss in losses.items() if node_id not in refused},
        "node_weight": {node_id: float(weight) for node_id, weight in weights.items() if node_id not in refused},
        "val_loss": float(outcome.val_loss),
        "digest": state_digest(outcome.params),
        "refused": dict(refused),
    }


def server_state(server: _Server) -> dict:
    """What the next epoch starts from: the adapter, the optimiser's state, the norm history."""
    return {
        "params": server.opt.state(),
        "opt_state": server.opt.state_dict(),
        "norm_history": server.core.strategy.norm_history(),
    }


def restore_state(server: _Server, state: dict) -> None:
    """Back to a cached epoch's end (server_state), bit for bit."""
    import copy

    server.opt.load(state["params"], copy.deepcopy(state["opt_state"]))
    server.core.strategy.restore_norm_history(state["norm_history"])


def for_spec(spec, cache_dir: Path | str | None) -> RealTraining:
    """The real training of a simulated run (simulator/driver.py RunSpec)."""
    ids = [profile["node_id"] for profile in spec.profiles]
    return RealTraining(training_config(len(ids), spec.seed, spec.epochs), ids, cache_dir)
