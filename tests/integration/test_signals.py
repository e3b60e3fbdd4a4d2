"""SIGTERM and SIGHUP stop every edgeft process within 10 s, threads and children included,
with the documented exit code (experiments/cli.py: 128 + the signal; docs/deployment.md). Before
this, SIGTERM to an orchestrator that had answered any request hung until SIGKILL (uvicorn
re-raised the signal inside its task and the loop's worker threads were waited for)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from experiments.runners.local import free_port, local_command
from experiments.runners.loopback import wait_for
from orchestrator.credentials import write_private
from experiments.launcher import REPO

pytestmark = pytest.mark.integration
STOP_S = 10.0


def _edgeft(log: Path, *args: str) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "experiments.cli", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=str(REPO),
            start_new_session=True,
        )


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _stops(proc: subprocess.Popen, sig: int) -> int | None:
    """Send `sig`; the exit code if the process ended within STOP_S (else it is killed: None)."""
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def _orchestrator(tmp_path: Path, name: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    write_private(tmp_path / "run_token", "signal-test-token")
    proc = _edgeft(
        tmp_path / f"{name}.log",
        *("orchestrator", "--nodes", "2", "--policy", "ar", "--port", str(port), "--out", str(tmp_path / name)),
        *("--token-file", str(tmp_path / "run_token")),
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: requests.get(url + "/v1/health", timeout=1).ok, 60, "the orchestrator")  # a request first
    return proc, url


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_orchestrator_stops_after_serving_a_request(tmp_path, sig, code):
    proc, _ = _orchestrator(tmp_path, "orch")
    assert _stops(proc, sig) == code, (tmp_path / "orch.log").read_text()[-2000:]


def test_edge_client_stops_while_it_waits_for_work(tmp_path):
    orch, url = _orchestrator(tmp_path, "orch")
    try:
        client = _edgeft(
            tmp_path / "edge.log",
            *("edge", "--orchestrator", url, "--token-file", str(tmp_path / "run_token"), "--node-id", "node-01"),
        )
        wait_for(lambda: "enrolled" in _text(tmp_path / "edge.log"), 60, "the client to enrol")
        assert _stops(client, signal.SIGTERM) == 143, (tmp_path / "edge.log").read_text()[-2000:]
    finally:
        _stops(orch, signal.SIGTERM)


def test_controller_wrapper_stops(tmp_path):
    if not (Path(sys.executable).parent / "osken-manager").exists():
        pytest.skip("os-ken is not installed")
    rest = free_port()
    proc = _edgeft(
        tmp_path / "controller.log",
        *("controller", "--rest-port", str(rest), "--ofp-port", str(free_port())),
        *("--token-file", str(tmp_path / "controller.token")),
    )
    wait_for(lambda: requests.get(f"http://127.0.0.1:{rest}/v1/health", timeout=1).ok, 60, "the controller")
    code = _stops(proc, signal.SIGTERM)  # the wrapper execs the manager: this is the manager
    assert code is not None and code != 0, (tmp_path / "controller.log").read_text()[-2000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{rest}/v1/health", timeout=1)


def test_edgeft_local_stops_with_its_children(tmp_path):
    out = tmp_path / "run"
    cmd = local_command(out, "--no-emulate-compute", nodes=2, epochs=50, policy="ar", timeout=600)
    with (tmp_path / "local.log").open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=str(tmp_path), start_new_session=True)
    wait_for(lambda: all("enrolled" in _text(out / "logs" / f"node-0{i}.log") for i in (1, 2)), 120, "the clients")
    children = psutil.Process(proc.pid).children(recursive=True)
    assert len(children) >= 3  # the orchestrator and two clients
    assert _stops(proc, signal.SIGTERM) == 143, (tmp_path / "local.log").read_text()[-2000:]
    deadline = time.monotonic() + 2.0  # reaped by now: _stops waited for the parent, which waited for them
    while time.monotonic() < deadline and any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children):
        time.sleep(0.1)
    assert not [c.pid for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
