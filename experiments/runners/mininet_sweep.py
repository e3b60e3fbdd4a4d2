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
import os
import sys
from pathlib import Path
from typing import Callable


from edgeft.config_files import ConfigError, build as build_config, read_file
from edgeft.clock import Clock
from edgeft.timemodel import parse_dilation
from experiments.runners.inputs import check_model, seeds_argument
from experiments.standalone import one_line_errors, run_script
from experiments.runners.local import free_port, with_dilation
from experiments.runners.mininet_hosts import (
    LiveRun,
    Probing,
    apply_link_events,
    controller_args,
    finish_row,
    record_controller,
    start_controller,
    start_run,
)
from experiments.runners.progress import follow, read_rows
from experiments.launcher import ProcessGroup
from experiments.reports.network_map import write_topology
from experiments.reports.redraw import check_target
from experiments.reports.report import engine_of_mode, load_run, loss_curve, write_report, write_results
from orchestrator.config import OrchestratorConfig
from orchestrator.credentials import new_secret, write_private
from orchestrator.results import guard_run_folder, move_aside, run_files
from orchestrator.policies import POLICY_NAMES
from experiments.runners.crashes import crash_clients, pool_killer
from orchestrator.scenario import Scenario
from topologies.edge_cloud import ROOT_IP, build
from topologies.profiles import as_ground_truth, draw_profiles

log = logging.getLogger("edgeft.compare")


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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`edgeft compare`'s flags (also `python -m experiments.compare`'s)."""
    parser.add_argument("--nodes", type=_ints, default=None, help="edge node counts, e.g. 12,20,30,40 (default 12)")
    parser.add_argument("--setups", type=_setups, default=None, help="paper link setups 1,2,3 (default 2)")
    parser.add_argument("--policies", default="ne,ar", help=f"comma-separated, from: {','.join(POLICY_NAMES)}")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--seeds", type=seeds_argument, default=None, help="a comma list (0,3,7) or an inclusive range A-B (default 0)"
    )
    _attach_arguments(parser)
    parser.add_argument("--config", help="scenario file (YAML/TOML/JSON) with orchestrator settings; flags override")
    parser.add_argument(
        "--target-loss",
        type=float,
        default=None,
        help="time to this validation loss in the tables (default: AR's final loss of the same nodes/setup/seed)",
    )
    parser.add_argument("--out", default="results/compare")
    _folder_arguments(parser)
    parser.add_argument("--run-timeout", type=float, default=1800.0, help="seconds one run may take")
    _controller_arguments(parser)
    _engine_arguments(parser)


def _attach_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--attach",
        metavar="FILE",
        default=None,
        help="run in the network the topology script describes in FILE (edgeft-net.json) and its controller",
    )
    parser.add_argument(
        "--controller-token-file",
        default="",
        help="with --attach: the controller's token file (default: the one edgeft-net.json names)",
    )
    parser.add_argument(
        "--controller-token",
        default="",
        help="with --attach: the controller's token (deprecated: others can read it; use --controller-token-file)",
    )


def _controller_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--probe-hz", type=float, default=2.0, help="controller: delay/loss probes per node per second")
    parser.add_argument(
        "--loss-window",
        type=int,
        default=600,
        help="controller: probes behind each loss figure (shorter follows a dynamic scenario sooner)",
    )
    parser.add_argument(
        "--capacity-hints",
        action="store_true",
        help=(
            "register the drawn link rates with the controller "
            "(off: it measures capacities itself, docs/controller.md)"
        ),
    )


def _engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dilation", default="auto", help="time dilation k >= 1, or auto: calibrated on this host (docs/time-model.md)"
    )
    parser.add_argument("--max-dilation", type=float, default=None, help="cap on an automatic k (default 8)")
    parser.add_argument(
        "--model", default=None, help="tiny (default) or smollm2-135m (bash scripts/install.sh --smollm2)"
    )
    parser.add_argument(
        "--engine",
        choices=["edgeft", "flower"],
        default="edgeft",
        help="edgeft's orchestrator and clients, or the same policies on Flower's Deployment Engine (docs/flower.md)",
    )
    parser.add_argument(
        "--paper-volumes",
        type=float,
        default=None,
        metavar="S",
        help="pad transfers to the paper's volumes x S (model 500 MB, dataset 1000 MB); 0 = real artifacts only",
    )


def _folder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--resume", action="store_true", help="--out holds a comparison: run only the rows it lacks")
    parser.add_argument(
        "--overwrite", action="store_true", help="--out holds a comparison: move it aside to <out>.old-<time>"
    )


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
    `base` is calibrated here (compare() resolves it once per scenario instead). `timeout`
    is in emulated seconds (the run's clock gives it on the wall)."""
    overrides = {"nodes": nodes, "policy": policy, "seed": seed, "training.epochs": epochs, "out_dir": str(run_dir)}
    cfg = build_config(OrchestratorConfig, base, {**overrides, "metrics.capacity_hints": probing.capacity_hints})
    profiles = draw_profiles(nodes, setup, seed)
    cfg = with_dilation(cfg, profiles, "mininet", engine=engine)  # Flower: its per-message processes counted
    wall_timeout = Clock(cfg.emulation.k).to_wall(timeout)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "ground_truth.json").write_text(json.dumps(as_ground_truth(profiles, setup, seed), indent=2))
    live, hints = _start_network(cfg, profiles, run_dir, probing)
    row = {"nodes": nodes, "setup": setup, "seed": seed, "mode": _mode(cfg, engine), "engine": _engine(engine)}
    try:
        live.start_controller()
        record_controller(live.controller_url, run_dir, probing.capacity_hints)
        hosts = {p.node_id: live.edge.hosts[p.node_id] for p in profiles}
        if engine == "flower":
            from experiments.runners.flower_mininet import run_flower_in_hosts

            run_flower_in_hosts(cfg, run_dir, live.controller_url, live.edge.server, hosts, profiles, wall_timeout)
        else:
            start_run(live.procs, cfg, run_dir, live.controller_url, live.edge.server, hosts, profiles)
            label = f"{policy.upper()} n={nodes} setup={setup} seed={seed}"
            _follow(live, cfg, (label, wall_timeout), profiles, hints, fault)
    finally:
        live.procs.stop_all()
        live.edge.stop()
    return finish_row(run_dir, cfg.emulation.k, row)


