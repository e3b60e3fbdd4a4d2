"""`edgeft local`: the orchestrator and N edge clients as separate processes on
loopback, no root. Network figures come from the paper's link setups (drawn
per node, seeded) through the static metrics source; compute power is drawn
from N(30, 15) and emulated by the clients.

Each node gets its own secret, provisioned into <out>/credentials/ (0600 files): no
secret is on a command line or in a world-readable file, and the orchestrator
generates its run token into <out>/run_token itself."""

from __future__ import annotations

import errno
import json
import logging
import socket
import sys
from pathlib import Path

from edgeft.clock import Clock
from edgeft.config_files import ConfigError
from orchestrator.credentials import LIST_NAME, provision

from experiments.launcher import ProcessGroup
from experiments.runners.crashes import crash_clients, pool_killer, process_killer
from experiments.runners.progress import follow
from orchestrator.scenario import Scenario
from orchestrator.config import OrchestratorConfig
from topologies.profiles import as_ground_truth, as_metrics_table, draw_profiles
from experiments.runners.calibration import plan_for_run

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_port(port: int, host: str = "127.0.0.1") -> None:
    """ConfigError (one line, exit 2) when `port` cannot be listened on, before anything starts."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            why = "in use by another process" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ConfigError(
                f"--port {port}: {host}:{port} is {why}; choose another port or leave out --port"
            ) from None


def credentials_for(out: Path, ids: list[str]) -> dict[str, Path]:
    """Each node's token file in <out>/credentials, provisioned now unless a resumed run has them."""
    folder = out / "credentials"
    files = {i: folder / f"{i}.token" for i in ids}
    if (folder / LIST_NAME).exists() and all(f.exists() for f in files.values()):
        return files
    return provision(folder, ids)


def local_command(out: Path | str, *flags: str, **options: object) -> list[str]:
    """The command line of an `edgeft local` run in a process of its own, as a user types it:
    `local_command(out, "--no-emulate-compute", nodes=2, policy="ar")`; `model_path=...`
    becomes `--model-path ...`."""
    opts = [x for key, value in options.items() for x in (f"--{key.replace('_', '-')}", str(value))]
    return [sys.executable, "-m", "experiments.cli", "local", *opts, "--out", str(out), *flags]


def run_local(
    cfg: OrchestratorConfig,
    setup: int = 2,
    emulate: bool = True,
    timeout: float = 3600.0,
    resume: bool = False,
    target_loss: float | None = None,
) -> int:
    """Run the orchestrator and one client per drawn profile; the exit code. `resume`: continue
    the run in cfg.out_dir (same credentials)."""
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    profiles = draw_profiles(cfg.nodes, setup, cfg.seed)
    cfg = with_dilation(cfg, profiles, "local", emulate)
    (out / "ground_truth.json").write_text(json.dumps(as_ground_truth(profiles, setup, cfg.seed), indent=2))
    if not cfg.metrics.static_file:  # the drawn links, unless the user gave figures of their own
        (out / "static_metrics.json").write_text(json.dumps(as_metrics_table(profiles), indent=2))
    tokens = credentials_for(out, [p.node_id for p in profiles])
    port = cfg.port if cfg.port else free_port()
    orch_cfg = cfg.model_copy(update={"host": "127.0.0.1", "port": port, "token": ""})  # its run token: <out>/run_token
    orch_cfg.enrolment.credentials_file = str(out / "credentials" / LIST_NAME)
    orch_cfg.metrics.static_file = cfg.metrics.static_file or str(out / "static_metrics.json")
    orch_cfg.policy_options.truth_file = orch_cfg.policy_options.truth_file or str(out / "ground_truth.json")
    ca = _tls(orch_cfg, out)
    (out / "orchestrator_config.json").write_text(orch_cfg.model_dump_json(indent=2))
    url = f"{'https' if ca else 'http'}://127.0.0.1:{port}"
    procs = ProcessGroup(out / "logs")
    held = node_model(cfg)
    try:
        procs.start(
            "orchestrator",
            ["orchestrator", "--config", str(out / "orchestrator_config.json"), *(["--resume"] if resume else [])],
        )
        common = {"orchestrator": url, "ca_bundle": ca, "device": cfg.device, "emulate_compute": emulate}
        if held:
            _start_pool(procs, out, profiles, {**common, **held})
            kill = pool_killer(out / "clients.json")
        else:
            _start_clients(procs, profiles, tokens, common)
            kill = process_killer(procs)
        log.info("started orchestrator on %s and %d clients; logs in %s", url, len(profiles), out / "logs")
        scenario = Scenario(cfg.scenario)
        rc = follow(
            procs,
            out / "epochs.csv",
            f"{cfg.policy.upper()} x{cfg.nodes}",
            cfg.training.epochs,
            Clock(cfg.emulation.k).to_wall(timeout),
            on_epoch=lambda epoch: crash_clients(scenario, epoch, kill),
        )
        if rc is None:
            log.error("the run did not finish within %.0f s; stopping it", timeout)
            return 1
        procs.wait_all(30.0)
        return _report(out, rc, target_loss)
    finally:
        procs.stop_all()


