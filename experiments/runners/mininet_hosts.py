"""One run's processes in a Mininet network: the controller started and taught the hosts,
the orchestrator in the server host and the clients forked into the edge hosts, the
scenario's link events applied, the results row collected. Shared by the sweep behind
`edgeft compare` (mininet_sweep.py) and the runs in a network another process built
(attached.py), which is why it is a module of its own: neither imports the other for it.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import requests

from edgeft.clock import Clock
from edgeft.link_figures import LinkFigures
from edgeft.paths_api import known_ips
from experiments.launcher import ProcessGroup
from experiments.reports.report import load_run
from experiments.runners.local import credentials_for, node_model
from experiments.runners.progress import wait_until
from orchestrator.config import OrchestratorConfig
from orchestrator.credentials import LIST_NAME
from orchestrator.scenario import Scenario
from topologies.edge_cloud import ROOT_IP, SERVER_IP
from topologies.shaping import LinkShape

log = logging.getLogger("edgeft.compare")
ORCH_PORT = 8700
PROBE_TIMEOUT_S = 2.0  # emulated seconds before a probe counts as lost (the controller's default)


@dataclass(frozen=True)
class Probing:
    """How the run's controller measures: probe rate, loss window, capacity hints."""

    probe_hz: float = 2.0
    loss_window: int = 600
    capacity_hints: bool = False
    train_interval_s: float = 10.0  # emulated seconds; the controller gets x k


@dataclass
class LiveRun:
    """What a fault hook (experiments/faults.py) may touch while a run goes on."""

    edge: object
    procs: ProcessGroup
    controller_url: str
    start_controller: Callable[[], None]


def record_controller(rest: str, run_dir: Path, capacity_hints: bool) -> None:
    """Provenance: the controller's settings as it reports them (GET /v1/health, never its token)
    and whether the drawn rates were registered as hints, in <run_dir>/controller.json."""
    try:
        health = requests.get(f"{rest}/v1/health", timeout=5.0).json()
    except (requests.RequestException, ValueError) as exc:
        health = {"error": f"GET /v1/health failed: {exc}"}
    record = {"rest": rest, "capacity_hints": capacity_hints, "settings": health.get("settings"), "health": health}
    (run_dir / "controller.json").write_text(json.dumps(record, indent=2))


def controller_args(ofp_port: int, rest_port: int, token_file: Path, probing: Probing, clock: Clock) -> list[str]:
    """`edgeft controller`'s flags for one run: its token by file, the server named as the
    measuring point at start (GET /v1/paths changes nothing), its timeouts on the run's wall clock."""
    return [
        *("controller", "--ofp-port", str(ofp_port), "--rest-host", ROOT_IP, "--rest-port", str(rest_port)),
        *("--token-file", str(token_file), "--measure-from", SERVER_IP, "--own-port", str(ORCH_PORT)),
        *("--probe-hz", str(probing.probe_hz), "--loss-window", str(probing.loss_window)),
        *("--probe-timeout", f"{clock.to_wall(PROBE_TIMEOUT_S):g}"),
        *("--train-interval", f"{clock.to_wall(probing.train_interval_s):g}"),
    ]


def start_run(
    procs: ProcessGroup,
    cfg: OrchestratorConfig,
    run_dir: Path,
    controller_rest: str,
    server,
    hosts: dict,
    profiles: list,
) -> None:
    """Start the orchestrator in the server host (metrics from the controller at
    `controller_rest`, as the server host reaches it) and, from one pre-loaded parent
    that forks each client into its host's namespace (memory: edge_client/forkserver.py),
    one LoRA client per edge host. Each client enrols with its own secret, provisioned into
    <run_dir>/credentials (its token file, named in clients.json); the orchestrator writes its
    run token to <run_dir>/run_token. A client's network figures are looked up by the address
    it connects from: its host's IP in its namespace."""
    tokens = credentials_for(run_dir, [p.node_id for p in profiles])
    orch = cfg.model_copy(update={"host": "0.0.0.0", "port": ORCH_PORT, "token": ""})
    orch.enrolment = orch.enrolment.model_copy(update={"credentials_file": str(run_dir / "credentials" / LIST_NAME)})
    orch.policy_options.truth_file = orch.policy_options.truth_file or str(run_dir / "ground_truth.json")
    orch.metrics.source, orch.metrics.controller_url, orch.metrics.orchestrator_ip = (
        "controller",
        controller_rest,
        server.IP(),
    )
    (run_dir / "orchestrator_config.json").write_text(orch.model_dump_json(indent=2))
    procs.start("orchestrator", ["orchestrator", "--config", str(run_dir / "orchestrator_config.json")], host=server)
    spec = [
        {
            "netns_pid": hosts[p.node_id].pid,
            "log": str(run_dir / "logs" / f"{p.node_id}.log"),
            "config": {
                "orchestrator": f"http://{server.IP()}:{ORCH_PORT}",
                "token_file": str(tokens[p.node_id]),
                "node_id": p.node_id,
                "compute_power": p.compute_power,
                "emulate_compute": True,
                **node_model(cfg),
            },
        }
        for p in profiles
    ]
    (run_dir / "clients.json").write_text(json.dumps(spec, indent=2))
    procs.start("clients", ["edge-pool", "--spec", str(run_dir / "clients.json")])


