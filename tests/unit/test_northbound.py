import json

import pytest
from webob import Request

from controller_app.northbound import NorthboundApp


class FakeView:
    """A stand-in for the controller's state: the handlers' input/output contract only."""

    def __init__(self):
        self.caps = {}
        self.measure = ("10.0.0.1", 8700)

    def health(self):
        return {"ok": True}

    def topology(self):
        return {"switches": [1], "links": [], "hosts": []}

    def known_host(self, ip):
        return ip == "10.0.0.1"

    def measuring_point(self):
        return self.measure

    def set_measuring_point(self, src, own_port):
        self.measure = (src, own_port)

    def paths_from(self, src):
        return [
            {
                "ip": "10.1.0.2",
                "bandwidth_mbps": 7.5,
                "delay_ms": 20.0,
                "loss_pct": 1.0,
                "samples": 10,
                "updated_at": 1.0,
            }
        ]

    def set_capacity(self, dpid, port, mbps):
        self.caps[(dpid, port)] = mbps

    def has_port(self, dpid, port):
        return (dpid, port) in {(1, 1), (1, 2), (4, 2)}

    def reset_estimates(self):
        self.resets = getattr(self, "resets", 0) + 1


def call(app, method, path, body=None, headers=None):
    req = Request.blank(
        path, method=method, body=json.dumps(body).encode() if body is not None else b"", headers=headers or {}
    )
    resp = req.get_response(app)
    return resp.status_code, json.loads(resp.body)


@pytest.fixture
def app():
    return NorthboundApp(FakeView(), token="t0k")


def test_paths_ok_and_filtered(app):
    status, body = call(app, "GET", "/v1/paths?src=10.0.0.1")
    assert status == 200 and body["paths"][0]["ip"] == "10.1.0.2"
    status, body = call(app, "GET", "/v1/paths?src=10.0.0.1&dst=10.1.0.2")
    assert status == 200 and len(body["paths"]) == 1
    assert call(app, "GET", "/v1/paths?src=10.0.0.1&own_port=8700")[0] == 200
    status, body = call(app, "GET", "/v1/paths?src=10.0.0.1&own_port=http")
    assert status == 400 and "own_port" in body["error"] and "1..65535" in body["error"]


@pytest.mark.parametrize(
    "query,status,fragment",
    [
        ("", 400, "'src' is required"),
        ("?src=banana", 400, "not an IP address"),
        ("?src=10.0.0.1&color=red", 400, "unknown query parameter"),
        ("?src=10.9.9.9", 409, "measures from 10.0.0.1, not 10.9.9.9"),
        ("?src=10.0.0.1&dst=10.1.0.99", 404, "not known"),
    ],
)
def test_paths_bad_parameters(app, query, status, fragment):
    code, body = call(app, "GET", "/v1/paths" + query)
    assert code == status and fragment in body["error"]


def test_capacity_needs_token_and_valid_body(app):
    links = {"links": [{"dpid": 1, "port": 2, "mbps": 7.5}]}
    assert call(app, "PUT", "/v1/links/capacity", links)[0] == 401
    ok = {"Authorization": "Bearer t0k"}
    assert call(app, "PUT", "/v1/links/capacity", links, ok) == (200, {"updated": 1})
    assert app.view.caps == {(1, 2): 7.5}
    assert call(app, "PUT", "/v1/links/capacity", {"links": [{"dpid": 1}]}, ok)[0] == 400
    assert call(app, "PUT", "/v1/links/capacity", {"links": [{"dpid": 1, "port": 1, "mbps": -3}]}, ok)[0] == 400
    assert call(app, "PUT", "/v1/links/capacity", [1, 2], ok)[0] == 400


def test_unknown_routes_and_methods(app):
    assert call(app, "GET", "/v1/nope")[0] == 404
    assert call(app, "POST", "/v1/paths")[0] == 405
    assert call(app, "GET", "/v1/health") == (200, {"ok": True})


def test_reset_needs_the_token(app):
    assert call(app, "POST", "/v1/reset")[0] == 401
    assert call(app, "POST", "/v1/reset", headers={"Authorization": "Bearer t0k"}) == (200, {"reset": True})
    assert app.view.resets == 1


@pytest.mark.parametrize(
    "link,fragment",
    [
        ({"dpid": 1.7, "port": 1, "mbps": 5}, "integers"),
        ({"dpid": 1, "port": "1", "mbps": 5}, "integers"),
        ({"dpid": True, "port": 1, "mbps": 5}, "integers"),
        ({"dpid": 1, "port": 9, "mbps": 5}, "has no port 9"),
        ({"dpid": 7, "port": 1, "mbps": 5}, "switch 7 has no port"),
        ({"dpid": 1, "port": 1, "mbps": float("inf")}, "finite"),
        ({"dpid": 1, "port": 1, "mbps": 0}, "finite"),
        ({"dpid": 1, "port": 1}, "needs dpid, port and mbps"),
    ],
)
def test_capacity_entries_are_validated_and_named(app, link, fragment):
    ok = {"Authorization": "Bearer t0k"}
    good = {"dpid": 1, "port": 2, "mbps": 3.0}
    status, body = (
        call(app, "PUT", "/v1/links/capacity", {"links": [good, link]}, ok)
        if link.get("mbps") != float("inf")
        else _raw_put(
            app, '{"links": [{"dpid": 1, "port": 2, "mbps": 3.0}, {"dpid": 1, "port": 1, "mbps": Infinity}]}', ok
        )
    )
    assert status == 400 and "links[1]" in body["error"] and fragment in body["error"]
    assert app.view.caps == {}  # nothing of a bad request is applied


def _raw_put(app, text, headers):
    req = Request.blank("/v1/links/capacity", method="PUT", body=text.encode(), headers=headers)
    resp = req.get_response(app)
    return resp.status_code, json.loads(resp.body)


def test_json_depth_follows_strings_and_escapes():
    """Brackets inside strings (escaped quotes included) do not nest; the scan is one pass, so a body
    of escaped quotes (quadratic for the old whole-string regex: 8 k repeats took 1.9 s) is plain text."""
    from controller_app.northbound import json_depth

    assert json_depth(b'{"a": [1, {"b": "]]]\\"[[["}], "c": "\\\\"}') == 3
    assert json_depth(b"[" * 40 + b"]" * 40) == 40
    assert json_depth(b'"' + b'\\"' * 100_000) == 0
    assert json_depth(b'["\\\\", ["x"]]') == 2  # an escaped backslash ends the escape: the quote closes the string
