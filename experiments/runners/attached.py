"""Experiments in a network another process runs: the three-terminal workflow.

    terminal 1:  sudo .venv/bin/edgeft controller
    terminal 2:  sudo .venv/bin/python topologies/edge_cloud.py --nodes 12 --setup 2 --cli
    terminal 3:  sudo .venv/bin/edgeft compare --attach edgeft-net.json --policies ne,ar

The topology script describes its network in edgeft-net.json
(topologies/description.py). Each run starts the orchestrator in the server
host and the clients in the edge hosts, takes its figures from the controller
named in the file, and stops only what it started: the network, the
controller and the Mininet CLI stay as they were. Before each run the
controller's per-node estimates are reset, so every policy starts from the
same knowledge.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import requests

from controller_app.tokens import read_token
from edgeft.clock import Clock
from edgeft.link_figures import LinkFigures
from edgeft.paths_api import known_ips, set_measuring_point
from edgeft.config_files import ConfigError, build as build_config
from experiments.runners.local import with_dilation
from experiments.runners.progress import follow, wait_until
from orchestrator.config import OrchestratorConfig
from topologies import description
from experiments.launcher import ProcessGroup
from experiments.runners.crashes import crash_clients, pool_killer
from orchestrator.scenario import Scenario
from topologies.profiles import from_ground_truth

log = logging.getLogger("edgeft.compare")


def load_network(path: str, nodes: list[int] | None, setups: list[int] | None, seeds: list[int] | None) -> dict:
    """The description, checked against the flags: one line naming the fix for each problem."""
    if setups is not None or seeds is not None:
        raise ConfigError(
            "--setups and --seeds draw a new network; with --attach the network is the running one "
            "(start the topology script with --setup/--seed instead)"
        )
    try:
        net = description.load(Path(path))
    except description.DescriptionError as exc:
        raise ConfigError(str(exc)) from None
    n = len(net["hosts"])
    if nodes is not None and nodes != [n]:
        raise ConfigError(
            f"--nodes {','.join(map(str, nodes))}: the attached network has {n} edge nodes; "
            f"drop --nodes or pass --nodes {n}"
        )
    if not net["controller"]:
        raise ConfigError(
            f"--attach {path}: that network runs without a controller (--standalone); restart the topology "
            "script with a controller"
        )
    _check_controller(net["controller"]["rest"])
    return net


def _check_controller(rest: str) -> None:
    try:
        requests.get(rest + "/v1/health", timeout=3).raise_for_status()
    except requests.RequestException as exc:
        raise ConfigError(
            f"the controller at {rest} does not answer ({type(exc).__name__}); start it "
            f"(sudo .venv/bin/edgeft controller) or fix --controller-rest of the topology script"
        ) from None


def reset_controller(rest: str, token: str) -> None:
    """Clear the controller's per-node estimates (probes, trains, rates) before a run."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    resp = requests.post(rest + "/v1/reset", headers=headers, timeout=5)
    if resp.status_code == 401:
        raise ConfigError(
            "the controller refused its token: give its token file with --controller-token-file (default "
            ".edgeft/controller-<rest port>.token where the controller runs; edgeft-net.json names it)"
        )
    resp.raise_for_status()


def _start_measuring(rest: str, server, hosts: list, k: float) -> None:
    """Name the server as the measuring point (and the orchestrator's port as the run's
    own traffic) now, so that the controller probes the nodes while the run sets up,
    as `edgeft compare` does with its own controller."""
    from experiments.runners.mininet_hosts import ORCH_PORT

    def ready() -> bool:
        known = known_ips(rest, server.IP(), ORCH_PORT)
        silent = [h for h in hosts if h.IP() not in known]
        for (
            h
        ) in silent:  # a host the controller has not seen yet (nor the server, on a 404): one ping each way teaches it
            h.cmd(f"ping -c 1 -W {math.ceil(k)} {server.IP()}")
        return bool(known) and not silent

    wait_until(ready, 60, "the controller to know the server and every node")


def run_attached(
    net: dict, base: dict, policy: str, epochs: int, run_dir: Path, timeout: float, controller_token: str
) -> dict:
    """One policy's run in the attached network; returns its results row."""
    from experiments.runners.mininet_hosts import ORCH_PORT, finish_row, start_run

    profiles = from_ground_truth(net["ground_truth"])
    base = {**base, "emulation": {**base.get("emulation", {}), "dilation": net["dilation"]}}
    cfg = build_config(
        OrchestratorConfig,
        base,
        {
            "nodes": len(profiles),
            "policy": policy,
            "seed": net["seed"],
            "training.epochs": epochs,
            "out_dir": str(run_dir),
        },
    )
    if any(e.restore or any(getattr(e, f) is not None for f in LinkFigures.FIELDS) for e in cfg.scenario):
        raise ConfigError(
            "--attach: scenarios that change links are not supported on an attached network yet "
            "(its links belong to the topology script); use edgeft compare without --attach"
        )
    cfg = with_dilation(cfg, profiles, "mininet")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "ground_truth.json").write_text(json.dumps(net["ground_truth"], indent=2))
    server = description.AttachedHost(**net["server"])
    hosts = {h["node_id"]: description.AttachedHost(h["name"], h["ip"], h["pid"]) for h in net["hosts"]}
    named = net["controller"].get("token_file")
    ctl_token = controller_token or (read_token(Path(named)) if named else "")
    reset_controller(net["controller"]["rest"], ctl_token)
    set_measuring_point(net["controller"]["rest"], server.IP(), ORCH_PORT, ctl_token)  # PUT /v1/measure
    _start_measuring(net["controller"]["rest"], server, list(hosts.values()), cfg.emulation.k)
    procs = ProcessGroup(run_dir / "logs")
    try:
        start_run(procs, cfg, run_dir, net["controller"]["rest_from_server"], server, hosts, profiles)
        rc = follow(
            procs,
            run_dir / "epochs.csv",
            f"{policy.upper()} n={len(profiles)} (attached)",
            epochs,
            Clock(cfg.emulation.k).to_wall(timeout),
            on_epoch=lambda epoch: crash_clients(Scenario(cfg.scenario), epoch, pool_killer(run_dir / "clients.json")),
        )
        if rc != 0:
            raise RuntimeError(f"orchestrator exited with {rc}; see {run_dir / 'logs' / 'orchestrator.log'}")
    finally:
        procs.stop_all()
    return finish_row(
        run_dir,
        cfg.emulation.k,
        {
            "nodes": len(profiles),
            "setup": net["setup"],
            "seed": net["seed"],
            "mode": "mininet, attached",
            "engine": "mininet",
            "network": str(net.get("topology_pid")),
        },
    )
