"""A download cut off mid-body (the orchestrator killed while sending, as before a
--resume) is retried like a refused connection, not taken as fatal. The server is a
real socket on loopback that closes the first answer half-way through its chunked body."""
import socket
import threading

import pytest

from edge_client.config import EdgeConfig
from edge_client.transport import OrchestratorClient
from edgeft.wire import DIGEST_HEADER, sha256_hex

pytestmark = pytest.mark.integration
BODY = bytes(range(256)) * 64


def _serve(listener: socket.socket, answers: list[str]) -> None:
    """First connection: headers and half a chunk, then close. Later ones: the whole body."""
    for n in range(2):
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            head = (f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{DIGEST_HEADER}: {sha256_hex(BODY)}\r\n"
                    "Connection: close\r\n\r\n")
            if n == 0:
                conn.sendall(head.encode() + f"{len(BODY):x}\r\n".encode() + BODY[: len(BODY) // 2])
                answers.append("cut")
            else:
                conn.sendall(head.encode() + f"{len(BODY):x}\r\n".encode() + BODY + b"\r\n0\r\n\r\n")
                answers.append("whole")


def test_a_download_cut_off_mid_body_is_retried():
    listener = socket.create_server(("127.0.0.1", 0))
    answers: list[str] = []
    server = threading.Thread(target=_serve, args=(listener, answers), daemon=True)
    server.start()
    try:
        cfg = EdgeConfig(orchestrator=f"http://127.0.0.1:{listener.getsockname()[1]}", token="t", node_id="node-01",
                         retry_for_s=10, request_timeout_s=5)
        assert OrchestratorClient(cfg).download("/v1/artifacts/adapter/1") == BODY
        server.join(timeout=5)
        assert answers == ["cut", "whole"]
    finally:
        listener.close()