def _start_clients(procs: ProcessGroup, profiles: list, tokens: dict[str, Path], common: dict) -> None:
    """One `edgeft edge` process per profile; each names its own token file, never a secret."""
    for p in profiles:
        args = ["edge", "--orchestrator", common["orchestrator"], "--token-file", str(tokens[p.node_id])]
        args += ["--node-id", p.node_id, "--compute-power", str(p.compute_power)]
        args += ["--ca-bundle", common["ca_bundle"]] if common["ca_bundle"] else []
        args += ["--device", common["device"]]  # clients train where the orchestrator was told to (auto: CUDA if any)
        procs.start(p.node_id, args + (["--emulate-compute"] if common["emulate_compute"] else []))


def _start_pool(procs: ProcessGroup, out: Path, profiles: list, common: dict) -> None:
    """The clients of a run whose base is preinstalled, forked from one parent that loaded the
    base once (edge_client/forkserver.py): 12 separate SmolLM2 clients would hold 12 copies."""
    (out / "clients.json").write_text(json.dumps(pool_spec(out, profiles, common), indent=2))
    procs.start("clients", ["edge-pool", "--spec", str(out / "clients.json")])


def pool_spec(out: Path, profiles: list, common: dict) -> list[dict]:
    """clients.json: each client's log and config; its secret is named by its token file, never
    written here (the file is readable by others)."""
    return [
        {
            "netns_pid": None,
            "log": str(out / "logs" / f"{p.node_id}.log"),
            "config": {
                **common,
                "node_id": p.node_id,
                "compute_power": p.compute_power,
                "token_file": str(out / "credentials" / f"{p.node_id}.token"),
            },
        }
        for p in profiles
    ]


def node_model(cfg: OrchestratorConfig) -> dict:
    """Where the nodes hold the base when it is preinstalled: the folder this machine has
    (the fork pool loads it once, before forking, and the children share it)."""
    if cfg.model.distribution != "preinstalled":
        return {}
    from orchestrator.workload import base_folder

    return {"model_path": str(base_folder(cfg.model))}


def with_dilation(
    cfg: OrchestratorConfig, profiles: list, mode: str, emulate: bool = True, engine: str = "edgeft"
) -> OrchestratorConfig:
    """The config with its time dilation resolved (calibrated when 'auto'); without
    compute emulation there is no emulated world to keep up with: k = 1. `engine`:
    'flower' (or 'flower-no-workers') also counts Flower's per-message process and
    refuses (ConfigError) an automatic k above the cap (experiments/runners/calibration.py)."""
    em = cfg.emulation
    if not emulate and em.dilation != "auto":
        log.warning("--dilation %s ignored: without compute emulation there is no emulated time to dilate", em.dilation)
    links = [p.link for p in profiles] if mode == "mininet" else None
    k = plan_for_run(cfg, [p.compute_power for p in profiles], mode, links, engine).k if emulate else 1.0
    return cfg.model_copy(
        update={"emulation": em.model_copy(update={"dilation": k, "emulated_links": mode == "mininet"})}
    )


def _share(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f} %"


def _tls(cfg: OrchestratorConfig, out: Path) -> str | None:
    """With TLS on, make the certificate before anything starts, so that the clients can
    pin it; returns the CA bundle for the clients (None: plain HTTP)."""
    if not cfg.tls.enabled:
        return None
    if cfg.tls.self_signed and not cfg.tls.certfile:
        from orchestrator.tls import self_signed

        cert, key = self_signed(out / "tls", ["127.0.0.1", "localhost"])
        cfg.tls.certfile, cfg.tls.keyfile, cfg.tls.self_signed = str(cert), str(key), False
    return cfg.tls.certfile


def _report(out: Path, rc: int, target_loss: float | None = None) -> int:
    summary_path = out / "summary.json"
    if rc != 0 or not summary_path.exists():
        log.error("orchestrator exited with %s; see %s", rc, out / "logs" / "orchestrator.log")
        return rc or 1
    s = json.loads(summary_path.read_text())
    if "error" in s:
        log.error("run aborted: %s", s["error"])
        return 1
    print(
        f"policy={s['policy']} nodes={s['nodes']} epochs={s['epochs']} completion_time_s={s['completion_time_s']:.1f} "
        f"pre_training_loss={s['pre_training_loss']:.4f} final_val_loss={s['final_val_loss']:.4f} "
        f"active_at_end={s['active_at_end']} dilation={s['dilation']:g} "
        f"overrun_share={_share(s['overrun_share'])} -> {out}"
    )
    if not s["fidelity_ok"]:
        log.warning(
            "FIDELITY: %s of node-epochs overran their compute window (> 5 %%): the times above are not the "
            "emulated world's; rerun with a larger --dilation",
            _share(s["overrun_share"]),
        )
    from experiments.reports.redraw import report_run

    try:  # a picture that cannot be drawn must not turn a finished run into a failed one
        print(report_run(out, target_loss))
    except Exception:  # noqa: BLE001
        log.exception("could not draw the run's pictures; `edgeft report %s` draws them again", out)
    return 0
