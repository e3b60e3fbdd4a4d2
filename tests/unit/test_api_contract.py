"""The orchestrator's OpenAPI document is the contract: security schemes declared, and
every answer a route gives, errors included, has the documented status, content
type and body. Each route is driven to every status the document lists."""

import json

import pytest
import torch
from fastapi.testclient import TestClient

from edgeft.datasets import Sequences
from edgeft.wire import BaseInfo, DIGEST_HEADER, META_HEADER, TaskKind, sha256_hex, tensors_to_bytes
from orchestrator.api import create_app
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import Coordinator
from orchestrator.registry import Registry
from orchestrator.results import Recorder
from orchestrator.rounds import Round
from orchestrator.workload import Workload
from tests.openapi_check import check_answer

REF = {"lora_A": torch.zeros(2, 2)}


def _coord(tmp_path, ready: bool, bundle: bytes | None = b"base") -> Coordinator:
    cfg = OrchestratorConfig(nodes=2, policy="ar", max_upload_mb=0.01, paper_volumes=0.000001)
    coord = Coordinator(cfg, Registry(capacity=4), Recorder(tmp_path, {}, 0), "runtok")
    coord.publish_adapter(REF)
    if ready:
        parts = [Sequences(torch.zeros(2, 4, dtype=torch.long), ["a", "a"]) for _ in range(2)]
        info = BaseInfo(distribution="transfer" if bundle else "preinstalled", digest="0" * 64, nbytes=4)
        coord.hand_out(
            Workload(None, bundle, "{}", parts, torch.zeros(1, 4, dtype=torch.long), 1.0, torch.device("cpu"), info),
            {"n1": 0, "n2": 1},
        )
        assert coord.shares == {"n1": (2, 6), "n2": (2, 6)}  # 2 sequences of 4 tokens: 6 labels
    coord.open_round(Round(epoch=0, version=0, expected={"n1", "n2"}))
    return coord


@pytest.fixture
def api(tmp_path):
    clients = []

    def make(ready=True, bundle=b"base"):
        coord = _coord(tmp_path / str(len(clients)), ready, bundle)
        c = TestClient(create_app(coord), raise_server_exceptions=False).__enter__()
        c.coord = coord
        clients.append(c)
        tokens = {
            n: c.post(
                "/v1/enroll", json={"node_id": n, "compute_power": 30}, headers={"Authorization": "Bearer runtok"}
            ).json()["node_token"]
            for n in ("n1", "n2", "n3")
        }
        return c, tokens

    yield make
    for c in clients:
        c.__exit__(None, None, None)


def _node(tokens, n="n1"):
    return {"Authorization": f"Bearer {tokens[n]}", "X-Node-Id": n}


def _result(creds, node="n1", **meta):
    m = {
        "node_id": node,
        "epoch": 0,
        "version": 0,
        "train_time_s": 1.0,
        "compute_wall_s": 1.0,
        "download_s": 0.0,
        "loss": 2.0,
        "samples": 2,
        "tokens": 6,
        **meta,
    }
    body = tensors_to_bytes({"lora_A": torch.ones(2, 2)})
    return dict(
        content=body, headers={**_node(creds, node), META_HEADER: json.dumps(m), DIGEST_HEADER: sha256_hex(body)}
    )


