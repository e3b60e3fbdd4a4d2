"""A fuzz pass over every route of the orchestrator's OpenAPI spec (40 examples each): random paths,
query strings, headers (valid credentials half the time) and bodies (JSON or raw
bytes). The API must answer every one with a status below 500.

The workload is a tiny hand-built one: what is under test is the HTTP layer,
which only hands its bytes out."""

import json
import re
from urllib.parse import quote

import torch
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st

from edgeft.datasets import Sequences
from edgeft.wire import BaseInfo, DIGEST_HEADER, META_HEADER
from orchestrator.api import create_app
from orchestrator.config import OrchestratorConfig
from orchestrator.coordinator import Coordinator
from orchestrator.registry import Registry
from orchestrator.results import Recorder
from orchestrator.rounds import Round
from orchestrator.workload import Workload

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=12,
)
WORDS = st.one_of(
    st.text(max_size=30),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["n1", "n2", "0", "-1", "1e9", "", "%00", "../x"]),
)


def _app(tmp_path):
    cfg = OrchestratorConfig(nodes=2, policy="ar", max_upload_mb=0.01, paper_volumes=0.000001)
    coord = Coordinator(cfg, Registry("s3cret"), Recorder(tmp_path, {}, 0), "runtok")
    coord.publish_adapter({"lora_A": torch.zeros(2, 2)})
    parts = [Sequences(torch.zeros(2, 4, dtype=torch.long), ["a", "a"]) for _ in range(2)]
    info = BaseInfo(distribution="transfer", digest="0" * 64, nbytes=4)
    coord.hand_out(
        Workload(None, b"base", "{}", parts, torch.zeros(1, 4, dtype=torch.long), 1.0, torch.device("cpu"), info),
        {"n1": 0, "n2": 1},
    )
    assert coord.shares == {"n1": (2, 6), "n2": (2, 6)}  # 2 sequences of 4 tokens: 6 labels
    coord.open_round(Round(epoch=0, version=0, expected={"n1", "n2"}))
    # One event loop for all requests, as under uvicorn (the long poll's asyncio.Event is bound to it).
    client = TestClient(create_app(coord), raise_server_exceptions=False).__enter__()
    tokens = {
        n: client.post(
            "/v1/enroll", json={"node_id": n, "compute_power": 30}, headers={"Authorization": "Bearer runtok"}
        ).json()["node_token"]
        for n in ("n1", "n2")
    }
    return client, tokens


def _routes(client) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


def test_fuzz_every_route_no_5xx(tmp_path):
    client, tokens = _app(tmp_path)
    routes = _routes(client)
    assert len(routes) >= 12  # every endpoint of the README's table is in the spec
    seen: list[tuple[str, int]] = []
    try:
        for route in routes:  # each route gets its own examples: hypothesis does not draw routes evenly
            _probe(client, tokens, route, seen)()
    finally:
        client.__exit__(None, None, None)
    assert {p for p, _ in seen} == {p for _, p in routes}
    statuses = {s for _, s in seen}
    assert any(400 <= s < 500 for s in statuses) and any(s < 300 for s in statuses)


def _probe(client, tokens, route, seen):
    method, path = route

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    @given(
        fill=st.lists(WORDS, min_size=3, max_size=3),
        query=st.dictionaries(st.sampled_from(["wait", "x", "version", "node_id"]), WORDS, max_size=3),
        auth=st.booleans(),
        node=st.sampled_from(["n1", "n2", "ghost"]),
        meta=st.one_of(st.none(), JSON.map(json.dumps), WORDS),
        body=st.one_of(JSON.map(lambda j: ("json", j)), st.binary(max_size=64).map(lambda b: ("raw", b))),
    )
    def probe(fill, query, auth, node, meta, body):
        fills = iter(fill)
        url = re.sub(
            r"\{[^}]+\}", lambda _: quote(next(fills), safe="") or "x", path
        )  # the client cannot send raw bytes
        if "wait" in query or path == "/v1/tasks/next":
            query["wait"] = "0"  # a 20 s long poll would only slow the fuzzer down
        headers = {"X-Node-Id": node, "Authorization": f"Bearer {tokens.get(node, 'nope') if auth else 'runtok'}"}
        if meta is not None:
            headers[META_HEADER] = "".join(c for c in meta if " " <= c <= "~")  # header values are printable ASCII
            headers[DIGEST_HEADER] = "00" * 32
        kind, payload = body
        kw = {"json": payload} if kind == "json" else {"content": payload}
        r = client.request(method, url, params=query, headers=headers, **({} if method == "GET" else kw))
        seen.append((path, r.status_code))
        assert r.status_code < 500, (method, url, query, r.status_code, r.text[:300])

    return probe
