"""Flower's Deployment Engine on this machine: one `flower-superlink`, one
`flower-supernode` per edge node (each with edgeft's node config) and `flwr run` of
edgeft's Flower app (experiments/flower_app), all from the Flower venv
(`scripts/install.sh --flower` makes .venv-flower: flwr's pins clash with edgeft's
HTTP stack, requirements-flower.txt says which).

The same three commands a user types (docs/flower.md); this module only picks free
ports, keeps Flower's state in the run folder (FLWR_HOME) and waits for the run."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from experiments.launcher import REPO, ProcessGroup

log = logging.getLogger(__name__)

FLOWER_VENV = Path(os.environ.get("EDGEFT_FLOWER_VENV", REPO / ".venv-flower"))
APP_DIR = REPO / "experiments" / "flower_app"
CONNECTION = "edgeft"
INSTALL_HINT = "the Flower venv is missing: run 'bash scripts/install.sh --flower' (it makes .venv-flower)"


@dataclass(frozen=True)
class SuperNodeSpec:
    """One edge node as a SuperNode: its edgeft name, address and compute power."""

    node_id: str
    compute_power: float
    ip: str = "127.0.0.1"
    emulate_compute: bool = True
    model_path: str = ""
    worker: str = ""  # the node worker's socket (edge_client/flower_worker.py); "" = train in the ClientApp

    def node_config(self) -> str:
        """flower-supernode --node-config: TOML values separated by spaces."""
        pairs = {
            "node-id": json.dumps(self.node_id),
            "ip": json.dumps(self.ip),
            "compute-power": repr(float(self.compute_power)),
            "emulate-compute": "true" if self.emulate_compute else "false",
        }
        if self.model_path:
            pairs["model-path"] = json.dumps(self.model_path)
        if self.worker:
            pairs["worker"] = json.dumps(self.worker)
        return " ".join(f"{k}={v}" for k, v in pairs.items())


def run_config_text(values: dict) -> str:
    """flwr run --run-config: TOML values separated by spaces."""
    return " ".join(f"{k}={json.dumps(v) if isinstance(v, str) else v}" for k, v in values.items())


def flower_env(home: Path) -> dict[str, str]:
    """Flower finds its helper programs (flower-superexec, flwr-clientapp) on PATH, keeps its
    state under FLWR_HOME, and must not try to reach flower.ai from an offline machine."""
    return {
        "PATH": f"{FLOWER_VENV / 'bin'}:{os.environ.get('PATH', '')}",
        "FLWR_HOME": str(home),
        "FLWR_DISABLE_UPDATE_CHECK": "1",
        "FLWR_TELEMETRY_ENABLED": "0",
        "PYTHONPATH": str(REPO),
    }


class FlowerDeployment:
    """SuperLink + SuperNodes (+ `flwr run`) with their logs under `out/logs`."""

    def __init__(self, out: Path, superlink_port: int, superlink_ip: str = "127.0.0.1", cli_host=None) -> None:
        """`superlink_ip`: where the SuperLink listens (a Mininet server host's IP); `cli_host`:
        the Mininet host to run `flwr` in (the one that reaches the SuperLink), else here."""
        if not (FLOWER_VENV / "bin" / "flwr").exists():
            raise RuntimeError(INSTALL_HINT)
        self.out, self.home = out, out / "flwr_home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.port, self.ip, self.cli_host = superlink_port, superlink_ip, cli_host
        self.env = flower_env(self.home)
        self.procs = ProcessGroup(out / "logs")
        # A connection of our own: flwr's default (":local:") would start a simulation instead.
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n'
            f'[superlink.{CONNECTION}]\naddress = "{superlink_ip}:{superlink_port}"\ninsecure = true\n'
        )

    def _bin(self, name: str) -> list[str]:
        return [str(FLOWER_VENV / "bin" / name)]

    def start_superlink(self, host=None) -> None:
        """The SuperLink, here or in Mininet host `host`."""
        bind = "0.0.0.0" if host is not None else self.ip
        args = ["--insecure", "--host", bind, "--port", str(self.port), "--disable-runtime-dependency-installation"]
        self.procs.start("superlink", args, host=host, program=self._bin("flower-superlink"), env=self.env)

    def start_supernode(self, spec: SuperNodeSpec, port: int, superlink: str | None = None, host=None) -> None:
        """One SuperNode; `port` is its own runtime API's (one per SuperNode on a host)."""
        args = [
            "--insecure",
            "--superlink",
            superlink or f"{self.ip}:{self.port}",
            "--port",
            str(port),
            "--node-config",
            spec.node_config(),
        ]
        self.procs.start(spec.node_id, args, host=host, program=self._bin("flower-supernode"), env=self.env)

    def start_worker(self, spec: SuperNodeSpec, host=None) -> None:
        """The node's worker (edgeft's own venv: it needs torch, not flwr), before its SuperNode."""
        args = ["flower-worker", "--socket", spec.worker, "--node-id", spec.node_id]
        args += ["--compute-power", str(spec.compute_power)] + (["--emulate-compute"] if spec.emulate_compute else [])
        args += ["--model-path", spec.model_path] if spec.model_path else []
        self.procs.start(f"{spec.node_id}-worker", args, host=host)

    def flwr(self, *args: str, timeout: float = 120.0) -> str:
        """One `flwr` command (the control API); its stdout."""
        cmd, env = [*self._bin("flwr"), *args], {**os.environ, **self.env}
        pipes = dict(stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        proc = self.cli_host.popen(cmd, **pipes) if self.cli_host is not None else subprocess.Popen(cmd, **pipes)
        try:
            out, err = (b.decode(errors="replace") for b in proc.communicate(timeout=timeout))
        except subprocess.TimeoutExpired:
            proc.kill()
            raise RuntimeError(f"{' '.join(args[:1])}: no answer within {timeout:.0f} s") from None
        if proc.returncode != 0:
            raise RuntimeError(f"flwr {' '.join(args[:1])} failed ({proc.returncode}): {(err or out)[-800:]}")
        return out

    def submit(self, run_config: dict, app_dir: Path = APP_DIR) -> int:
        """`flwr run`; returns the run id once the SuperLink accepted it (retries while it starts)."""
        deadline, args = time.monotonic() + 60, ["--run-config", run_config_text(run_config), "--format", "json"]
        while True:
            try:
                answer = _json(self.flwr("run", str(app_dir), CONNECTION, *args))
                if answer.get("success") and "run-id" in answer:
                    return int(answer["run-id"])
                raise RuntimeError(str(answer.get("error-message", answer))[-600:])
            except RuntimeError as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"flwr run was not accepted: {exc}") from None
                time.sleep(1.0)

    def wait(self, run_id: int, timeout: float) -> dict:
        """Poll `flwr ls` until the run finishes (`flwr run --stream` exits 0 even on failure);
        its record, with status 'finished:completed' on success."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = _json(self.flwr("ls", CONNECTION, "--run-id", str(run_id), "--format", "json"))["runs"][0]
            if str(run.get("status", "")).startswith("finished"):
                return run
            time.sleep(1.0)
        self.flwr("stop", str(run_id), CONNECTION)
        return {"status": "finished:timeout", "status-details": f"no end within {timeout:.0f} s; stopped"}

    def await_run(self, run_id: int, timeout: float) -> dict:
        """Wait for the run, keep Flower's record of it (flower_run.json) and the ServerApp's
        log beside the results; raise with Flower's reason if it did not complete."""
        record = self.wait(run_id, timeout)
        (self.out / "flower_run.json").write_text(json.dumps(record, indent=2))
        (self.out / "logs" / "serverapp.log").write_text(self.run_log(run_id))
        if record.get("status") != "finished:completed":
            raise RuntimeError(
                f"the Flower run ended {record.get('status')}: {str(record.get('status-details', ''))[-600:]} "
                f"(ServerApp log: {self.out / 'logs' / 'serverapp.log'})"
            )
        return record

    def run_log(self, run_id: int) -> str:
        """The ServerApp's log of the run (`flwr log --show`)."""
        try:
            return self.flwr("log", str(run_id), CONNECTION, "--show", timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            return f"(no log: {exc})"

    def stop_all(self) -> None:
        self.procs.stop_all()


def _json(text: str) -> dict:
    """The JSON object a `flwr ... --format json` printed (after any log lines)."""
    try:
        return json.loads(text[text.index("{") :])
    except ValueError:
        raise RuntimeError(f"flwr printed no JSON: {text[-300:]!r}") from None