def finish_row(run_dir: Path, dilation: float, extra: dict) -> dict:
    """The results row of a finished run, with a loud warning where fidelity failed."""
    summary, _ = load_run(run_dir)
    if not summary.get("fidelity_ok", True):
        log.warning(
            "FIDELITY: %s: %.0f %% of node-epochs overran their compute window (> 5 %%) at k = %g: its times are not "
            "the emulated world's; the row is marked",
            run_dir.name,
            100 * summary["overrun_share"],
            dilation,
        )
    return {**summary, **extra, "run_dir": str(run_dir)}


def start_controller(procs: ProcessGroup, edge, args: list[str], rest: str, hints_token: str | None) -> None:
    """Start the controller app, let it learn the network (teach_hosts) and, where
    `hints_token` is given, register the link capacities as hints. Also used to bring a
    stopped controller back mid-run."""
    procs.start("controller", args)
    teach_hosts(edge, rest)
    if hints_token is not None:
        edge.register_capacities(rest, hints_token)


def teach_hosts(edge, rest: str) -> None:
    """Wait for every switch and switch link, then make every host send (ARP caches are
    flushed so that each host asks, and every ARP goes to the controller) until the
    controller knows them all; the query names the server as the measuring point."""
    switches = len(edge.net.switches)
    wait_until(
        lambda: len(requests.get(rest + "/v1/topology", timeout=2).json()["switches"]) == switches,
        60,
        "switches to connect",
    )
    # Teach hosts only once LLDP knows every switch link: before that, a flooded ARP can
    # leave over an unknown link and place a host on the wrong port (the app repairs that
    # too, but learning on a known topology needs no repair).
    trunks = sum(
        1 for link in edge.net.links if link.intf1.node in edge.net.switches and link.intf2.node in edge.net.switches
    )
    wait_until(
        lambda: len(requests.get(rest + "/v1/topology", timeout=2).json()["links"]) >= trunks,
        60,
        "LLDP to find the switch links",
    )
    edge.server.cmd("ip neigh flush all")
    wait_s = math.ceil(getattr(edge, "dilation", 1.0))  # a dilated link's delay is k times the drawn one

    def known() -> bool:
        seen = known_ips(rest, SERVER_IP, ORCH_PORT)
        silent = [h for h in edge.hosts.values() if h.IP() not in seen]
        for host in silent:  # a lost ping (lossy links) is simply sent again on the next poll
            host.cmd(f"ip neigh flush all; ping -c 1 -W {wait_s} {SERVER_IP}")
        return not silent

    wait_until(known, 60, "host learning")


def apply_link_events(
    edge, profiles, scenario: Scenario, epoch: int, controller_url: str, hints_token: str | None
) -> None:
    """Realise the scenario's link changes for `epoch` on the emulated links (compute
    changes travel in the train tasks); with capacity hints on, tell the controller the
    new capacities. Applied as the epoch starts; the controller's figures follow within
    its probing windows and its capacity trains (docs/controller.md)."""
    changed = False
    for p in profiles:
        if not any(
            e.epoch == epoch
            and e.node_id == p.node_id
            and (e.restore or any(getattr(e, field) is not None for field in LinkFigures.FIELDS))
            for e in scenario.events
        ):
            continue
        link = {field: scenario.state(p.node_id, epoch).get(field, getattr(p, field)) for field in LinkFigures.FIELDS}
        edge.set_shape(p.node_id, LinkShape.of(link))  # dilated by set_shape
        log.info("epoch %d: link of %s now %s", epoch, p.node_id, link)
        changed = True
    if changed and hints_token is not None:
        edge.register_capacities(controller_url, hints_token)
