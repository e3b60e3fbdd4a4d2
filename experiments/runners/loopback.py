"""An orchestrator and named edge clients as real processes on loopback: the harness
of the fault fixtures (tests/fixtures/faults.py), the soak and the memory benchmarks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import requests

from experiments.runners.local import free_port
from experiments.runners.progress import read_rows as rows, wait_until
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
        self.procs.start(
            name, ["edge", "--orchestrator", self.url, f"--token={self.token}", "--node-id", node_id, *extra]
        )

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
