"""A Flower run on loopback, as `edgeft local` is an edgeft one: the same drawn node
profiles (topologies/profiles.py) give the SuperNodes their compute power and the
static metrics file its network figures, so the two engines see the same inputs."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

from edge_client.flower_worker import await_workers
from edgeft.clock import Clock
from experiments.runners.flower import FlowerDeployment, SuperNodeSpec
from experiments.runners.local import free_port, with_dilation
from orchestrator.config import OrchestratorConfig
from topologies.profiles import as_ground_truth, as_metrics_table, draw_profiles
from edgeft.config_files import ConfigError

log = logging.getLogger(__name__)


def run_flower_local(
    cfg: OrchestratorConfig,
    setup: int = 2,
    emulate: bool = True,
    metrics_file: str | None = None,
    timeout: float = 3600.0,
    workers: bool = True,
) -> dict:
    """Run `cfg` (nodes, policy, epochs = rounds, seed, out_dir) on Flower's Deployment
    Engine on this machine; returns summary.json. A failed run raises with Flower's reason.
    `workers`: each node's model stays loaded in a node worker (edge_client/flower_worker.py);
    False: every ClientApp process loads it again."""
    if any(event.crash for event in cfg.scenario):
        raise ConfigError("scenario: crash events are not played on Flower's engine yet; run them with edgeft local")
    out = Path(cfg.out_dir).resolve()
    profiles = draw_profiles(cfg.nodes, setup, cfg.seed)
    # Before anything is written: a k above --max-dilation refuses the run (ConfigError).
    cfg = with_dilation(cfg, profiles, "local", emulate, "flower" if workers else "flower-no-workers")
    out.mkdir(parents=True, exist_ok=True)
    (out / "ground_truth.json").write_text(json.dumps(as_ground_truth(profiles, setup, cfg.seed), indent=2))
    if not metrics_file:
        metrics_file = str(out / "static_metrics.json")
        (out / "static_metrics.json").write_text(json.dumps(as_metrics_table(profiles), indent=2))
    cfg = cfg.model_copy(update={"out_dir": str(out)})
    cfg.policy_options.truth_file = cfg.policy_options.truth_file or str(out / "ground_truth.json")
    (out / "orchestrator_config.json").write_text(cfg.model_dump_json(indent=2))
    dep = FlowerDeployment(out, free_port())
    sockets = Path(tempfile.mkdtemp(prefix="edgeft-w-"))  # short: a UNIX socket path has 108 bytes at most
    try:
        specs = [
            SuperNodeSpec(p.node_id, p.compute_power, emulate_compute=emulate, worker=str(sockets / f"{i}.sock"))
            if workers
            else SuperNodeSpec(p.node_id, p.compute_power, emulate_compute=emulate)
            for i, p in enumerate(profiles)
        ]
        for spec in specs if workers else []:
            dep.start_worker(spec)
        dep.start_superlink()
        for spec in specs:
            dep.start_supernode(spec, free_port())
        if workers:
            await_workers([s.worker for s in specs], cfg.timeouts.enroll_s)
        log.info("Flower: SuperLink on 127.0.0.1:%d, %d SuperNodes; logs in %s", dep.port, len(profiles), out / "logs")
        run_id = dep.submit(
            {
                "config-file": str(out / "orchestrator_config.json"),
                "metrics-file": str(Path(metrics_file).resolve()),
                "dilation": float(cfg.emulation.k),
            }
        )
        dep.await_run(run_id, Clock(cfg.emulation.k).to_wall(timeout))
    finally:
        dep.stop_all()
        shutil.rmtree(sockets, ignore_errors=True)
    return json.loads((out / "summary.json").read_text())
