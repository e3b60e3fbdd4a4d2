"""The controller's OpenAPI document (controller_app/openapi.py) is the contract, both ways
(#26 item 7): every route in the document is driven to every status it lists, by a real
request, and every answer to a battery of requests built from the document (each query,
body and token variant of each route) has a documented status and validates against it.
Behind the routes is the app's own view of a real shared network (controller_app/rest.py
ControllerView over an EdgeNetwork filled as the apps fill it), so the figures' shape is the
one the app sends."""

import json

import pytest
from webob import Request

from controller_app.capacity import TRAIN_PACKETS
from controller_app.config import ControllerSettings
from controller_app.netgraph import SwitchLink
from controller_app.network import EdgeNetwork
from controller_app.northbound import NorthboundApp
from controller_app.rest import ControllerView
from tests.openapi_check import check_answer

TOKEN = "tok"


def _network() -> EdgeNetwork:
    """Two switches linked (1 port 2 - 2 port 1), the orchestrator on switch 1, two nodes on
    switch 2; one node's capacity train (5 Mb/s) and one probe answered."""
    network = EdgeNetwork(ControllerSettings(loss_window=10, measure_from="10.0.0.1", own_port=8700))
    network.graph.replace_links([SwitchLink(1, 2, 2, 1)])
    network.ports = {1: [1, 2], 2: [1, 3, 4]}
    for ip, dpid, port in [("10.0.0.1", 1, 1), ("10.1.0.2", 2, 3), ("10.1.0.3", 2, 4)]:
        assert network.graph.learn_host(ip, f"02:00:00:00:00:{port:02x}", dpid, port)
    monitor = network.monitor
    monitor.train_sent("10.1.0.2", 1, 0.0)
    for pos in range(TRAIN_PACKETS):
        monitor.train_reply("10.1.0.2", 1, pos, 0.01 + max(pos - 1, 0) * 1514 * 8 / 5e6)
    monitor.close_trains(1.0, 4.0, TRAIN_PACKETS)
    monitor.probe_sent("10.1.0.2", 1, 1.0)
    monitor.probe_reply("10.1.0.2", 1, 1.03, 1, 2)
    return network


class BrokenView(ControllerView):
    """A fault no request can cause: every read and write of the network state raises. The
    app must answer the documented 500 body, never a traceback."""

    def _broken(self, *args):
        raise RuntimeError("the network state is broken")

    health = topology = known_host = measuring_point = set_measuring_point = _broken
    paths_from = set_capacity = has_port = reset_estimates = _broken


def _app(view_class=ControllerView) -> NorthboundApp:
    return NorthboundApp(view_class(_network()), token=TOKEN)


