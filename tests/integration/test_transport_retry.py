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
            head = (
                f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{DIGEST_HEADER}: {sha256_hex(BODY)}\r\n"
                "Connection: close\r\n\r\n"
            )
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
        cfg = EdgeConfig(
            orchestrator=f"http://127.0.0.1:{listener.getsockname()[1]}",
            token="t",
            node_id="node-01",
            retry_for_s=10,
            request_timeout_s=5,
        )
        assert OrchestratorClient(cfg).download("/v1/artifacts/adapter/1") == BODY
        server.join(timeout=5)
        assert answers == ["cut", "whole"]
    finally:
        listener.close()


def _serve_slowly_then_stall(listener: socket.socket, answers: list[str]) -> None:
    """First connection: the body trickles for 3 s, then stalls (a read times out). Later: the whole body.
    Each connection in its own thread, so the stalled one does not hold up the retry."""
    import time

    def answer(conn: socket.socket, n: int) -> None:
        with conn:
            conn.recv(65536)
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\n{DIGEST_HEADER}: {sha256_hex(BODY)}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            if n == 0:
                conn.sendall(head)
                for i in range(30):
                    conn.sendall(BODY[i * 64 : (i + 1) * 64])
                    time.sleep(0.1)
                answers.append("stalled")
                time.sleep(3)  # past the client's read timeout
            else:
                conn.sendall(head + BODY)
                answers.append("whole")

    threads = []
    for n in range(2):
        conn, _ = listener.accept()
        threads.append(threading.Thread(target=answer, args=(conn, n), daemon=True))
        threads[-1].start()
    for t in threads:
        t.join()


def test_a_long_transfer_that_stalls_after_the_retry_window_is_still_retried():
    # Seen at 40 nodes in Mininet: a set-up download over a slow, lossy link stalled after
    # more than retry_for_s of progress, and the client gave up instead of retrying.
    listener = socket.create_server(("127.0.0.1", 0))
    answers: list[str] = []
    server = threading.Thread(target=_serve_slowly_then_stall, args=(listener, answers), daemon=True)
    server.start()
    try:
        cfg = EdgeConfig(
            orchestrator=f"http://127.0.0.1:{listener.getsockname()[1]}",
            token="t",
            node_id="node-01",
            retry_for_s=1,
            request_timeout_s=1,
        )
        assert OrchestratorClient(cfg).download("/v1/artifacts/base") == BODY
        server.join(timeout=10)
        assert answers == ["stalled", "whole"]
    finally:
        listener.close()
