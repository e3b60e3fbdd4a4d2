"""An orchestrator and named edge clients as real processes on loopback: the harness
of the fault fixtures (experiments/faults.py), the soak and the memory benchmarks.

Like `edgeft local`, it provisions one secret per node (node-01 .. node-<nodes + spares>,
or the ids given) into <out>/credentials and hands each client its token file: no secret
on a command line, and a restarted client enrols again as its own node."""

from __future__ import annotations

import json
import os
from pathlib import Path

import requests

from experiments.runners.local import free_port
from experiments.runners.progress import read_rows as rows, wait_until
from orchestrator.credentials import LIST_NAME, default_ids, new_secret, provision, write_private
from experiments.launcher import ProcessGroup

SPARES = 2  # ids provisioned beyond `nodes`, as enrolment.spares allows by default


def wait_for(cond, timeout: float, what: str) -> None:
    """wait_until, polling fast: a victim must be caught while it trains."""
    wait_until(cond, timeout, what, poll=0.1)


class LoopbackRun:
    """An orchestrator (config dict) and named clients as processes on loopback. `token` is the
    run token (for /v1/status), in <out>/run_token; `token_file(id)` is a node's secret."""

    def __init__(self, out: Path, cfg: dict, ids: list[str] | None = None) -> None:
        self.out, self.token, self.port = out, new_secret(), free_port()
        out.mkdir(parents=True, exist_ok=True)
        self.tokens = provision(out / "credentials", ids or default_ids(int(cfg.get("nodes", 12)) + SPARES))
        enrolment = {**cfg.get("enrolment", {}), "credentials_file": str(out / "credentials" / LIST_NAME)}
        self.cfg = {**cfg, "port": self.port, "out_dir": str(out), "enrolment": enrolment}
        self.cfg_file = out.parent / f"{out.name}.config.json"
        self.cfg_file.write_text(json.dumps(self.cfg))
        self.run_token_file = out.parent / f"{out.name}.run_token"
        write_private(self.run_token_file, self.token)
        self.procs = ProcessGroup(out / "logs")
        self.url = f"http://127.0.0.1:{self.port}"

    def token_file(self, node_id: str) -> str:
        """The file holding `node_id`'s secret (what a client's token_file names)."""
        return str(self.tokens[node_id])

    def start_orchestrator(self, *extra: str):
        proc = self.procs.start(
            "orchestrator",
            ["orchestrator", "--config", str(self.cfg_file), "--token-file", str(self.run_token_file), *extra],
        )
        wait_for(lambda: requests.get(self.url + "/v1/health", timeout=1).ok, 60, "the orchestrator")
        return proc

    def start_client(self, name: str, node_id: str, *extra: str) -> None:
        self.procs.start(
            name,
            [
                "edge",
                "--orchestrator",
                self.url,
                "--token-file",
                self.token_file(node_id),
                "--node-id",
                node_id,
                *extra,
            ],
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
