"""Bounded bodies (issue 25, item 4), in-process: every route has a body limit, checked on the
declared Content-Length before reading and counted as a chunked body streams; an upload's
limit follows the adapter's size; credentials are checked before the limit."""

import pytest
import torch
from fastapi.testclient import TestClient

from edgeft.wire import tensors_to_bytes
from orchestrator.api import body_limit, create_app, upload_limit
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import Coordinator
from orchestrator.registry import Registry
from orchestrator.results import Recorder


@pytest.fixture
def api(tmp_path):
    cfg = OrchestratorConfig(nodes=2, policy="ar", max_upload_mb=64)
    coord = Coordinator(cfg, Registry(), Recorder(tmp_path, {}, 0), "runtok")
    coord.publish_adapter({"lora_A": torch.zeros(64, 64)})  # 16 KiB of tensors
    client = TestClient(create_app(coord))
    r = client.post(
        "/v1/enroll", json={"node_id": "n1", "compute_power": 30}, headers={"Authorization": "Bearer runtok"}
    )
    return client, coord, {"Authorization": f"Bearer {r.json()['node_token']}", "X-Node-Id": "n1"}


def _chunks(total: int, size: int = 4096):
    while total > 0:
        yield bytes(min(size, total))
        total -= size


def test_the_upload_limit_follows_the_adapter(api):
    _, coord, _ = api
    adapter = len(tensors_to_bytes({"lora_A": torch.zeros(64, 64)}))
    assert upload_limit(coord) == 2 * adapter + 64 * 1024 < coord.max_upload
    assert body_limit(coord, "/v1/acks") == body_limit(coord, "/v1/enroll") == 16 * 1024


def test_a_chunked_body_is_cut_at_the_limit(api):
    client, coord, node = api
    r = client.post("/v1/acks", content=_chunks(64 * 1024), headers={**node, "Content-Type": "application/json"})
    assert r.status_code == 413
    r = client.post("/v1/results", content=_chunks(upload_limit(coord) + 1), headers=node)
    assert r.status_code == 413


def test_a_declared_oversize_upload_is_refused_unread(api):
    client, coord, node = api
    r = client.post("/v1/results", content=bytes(upload_limit(coord) + 1), headers=node)
    assert r.status_code == 413 and "limit" in r.json()["detail"]


def test_credentials_come_before_the_limit(api):
    client, _, node = api
    r = client.post("/v1/acks", content=bytes(10**6), headers={**node, "Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = client.post("/v1/enroll", content=bytes(10**6), headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
