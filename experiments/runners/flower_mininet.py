"""A Flower run inside the Mininet network (`edgeft compare --engine flower`, root):
the SuperLink (and the ServerApp it starts) in the server host, where edgeft's
orchestrator would run; one SuperNode per edge host (and its node worker, which keeps
the model loaded), whose node config carries the host's IP so that the strategy
scores it with the controller's live /v1/paths figures; `flwr run` from the server
host. Model traffic crosses the shaped links."""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path

import requests

from edge_client.flower_worker import await_workers
from edgeft.clock import Clock
from edgeft.link_figures import LinkFigures
from edgeft.paths_api import get_paths
from experiments.runners.flower import FlowerDeployment, SuperNodeSpec
from experiments.runners.mininet_hosts import Probing
from orchestrator.config import OrchestratorConfig

log = logging.getLogger(__name__)
SUPERLINK_PORT = 18000
SUPERNODE_PORT = 19094  # every SuperNode has a namespace of its own: one port number serves all
# The controller's first capacity figure of every path: one train slot per train_interval_s / nodes, a
# refused train retried after half an interval (controller_app/capacity.py next_train_target), so three
# intervals leave room for a refusal or two (4 nodes at k = 8, interval 80 s: complete after ~110 s).
FIRST_FIGURES_INTERVALS = 3


def run_flower_in_hosts(
    cfg: OrchestratorConfig, run_dir: Path, controller_rest: str, server, hosts: dict, profiles: list, timeout: float
) -> dict:
    """Run `cfg` through Flower in the network; returns Flower's record of the run. Raises
    with Flower's reason if it did not complete."""
    run_cfg = cfg.model_copy(deep=True)
    run_cfg.policy_options.truth_file = run_cfg.policy_options.truth_file or str(run_dir / "ground_truth.json")
    run_cfg.metrics.source, run_cfg.metrics.controller_url = "controller", controller_rest
    run_cfg.metrics.orchestrator_ip = server.IP()
    run_cfg.out_dir = str(run_dir.resolve())
    (run_dir / "orchestrator_config.json").write_text(run_cfg.model_dump_json(indent=2))
    dep = FlowerDeployment(run_dir, SUPERLINK_PORT, superlink_ip=server.IP(), cli_host=server)
    sockets = Path(tempfile.mkdtemp(prefix="edgeft-w-"))  # a UNIX socket path has 108 bytes at most
    specs = {
        p.node_id: SuperNodeSpec(
            p.node_id, p.compute_power, ip=hosts[p.node_id].IP(), worker=str(sockets / f"{i}.sock")
        )
        for i, p in enumerate(profiles)
    }
    try:
        for nid, spec in specs.items():  # the node's worker trains in its host, as its ClientApp runs there
            dep.start_worker(spec, host=hosts[nid])
        dep.start_superlink(host=server)
        for nid, spec in specs.items():
            dep.start_supernode(spec, SUPERNODE_PORT, host=hosts[nid])
        await_workers([s.worker for s in specs.values()], cfg.timeouts.enroll_s)
        interval_s = _train_interval_s(controller_rest, Clock(cfg.emulation.k).to_wall(Probing().train_interval_s))
        if interval_s > 0:  # 0: the controller sends no trains, so no bandwidth figure will come to wait for
            ips = [s.ip for s in specs.values()]
            await_first_figures(controller_rest, server.IP(), ips, FIRST_FIGURES_INTERVALS * interval_s)
        run_id = dep.submit({"config-file": str(run_dir.resolve() / "orchestrator_config.json")})
        log.info("Flower run %d: SuperLink in %s, %d SuperNodes in the edge hosts", run_id, server.name, len(profiles))
        return dep.await_run(run_id, timeout)
    finally:
        dep.stop_all()
        shutil.rmtree(sockets, ignore_errors=True)


def _train_interval_s(controller_rest: str, fallback_s: float) -> float:
    """The controller's capacity-train interval (wall seconds) as its health route reports it;
    `fallback_s` where it cannot say (no answer, another body)."""
    try:
        interval = requests.get(controller_rest.rstrip("/") + "/v1/health", timeout=5).json()["train_interval_s"]
        return float(interval)
    except (requests.RequestException, ValueError, TypeError, KeyError) as exc:
        log.warning("the controller's train interval is unknown (%s); waiting as for %.0f s", exc, fallback_s)
        return fallback_s


def await_first_figures(controller_rest: str, server_ip: str, node_ips: list[str], timeout_s: float) -> list[str]:
    """Wait until the controller has every figure the score uses for every node's path, at most
    `timeout_s`; the ips still missing one (logged; the scorer takes a missing figure as neutral).
    edgeft's own engine sets the nodes up first, which gives the controller its first trains;
    Flower moves no base model, so round 0 would otherwise be scored within seconds of the start,
    before a long, slow path's first capacity train (seen with 4 nodes at k = 8)."""
    started = time.monotonic()
    deadline = started + timeout_s
    while True:
        try:
            records = get_paths(controller_rest, server_ip)
        except (requests.RequestException, ValueError, KeyError):
            records = {}
        missing = [ip for ip in node_ips if any(records.get(ip, {}).get(f) is None for f in LinkFigures.FIELDS)]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(1.0)
    if missing:
        log.warning("no complete figures after %.0f s for %s: round 0 scores them neutral", timeout_s, missing)
    else:
        log.info("the controller's figures of every path after %.0f s", time.monotonic() - started)
    return missing
