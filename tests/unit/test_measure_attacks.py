"""Review S1 (issue 25, item 3): a node must not be able to fake the training time the
orchestrator measures for it. Both attacks run against the real API on a real uvicorn
server over a real socket, as the reviewer ran them:

- early headers: the node fetches its train task, sends its result's headers at once,
  "trains" TRAIN_S, then sends the body (the measurement used to end at the headers:
  a few ms, not flagged);
- parallel padding: during its training the node keeps three slow padding uploads open
  (each used to be subtracted in full, bringing the measurement to 0).

The node declares 0 s each time. The sleeps stand for the node's training; the tests
assert lower bounds only (the measurement covers at least the sleep, less what the node's
link could explain), so a slow machine cannot make them fail."""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from collections.abc import Iterator

import pytest
import torch
import uvicorn

from edgeft.link_figures import LinkFigures
from edgeft.wire import DIGEST_HEADER, META_HEADER, Task, TaskKind, sha256_hex, tensors_to_bytes
from orchestrator.api import create_app
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import Coordinator
from orchestrator.fidelity import transfer_s
from orchestrator.registry import Registry
from orchestrator.results import Recorder
from orchestrator.rounds import NO_LINK_ALLOWANCE_S, Round

REF = {"lora_A": torch.zeros(4, 8), "lora_B": torch.zeros(8, 4)}
TRAIN_S = 0.6  # the liar's training, hidden from the measurement by the attack
LINK = LinkFigures(bandwidth_mbps=10.0, delay_ms=20.0, loss_pct=0.0)  # the scorer's figures for the liar


class _Server(uvicorn.Server):
    """uvicorn in a thread: no signal handlers (they belong to the main thread)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@pytest.fixture
def live(tmp_path):
    """(coordinator, port, node token) of a served run whose round 0 is open; node n1 enrolled."""
    cfg = OrchestratorConfig(nodes=1, policy="ar", paper_volumes=1e-5)  # a 5000-byte padding upload per task
    coord = Coordinator(cfg, Registry("s3cret"), Recorder(tmp_path, {}, 0), "runtok")
    coord.publish_adapter(REF)
    coord.shares = {"n1": (4, 60)}
    coord.open_round(Round(epoch=0, version=0, expected={"n1"}))
    server = _Server(uvicorn.Config(create_app(coord), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    status, answer = _request(
        port, "POST", "/v1/enroll", {"Authorization": "Bearer runtok"}, b'{"node_id": "n1", "compute_power": 30}'
    )
    assert status == 200, answer
    yield coord, port, json.loads(answer)["node_token"]
    server.should_exit = True
    thread.join(timeout=10)
    coord.recorder.close()


def _request(port: int, method: str, path: str, headers: dict, body: bytes = b"") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **headers})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "X-Node-Id": "n1"}


def _fetch_train_task(coord: Coordinator, port: int, token: str) -> None:
    coord.registry.send(coord.registry.nodes["n1"], Task(kind=TaskKind.TRAIN, epoch=0, version=0))
    status, answer = _request(port, "GET", "/v1/tasks/next?wait=1", _auth(token))
    assert status == 200 and json.loads(answer)["kind"] == "train", answer


def _result(declared_s: float) -> tuple[dict, bytes]:
    body = tensors_to_bytes({k: torch.ones_like(v) for k, v in REF.items()})
    meta = {"node_id": "n1", "epoch": 0, "version": 0, "train_time_s": declared_s, "compute_wall_s": declared_s}
    meta |= {"download_s": 0.0, "loss": 2.0, "samples": 4, "tokens": 60}
    headers = {
        META_HEADER: json.dumps(meta),
        DIGEST_HEADER: sha256_hex(body),
        "Content-Type": "application/octet-stream",
    }
    return headers, body


def _open_post(port: int, path: str, headers: dict, length: int) -> http.client.HTTPConnection:
    """A POST whose headers are on the wire and whose body is still to come."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", path)
    for key, value in {**headers, "Content-Length": str(length)}.items():
        conn.putheader(key, value)
    conn.endheaders()
    return conn


def _finish_post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    conn.send(body)
    resp = conn.getresponse()
    answer = resp.read()
    conn.close()
    return resp.status, answer


def test_early_headers_do_not_end_the_measurement(live):
    coord, port, token = live
    _fetch_train_task(coord, port, token)
    headers, body = _result(declared_s=0.0)
    conn = _open_post(port, "/v1/results", {**_auth(token), **headers}, len(body))  # headers at once
    time.sleep(TRAIN_S)  # "trains" with its upload open
    status, answer = _finish_post(conn, body)
    assert status == 200, answer
    result = coord.round.results["n1"]
    assert result.train_time_s >= TRAIN_S - NO_LINK_ALLOWANCE_S  # no link figure: the fixed allowance at most
    assert result.train_time_flagged
    coord.note_links({"n1": LINK})  # the scorer's figures arrive: the upload's time is capped by its prediction
    cap = transfer_s(len(body), LINK, fresh=True)  # static figures, not the real path: no round trips counted
    assert result.train_time_s >= TRAIN_S - cap and result.train_time_flagged


def test_parallel_slow_padding_uploads_count_once_and_capped(live):
    coord, port, token = live
    coord.note_links({"n1": LINK})
    pad = coord.cfg.model_pad()
    _fetch_train_task(coord, port, token)
    uploads = [_open_post(port, "/v1/padding", _auth(token), pad) for _ in range(3)]
    time.sleep(TRAIN_S)  # trains while three padding uploads stay open
    for conn in uploads:
        status, answer = _finish_post(conn, bytes(pad))
        assert status == 200, answer
    headers, body = _result(declared_s=0.0)
    status, answer = _request(port, "POST", "/v1/results", {**_auth(token), **headers}, body)
    assert status == 200, answer
    result = coord.round.results["n1"]
    explained = transfer_s(pad, LINK, fresh=True) + transfer_s(len(body), LINK, fresh=True)
    assert result.train_time_s >= TRAIN_S - explained  # the uploads' time as the link predicts it, no more
    assert result.train_time_flagged
    counted = coord.round.in_task("n1")
    assert list(counted) == ["pad_up"] and counted["pad_up"].nbytes == pad  # one of the three
