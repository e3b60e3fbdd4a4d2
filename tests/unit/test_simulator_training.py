"""`edgeft simulate --training real` without SimGrid: the training protocol the driver asks
(simulator/training.py), the real implementation (experiments/runners/sim_training.py) against the
orchestrator's own path (separate trainers per node as edge_client/agent.py builds them, the wire's
bytes, the epoch core's guarded aggregation, the server optimiser, the workload's validation), the
cache key and the cache's reuse (bit-identical to training afresh), the driver's loss columns, and
the new flags' bad input (one line, exit 2)."""

import argparse
import json
import math
from pathlib import Path

import pytest
import torch

from experiments.runners import sim_training, simulate
from orchestrator.config import OrchestratorConfig
from orchestrator.registry import NodeStatus
from simulator import driver
from simulator.training import EpochTraining, NoTraining
from simulator.transfers import EpochTimes, NodeTimes

NODES = ["node-01", "node-02", "node-03"]
SMALL_DATA = {"telemetry_lines": 800}  # enough for 3 x 16 training and 32 validation sequences, quicker to build


def _cfg(seed: int = 0, **changes) -> OrchestratorConfig:
    fields = {"nodes": len(NODES), "seed": seed, "policy": "ar", "data": dict(SMALL_DATA)}
    fields.update(changes)
    return OrchestratorConfig(**fields)


def _curve(training, active_sets) -> list[EpochTraining]:
    return [training.train_epoch(epoch, active) for epoch, active in enumerate(active_sets)]


def test_no_training_leaves_every_loss_empty():
    none = NoTraining()
    assert none.pre_training_loss() is None and none.stats() == {}
    epoch = none.train_epoch(0, NODES)
    assert math.isnan(epoch.val_loss) and not epoch.node_loss and not epoch.refused


def test_the_driver_wants_a_trainer_for_training_real():
    spec = driver.RunSpec([], "ar", 2, training="real")
    with pytest.raises(ValueError, match="launch layer"):
        driver.check_training(spec, None)
    with pytest.raises(ValueError, match="training must be one of"):
        driver.check_training(driver.RunSpec([], "ar", 2, training="guess"), None)
    driver.check_training(driver.RunSpec([], "ar", 2), None)  # none needs nothing


def _orchestrator_path(cfg: OrchestratorConfig, active_sets) -> tuple[float, list[float], list[str], list[dict]]:
    """The same epochs the way the orchestrator's real run computes them: a trainer per node built as
    edge_client/agent.py does (base from the transfer bundle, its partition, warmed up), adapters and
    updates through the wire's bytes, the round through EpochCore.aggregate with the label-token
    weights, the server optimiser and the workload's validation (orchestrator/epoch_loop.py)."""
    from edge_client.trainer import LocalTrainer
    from edgeft.modeling import LoraSettings, load_adapter_state, model_from_bundle
    from edgeft.wire import bytes_to_tensors, read_metadata, state_digest, tensors_to_bytes
    from orchestrator.aggregation import ServerOptimizer
    from orchestrator.epoch_core import EpochCore
    from orchestrator.network_view import StaticMetrics
    from orchestrator.workload import build_workload

    torch.set_num_threads(sim_training.THREADS)
    workload = build_workload(cfg, len(NODES))
    parts = workload.partitions
    bundle, lora = workload.base_bundle, LoraSettings.model_validate_json(workload.lora_json)
    trainers = {}
    for index, node_id in enumerate(sorted(NODES)):
        base = model_from_bundle(json.loads(read_metadata(bundle)["config"]), bytes_to_tensors(bundle))
        part = bytes_to_tensors(tensors_to_bytes({"input_ids": parts[index].ids}))["input_ids"]
        trainers[node_id] = LocalTrainer.on_base(base, lora, part, workload.device)
        trainers[node_id].warm_up(cfg.training.batch_size)
    weight = {node_id: parts[i].ids.numel() - len(parts[i]) for i, node_id in enumerate(sorted(NODES))}
    core = EpochCore(cfg, {n: 16 for n in NODES}, StaticMetrics({}))
    opt = ServerOptimizer(workload.adapter(), cfg.training.server_optimizer, cfg.training.server_lr)
    val_losses, digests, node_losses = [], [], []

    def evaluate(params):
        load_adapter_state(workload.model, params)
        return workload.val_loss()

    for epoch, active in enumerate(active_sets):
        sent = bytes_to_tensors(tensors_to_bytes(opt.state()))
        updates, losses = {}, {}
        for node_id in sorted(active):
            trainers[node_id].load_adapter(sent)
            t = cfg.training
            update = trainers[node_id].compute_update(
                t.local_steps, t.local_lr, t.batch_size, cfg.seed * 100_003 + epoch, node_id
            )
            updates[node_id] = bytes_to_tensors(tensors_to_bytes(update.tensors))
            losses[node_id] = update.loss
        outcome, refused = core.aggregate(epoch, updates, {n: weight[n] for n in updates}, opt, evaluate)
        assert not refused
        val_losses.append(outcome.val_loss)
        digests.append(state_digest(outcome.params))
        node_losses.append(losses)
    return workload.pre_training_loss, val_losses, digests, node_losses


