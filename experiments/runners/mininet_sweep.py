"""The runner behind `edgeft compare`: node-selection policies side by side in Mininet, end to end (as root):

    sudo .venv/bin/edgeft compare --nodes 12,20,30,40 --setups 1,2,3 --policies ne,ar --epochs 10 --seeds 0 --out DIR
    sudo .venv/bin/python -m experiments.compare --nodes 12 --setups 2 --out DIR        (same flags)

For every (nodes, setup, seed) the link and compute profiles are drawn once, so
NE and AR see the same network. Each run: start the controller app, build the
topology with those profiles, let the controller learn the hosts, register the
link capacities, start the orchestrator (metrics from the controller's REST
API) in the server host and one LoRA client per edge host, run to the final
loss, collect, tear everything down. DIR gets results.csv, summary.md,
completion_time.png, loss_per_epoch.png and one folder per run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from pathlib import Path
from dataclasses import dataclass
from typing import Callable

import requests

from edgeft.paths_api import known_ips
from edgeft.config_files import ConfigError, build as build_config, read_file
from edgeft.timemodel import parse_dilation
from experiments.runners.inputs import check_model, seeds_argument
from experiments.runners.local import credentials_for, free_port, node_model, with_dilation
from experiments.runners.progress import follow, read_rows, wait_until
from experiments.launcher import ProcessGroup
from experiments.reports.network_map import write_topology
from experiments.reports.redraw import check_target
from experiments.reports.report import load_run, loss_curve, write_report, write_results
from orchestrator.config import OrchestratorConfig
from orchestrator.credentials import LIST_NAME, new_secret, write_private
from orchestrator.results import guard_run_folder, move_aside, run_files
from orchestrator.policies import POLICY_NAMES
from orchestrator.scenario import LINK_FIELDS, Scenario
from topologies.shaping import LinkShape
from topologies.edge_cloud import ROOT_IP, SERVER_IP, build
from topologies.profiles import as_ground_truth, draw_profiles

log = logging.getLogger("edgeft.compare")
ORCH_PORT = 8700


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _setups(text: str) -> list[int]:
    from topologies.profiles import SETUPS

    got = _ints(text)
    bad = [s for s in got if s not in SETUPS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"setups {bad} do not exist; the paper's setups are {', '.join(map(str, sorted(SETUPS)))}"
        )
    return got


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=_ints, default=None, help="edge node counts, e.g. 12,20,30,40 (default 12)")
    p.add_argument("--setups", type=_setups, default=None, help="paper link setups 1,2,3 (default 2)")
    p.add_argument("--policies", default="ne,ar", help=f"comma-separated, from: {','.join(POLICY_NAMES)}")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument(
        "--seeds", type=seeds_argument, default=None, help="a comma list (0,3,7) or an inclusive range A-B (default 0)"
    )
    p.add_argument(
        "--attach",
        metavar="FILE",
        default=None,
        help="run in the network the topology script describes in FILE (edgeft-net.json) and its controller",
    )
    p.add_argument(
        "--controller-token-file",
        default="",
        help="with --attach: the controller's token file (default: the one edgeft-net.json names)",
    )
    p.add_argument(
        "--controller-token",
        default="",
        help="with --attach: the controller's token (deprecated: others can read it; use --controller-token-file)",
    )
    p.add_argument("--config", help="scenario file (YAML/TOML/JSON) with orchestrator settings; flags override")
    p.add_argument(
        "--target-loss",
        type=float,
        default=None,
        help="time to this validation loss in the tables (default: AR's final loss of the same nodes/setup/seed)",
    )
    p.add_argument("--out", default="results/compare")
    _folder_arguments(p)
    p.add_argument("--run-timeout", type=float, default=1800.0, help="seconds one run may take")
    p.add_argument("--probe-hz", type=float, default=2.0, help="controller: delay/loss probes per node per second")
    p.add_argument(
        "--loss-window",
        type=int,
        default=600,
        help="controller: probes behind each loss figure (shorter follows a dynamic scenario sooner)",
    )
    p.add_argument(
        "--capacity-hints",
        action="store_true",
        help=(
            "register the drawn link rates with the controller "
            "(off: it measures capacities itself, docs/controller.md)"
        ),
    )
    p.add_argument(
        "--dilation", default="auto", help="time dilation k >= 1, or auto: calibrated on this host (docs/time-model.md)"
    )
    p.add_argument("--max-dilation", type=float, default=None, help="cap on an automatic k (default 8)")
    p.add_argument("--model", default=None, help="tiny (default) or smollm2-135m (bash scripts/install.sh --smollm2)")
    p.add_argument(
        "--engine",
        choices=["edgeft", "flower"],
        default="edgeft",
        help="edgeft's orchestrator and clients, or the same policies on Flower's Deployment Engine (docs/flower.md)",
    )
    p.add_argument(
        "--paper-volumes",
        type=float,
        default=None,
        metavar="S",
        help="pad transfers to the paper's volumes x S (model 500 MB, dataset 1000 MB); 0 = real artifacts only",
    )


def _folder_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resume", action="store_true", help="--out holds a comparison: run only the rows it lacks")
    p.add_argument(
        "--overwrite", action="store_true", help="--out holds a comparison: move it aside to <out>.old-<time>"
    )


@dataclass(frozen=True)
class Probing:
    """How the run's controller measures: probe rate, loss window, capacity hints."""

    hz: float = 2.0
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


