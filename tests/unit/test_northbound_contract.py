"""The controller's OpenAPI document (controller_app/openapi.py) is the contract: every
route is driven to every status it lists, and every answer is checked against it. The
path figures come from a real PathMonitor, so their shape is the one the app sends."""

import json

import pytest
from webob import Request

from controller_app.capacity import TRAIN_PACKETS
from controller_app.northbound import NorthboundApp
from controller_app.path_monitor import MonitorSettings, PathMonitor
from tests.openapi_check import check_answer


class View:
    """The controller app's state, as far as the routes reach: a real PathMonitor's figures."""

    def __init__(self, fail=False):
        self.fail = fail
        self.measure = ("10.0.0.1", 8700)
        self.monitor = PathMonitor(MonitorSettings(loss_window=10))
        m = self.monitor
        m.train_sent("10.1.0.2", 1, 0.0)
        for pos in range(TRAIN_PACKETS):
            m.train_reply("10.1.0.2", 1, pos, 0.01 + max(pos - 1, 0) * 1514 * 8 / 5e6)
        m.close_trains(1.0, 4.0, TRAIN_PACKETS)
        m.probe_sent("10.1.0.2", 1, 1.0)
        m.probe_reply("10.1.0.2", 1, 1.03, 1, 2)

    def health(self):
        if self.fail:
            raise RuntimeError("boom")
        return {"ok": True}

    def topology(self):
        return {"switches": [1, 2], "links": [], "hosts": []}

    def known_host(self, ip):
        return ip == "10.0.0.1"

    def measuring_point(self):
        return self.measure

    def set_measuring_point(self, src, own_port):
        self.measure = (src, own_port)

    def paths_from(self, src):
        return [
            self.monitor.path_figures("10.1.0.2", [(1, 1), (2, 3)]),
            self.monitor.path_figures("10.1.0.3", [(1, 1), (2, 4)]),
        ]

    def set_capacity(self, dpid, port, mbps):
        self.monitor.capacity[(dpid, port)] = mbps

    def has_port(self, dpid, port):
        return (dpid, port) in {(2, 3), (2, 4)}

    def reset_estimates(self):
        self.monitor.reset_estimates()


def _call(app, method, url, body=None, token=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    req = Request.blank(url, method=method, body=raw, headers=headers)
    resp = req.get_response(app)
    return resp.status_code, resp.headers.get("Content-Type", ""), resp.body


DEEP = b"[" * 40 + b"]" * 40  # deeper than the app parses
BIG = b'{"links": [' + b" " * (2 << 20) + b"]}"  # over the 1 MiB limit


CASES = [
    ("GET", "/v1/health", "/v1/health", None, None, 200),
    ("GET", "/v1/openapi.json", "/v1/openapi.json", None, None, 200),
    ("GET", "/v1/topology", "/v1/topology", None, None, 200),
    ("GET", "/v1/paths", "/v1/paths?src=10.0.0.1&own_port=8700", None, None, 200),
    ("GET", "/v1/paths", "/v1/paths?src=nope", None, None, 400),
    ("GET", "/v1/paths", "/v1/paths?src=10.0.0.1&dst=10.9.9.9", None, None, 404),
    ("PUT", "/v1/links/capacity", "/v1/links/capacity", {"links": [{"dpid": 2, "port": 3, "mbps": 4.0}]}, "tok", 200),
    ("PUT", "/v1/links/capacity", "/v1/links/capacity", {"links": [{"dpid": 2, "port": 9, "mbps": 4.0}]}, "tok", 400),
    ("PUT", "/v1/links/capacity", "/v1/links/capacity", {"links": []}, None, 401),
    ("GET", "/v1/paths", "/v1/paths?src=10.1.0.2", None, None, 409),  # not the measuring host
    ("GET", "/v1/paths", "/v1/paths?src=10.0.0.1&own_port=9999", None, None, 409),
    ("PUT", "/v1/links/capacity", "/v1/links/capacity", DEEP, "tok", 400),
    ("PUT", "/v1/links/capacity", "/v1/links/capacity", BIG, "tok", 413),
    ("PUT", "/v1/measure", "/v1/measure", {"src": "10.0.0.1", "own_port": 8700}, "tok", 200),
    ("PUT", "/v1/measure", "/v1/measure", {"src": "nope"}, "tok", 400),
    ("PUT", "/v1/measure", "/v1/measure", {"src": "10.0.0.1"}, None, 401),
    ("PUT", "/v1/measure", "/v1/measure", BIG, "tok", 413),
    ("POST", "/v1/reset", "/v1/reset", None, "tok", 200),
    ("POST", "/v1/reset", "/v1/reset", b"{", "tok", 400),
    ("POST", "/v1/reset", "/v1/reset", None, "wrong", 401),
    ("POST", "/v1/reset", "/v1/reset", BIG, "tok", 413),
]


def test_every_route_answers_as_documented_and_every_documented_status_happens():
    app = NorthboundApp(View(), token="tok")
    doc = json.loads(_call(app, "GET", "/v1/openapi.json")[2])
    seen = set()
    for method, route, url, body, token, want in CASES:
        status, ctype, raw = _call(app, method, url, body, token)
        assert status == want, (url, status, raw[:200])
        check_answer(doc, method, route, status, ctype, raw)
        seen.add((method.lower(), route, status))
    broken = NorthboundApp(View(fail=True), token="tok")
    for method, route, url, body, token, _ in CASES:  # a failing view: 500 with the documented error body
        if route in ("/v1/health",):
            status, ctype, raw = _call(broken, method, url, body, token)
            check_answer(doc, method, route, status, ctype, raw)
            seen.add((method.lower(), route, status))
    documented = {(m, p, int(s)) for p, ops in doc["paths"].items() for m, op in ops.items() for s in op["responses"]}
    missing = documented - seen
    # 500 is documented on every route (the app turns any failure into it); it is provoked on one.
    assert {(m, p, s) for m, p, s in missing if s != 500} == set()


def test_the_figures_carry_what_the_document_promises():
    app = NorthboundApp(View(), token="tok")
    body = json.loads(_call(app, "GET", "/v1/paths?src=10.0.0.1")[2])
    measured, unmeasured = body["paths"]
    assert measured["capacity_source"] == "train" and measured["capacity_mbps"] == pytest.approx(5.0)
    assert unmeasured["capacity_mbps"] is None and unmeasured["loss_ci95_pct"] is None


def test_a_method_a_route_does_not_serve_is_405_with_the_documented_methods_in_allow():
    app = NorthboundApp(View(), token="tok")
    doc = json.loads(_call(app, "GET", "/v1/openapi.json")[2])
    for path, ops in doc["paths"].items():
        documented = {m.upper() for m in ops}
        for method in {"GET", "PUT", "POST", "DELETE", "PATCH"} - documented:
            req = Request.blank(path, method=method)
            resp = req.get_response(app)
            assert resp.status_code == 405, (method, path, resp.status_code)
            assert set(resp.headers["Allow"].split(", ")) == documented, (method, path, resp.headers)