def test_three_nodes_two_epochs_train_for_real_as_the_orchestrator_does():
    cfg = _cfg()
    active_sets = [NODES, NODES[:2]]
    training = sim_training.RealTraining(cfg, NODES)
    curve = _curve(training, active_sets)
    pre, val_losses, digests, node_losses = _orchestrator_path(cfg, active_sets)
    assert training.pre_training_loss() == pre
    assert [e.val_loss for e in curve] == val_losses  # bit for bit, not approximately
    assert [e.digest for e in curve] == digests
    assert [dict(e.node_loss) for e in curve] == node_losses
    assert pre > curve[0].val_loss > curve[1].val_loss  # the loss falls
    assert training.stats()["epochs_trained"] == 2 and training.stats()["epochs_reused"] == 0


def test_the_cache_key_changes_with_every_input_that_decides_the_losses():
    key = sim_training.cache_key(_cfg(), NODES)
    assert sim_training.cache_key(_cfg(), list(reversed(NODES))) == key  # the nodes as a set
    assert sim_training.cache_key(_cfg(training={"epochs": 3}), NODES) == key  # a shorter run is a prefix
    changed = [
        sim_training.cache_key(_cfg(seed=1), NODES),
        sim_training.cache_key(_cfg(), NODES[:2]),
        sim_training.cache_key(_cfg(), ["node-01", "node-02", "node-04"]),
        sim_training.cache_key(_cfg(model={"lora": {"r": 4}}), NODES),
        sim_training.cache_key(_cfg(data={**SMALL_DATA, "partition": "dirichlet"}), NODES),
        sim_training.cache_key(_cfg(data={**SMALL_DATA, "seq_len": 64}), NODES),
        sim_training.cache_key(_cfg(training={"local_lr": 1e-3}), NODES),
        sim_training.cache_key(_cfg(training={"local_steps": 1}), NODES),
        sim_training.cache_key(_cfg(training={"batch_size": 4}), NODES),
        sim_training.cache_key(_cfg(training={"server_optimizer": "adam"}), NODES),
        sim_training.cache_key(_cfg(training={"server_lr": 0.5}), NODES),
        sim_training.cache_key(_cfg(updates={"aggregation": "median"}), NODES),
    ]
    digests = {sim_training.digest_of(k) for k in changed}
    assert sim_training.digest_of(key) not in digests and len(digests) == len(changed)
    # the active sets: order within a set does not matter, the set and the sets before it do
    one = sim_training.next_prefix("", NODES)
    assert sim_training.next_prefix("", list(reversed(NODES))) == one
    assert sim_training.next_prefix("", NODES[:2]) != one
    assert sim_training.next_prefix(one, NODES[:2]) != sim_training.next_prefix("", NODES[:2])


def test_the_cache_key_follows_the_base_weights_not_the_folder_they_live_in(tmp_path):
    """The built-in base is pre-trained on each machine; another CPU's kernels give other floats from the
    same recipe (the scale grid's losses moved with the machine: pre-training loss 10.29, then 9.86). That
    machine cannot be had here, so its base is faked: this machine's base with one weight nudged."""
    import shutil

    from edgeft.pretrain import BaseRecipe, prepare_base
    from edgeft.modeling import load_pretrained

    _, _, built = prepare_base(BaseRecipe())
    same, other = tmp_path / "same", tmp_path / "other"
    for root in (same, other):
        shutil.copytree(built, root / built.name)
    nudged = load_pretrained(str(other / built.name / "model"))
    with torch.no_grad():
        next(iter(nudged.parameters())).view(-1)[0] += 1e-3
    nudged.save_pretrained(str(other / built.name / "model"))

    key = sim_training.cache_key(_cfg(), NODES)
    assert sim_training.cache_key(_cfg(model={"cache_dir": str(same)}), NODES) == key
    assert sim_training.cache_key(_cfg(model={"cache_dir": str(other)}), NODES) != key
    assert len(key["base"]["weights"]) == 64
    # a user's own base folders (model and tokenizer in one): the same base in two places is one key,
    # other weights another
    users = {}
    for name, root in (("here", same), ("there", tmp_path / "copy"), ("nudged", other)):
        if not root.exists():
            shutil.copytree(same, root)
        folder = tmp_path / f"user-{name}"
        shutil.copytree(root / built.name / "model", folder)
        for item in (root / built.name / "tokenizer").iterdir():
            shutil.copy(item, folder / item.name)
        users[name] = sim_training.cache_key(_cfg(model={"base_model_path": str(folder)}), NODES)
    assert users["here"] == users["there"] and users["nudged"] != users["here"]
    assert users["here"]["base"]["tokenizer"] == key["base"]["tokenizer"]


