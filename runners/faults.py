"""Faults caused for real on loopback, shared by the fault-matrix script and the tests:
clients frozen (SIGSTOP) or killed mid-training and restarted, the orchestrator
killed and resumed. Each returns what it measured; judging is the caller's job."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psutil
import requests

from edgeft.paths_api import get_paths
from runners.local import free_port
from runners.progress import read_rows as rows, wait_until
from topologies.launcher import ProcessGroup


def wait_for(cond, timeout: float, what: str) -> None:
    """wait_until, polling fast: a victim must be caught while it trains."""
    wait_until(cond, timeout, what, poll=0.1)


class LoopbackRun:
    """An orchestrator (config dict) and named clients as processes on loopback."""

    def __init__(self, out: Path, cfg: dict) -> None:
        self.out, self.token, self.port = out, "fault-token", free_port()
        self.cfg = {**cfg, "port": self.port, "token": self.token, "out_dir": str(out)}
        out.mkdir(parents=True, exist_ok=True)
        self.cfg_file = out.parent / f"{out.name}.config.json"
        self.cfg_file.write_text(json.dumps(self.cfg))
        self.procs = ProcessGroup(out / "logs")
        self.url = f"http://127.0.0.1:{self.port}"

    def start_orchestrator(self, *extra: str):
        proc = self.procs.start("orchestrator", ["orchestrator", "--config", str(self.cfg_file), *extra])
        wait_for(lambda: requests.get(self.url + "/v1/health", timeout=1).ok, 60, "the orchestrator")
        return proc

    def start_client(self, name: str, node_id: str, *extra: str) -> None:
        self.procs.start(name, ["edge", "--orchestrator", self.url, f"--token={self.token}", "--node-id", node_id, *extra])

    def log(self, name: str) -> str:
        f = self.out / "logs" / f"{name}.log"
        return f.read_text() if f.exists() else ""

    def signal(self, name: str, sig: int) -> None:
        os.killpg(self.procs.procs[name].pid, sig)

    def finish(self, timeout: float) -> int | None:
        rc = self.procs.wait("orchestrator", timeout)
        self.procs.wait_all(30)
        return rc

    def epochs(self) -> list[dict]:
        return rows(self.out / "epochs.csv")


def hung_clients(out: Path, rounds: int = 10, nodes: int = 4, heartbeat_timeout_s: float = 3.0,
                 sig: int = signal.SIGSTOP) -> dict:
    """One client frozen (SIGSTOP; or killed, SIGKILL) mid-training per epoch for `rounds`
    epochs, then killed and restarted under its identity. Returns detection times, the orchestrator's thread and
    fd counts after each round, the exit code and the restarted clients' logs."""
    run = LoopbackRun(out, {"nodes": nodes, "policy": "ar", "training": {"epochs": rounds + 1},
                            "timeouts": {"heartbeat_s": 0.5, "heartbeat_timeout_s": heartbeat_timeout_s, "round_s": 120}})
    gen = {f"node-{i:02d}": 0 for i in range(1, nodes + 1)}
    detect, footprints = [], []
    try:
        orch = psutil.Process(run.start_orchestrator().pid)
        for node in gen:
            run.start_client(f"{node}.0", node, "--compute-power", "30", "--emulate-compute")
        for epoch in range(rounds):
            victim = f"node-{epoch % nodes + 1:02d}"
            name = f"{victim}.{gen[victim]}"
            wait_for(lambda: f"task=train epoch={epoch} " in run.log(name), 120, f"{victim} to start epoch {epoch}")
            run.signal(name, sig)  # SIGSTOP: frozen, its sockets stay open, it never answers
            t0 = time.monotonic()
            wait_for(lambda: len(run.epochs()) > epoch, 120, f"epoch {epoch} to end")
            detect.append(time.monotonic() - t0)
            run.signal(name, signal.SIGKILL)
            gen[victim] += 1
            run.start_client(f"{victim}.{gen[victim]}", victim, "--compute-power", "30", "--emulate-compute")
            footprints.append((orch.num_threads(), orch.num_fds()))
        rc = run.finish(180)
    finally:
        run.procs.stop_all()
    return {"rc": rc, "detect_s": detect, "footprints": footprints, "epochs": run.epochs(),
            "restarted_logs": [run.log(f"{n}.{g}") for n, g in gen.items() if g > 0], "summary": _summary(out)}