def run_one(
    base: dict,
    nodes: int,
    setup: int,
    seed: int,
    policy: str,
    epochs: int,
    run_dir: Path,
    timeout: float,
    probing: Probing = Probing(),
    fault: Callable[[LiveRun, int], None] | None = None,
    engine: str = "edgeft",
) -> dict:
    """One (nodes, setup, seed, policy) run in a fresh network; returns its results row.
    `fault(live, epoch)` runs as each epoch starts. An 'auto' emulation.dilation in
    `base` is calibrated here (compare() resolves it once per scenario instead)."""
    cfg = build_config(
        OrchestratorConfig,
        base,
        {
            "nodes": nodes,
            "policy": policy,
            "seed": seed,
            "training.epochs": epochs,
            "out_dir": str(run_dir),
            "metrics.capacity_hints": probing.capacity_hints,
        },
    )
    mode = "mininet" + (f", paper volumes x{cfg.paper_volumes:g}" if cfg.paper_volumes else ", real artifacts")
    profiles = draw_profiles(nodes, setup, seed)
    cfg = with_dilation(cfg, profiles, "mininet", engine=engine)  # Flower: its per-message processes counted
    k = cfg.emulation.k
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "ground_truth.json").write_text(json.dumps(as_ground_truth(profiles, setup, seed), indent=2))
    ofp_port, rest_port = free_port(), free_port()
    token = new_secret()  # the controller's own write token: never the run's (each node has its own secret)
    write_private(run_dir / "controller.token", token)
    rest = f"http://{ROOT_IP}:{rest_port}"
    procs = ProcessGroup(run_dir / "logs")
    edge = build(profiles, controller=("127.0.0.1", ofp_port), run_dir=run_dir / "net", root_link=True, dilation=k)
    write_topology(run_dir, profiles, dilation=k)  # network.png draws the tree as built
    controller_args = _controller_args(ofp_port, rest_port, run_dir / "controller.token", probing, k)
    hints = token if probing.capacity_hints else None
    live = LiveRun(edge, procs, rest, lambda: start_controller(procs, edge, controller_args, rest, hints))
    try:
        live.start_controller()
        record_controller(rest, run_dir, probing.capacity_hints)
        if engine == "flower":
            from experiments.runners.flower_mininet import run_flower_in_hosts

            hosts = {p.node_id: edge.hosts[p.node_id] for p in profiles}
            run_flower_in_hosts(cfg, run_dir, rest, edge.server, hosts, profiles, timeout * k)
            return finish_row(run_dir, k, {"nodes": nodes, "setup": setup, "seed": seed, "mode": mode + ", flower"})
        start_run(
            procs,
            cfg,
            run_dir,
            rest,
            edge.server,
            {p.node_id: edge.hosts[p.node_id] for p in profiles},
            profiles,
        )
        rc = follow(
            procs,
            run_dir / "epochs.csv",
            f"{policy.upper()} n={nodes} setup={setup} seed={seed}",
            epochs,
            timeout * k,
            on_epoch=lambda epoch: (
                apply_link_events(edge, profiles, Scenario(cfg.scenario), epoch, rest, hints),
                fault and fault(live, epoch),
            ),
        )
        if rc != 0:
            raise RuntimeError(f"orchestrator exited with {rc}; see {run_dir / 'logs' / 'orchestrator.log'}")
    finally:
        procs.stop_all()
        edge.stop()
    return finish_row(run_dir, k, {"nodes": nodes, "setup": setup, "seed": seed, "mode": mode})


def record_controller(rest: str, run_dir: Path, capacity_hints: bool) -> None:
    """Provenance: the controller's settings as it reports them (GET /v1/health, never its token)
    and whether the drawn rates were registered as hints, in <run_dir>/controller.json."""
    try:
        health = requests.get(f"{rest}/v1/health", timeout=5.0).json()
    except (requests.RequestException, ValueError) as exc:
        health = {"error": f"GET /v1/health failed: {exc}"}
    record = {"rest": rest, "capacity_hints": capacity_hints, "settings": health.get("settings"), "health": health}
    (run_dir / "controller.json").write_text(json.dumps(record, indent=2))