def test_reused_epochs_are_bit_identical_to_training_afresh(tmp_path):
    """Adam on the server, so the optimiser state a reused prefix must restore matters."""
    cfg = _cfg(seed=3, training={"server_optimizer": "adam", "server_lr": 0.01})
    first = [NODES, NODES, NODES[1:]]
    other = [NODES, NODES, NODES[:2], NODES[:1]]  # shares two epochs with `first`, then leaves it
    cached = sim_training.RealTraining(cfg, NODES, tmp_path)
    assert _curve(cached, first)
    again = sim_training.RealTraining(cfg, NODES, tmp_path)
    replayed = _curve(again, first)
    assert again.stats()["epochs_reused"] == 3 and again.stats()["epochs_trained"] == 0
    assert again._server is None  # nothing built: every epoch came from the cache
    branch = sim_training.RealTraining(cfg, NODES, tmp_path)
    branched = _curve(branch, other)
    assert branch.stats()["epochs_reused"] == 2 and branch.stats()["epochs_trained"] == 2
    fresh_first = _curve(sim_training.RealTraining(cfg, NODES), first)
    fresh_other = _curve(sim_training.RealTraining(cfg, NODES), other)
    assert replayed == fresh_first
    assert branched == fresh_other  # resumed from the cached state after epoch 1, bit for bit
    assert again.pre_training_loss() == sim_training.RealTraining(cfg, NODES).pre_training_loss()


def test_folders_of_an_older_cache_format_are_removed_and_nothing_else(tmp_path):
    """A CACHE_FORMAT bump orphans every folder the old format wrote (no key of this version can
    name them): opening the cache removes them, and leaves this format's, a newer one's and a
    folder it cannot read alone."""

    def folder(name: str, key: object) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "key.json").write_text(json.dumps(key))
        (path / "abc.pt").write_bytes(b"x" * 1000)
        return path

    old = folder("old", {"format": sim_training.CACHE_FORMAT - 1, "seed": 0})
    current = folder("current", {"format": sim_training.CACHE_FORMAT, "seed": 0})
    newer = folder("newer", {"format": sim_training.CACHE_FORMAT + 1})
    unreadable = folder("unreadable", "not a key")
    (tmp_path / "stray").mkdir()
    sim_training.TrainingCache(tmp_path, {"format": sim_training.CACHE_FORMAT, "seed": 1})
    assert not old.exists()
    assert current.exists() and newer.exists() and unreadable.exists() and (tmp_path / "stray").exists()
    assert sim_training.prune_older_formats(tmp_path) == 0  # nothing left to free


class _RefusingTraining:
    """A fake, for a fault honest training cannot cause here: the aggregation refusing node-02's
    update (orchestrator/aggregation.py's norm bound). Everything else about the epoch is scripted."""

    def pre_training_loss(self):
        return 10.0

    def train_epoch(self, epoch, active):
        refused = {"node-02": "update refused: L2 norm too large"} if epoch == 0 else {}
        losses = {n: 9.0 - epoch - 0.5 * i for i, n in enumerate(active) if n not in refused}
        return EpochTraining(losses, 8.0 - epoch, {n: 1.0 + i for i, n in enumerate(losses)}, f"v{epoch}", refused)

    def stats(self):
        return {"epochs_trained": 0}


def _profiles(count: int) -> list[dict]:
    return [
        {"node_id": f"node-{i:02d}", "bandwidth_mbps": 10.0, "delay_ms": 5.0, "loss_pct": 0.0, "compute_power": 50.0}
        for i in range(1, count + 1)
    ]