def resumed_run(out: Path, kill: bool, nodes: int = 4, epochs: int = 3, policy: str = "random") -> dict:
    """A run; with `kill`, the orchestrator is SIGKILLed after its first checkpoint and
    restarted with --resume. Returns the exit code and how long the resume took."""
    run = LoopbackRun(out, {"nodes": nodes, "policy": policy, "seed": 3, "training": {"epochs": epochs}})
    resume_s = None
    try:
        run.start_orchestrator()
        for i in range(1, nodes + 1):
            run.start_client(f"node-{i:02d}", f"node-{i:02d}")
        if kill:
            wait_for(lambda: (out / "checkpoint.safetensors").exists(), 300, "the first checkpoint")
            run.procs.procs["orchestrator"].send_signal(signal.SIGKILL)
            run.procs.procs["orchestrator"].wait()
            t0 = time.monotonic()
            run.start_orchestrator("--resume")
            resume_s = time.monotonic() - t0
        rc = run.finish(300)
    finally:
        run.procs.stop_all()
    return {"rc": rc, "resume_s": resume_s, "epochs": run.epochs(), "summary": _summary(out)}


def _summary(out: Path) -> dict:
    path = out / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def link_flap(out: Path, victim: str = "node-03", down_at: int = 1, up_at: int = 3, epochs: int = 10) -> dict:
    """Mininet (root): the victim's access link goes down as epoch `down_at` starts and
    comes back as epoch `up_at` starts, in an AR run with the controller app. Returns
    the run's epochs, when the failure was recorded, and the controller's figures for
    the victim while its link was down."""
    from runners.compare import Probing, run_one
    from topologies.edge_cloud import SERVER_IP

    seen: dict = {}

    def fault(live, epoch: int) -> None:
        edge, controller_url = live.edge, live.controller_url
        host = edge.hosts[victim]
        gw = edge.access[victim][1].node
        if epoch == down_at:
            edge.net.configLinkStatus(host.name, gw.name, "down")
            seen["down_at"] = time.monotonic()
        elif "down_at" in seen and "detected_s" not in seen and any(victim in r["failed"] for r in rows(out / "epochs.csv")):
            seen["detected_s"] = time.monotonic() - seen["down_at"]  # +- the runner's 1 s polling
        if epoch == up_at:
            seen["while_down"] = get_paths(controller_url, SERVER_IP, timeout_s=5).get(host.IP())
            edge.net.configLinkStatus(host.name, gw.name, "up")

    base = {"timeouts": {"heartbeat_s": 0.5, "heartbeat_timeout_s": 3, "round_s": 120}}
    row = run_one(base, 5, 2, 0, "ar", epochs, out, 900, Probing(4.0, 20), fault)
    return {**seen, "row": row, "epochs": rows(out / "epochs.csv"), "summary": _summary(out)}


def controller_restart(out: Path, stop_at: int = 1, start_at: int = 3, epochs: int = 9) -> dict:
    """Mininet (root): the controller app is stopped as epoch `stop_at` starts and started
    again as epoch `start_at` starts. Returns the run's per-node rows, whose
    `metrics_stale` and figures show what the orchestrator scored with meanwhile."""
    from runners.compare import Probing, run_one

    seen: dict = {}

    def fault(live, epoch: int) -> None:
        if epoch == stop_at:
            live.procs.stop("controller")
            seen["stopped_at"] = time.monotonic()
        if epoch == start_at:
            t0 = time.monotonic()
            live.start_controller()
            seen["restart_s"] = time.monotonic() - t0

    base = {"metrics": {"stale_after_s": 30}}
    row = run_one(base, 5, 2, 0, "ar", epochs, out, 900, Probing(4.0, 20), fault)
    node_epochs = rows(out / "node_epochs.csv")
    fresh = [e for e in range(start_at, epochs)
             if all(r["metrics_stale"] == "False" for r in node_epochs if int(r["epoch"]) == e and r["status"] == "active")]
    return {**seen, "row": row, "epochs": rows(out / "epochs.csv"), "node_epochs": node_epochs,
            "fresh_again_at": fresh[0] if fresh else None, "summary": _summary(out)}
