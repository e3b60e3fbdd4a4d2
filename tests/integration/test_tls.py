"""HTTPS for the orchestrator's API with a self-signed certificate: a whole run works
over it, clients that do not pin the certificate are refused, and plain HTTP gets
nothing."""

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests

from experiments.runners.local import local_command, free_port
from experiments.launcher import ProcessGroup

pytestmark = pytest.mark.integration


def test_local_run_over_https(tmp_path):
    cmd = local_command(str(tmp_path), "--tls-self-signed", nodes="3", epochs="2", policy="ar", seed="0", timeout="600")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=700)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "endpoint.json").read_text())["url"].startswith("https://")
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["failed"] == 0 and s["final_val_loss"] < s["pre_training_loss"]


def test_unpinned_and_plain_http_clients_are_refused(tmp_path):
    port = free_port()
    procs = ProcessGroup(tmp_path / "logs")
    procs.start(
        "orchestrator",
        [
            "orchestrator",
            "--nodes",
            "1",
            "--policy",
            "ar",
            "--epochs",
            "1",
            "--port",
            str(port),
            "--token",
            "t",
            "--out",
            str(tmp_path),
            "--tls-self-signed",
        ],
    )
    cert = tmp_path / "tls" / "cert.pem"
    url = f"https://127.0.0.1:{port}/v1/health"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if cert.exists() and requests.get(url, verify=str(cert), timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert requests.get(url, verify=str(cert), timeout=2).json()["ok"] is True
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url, timeout=2)  # the system CAs do not vouch for it
        with pytest.raises(requests.ConnectionError):
            requests.get(url.replace("https", "http"), timeout=2)
        assert oct(Path(tmp_path / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"
    finally:
        procs.stop_all()
