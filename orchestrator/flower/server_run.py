"""edgeft's ServerApp body: find the SuperNodes, hand out edgeft's workload (the base
model they must hold, their data partitions), then let NetworkAwareFedAvg run the
rounds. The Flower app project (experiments/flower_app) only wires this to Flower.

Run config keys ([tool.flwr.app.config], `flwr run --run-config`):
    config-file      an `edgeft orchestrator` config (JSON/YAML); "" = the defaults
    policy, rounds, nodes, seed, out-dir, metrics-file, controller-url, orchestrator-ip,
    dilation         override the matching config fields ("" / 0 = keep)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import yaml
from flwr.app import ArrayRecord, ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from edgeft import flower_contract as fc
from edgeft.modeling import load_adapter_state
from orchestrator.config import OrchestratorConfig
from orchestrator.epoch_core import EpochCore
from orchestrator.flower.identify import FastPollGrid, identify, sender_of
from orchestrator.flower.node_book import FlowerNode
from orchestrator.flower.network_aware_fedavg import NetworkAwareFedAvg, strategy_config
from orchestrator.network_view import build_metrics
from orchestrator.strategy import Strategy
from orchestrator.workload import Workload, base_folder, build_workload

log = logging.getLogger(__name__)


def run_config_to_settings(run_config: dict) -> OrchestratorConfig:
    """The run's validated config from Flower's run config; errors name the key."""
    path = str(run_config.get("config-file", "") or "")
    data = {}
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ValueError(f"run config 'config-file': cannot read {path} ({exc.strerror})") from None
        data = yaml.safe_load(text) if path.endswith((".yaml", ".yml")) else json.loads(text)
    base = OrchestratorConfig.model_validate(data)
    overrides = {
        "seed": run_config.get("seed", ""),
        "out_dir": run_config.get("out-dir", ""),
        "nodes": run_config.get("nodes", 0),
    }
    upd = {k: v for k, v in overrides.items() if v not in ("", 0, None)}
    dilation = float(run_config.get("dilation", 0) or 0)
    if dilation:
        upd["emulation"] = base.emulation.model_copy(update={"dilation": dilation})
    # The Flower path moves no base model: every node holds it (docs/flower.md).
    upd["model"] = base.model.model_copy(update={"distribution": "preinstalled"})
    base = OrchestratorConfig.model_validate({**base.model_dump(), **{k: v for k, v in upd.items()}})
    return strategy_config(
        base,
        policy=str(run_config.get("policy", "") or "") or None,
        rounds=int(run_config.get("rounds", 0) or 0) or None,
        controller_url=str(run_config.get("controller-url", "") or ""),
        metrics_file=str(run_config.get("metrics-file", "") or ""),
        orchestrator_ip=str(run_config.get("orchestrator-ip", "") or ""),
    )


def choose_setup(nodes: list[FlowerNode], workload: Workload, cfg: OrchestratorConfig) -> frozenset[str]:
    """Who is set up: the policy's choice where it makes one (EpochCore.choose_setup, the path of
    every engine), else every node. The choice is stateless (a policy's select_setup reads only the
    context), so the core that makes it is the run's policy and network view built for the set-up;
    the strategy's own core starts after it with the nodes set up. A Flower set-up downloads the
    node's partition (the base is preinstalled)."""
    by_name = sorted(nodes, key=lambda n: n.node_id)
    samples = {n.node_id: len(workload.partitions[i]) for i, n in enumerate(by_name)}
    if not Strategy.named(cfg.policy, len(samples), cfg.training.epochs, cfg.policy_options).chooses_setup:
        return frozenset(samples)  # no core and no network view: a policy that does not choose asks for nothing
    core = EpochCore(cfg, samples, build_metrics(cfg))
    partition = max(part.ids.numel() * part.ids.element_size() for part in workload.partitions)
    chosen = core.choose_setup(by_name, partition)
    if core.not_set_up:
        log.warning("policy %s leaves %s out of the set-up: they take no part", cfg.policy, core.not_set_up)
    return chosen