def _requests(tokens):
    """(method, route, url, kwargs, expected status): at least one per documented status."""
    good_ack = {"node_id": "n1", "kind": "sync", "version": 0, "digest": "0" * 64}
    return [
        ("GET", "/v1/health", "/v1/health", {}, 200),
        (
            "POST",
            "/v1/enroll",
            "/v1/enroll",
            dict(json={"node_id": "n9", "compute_power": 10}, headers={"Authorization": "Bearer runtok"}),
            200,
        ),
        (
            "POST",
            "/v1/enroll",
            "/v1/enroll",
            dict(json={"node_id": "n9", "compute_power": 10}, headers={"Authorization": "Bearer wrong"}),
            401,
        ),
        (
            "POST",
            "/v1/enroll",
            "/v1/enroll",
            dict(json={"node_id": 5, "x": 1}, headers={"Authorization": "Bearer runtok"}),
            422,
        ),
        ("GET", "/v1/tasks/next", "/v1/tasks/next?wait=0", dict(headers=_node(tokens)), 204),
        (
            "GET",
            "/v1/tasks/next",
            "/v1/tasks/next?wait=0",
            dict(headers=_node(tokens, "n2")),
            200,
        ),  # a sync is queued for n2
        ("GET", "/v1/tasks/next", "/v1/tasks/next?wait=0", {}, 401),
        ("GET", "/v1/tasks/next", "/v1/tasks/next?wait=99", dict(headers=_node(tokens)), 422),
        ("POST", "/v1/heartbeat", "/v1/heartbeat", dict(headers=_node(tokens)), 200),
        ("POST", "/v1/heartbeat", "/v1/heartbeat", dict(headers={"X-Node-Id": "n1", "Authorization": "Bearer x"}), 401),
        ("GET", "/v1/artifacts/base-info", "/v1/artifacts/base-info", dict(headers=_node(tokens)), 200),
        ("GET", "/v1/artifacts/base-info", "/v1/artifacts/base-info", {}, 401),
        ("GET", "/v1/artifacts/base", "/v1/artifacts/base", dict(headers=_node(tokens)), 200),
        ("GET", "/v1/artifacts/base", "/v1/artifacts/base", {}, 401),
        ("GET", "/v1/artifacts/lora", "/v1/artifacts/lora", dict(headers=_node(tokens)), 200),
        ("GET", "/v1/artifacts/lora", "/v1/artifacts/lora", {}, 401),
        ("GET", "/v1/artifacts/partition/{node_id}", "/v1/artifacts/partition/n1", dict(headers=_node(tokens)), 200),
        ("GET", "/v1/artifacts/partition/{node_id}", "/v1/artifacts/partition/n2", dict(headers=_node(tokens)), 403),
        (
            "GET",
            "/v1/artifacts/partition/{node_id}",
            "/v1/artifacts/partition/n3",
            dict(headers=_node(tokens, "n3")),
            409,
        ),
        ("GET", "/v1/artifacts/partition/{node_id}", "/v1/artifacts/partition/n1", {}, 401),
        ("GET", "/v1/artifacts/padding/{nbytes}", "/v1/artifacts/padding/100", dict(headers=_node(tokens)), 200),
        ("GET", "/v1/artifacts/padding/{nbytes}", "/v1/artifacts/padding/99999999", dict(headers=_node(tokens)), 400),
        ("GET", "/v1/artifacts/padding/{nbytes}", "/v1/artifacts/padding/abc", dict(headers=_node(tokens)), 422),
        ("GET", "/v1/artifacts/padding/{nbytes}", "/v1/artifacts/padding/1", {}, 401),
        ("POST", "/v1/padding", "/v1/padding", dict(content=b"\0" * 100, headers=_node(tokens)), 200),
        ("POST", "/v1/padding", "/v1/padding", dict(content=b"\0" * 5000, headers=_node(tokens)), 413),
        ("POST", "/v1/padding", "/v1/padding", dict(content=b"", headers={}), 401),
        ("GET", "/v1/artifacts/adapter/{version}", "/v1/artifacts/adapter/0", dict(headers=_node(tokens)), 200),
        ("GET", "/v1/artifacts/adapter/{version}", "/v1/artifacts/adapter/7", dict(headers=_node(tokens)), 404),
        ("GET", "/v1/artifacts/adapter/{version}", "/v1/artifacts/adapter/x", dict(headers=_node(tokens)), 422),
        ("GET", "/v1/artifacts/adapter/{version}", "/v1/artifacts/adapter/0", {}, 401),
        ("POST", "/v1/results", "/v1/results", _result(tokens, "n2", tokens=600), 400),
        ("POST", "/v1/results", "/v1/results", _result(tokens, "n1", epoch=3), 409),
        ("POST", "/v1/results", "/v1/results", _result(tokens, "n1"), 200),
        (
            "POST",
            "/v1/results",
            "/v1/results",
            {
                **_result(tokens, "n2"),
                "headers": {
                    **_result(tokens, "n2")["headers"],
                    "X-Node-Id": "n1",
                    "Authorization": f"Bearer {tokens['n1']}",
                },
            },
            403,
        ),
        ("POST", "/v1/results", "/v1/results", dict(content=b"\0" * 20_000, headers=_node(tokens, "n2")), 413),
        ("POST", "/v1/results", "/v1/results", dict(content=b"", headers={}), 401),
        ("POST", "/v1/acks", "/v1/acks", dict(json=good_ack, headers=_node(tokens)), 200),
        ("POST", "/v1/acks", "/v1/acks", dict(json={**good_ack, "node_id": "n2"}, headers=_node(tokens)), 403),
        ("POST", "/v1/acks", "/v1/acks", dict(json={**good_ack, "version": 9}, headers=_node(tokens)), 409),
        ("POST", "/v1/acks", "/v1/acks", dict(json={"node_id": "n1"}, headers=_node(tokens)), 422),
        ("POST", "/v1/acks", "/v1/acks", dict(json=good_ack), 401),
        ("GET", "/v1/status", "/v1/status", dict(headers={"Authorization": "Bearer runtok"}), 200),
        ("GET", "/v1/status", "/v1/status", {}, 401),
        *_enrol_refusals(tokens),
        *_oversize(tokens),
    ]


