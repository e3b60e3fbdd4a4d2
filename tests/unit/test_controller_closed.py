"""The controller is closed by default (issue 25, row 7): the app, started under
osken-manager for real with no token given, generates one into a 0600 file and refuses
every write without it; an oversize body is 413 without being read (the manager's memory
stays put), deep JSON is 400 (not a 500 from the parser's recursion), a refused method is
405 with Allow, a read changes nothing, and OpenFlow listens on loopback only."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from controller_app.config import ControllerSettings, to_env
from controller_app.tokens import read_token, resolve_token
from experiments.runners.local import free_port
from experiments.runners.progress import wait_until

REPO = Path(__file__).resolve().parents[2]
MANAGER = Path(sys.executable).parent / "osken-manager"
APP = REPO / "controller_app" / "edge_monitor.py"
MiB = 1 << 20

pytestmark = pytest.mark.skipif(not MANAGER.exists(), reason="os-ken is not installed (scripts/install.sh)")


@pytest.fixture
def controller(tmp_path):
    """The app under osken-manager, with the environment `edgeft controller` gives it and
    no token: it must make its own, in the default file under its working directory."""
    ofp, rest = free_port(), free_port()
    cfg = ControllerSettings(rest_port=rest, train_interval_s=0)
    env = {**os.environ, **to_env(cfg)}
    log = (tmp_path / "controller.log").open("w")
    proc = subprocess.Popen(
        [str(MANAGER), "--ofp-tcp-listen-port", str(ofp), str(APP)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{rest}"
    try:
        wait_until(lambda: requests.get(url + "/v1/health", timeout=1).ok, 30, "the controller's REST API")
        yield proc, url, ofp, tmp_path / ".edgeft" / f"controller-{rest}.token"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def _raw(url: str, head: str, body_bytes: int) -> tuple[int, bytes]:
    """Send a request whose body is `body_bytes` spaces, 1 MiB at a time; (status, answer)."""
    host, port = url.removeprefix("http://").split(":")
    chunk = b" " * MiB
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(head.encode() + f"Content-Length: {body_bytes}\r\nConnection: close\r\n\r\n".encode())
        try:
            for _ in range(body_bytes // MiB):
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may hang up once it has answered
        answer = b""
        while data := s.recv(65536):
            answer += data
    return int(answer.split(b" ", 2)[1]), answer


def test_writes_need_the_generated_token_from_a_private_file(controller):
    proc, url, _, token_file = controller
    writes = [
        ("post", "/v1/reset", None),
        ("put", "/v1/links/capacity", {"links": []}),
        ("put", "/v1/measure", {"src": "10.0.0.1", "own_port": 8700}),
    ]
    for method, path, body in writes:
        assert requests.request(method, url + path, json=body, timeout=5).status_code == 401, path
        bad = {"Authorization": "Bearer wrong"}
        assert requests.request(method, url + path, json=body, headers=bad, timeout=5).status_code == 401, path
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = read_token(token_file)
    assert len(token) >= 32 and token not in " ".join(psutil.Process(proc.pid).cmdline())
    ok = {"Authorization": f"Bearer {token}"}
    assert requests.post(url + "/v1/reset", headers=ok, timeout=5).json() == {"reset": True}
    assert requests.put(url + "/v1/links/capacity", json={"links": []}, headers=ok, timeout=5).json() == {"updated": 0}
    health = requests.get(url + "/v1/health", timeout=5).json()
    assert "token" not in health["settings"] and token not in json.dumps(health)


def test_a_read_changes_nothing_and_a_refused_method_says_what_is_allowed(controller):
    _, url, _, token_file = controller
    for rogue in ({"src": "10.1.0.7", "own_port": 8700}, {"src": "10.0.0.1", "own_port": 22}):
        got = requests.get(url + "/v1/paths", params=rogue, timeout=5)
        assert got.status_code == 409 and "PUT /v1/measure" in got.json()["error"]
    health = requests.get(url + "/v1/health", timeout=5).json()
    assert (health["measure_from"], health["own_port"]) == ("10.0.0.1", 8700)  # the defaults: the reads moved nothing
    ok = {"Authorization": f"Bearer {read_token(token_file)}"}
    put = requests.put(url + "/v1/measure", json={"src": "10.0.0.5", "own_port": None}, headers=ok, timeout=5)
    assert put.status_code == 200
    health = requests.get(url + "/v1/health", timeout=5).json()
    assert (health["measure_from"], health["own_port"]) == ("10.0.0.5", None)
    refused = requests.delete(url + "/v1/paths", timeout=5)
    assert refused.status_code == 405 and refused.headers["Allow"] == "GET"
    refused = requests.get(url + "/v1/reset", timeout=5)
    assert refused.status_code == 405 and refused.headers["Allow"] == "POST"


def test_oversize_and_deep_bodies_are_refused_without_cost(controller):
    proc, url, _, token_file = controller
    manager = psutil.Process(proc.pid)
    token = read_token(token_file)
    before = manager.memory_info().rss
    head = f"PUT /v1/links/capacity HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
    status, _ = _raw(url, head, 300 * MiB)
    assert status == 413
    status, _ = _raw(url, "PUT /v1/links/capacity HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer no\r\n", 300 * MiB)
    assert status == 401
    assert manager.memory_info().rss - before < 20 * MiB
    deep = b'{"links": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    answer = requests.put(url + "/v1/links/capacity", data=deep, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 400 and "deeper" in answer.json()["error"]
    assert requests.get(url + "/v1/health", timeout=5).ok  # and it is still up


def test_openflow_listens_on_loopback_only(controller):
    proc, _, ofp, _ = controller
    listening = [c.laddr for c in psutil.Process(proc.pid).net_connections("tcp") if c.status == psutil.CONN_LISTEN]
    assert ("127.0.0.1", ofp) in [(a.ip, a.port) for a in listening], listening
    assert all(a.ip == "127.0.0.1" for a in listening), listening  # REST too


def test_the_token_file_is_made_private_from_the_start_and_reused(tmp_path):
    old = os.umask(0)  # even with a permissive umask: the mode is given to open(), never chmod-ed later
    try:
        token, origin = resolve_token("", tmp_path / "d" / "ctl.token")
    finally:
        os.umask(old)
    assert "generated" in origin and stat.S_IMODE((tmp_path / "d" / "ctl.token").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert resolve_token("", tmp_path / "d" / "ctl.token") == (token, f"read from {tmp_path / 'd' / 'ctl.token'}")
    assert resolve_token("given", tmp_path / "d" / "ctl.token") == ("given", "given")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OSError):  # a link planted where the token goes is not followed
        resolve_token("", tmp_path / "link")
    assert not (tmp_path / "elsewhere").exists()