def set_up(
    grid: Grid,
    nodes: list[FlowerNode],
    workload: Workload,
    cfg: OrchestratorConfig,
    chosen: frozenset[str] | None = None,
) -> list[FlowerNode]:
    """Send each node in `chosen` (default: all) its partition and the base it must hold
    (`query.setup`); the nodes that proved they hold it take part, the others are left out with a
    warning. Partitions go by each node's place among all `nodes`, chosen or not."""
    every = sorted(nodes, key=lambda n: n.node_id)
    part_of = {n.node_id: i for i, n in enumerate(every)}
    by_name = [n for n in every if chosen is None or n.node_id in chosen]
    common = {
        "lora": workload.lora_json,
        "base-info": workload.base_info.model_dump_json(),
        "base-path": str(base_folder(cfg.model)),  # a node of this machine may use the server's folder
        "device": cfg.device,
        "batch-size": cfg.training.batch_size,  # the warm-up step's, outside every compute window
    }
    msgs = [
        Message(
            RecordDict(
                {
                    fc.CONFIG: ConfigRecord(common),
                    "data": ArrayRecord({"input_ids": workload.partitions[part_of[n.node_id]].ids.contiguous()}),
                }
            ),
            dst_node_id=n.flower_id,
            message_type=fc.SETUP,
        )
        for n in by_name
    ]
    ready, by_id = set(), {n.flower_id: n for n in nodes}
    for reply in grid.send_and_receive(msgs, timeout=cfg.timeouts.enroll_s):
        sender = sender_of(grid, reply)
        node = by_id.get(sender)
        if node is None:  # not a node of this run: nothing to set up, nobody to blame
            log.warning("a set-up reply about unknown SuperNode %d ignored", sender)
            continue
        if reply.has_error():
            log.warning("node %s failed its set-up and takes no part: %s", node.node_id, reply.error.reason[:300])
        else:
            ready.add(node.node_id)
    missing = [n.node_id for n in by_name if n.node_id not in ready]
    if missing:
        log.warning("no set-up answer from %s; they take no part", missing)
    return [n for n in by_name if n.node_id in ready]


def serve(grid: Grid, run_config: dict) -> dict:
    """The whole run; returns its summary (also written to summary.json)."""
    cfg = run_config_to_settings(run_config)
    grid = FastPollGrid(grid)
    found = identify(grid, expected=cfg.nodes, timeout_s=cfg.timeouts.enroll_s)
    cfg = cfg.model_copy(update={"nodes": len(found)})
    workload = build_workload(cfg, len(found))
    chosen = choose_setup(found, workload, cfg)
    nodes = set_up(grid, found, workload, cfg, chosen)
    if not nodes:
        raise RuntimeError("no SuperNode completed its set-up: see the warnings above")
    part_of = {n.node_id: i for i, n in enumerate(sorted(found, key=lambda n: n.node_id))}
    parts = [workload.partitions[part_of[n.node_id]] for n in nodes]
    weights = {n.node_id: p.ids.numel() - len(p) for n, p in zip(nodes, parts)}  # label tokens handed out
    t = cfg.training

    def val_loss(adapter) -> float:
        load_adapter_state(workload.model, adapter)
        return workload.val_loss()

    strategy = NetworkAwareFedAvg(
        config=cfg,
        nodes=nodes,
        weights=weights,
        evaluate_loss=val_loss,
        train_config={
            "local-steps": t.local_steps,
            "local-lr": t.local_lr,
            "batch-size": t.batch_size,
            "seed": cfg.seed,
            "gflops-per-power": cfg.emulation.gflops_per_power,
            "dilation": cfg.emulation.k,
        },
    )
    strategy.run_facts = {
        "pre_training_loss": workload.pre_training_loss,
        "base_distribution": "preinstalled",
        "not_set_up": sorted({n.node_id for n in found} - chosen),
    }
    strategy.start(grid, ArrayRecord(workload.adapter()), num_rounds=t.epochs, timeout=cfg.wall_timeouts().round_s)
    return strategy.summary_dict