def _call(app, method, url, body=None, token=None, headers=None):
    headers = dict(headers or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    req = Request.blank(url, method=method, body=raw, headers=headers)
    resp = req.get_response(app)
    return resp.status_code, resp.headers.get("Content-Type", ""), resp.body


def _document(app) -> dict:
    return json.loads(_call(app, "GET", "/v1/openapi.json")[2])


def _operations(doc):
    return [(method.upper(), path, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


DEEP = b"[" * 40 + b"]" * 40  # deeper than the app parses
BIG = b'{"links": [' + b" " * (2 << 20) + b"]}"  # over the 1 MiB limit


CASES = [
    ("GET", "/v1/health", "/v1/health", None, None, 200),
    ("GET", "/v1/openapi.json", "/v1/openapi.json", None, None, 200),
    ("GET", "/v1/topology", "/v1/topology", None, None, 200),
    ("GET", "/v1/paths", "/v1/paths?src=10.0.0.1&own_port=8700", None, None, 200),
    ("GET", "/v1/paths", "/v1/paths?src=nope", None, None, 400),
    ("GET", "/v1/paths", "/v1/paths?src=10.0.0.1&dst=10.9.9.9", None, None, 404),
    ("PUT", "/v1/links/capacity", "/v1/links/capacity", {"links": [{"dpid": 2, "port": 3, "mbps": 4.0}]}, TOKEN, 200),
    ("PUT", "/v1/links/capacity", "/v1/links/capacity", {"links": [{"dpid": 2, "port": 9, "mbps": 4.0}]}, TOKEN, 400),
    ("PUT", "/v1/links/capacity", "/v1/links/capacity", {"links": []}, None, 401),
    ("GET", "/v1/paths", "/v1/paths?src=10.1.0.2", None, None, 409),  # not the measuring host
    ("GET", "/v1/paths", "/v1/paths?src=10.0.0.1&own_port=9999", None, None, 409),
    ("PUT", "/v1/links/capacity", "/v1/links/capacity", DEEP, TOKEN, 400),
    ("PUT", "/v1/links/capacity", "/v1/links/capacity", BIG, TOKEN, 413),
    ("PUT", "/v1/measure", "/v1/measure", {"src": "10.0.0.1", "own_port": 8700}, TOKEN, 200),
    ("PUT", "/v1/measure", "/v1/measure", {"src": "nope"}, TOKEN, 400),
    ("PUT", "/v1/measure", "/v1/measure", {"src": "10.0.0.1"}, None, 401),
    ("PUT", "/v1/measure", "/v1/measure", BIG, TOKEN, 413),
    ("POST", "/v1/reset", "/v1/reset", None, TOKEN, 200),
    ("POST", "/v1/reset", "/v1/reset", b"{", TOKEN, 400),
    ("POST", "/v1/reset", "/v1/reset", None, "wrong", 401),
    ("POST", "/v1/reset", "/v1/reset", BIG, TOKEN, 413),
    # the measuring host named but not learnt yet: 404 for itself
    ("PUT", "/v1/measure", "/v1/measure", {"src": "10.0.0.9", "own_port": 8700}, TOKEN, 200),
    ("GET", "/v1/paths", "/v1/paths?src=10.0.0.9", None, None, 404),
]


def test_every_route_answers_as_documented_and_every_documented_status_happens():
    app = _app()
    doc = _document(app)
    seen = set()
    for method, route, url, body, token, want in CASES:
        status, ctype, raw = _call(app, method, url, body, token)
        assert status == want, (url, status, raw[:200])
        check_answer(doc, method, route, status, ctype, raw)
        seen.add((method, route, status))
    broken = _app(BrokenView)
    for method, route, url, body, token, want in CASES:  # what reaches the view: 500 with the documented body
        if want == 200:
            status, ctype, raw = _call(broken, method, url, body, token)
            assert status == (200 if route == "/v1/openapi.json" else 500), (url, status)
            check_answer(doc, method, route, status, ctype, raw)
            seen.add((method, route, status))
    documented = {(method, path, int(status)) for method, path, op in _operations(doc) for status in op["responses"]}
    assert documented - seen == set()  # every documented status of every route, 500 included, really happens


QUERIES = [
    "",
    "?src=10.0.0.1",
    "?src=10.0.0.1&own_port=8700",
    "?src=10.0.0.1&own_port=0",
    "?src=10.0.0.1&own_port=http",
    "?src=10.0.0.1&own_port=9999",
    "?src=nope",
    "?src=10.1.0.2",
    "?src=10.0.0.1&dst=10.1.0.2",
    "?src=10.0.0.1&dst=10.9.9.9",
    "?src=10.0.0.1&dst=nope",
    "?src=10.0.0.1&color=red",
    "?src=10.0.0.1&src=10.1.0.2",
]
BODIES = [
    None,
    b"{",
    b"null",
    b"[]",
    b'"text"',
    b"\xff\xfe",  # not UTF-8
    DEEP,
    BIG,
    {"src": "10.0.0.1"},
    {"src": "10.0.0.1", "own_port": 8700},
    {"src": "10.0.0.1", "own_port": True},
    {"src": "10.0.0.1", "own_port": 70000},
    {"src": "nope"},
    {"src": "10.0.0.1", "extra": 1},
    {"links": []},
    {"links": "all"},
    {"links": [1]},
    {"links": [{"dpid": 2, "port": 3, "mbps": 4.0}]},
    {"links": [{"dpid": 2, "port": 3, "mbps": -1}]},
    {"links": [{"dpid": 2, "port": 9, "mbps": 1}]},
    {"links": [{"dpid": "2", "port": 3, "mbps": 1}]},
]
TOKENS = [None, "wrong", "t\u00f6k", TOKEN]


def _battery(doc):
    """(method, route, url, body, token) for each operation of the document: every query
    variant of a route with parameters, every body of a route that reads one, each token."""
    for method, path, op in _operations(doc):
        queries = QUERIES if op.get("parameters") else ["", "?src=10.0.0.1"]
        bodies = BODIES if method in ("PUT", "POST") else [None, b"{"]
        for query in queries:
            for body in bodies:
                for token in TOKENS:
                    yield method, path, path + query, body, token
                    yield method, path, path + "/" + query, body, token  # a trailing slash is the same route


def test_every_answer_to_any_request_has_a_documented_status_and_body():
    app = _app()
    doc = _document(app)
    answered = set()
    for method, route, url, body, token in _battery(doc):
        status, ctype, raw = _call(app, method, url, body, token)
        check_answer(doc, method, route, status, ctype, raw)  # the status is documented, the body fits it
        answered.add((method, route, status))
    # a route that reads a body declares it (POST /v1/reset answered 400 and 413 to a body it did not declare)
    assert [
        path for method, path, op in _operations(doc) if method in ("PUT", "POST") and "requestBody" not in op
    ] == []
    # the battery reaches what the document lists, bar the 500s of a broken network state
    documented = {(method, path, int(status)) for method, path, op in _operations(doc) for status in op["responses"]}
    assert {entry for entry in documented - answered if entry[2] != 500} == set()


def test_the_figures_carry_what_the_document_promises():
    app = _app()
    body = json.loads(_call(app, "GET", "/v1/paths?src=10.0.0.1")[2])
    measured, unmeasured = body["paths"]
    assert measured["capacity_source"] == "train" and measured["capacity_mbps"] == pytest.approx(5.0)
    assert unmeasured["capacity_mbps"] is None and unmeasured["loss_ci95_pct"] is None


def test_a_method_a_route_does_not_serve_is_405_with_the_documented_methods_in_allow():
    app = _app()
    doc = _document(app)
    for path, ops in doc["paths"].items():
        documented = {m.upper() for m in ops}
        for method in {"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"} - documented:
            req = Request.blank(path, method=method)
            resp = req.get_response(app)
            assert resp.status_code == 405, (method, path, resp.status_code)
            assert set(resp.headers["Allow"].split(", ")) == documented, (method, path, resp.headers)
    assert "405" in doc["info"]["description"] and "Allow" in doc["info"]["description"]


def test_a_route_the_document_does_not_list_is_404_naming_the_routes():
    app = _app()
    doc = _document(app)
    status, _, raw = _call(app, "GET", "/v1/nope")
    assert status == 404 and all(path in json.loads(raw)["error"] for path in doc["paths"])
    assert "404" in doc["info"]["description"]