def _enrol_refusals(tokens):
    """Enrolment's own refusals: a header that names another node (400), an id taken by another
    party (409: no X-Node-Token), a run already full (403: the fixture's capacity is 4 ids)."""
    run = {"Authorization": "Bearer runtok"}
    body = {"node_id": "n1", "compute_power": 10}
    return [
        ("POST", "/v1/enroll", "/v1/enroll", dict(json=body, headers={**run, "X-Node-Id": "n2"}), 400),
        ("POST", "/v1/enroll", "/v1/enroll", dict(json=body, headers=run), 409),
        (
            "POST",
            "/v1/enroll",
            "/v1/enroll",
            dict(json=body, headers={**run, "X-Node-Token": tokens["n1"]}),
            200,
        ),  # its holder may
        ("POST", "/v1/enroll", "/v1/enroll", dict(json={**body, "node_id": "n10"}, headers=run), 403),
    ]


def _oversize(tokens):
    """Every route refuses a body over its limit (1 KiB where none is expected), unread."""
    node, run, blob = _node(tokens), {"Authorization": "Bearer runtok"}, b"x" * 20_000
    return [
        ("GET", "/v1/health", "/v1/health", dict(content=blob), 413),
        ("POST", "/v1/enroll", "/v1/enroll", dict(content=blob, headers=run), 413),
        ("GET", "/v1/tasks/next", "/v1/tasks/next?wait=0", dict(content=blob, headers=node), 413),
        ("POST", "/v1/heartbeat", "/v1/heartbeat", dict(content=blob, headers=node), 413),
        ("GET", "/v1/artifacts/base-info", "/v1/artifacts/base-info", dict(content=blob, headers=node), 413),
        ("GET", "/v1/artifacts/base", "/v1/artifacts/base", dict(content=blob, headers=node), 413),
        ("GET", "/v1/artifacts/lora", "/v1/artifacts/lora", dict(content=blob, headers=node), 413),
        (
            "GET",
            "/v1/artifacts/partition/{node_id}",
            "/v1/artifacts/partition/n1",
            dict(content=blob, headers=node),
            413,
        ),
        ("GET", "/v1/artifacts/padding/{nbytes}", "/v1/artifacts/padding/1", dict(content=blob, headers=node), 413),
        ("GET", "/v1/artifacts/adapter/{version}", "/v1/artifacts/adapter/0", dict(content=blob, headers=node), 413),
        ("POST", "/v1/acks", "/v1/acks", dict(content=blob, headers=node), 413),
        ("GET", "/v1/status", "/v1/status", dict(content=blob, headers=run), 413),
    ]


def test_security_schemes_are_declared(api):
    client, _ = api()
    doc = client.get("/openapi.json").json()
    assert set(doc["components"]["securitySchemes"]) == {"RunToken", "NodeToken", "NodeId", "NodeSecret"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert (path == "/v1/health") == ("security" not in op), (method, path)
            assert not any(p["name"].lower() in ("authorization", "x-node-id") for p in op.get("parameters", []))


def test_every_answer_matches_the_document_and_every_documented_status_happens(api):
    client, tokens = api()
    doc = client.get("/openapi.json").json()
    coord = client.coord
    coord.registry.send(coord.registry.nodes["n2"], coord.task(kind=TaskKind.SYNC, version=0))
    seen = set()
    for method, route, url, kw, want in _requests(tokens):
        r = client.request(method, url, **kw)
        assert r.status_code == want, (method, url, r.status_code, r.text[:200])
        check_answer(doc, method, route, r.status_code, r.headers.get("content-type", ""), r.content)
        seen.add((method.lower(), route, r.status_code))
    cold, cold_tokens = api(ready=False)  # the workload is still being prepared
    for url in ("/v1/artifacts/base-info", "/v1/artifacts/base", "/v1/artifacts/lora", "/v1/artifacts/partition/n1"):
        r = cold.get(url, headers=_node(cold_tokens))
        route = "/v1/artifacts/partition/{node_id}" if "partition" in url else url
        check_answer(doc, "GET", route, r.status_code, r.headers["content-type"], r.content)
        seen.add(("get", route, r.status_code))
    held, held_tokens = api(bundle=None)  # the nodes hold the base (distribution preinstalled): nothing to send
    r = held.get("/v1/artifacts/base", headers=_node(held_tokens))
    check_answer(doc, "GET", "/v1/artifacts/base", r.status_code, r.headers["content-type"], r.content)
    seen.add(("get", "/v1/artifacts/base", r.status_code))
    assert r.status_code == 409 and "preinstalled" in r.json()["detail"]
    documented = {(m, p, int(s)) for p, ops in doc["paths"].items() for m, op in ops.items() for s in op["responses"]}
    assert documented - seen == set()  # the document claims nothing the server does not do
