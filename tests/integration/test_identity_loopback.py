"""Authentication before the body (issue 25, item 4), against a real orchestrator process on
loopback: 300 MiB sent with a wrong token to /v1/enroll and /v1/acks (declared and chunked)
is answered 401 before the body is read, and the orchestrator's resident memory grows by
less than 20 MiB (it grew 251 -> 1016 MiB when bodies were parsed before the token check)."""

import select
import socket
import sys

import psutil
import pytest
import requests

from experiments.runners.local import free_port
from experiments.runners.loopback import wait_for
from orchestrator.credentials import write_private
from experiments.launcher import ProcessGroup

pytestmark = pytest.mark.integration
MIB = 1 << 20
BODY = 300 * MIB


def _status_line(sock: socket.socket, timeout: float) -> str:
    ready, _, _ = select.select([sock], [], [], timeout)
    return sock.recv(4096).split(b"\r\n", 1)[0].decode() if ready else ""


def _flood(port: int, path: str, headers: dict[str, str], chunked: bool) -> tuple[str, int]:
    """POST a 300 MiB body of zeros; the status line the server answered (before the body, or
    after it) and how many bytes it let us send before it closed."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(60)
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(BODY)}
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "x", **headers, **framing}.items())
    sock.sendall(f"POST {path} HTTP/1.1\r\n{head}\r\n".encode())
    status = _status_line(sock, 5.0)  # a guarded server answers on the headers alone
    block, sent = bytes(MIB), 0
    try:
        while sent < BODY:
            sock.sendall(b"%x\r\n%s\r\n" % (MIB, block) if chunked else block)
            sent += MIB
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        status = status or _status_line(sock, 30.0)
    except OSError:  # closed on us: what we sent was not wanted
        pass
    finally:
        sock.close()
    return status, sent


def test_300_mib_with_a_wrong_token_costs_no_memory(tmp_path):
    port = free_port()
    write_private(tmp_path / "run_token", "the-run-token")
    procs = ProcessGroup(tmp_path / "logs")
    proc = procs.start(
        "orchestrator",
        ["orchestrator", "--nodes", "2", "--policy", "ar", "--port", str(port), "--out", str(tmp_path / "run")]
        + ["--token-file", str(tmp_path / "run_token")],
    )
    try:
        wait_for(lambda: requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).ok, 60, "the orchestrator")
        orch = psutil.Process(proc.pid)
        before = orch.memory_info().rss
        wrong_run = {"Authorization": "Bearer wrong", "Content-Type": "application/json"}
        wrong_node = {**wrong_run, "X-Node-Id": "node-01"}
        answers = [
            _flood(port, "/v1/enroll", wrong_run, chunked=False),
            _flood(port, "/v1/enroll", wrong_run, chunked=True),
            _flood(port, "/v1/acks", wrong_node, chunked=False),
            _flood(port, "/v1/acks", wrong_node, chunked=True),
        ]
        grown = (orch.memory_info().rss - before) / MIB
        print(f"orchestrator RSS {before / MIB:.0f} MiB, grew {grown:.1f} MiB; answers {answers}", file=sys.stderr)
        for status, _ in answers:
            assert status.split()[1:2] in (["401"], ["413"]), answers
        assert grown < 20, f"RSS grew {grown:.1f} MiB"
        assert orch.is_running() and requests.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).ok
    finally:
        procs.stop_all()