def _controller_args(ofp_port: int, rest_port: int, token_file: Path, probing: Probing, k: float) -> list[str]:
    """`edgeft controller`'s flags for one run: its token by file, the server named as the
    measuring point at start (GET /v1/paths changes nothing), probing dilated by k."""
    return [
        *("controller", "--ofp-port", str(ofp_port), "--rest-host", ROOT_IP, "--rest-port", str(rest_port)),
        *("--token-file", str(token_file), "--measure-from", SERVER_IP, "--own-port", str(ORCH_PORT)),
        *("--probe-hz", str(probing.hz), "--loss-window", str(probing.loss_window)),
        *("--probe-timeout", f"{2.0 * k:g}", "--train-interval", f"{probing.train_interval_s * k:g}"),
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


def finish_row(run_dir: Path, k: float, extra: dict) -> dict:
    """The results row of a finished run, with a loud warning where fidelity failed."""
    summary, _ = load_run(run_dir)
    if not summary.get("fidelity_ok", True):
        log.warning(
            "FIDELITY: %s: %.0f %% of node-epochs overran their compute window (> 5 %%) at k = %g: its times are not "
            "the emulated world's; the row is marked",
            run_dir.name,
            100 * summary["overrun_share"],
            k,
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
            and (e.restore or any(getattr(e, k) is not None for k in LINK_FIELDS))
            for e in scenario.events
        ):
            continue
        link = {k: scenario.state(p.node_id, epoch).get(k, getattr(p, k)) for k in LINK_FIELDS}
        edge.set_shape(p.node_id, LinkShape.of(link))  # dilated by set_shape
        log.info("epoch %d: link of %s now %s", epoch, p.node_id, link)
        changed = True
    if changed and hints_token is not None:
        edge.register_capacities(controller_url, hints_token)


def _resolve_dilation(
    base: dict, nodes: int, setup: int, seed: int, policy: str, epochs: int, engine: str = "edgeft"
) -> dict:
    """Calibrate k once per (nodes, setup, seed), so that every policy of a scenario runs at
    the same k (the same emulated world, lived through at the same pace). `engine` 'flower'
    counts its per-message processes and refuses a k above --max-dilation (ConfigError)."""
    cfg = build_config(
        OrchestratorConfig, base, {"nodes": nodes, "policy": policy, "seed": seed, "training.epochs": epochs}
    )
    k = with_dilation(cfg, draw_profiles(nodes, setup, seed), "mininet", engine=engine).emulation.k
    return {**base, "emulation": {**base.get("emulation", {}), "dilation": k}}


def compare(args: argparse.Namespace) -> int:
    check_target(args.target_loss)  # with the other checks, before anything starts
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    bad = [p for p in policies if p not in POLICY_NAMES]
    if bad:
        raise ConfigError(f"--policies: unknown {bad}; choose from {', '.join(POLICY_NAMES)}")
    base = read_file(args.config) if args.config else {}
    if args.paper_volumes is not None:
        base["paper_volumes"] = args.paper_volumes
    if args.model is not None:
        base.setdefault("model", {})["name"] = args.model
    base.setdefault("emulation", {})
    try:
        base["emulation"]["dilation"] = parse_dilation(args.dilation)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.max_dilation is not None:
        base["emulation"]["max_dilation"] = args.max_dilation
    if os.geteuid() != 0:
        raise ConfigError(
            "Mininet needs root: run `sudo bash scripts/demo.sh` (or sudo .venv/bin/edgeft compare ...); "
            "without root, `edgeft local` runs the same system on loopback"
        )
    out = Path(args.out).resolve()  # the runs' processes start in the repository root
    if args.attach and args.engine == "flower":
        raise ConfigError("--engine flower builds its own network: leave out --attach")
    if args.engine == "flower" and (base.get("scenario") or args.paper_volumes):
        raise ConfigError("--engine flower runs neither scenario link events nor paper-volume padding (docs/flower.md)")
    if args.attach:
        rows, curves = _compare_attached(args, base, policies, out)
    else:
        rows, curves = _compare_fresh(args, base, policies, out)
    table = write_report(out, rows, curves, "Node selection in Mininet", target_loss=args.target_loss)
    print("\n" + table)
    print(
        f"results.csv, summary.md, completion_time.png, loss_per_epoch.png, loss_vs_time.png and per-run folders "
        f"(timeline.png, network.png) in {out}/"
    )
    return 0


def _compare_fresh(args: argparse.Namespace, base: dict, policies: list[str], out: Path) -> tuple[list, dict]:
    """Every (nodes, setup, seed) in a network of its own, NE and AR on the same draw."""
    nodes_list, setups, seeds = args.nodes or [12], args.setups or [2], args.seeds or [0]
    for n in nodes_list:  # validate every combination before anything starts
        for pol in policies:
            cfg = build_config(OrchestratorConfig, base, {"nodes": n, "policy": pol, "training.epochs": args.epochs})
    check_model(cfg)
    guard_run_folder(out, resume=args.resume, overwrite=args.overwrite)  # after every check: nothing moved for a typo
    out.mkdir(parents=True, exist_ok=True)
    rows, curves = [], {}
    done = finished_rows(out) if args.resume else {}
    for nodes in nodes_list:
        for setup in setups:
            for seed in seeds:
                todo = [p for p in policies if (nodes, setup, seed, p) not in done]
                scenario_base = (
                    _resolve_dilation(base, nodes, setup, seed, policies[0], args.epochs, args.engine) if todo else base
                )
                for policy in policies:
                    run_dir = out / f"n{nodes}-setup{setup}-seed{seed}-{policy}"
                    if policy not in todo:
                        rows.append(done[(nodes, setup, seed, policy)])
                        curves[f"{policy.upper()} n={nodes} s{setup}"] = loss_curve(*load_run(run_dir))
                        continue
                    if run_files(run_dir):  # a run cut short earlier: kept aside, run again
                        move_aside(run_dir)
                    row = run_one(
                        scenario_base,
                        nodes,
                        setup,
                        seed,
                        policy,
                        args.epochs,
                        run_dir,
                        args.run_timeout,
                        Probing(args.probe_hz, args.loss_window, args.capacity_hints),
                        engine=args.engine,
                    )
                    rows.append(row)
                    curves[f"{policy.upper()} n={nodes} s{setup}"] = loss_curve(*load_run(run_dir))
                    write_results(out, rows)  # after every run: nothing finished is lost
    return rows, curves


def finished_rows(out: Path) -> dict[tuple[int, int, int, str], dict]:
    """compare --resume: the rows results.csv already holds whose run folder is complete, by
    (nodes, setup, seed, policy), rebuilt from each run's summary as when it finished."""
    done = {}
    for r in read_rows(out / "results.csv"):
        try:
            key = (int(r["nodes"]), int(r["setup"]), int(r["seed"]), r["policy"])
        except (KeyError, ValueError):
            continue
        run_dir = out / f"n{key[0]}-setup{key[1]}-seed{key[2]}-{key[3]}"
        if (run_dir / "summary.json").exists():
            extra = {"nodes": key[0], "setup": key[1], "seed": key[2], "mode": r.get("mode", "")}
            done[key] = finish_row(run_dir, float(r.get("dilation") or 1.0), extra)
    log.info("--resume: %d finished rows kept from %s", len(done), out / "results.csv")
    return done


def _compare_attached(args: argparse.Namespace, base: dict, policies: list[str], out: Path) -> tuple[list, dict]:
    """Every policy in turn in the running network of --attach (experiments/runners/attached.py)."""
    from experiments.runners.attached import load_network, run_attached

    net = load_network(args.attach, args.nodes, args.setups, args.seeds)
    if base["emulation"].get("dilation", "auto") not in ("auto", net["dilation"]):
        raise ConfigError(
            f"--dilation {base['emulation']['dilation']}: the attached network runs at k = {net['dilation']:g} "
            "(set it with the topology script's --dilation)"
        )
    n = len(net["hosts"])
    for pol in policies:
        build_config(OrchestratorConfig, base, {"nodes": n, "policy": pol, "training.epochs": args.epochs})
    guard_run_folder(out, resume=args.resume, overwrite=args.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    rows, curves = [], {}
    for policy in policies:
        run_dir = out / f"n{n}-setup{net['setup']}-seed{net['seed']}-{policy}"
        rows.append(run_attached(net, base, policy, args.epochs, run_dir, args.run_timeout, _controller_token(args)))
        curves[f"{policy.upper()} n={n} s{net['setup']}"] = loss_curve(*load_run(run_dir))
        write_results(out, rows)
    return rows, curves


def _controller_token(args: argparse.Namespace) -> str:
    """The attached controller's token: --controller-token-file, else --controller-token (with a
    warning), else '' (run_attached then reads the file edgeft-net.json names)."""
    if args.controller_token_file:
        from orchestrator.credentials import read_secret

        try:
            return read_secret(args.controller_token_file, "--controller-token-file")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if args.controller_token:
        log.warning("--controller-token puts a secret on the command line: use --controller-token-file")
    return args.controller_token


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from mininet.log import setLogLevel

    setLogLevel("error")
    try:
        return compare(args)
    except ConfigError as exc:
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
