"""The northbound REST API (JSON only), as a plain WSGI app on WebOb.

    GET /v1/health
    GET /v1/openapi.json     this API as an OpenAPI document (controller_app/openapi.py)
    GET /v1/topology
    GET /v1/paths?src=<orchestrator ip>[&dst=<node ip>][&own_port=<orchestrator's TCP port>]
    PUT /v1/links/capacity   {"links": [{"dpid": 1, "port": 2, "mbps": 7.5}, ...]}   (Bearer token if one is set)
    POST /v1/reset           forget the per-node estimates before an experiment       (Bearer token if one is set)

Handlers take a `view` object (the controller app) and return (status, body),
so they are testable without a controller.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
from typing import Any, Protocol

from webob import Request, Response

from controller_app.openapi import DOCUMENT

log = logging.getLogger(__name__)


class NetworkView(Protocol):
    def health(self) -> dict: ...
    def topology(self) -> dict: ...
    def known_host(self, ip: str) -> bool: ...
    def paths_from(self, src_ip: str, own_port: int | None = None) -> list[dict]: ...
    def set_capacity(self, dpid: int, port: int, mbps: float) -> None: ...
    def has_port(self, dpid: int, port: int) -> bool: ...
    def reset_estimates(self) -> None: ...


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _ip(value: str | None, name: str) -> str:
    if not value:
        raise ApiError(400, f"query parameter '{name}' is required, e.g. ?{name}=10.0.0.1")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ApiError(400, f"query parameter '{name}'={value!r} is not an IP address") from None


def _port(value: str | None) -> int | None:
    """own_port: the orchestrator's TCP service port, whose traffic is the run's own."""
    if value is None:
        return None
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ApiError(400, f"query parameter 'own_port'={value!r} must be a TCP port in 1..65535, e.g. own_port=8700")
    return int(value)


def get_paths(view: NetworkView, query: dict[str, str]) -> dict:
    unknown = set(query) - {"src", "dst", "own_port"}
    if unknown:
        raise ApiError(400, f"unknown query parameter(s) {sorted(unknown)}: use src and optionally dst and own_port")
    src = _ip(query.get("src"), "src")
    own_port = _port(query.get("own_port"))
    if not view.known_host(src):
        raise ApiError(404, f"host {src} is not known to the controller (has it sent any traffic yet?)")
    paths = view.paths_from(src, own_port) if own_port is not None else view.paths_from(src)
    if "dst" in query:
        dst = _ip(query["dst"], "dst")
        paths = [p for p in paths if p["ip"] == dst]
        if not paths:
            raise ApiError(404, f"node {dst} is not known to the controller")
    return {"src": src, "paths": paths}


def _strict_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def put_capacity(view: NetworkView, body: Any) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("links"), list):
        raise ApiError(400, 'body must be {"links": [{"dpid": int, "port": int, "mbps": number}, ...]}')
    parsed = []
    for i, link in enumerate(body["links"]):
        if not isinstance(link, dict) or not {"dpid", "port", "mbps"} <= set(link):
            raise ApiError(400, f"links[{i}] needs dpid, port and mbps")
        dpid, port, mbps = link["dpid"], link["port"], link["mbps"]
        if not _strict_int(dpid) or not _strict_int(port):
            raise ApiError(400, f"links[{i}]: dpid and port must be integers (got {dpid!r}, {port!r})")
        if (
            isinstance(mbps, bool)
            or not isinstance(mbps, (int, float))
            or not math.isfinite(mbps)
            or not 0 < mbps < 1e7
        ):
            raise ApiError(400, f"links[{i}]: mbps must be a finite number in (0, 1e7) (got {mbps!r})")
        if not view.has_port(dpid, port):
            raise ApiError(400, f"links[{i}]: switch {dpid} has no port {port} (see GET /v1/topology)")
        parsed.append((dpid, port, float(mbps)))
    for dpid, port, mbps in parsed:
        view.set_capacity(dpid, port, mbps)
    return {"updated": len(parsed)}


class NorthboundApp:
    """WSGI application serving the routes above."""

    def __init__(self, view: NetworkView, token: str = "") -> None:
        self.view = view
        self.token = token

    def __call__(self, environ, start_response):
        req = Request(environ)
        try:
            status, body = self.route(req)
        except ApiError as exc:
            status, body = exc.status, {"error": exc.message}
        except Exception:  # never a traceback to the client
            log.exception("northbound %s %s failed", req.method, req.path)
            status, body = 500, {"error": "internal error; see the controller log"}
        resp = Response(json.dumps(body), status=status, content_type="application/json", charset="utf-8")
        return resp(environ, start_response)

    def route(self, req: Request) -> tuple[int, dict]:
        routes = {
            ("GET", "/v1/health"): lambda: self.view.health(),
            ("GET", "/v1/openapi.json"): lambda: DOCUMENT,
            ("GET", "/v1/topology"): lambda: self.view.topology(),
            ("GET", "/v1/paths"): lambda: get_paths(self.view, dict(req.GET)),
            ("PUT", "/v1/links/capacity"): lambda: self._capacity(req),
            ("POST", "/v1/reset"): lambda: self._reset(req),
        }
        handler = routes.get((req.method, req.path.rstrip("/") or "/"))
        if handler is None:
            known = sorted(p for _, p in routes)
            if any(p == req.path for p in known):
                raise ApiError(405, f"{req.method} is not allowed on {req.path}")
            raise ApiError(404, f"no route {req.path}; try {known}")
        return 200, handler()

    def _authorise(self, req: Request) -> None:
        if self.token:
            got = req.headers.get("Authorization", "")
            if not hmac.compare_digest(got, f"Bearer {self.token}"):
                raise ApiError(401, "write endpoints need 'Authorization: Bearer <token>'")

    def _reset(self, req: Request) -> dict:
        self._authorise(req)
        self.view.reset_estimates()
        return {"reset": True}

    def _capacity(self, req: Request) -> dict:
        self._authorise(req)
        try:
            body = json.loads(req.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ApiError(400, "body is not JSON") from None
        return put_capacity(self.view, body)
