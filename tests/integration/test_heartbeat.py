"""A heartbeat still in flight when a task ends must not hold back the node's next request.
Found in the 5-node Mininet run (2026-12-05): on 222-233 ms paths a beat sent shortly before a sync
ended (a handshake and a request: two round trips) delayed the node's TRAIN poll by up to 0.33 s,
and every after-sync upload by as much. The server is a real socket on loopback that answers the
beat late."""

import socket
import threading
import time

import pytest

from edge_client.agent import Heartbeat
from edge_client.config import EdgeConfig

pytestmark = pytest.mark.integration
ANSWER_AFTER_S = 1.5


def _serve_late(listener: socket.socket, got: threading.Event) -> None:
    conn, _ = listener.accept()
    with conn:
        conn.recv(65536)
        got.set()
        time.sleep(ANSWER_AFTER_S)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


def test_a_beat_in_flight_does_not_delay_the_end_of_a_task():
    listener = socket.create_server(("127.0.0.1", 0))
    got = threading.Event()
    server = threading.Thread(target=_serve_late, args=(listener, got), daemon=True)
    server.start()
    cfg = EdgeConfig(orchestrator=f"http://127.0.0.1:{listener.getsockname()[1]}", token="t", node_id="node-01")
    beat = Heartbeat(cfg, "node-token", period=0.05)
    with beat:
        assert got.wait(5), "no heartbeat reached the server"
        started = time.monotonic()
    left_after = time.monotonic() - started
    assert left_after < 0.5, f"the task's end waited {left_after:.2f} s for a beat in flight"
    beat.thread.join(timeout=5)  # the beat itself still completes, on its own thread
    assert not beat.thread.is_alive()
    server.join(timeout=5)
    listener.close()
