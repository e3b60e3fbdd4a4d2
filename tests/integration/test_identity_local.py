"""Secrets and the start of `edgeft local` (issue 25 item 6, issue 26 items 6 and 7), on a
real run: no secret on any client's command line (read from /proc/<pid>/cmdline while it
runs) nor in orchestrator_config.json, config.json or clients.json; every secret file is
created 0600; relative path flags are resolved against the user's working directory (the
run's processes start in the repository root); a taken --port is one line, exit 2,
before anything starts."""

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from edgeft import corpora
from edge_client.config import EdgeConfig
from experiments.runners.local import free_port, pool_spec
from orchestrator.credentials import provision
from topologies.profiles import draw_profiles

pytestmark = pytest.mark.integration


def _secrets(run: Path) -> list[str]:
    files = [run / "run_token", *sorted((run / "credentials").glob("*.token"))]
    return [f.read_text().strip() for f in files]


def _watch_command_lines(proc: subprocess.Popen, timeout: float) -> list[str]:
    """Every command line of the run's processes while it runs (until it ends)."""
    seen: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            for child in psutil.Process(proc.pid).children(recursive=True):
                try:
                    line = Path(f"/proc/{child.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                if line:  # empty for a zombie
                    seen[child.pid] = line
        except psutil.NoSuchProcess:
            break
        time.sleep(0.5)
    proc.wait(timeout=max(deadline - time.monotonic(), 1))
    return list(seen.values())


def test_no_secret_leaves_its_file_and_relative_paths_work(tmp_path):
    with (tmp_path / "data.txt").open("w") as fh:  # the user's own data, named relative to where they are
        for _, text in corpora.telemetry(800, seed=5):
            fh.write(text + "\n")
    cmd = [sys.executable, "-m", "experiments.cli", "local", "--nodes", "3", "--epochs", "2", "--policy", "ar"]
    cmd += ["--no-emulate-compute", "--tls-self-signed", "--dataset", "data.txt", "--out", "run", "--timeout", "600"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=(tmp_path / "err.log").open("w"))
    lines = _watch_command_lines(proc, 700)
    run = tmp_path / "run"
    assert proc.returncode == 0, (tmp_path / "err.log").read_text()[-3000:]
    assert sum(" edge " in line for line in lines) == 3 and any(" orchestrator " in line for line in lines), lines
    secrets = _secrets(run)
    assert len(secrets) == 4
    for line in lines:
        assert not [s for s in secrets if s in line], line
    for name in ("orchestrator_config.json", "config.json", "endpoint.json", "summary.json"):
        text = (run / name).read_text()
        assert not [s for s in secrets if s in text], name
    private = [run / "run_token", run / "tls" / "key.pem", *(run / "credentials").iterdir()]
    for path in private:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert str(tmp_path / "data.txt") in (run / "config.json").read_text()


def test_clients_json_names_token_files_only(tmp_path):
    profiles = draw_profiles(2, 2, 0)
    provision(tmp_path / "credentials", [p.node_id for p in profiles])
    spec = pool_spec(tmp_path, profiles, {"orchestrator": "http://127.0.0.1:1"})
    assert all("token" not in item["config"] for item in spec)
    cfg = EdgeConfig.model_validate(spec[0]["config"])  # what the fork pool builds: the secret read from the file
    assert cfg.token == (tmp_path / "credentials" / f"{profiles[0].node_id}.token").read_text().strip()


def test_a_taken_port_is_one_line_before_anything_starts(tmp_path):
    port = free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", port))
        held.listen()
        r = subprocess.run(
            [sys.executable, "-m", "experiments.cli", "local", "--nodes", "2", "--policy", "ar", "--port", str(port)]
            + ["--out", str(tmp_path / "run")],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert r.returncode == 2, r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("edgeft: error")]
    assert len(errors) == 1 and f"--port {port}" in errors[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()  # nothing started, nothing written


def test_a_client_refused_by_a_foreign_orchestrator_ends_with_one_line(tmp_path):
    from experiments.runners.loopback import LoopbackRun

    run = LoopbackRun(tmp_path / "theirs", {"nodes": 2, "policy": "ar"})  # another run's orchestrator
    ours = provision(tmp_path / "ours", ["node-01"])  # our run's secret for the same id
    try:
        run.start_orchestrator()
        r = subprocess.run(
            [sys.executable, "-m", "experiments.cli", "edge", "--orchestrator", run.url, "--node-id", "node-01"]
            + ["--token-file", str(ours["node-01"])],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        run.procs.stop_all()
    errors = [line for line in r.stderr.splitlines() if line.startswith("edgeft: error")]
    assert r.returncode == 1 and len(errors) == 1 and "this run's orchestrator" in errors[0], r.stderr[-2000:]
    assert "Traceback" not in r.stderr