def _drive(spec: driver.RunSpec, training) -> dict:
    """The driver's planner through set-up and every epoch, with made-up times instead of SimGrid's."""
    run = driver.prepare_run(spec, training)
    done: list[EpochTimes] = []
    index = 0
    while (plan := driver.plan_epoch(run, index, done)) is not None:
        nodes = {p.node_id: NodeTimes(download_s=0.1, compute_s=0.5, upload_s=0.1, wait_s=0.0) for p in plan.nodes}
        done.append(EpochTimes(start_s=float(index), round_s=1.0, epoch_s=1.0, nodes=nodes))
        index += 1
    return {"epochs": run.epoch_rows, "nodes": run.node_rows, "summary": driver._summary(run, done), "run": run}


def test_the_driver_writes_the_losses_and_fails_a_refused_node():
    out = _drive(driver.RunSpec(_profiles(3), "ar", 2, training="real"), _RefusingTraining())
    first, second = out["epochs"]
    assert first["val_loss"] == 8.0 and second["val_loss"] == 7.0 and first["adapter_digest"] == "v0"
    assert first["failed"] == "node-02" and second["active"] == 2
    assert first["train_loss"] == pytest.approx((9.0 * 1 + 8.0 * 2) / 3)  # weighted by what the training says
    rows = {(r["epoch"], r["node_id"]): r for r in out["nodes"]}
    assert rows[(0, "node-02")]["status"] == "failed" and rows[(0, "node-03")]["loss"] == 8.0
    summary = out["summary"]
    assert summary["pre_training_loss"] == 10.0 and summary["final_val_loss"] == 7.0
    assert summary["failed"] == 1 and summary["failed_nodes"] == {"node-02": "update refused: L2 norm too large"}
    assert out["run"].adapter.nodes[1].status == NodeStatus.FAILED


def test_the_driver_with_real_training_has_real_losses_and_none_without():
    spec = driver.RunSpec(_profiles(3), "ar", 2, training="real")
    cfg = sim_training.training_config(3, 0, 2)
    cfg.data.telemetry_lines = SMALL_DATA["telemetry_lines"]
    trained = _drive(spec, sim_training.RealTraining(cfg, NODES))
    losses = [row["val_loss"] for row in trained["epochs"]]
    assert trained["summary"]["pre_training_loss"] > losses[0] > losses[1] == trained["summary"]["final_val_loss"]
    assert all(math.isfinite(row["loss"]) for row in trained["nodes"])
    plain = _drive(driver.RunSpec(_profiles(3), "ar", 2), None)
    assert plain["summary"]["pre_training_loss"] is None and plain["summary"]["final_val_loss"] is None
    assert all(math.isnan(row["val_loss"]) for row in plain["epochs"])
    assert [r["epoch_time_s"] for r in plain["epochs"]] == [r["epoch_time_s"] for r in trained["epochs"]]


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    "argv, names",
    [
        (["--training", "guess"], "--training"),
        (["--training-cache", "{tmp}/cache"], "--training-cache: only with --training real"),
        (["--training", "real", "--training-cache", "{tmp}/file"], "--training-cache"),
        (["--training", "real", "--training-cache", "{tmp}/file/below"], "--training-cache"),
    ],
)
def test_bad_training_input_is_one_line_and_exit_2(argv, names, tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert simulate.run(_args(*argv, "--out", str(tmp_path / "out"))) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simulate: error: ") and names in err and "\n" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()  # nothing started


def test_a_cache_folder_that_cannot_be_written_is_refused(tmp_path, capsys):
    # Under /proc no one, root included (CI runs as root), can make a folder: a chmod'ed folder would not stop root.
    unwritable = Path("/proc/edgeft-training-cache") / "c"
    assert (
        simulate.run(_args("--training", "real", "--training-cache", str(unwritable), "--out", str(tmp_path / "o")))
        == 2
    )
    assert "--training-cache" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_training_real_specs_say_so_and_the_cache_defaults_beside_the_model_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEFT_CACHE", str(tmp_path))
    args = _args("--training", "real", "--nodes", "12", "--policies", "ne,ar")
    assert {spec.training for _, _, spec in simulate.build_specs(args)} == {"real"}
    assert simulate.training_cache(args) == str(tmp_path / "simulate-training")
    assert simulate.training_cache(_args("--nodes", "12")) is None
    given = _args("--training", "real", "--training-cache", "rel/dir")
    assert Path(simulate.training_cache(given)).is_absolute()  # the workers may start elsewhere