def _mode(cfg: OrchestratorConfig, engine: str) -> str:
    """results.csv's `mode`: where it ran, what it moved, and the engine when it is Flower's."""
    volumes = f", paper volumes x{cfg.paper_volumes:g}" if cfg.paper_volumes else ", real artifacts"
    return "mininet" + volumes + (", flower" if engine == "flower" else "")


def _engine(engine: str) -> str:
    """results.csv's `engine` for compare's --engine: Flower's, or edgeft's own in Mininet."""
    return "flower" if engine == "flower" else "mininet"


def _start_network(
    cfg: OrchestratorConfig, profiles: list, run_dir: Path, probing: Probing
) -> tuple[LiveRun, str | None]:
    """The run's Mininet network, built and shaped (its controller not started yet), and the
    controller's write token when the drawn rates are registered as hints (else None)."""
    k = cfg.emulation.k
    ofp_port, rest_port = free_port(), free_port()
    token = new_secret()  # the controller's own write token: never the run's (each node has its own secret)
    write_private(run_dir / "controller.token", token)
    rest = f"http://{ROOT_IP}:{rest_port}"
    procs = ProcessGroup(run_dir / "logs")
    edge = build(profiles, controller=("127.0.0.1", ofp_port), run_dir=run_dir / "net", root_link=True, dilation=k)
    write_topology(run_dir, profiles, dilation=k)  # network.png draws the tree as built
    ctl_args = controller_args(ofp_port, rest_port, run_dir / "controller.token", probing, Clock(k))
    hints = token if probing.capacity_hints else None
    return LiveRun(edge, procs, rest, lambda: start_controller(procs, edge, ctl_args, rest, hints)), hints


def _follow(
    live: LiveRun,
    cfg: OrchestratorConfig,
    progress: tuple[str, float],
    profiles: list,
    hints: str | None,
    fault: Callable[[LiveRun, int], None] | None,
) -> None:
    """Follow the run to its end (`progress`: its label and its wall-clock timeout), applying the
    scenario's link events and the fault hook as each epoch starts; RuntimeError if it fails."""
    label, wall_timeout = progress
    run_dir = Path(cfg.out_dir)
    scenario = Scenario(cfg.scenario)
    rc = follow(
        live.procs,
        run_dir / "epochs.csv",
        label,
        cfg.training.epochs,
        wall_timeout,
        on_epoch=lambda epoch: (
            apply_link_events(live.edge, profiles, scenario, epoch, live.controller_url, hints),
            crash_clients(scenario, epoch, pool_killer(run_dir / "clients.json")),
            fault and fault(live, epoch),
        ),
    )
    if rc != 0:
        raise RuntimeError(f"orchestrator exited with {rc}; see {run_dir / 'logs' / 'orchestrator.log'}")


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
            mode = r.get("mode", "")
            extra = {"nodes": key[0], "setup": key[1], "seed": key[2], "mode": mode}
            extra["engine"] = r.get("engine") or engine_of_mode(mode)
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
    """`python -m experiments.compare`: the same command as `edgeft compare`."""
    args = run_script(__doc__, add_arguments, argv, "%(asctime)s %(levelname)s %(name)s: %(message)s")
    from mininet.log import setLogLevel

    setLogLevel("error")
    return one_line_errors("compare", compare, args)


if __name__ == "__main__":
    sys.exit(main())
