"""The northbound REST API (JSON only), as a plain WSGI app on WebOb.

    GET  /v1/health
    GET  /v1/openapi.json     this API as an OpenAPI document (controller_app/openapi.py)
    GET  /v1/topology
    GET  /v1/paths?src=<measuring host's ip>[&dst=<node ip>][&own_port=<orchestrator's TCP port>]
    PUT  /v1/measure          {"src": "10.0.0.1", "own_port": 8700}    where the probes start (token)
    PUT  /v1/links/capacity   {"links": [{"dpid": 1, "port": 2, "mbps": 7.5}, ...]}   (token)
    POST /v1/reset            forget the per-node estimates before an experiment       (token)

Reads change nothing: GET /v1/paths answers for the host the probes start from (set
at start, --measure-from/--own-port, or by PUT /v1/measure) and refuses another with
409; it used to move the probes to whichever host asked, and to stop counting the
traffic of whichever port it named as load, for anyone who could reach it.

Writes need `Authorization: Bearer <token>` (the controller is closed by default:
controller_app/tokens.py). The token is checked, in constant time, before a byte of
the body is read; a body over `MAX_BODY_BYTES` is 413 without being read, and JSON
nested deeper than `MAX_JSON_DEPTH` is 400 before it is parsed (the parser would
recurse once per level). A method a route does not serve is 405 with `Allow`.

Handlers take a `view` object (the controller app) and return (status, body),
so they are testable without a controller.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
import re
from typing import Any, Callable, Protocol

from webob import Request, Response

from controller_app.openapi import DOCUMENT

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1 << 20  # 1 MiB: a capacity hint for every port of a thousand switches fits in a tenth of it
MAX_JSON_DEPTH = 32  # the bodies here nest 3 deep
_SPECIAL = re.compile(rb'[\[\]{}"\\]')  # the bytes that open/close nesting or strings, and escapes


class NetworkView(Protocol):
    def health(self) -> dict: ...
    def topology(self) -> dict: ...
    def known_host(self, ip: str) -> bool: ...
    def measuring_point(self) -> tuple[str, int | None]: ...
    def set_measuring_point(self, src_ip: str, own_port: int | None) -> None: ...
    def paths_from(self, src_ip: str) -> list[dict]: ...
    def set_capacity(self, dpid: int, port: int, mbps: float) -> None: ...
    def has_port(self, dpid: int, port: int) -> bool: ...
    def reset_estimates(self) -> None: ...


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _ip(value: Any, name: str, where: str = "query parameter") -> str:
    if not value:
        raise ApiError(400, f"{where} '{name}' is required, e.g. {name}=10.0.0.1")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ApiError(400, f"{where} '{name}'={value!r} is not an IP address") from None


def _port(value: str | None) -> int | None:
    """own_port: the orchestrator's TCP service port, whose traffic is the run's own."""
    if value is None:
        return None
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ApiError(400, f"query parameter 'own_port'={value!r} must be a TCP port in 1..65535, e.g. own_port=8700")
    return int(value)


def serve_paths(view: NetworkView, query: dict[str, str]) -> dict:
    """GET /v1/paths: the figures of every path from the measuring host (changes nothing)."""
    unknown = set(query) - {"src", "dst", "own_port"}
    if unknown:
        raise ApiError(400, f"unknown query parameter(s) {sorted(unknown)}: use src and optionally dst and own_port")
    src = _ip(query.get("src"), "src")
    own_port = _port(query.get("own_port"))
    dst = _ip(query["dst"], "dst") if "dst" in query else None
    measuring, counted = view.measuring_point()
    if src != measuring:
        raise ApiError(
            409,
            f"the controller measures from {measuring or 'no host yet'}, not {src}: start it with "
            f"--measure-from {src}, or name {src} with PUT /v1/measure (token)",
        )
    if own_port is not None and own_port != counted:
        raise ApiError(
            409,
            f"the controller counts port {counted} as the run's own traffic, not {own_port}: start it with "
            f"--own-port {own_port}, or name it with PUT /v1/measure (token)",
        )
    if not view.known_host(src):
        raise ApiError(404, f"host {src} is not known to the controller (has it sent any traffic yet?)")
    paths = view.paths_from(src)
    if dst is not None:
        paths = [path for path in paths if path["ip"] == dst]
        if not paths:
            raise ApiError(404, f"node {dst} is not known to the controller")
    return {"src": src, "paths": paths}


def _strict_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def serve_measure(view: NetworkView, body: Any) -> dict:
    """PUT /v1/measure: the host the probes and trains start from, and its service port."""
    if not isinstance(body, dict) or set(body) - {"src", "own_port"}:
        raise ApiError(400, 'body must be {"src": "10.0.0.1", "own_port": 8700 or null}')
    src = _ip(body.get("src"), "src", "body field")
    own_port = body.get("own_port")
    if own_port is not None and (not _strict_int(own_port) or not 0 < own_port < 65536):
        raise ApiError(400, f"body field 'own_port'={own_port!r} must be a TCP port in 1..65535 or null")
    view.set_measuring_point(src, own_port)
    return {"src": src, "own_port": own_port}


def serve_capacity(view: NetworkView, body: Any) -> dict:
    """PUT /v1/links/capacity: register capacity hints (all or none of them)."""
    if not isinstance(body, dict) or not isinstance(body.get("links"), list):
        raise ApiError(400, 'body must be {"links": [{"dpid": int, "port": int, "mbps": number}, ...]}')
    parsed = []
    for index, link in enumerate(body["links"]):
        if not isinstance(link, dict) or not {"dpid", "port", "mbps"} <= set(link):
            raise ApiError(400, f"links[{index}] needs dpid, port and mbps")
        dpid, port, mbps = link["dpid"], link["port"], link["mbps"]
        if not _strict_int(dpid) or not _strict_int(port):
            raise ApiError(400, f"links[{index}]: dpid and port must be integers (got {dpid!r}, {port!r})")
        if (
            isinstance(mbps, bool)
            or not isinstance(mbps, (int, float))
            or not math.isfinite(mbps)
            or not 0 < mbps < 1e7
        ):
            raise ApiError(400, f"links[{index}]: mbps must be a finite number in (0, 1e7) (got {mbps!r})")
        if not view.has_port(dpid, port):
            raise ApiError(400, f"links[{index}]: switch {dpid} has no port {port} (see GET /v1/topology)")
        parsed.append((dpid, port, float(mbps)))
    for dpid, port, mbps in parsed:
        view.set_capacity(dpid, port, mbps)
    return {"updated": len(parsed)}


def json_depth(data: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings do not
    count), without parsing it: linear in its length, no recursion."""
    # One pass over the special bytes with the string/escape state: a regex for whole strings
    # restarts at every escaped quote and made '"\\"\\"...' quadratic (8 k repeats: 1.9 s).
    depth = deepest = 0
    in_string, escaped_at = False, -1
    for match in _SPECIAL.finditer(data):
        pos = match.start()
        if pos == escaped_at:
            continue
        char = data[pos]
        if in_string:
            if char == 0x5C:  # backslash: the next byte is escaped
                escaped_at = pos + 1
            elif char == 0x22:
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (0x5D, 0x7D):
            depth -= 1
    return deepest


def read_json(req: Request, limit: int = MAX_BODY_BYTES) -> Any:
    """The request's JSON body: 413 over `limit` bytes (not read), 400 if deeper than
    MAX_JSON_DEPTH or not JSON. An empty body is null."""
    length = req.content_length
    if length is not None and length > limit:
        raise ApiError(413, f"body of {length} bytes is over the limit of {limit}")
    chunked = "chunked" in req.headers.get("Transfer-Encoding", "").lower()
    if length is None and not chunked:
        data = b""
    else:
        data = req.body_file_raw.read(limit + 1 if length is None else length)
        if len(data) > limit:
            raise ApiError(413, f"body is over the limit of {limit} bytes")
    openers = data.count(b"[") + data.count(b"{")  # a bound on the depth, counted at C speed
    if openers > MAX_JSON_DEPTH and json_depth(data) > MAX_JSON_DEPTH:
        raise ApiError(400, f"body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(data or b"null")
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise ApiError(400, "body is not JSON") from None


class NorthboundApp:
    """WSGI application serving the routes above. `token`: the write routes' bearer token
    ('' refuses every write: there is no open mode)."""

    def __init__(self, view: NetworkView, token: str = "") -> None:
        self.view = view
        self.token = token
        self.routes: dict[str, dict[str, Callable[[Request], dict]]] = {
            "/v1/health": {"GET": lambda req: self.view.health()},
            "/v1/openapi.json": {"GET": lambda req: DOCUMENT},
            "/v1/topology": {"GET": lambda req: self.view.topology()},
            "/v1/paths": {"GET": lambda req: serve_paths(self.view, dict(req.GET))},
            "/v1/measure": {"PUT": self._write(serve_measure)},
            "/v1/links/capacity": {"PUT": self._write(serve_capacity)},
            "/v1/reset": {"POST": self._write(lambda view, body: self._reset())},
        }

    def __call__(self, environ, start_response):
        req = Request(environ)
        headers: dict[str, str] = {}
        try:
            status, body = self.route(req)
        except ApiError as exc:
            status, body, headers = exc.status, {"error": exc.message}, exc.headers
        except Exception:  # never a traceback to the client
            log.exception("northbound %s %s failed", req.method, req.path)
            status, body = 500, {"error": "internal error; see the controller log"}
        resp = Response(json.dumps(body), status=status, content_type="application/json", charset="utf-8")
        resp.headers.update(headers)
        return resp(environ, start_response)

    def route(self, req: Request) -> tuple[int, dict]:
        """(status, body) of one request; ApiError for the documented refusals."""
        methods = self.routes.get(req.path.rstrip("/") or "/")
        if methods is None:
            raise ApiError(404, f"no route {req.path}; try {sorted(self.routes)}")
        handler = methods.get(req.method)
        if handler is None:
            allow = ", ".join(sorted(methods))
            raise ApiError(405, f"{req.method} is not allowed on {req.path}; use {allow}", {"Allow": allow})
        return 200, handler(req)

    def _write(self, handler: Callable[[NetworkView, Any], dict]) -> Callable[[Request], dict]:
        """A write route: the token first (before the body is read), then the bounded body."""

        def run(req: Request) -> dict:
            self._authorise(req)
            return handler(self.view, read_json(req))

        return run

    def _authorise(self, req: Request) -> None:
        got = req.headers.get("Authorization", "").encode("utf-8", "replace")
        want = f"Bearer {self.token}".encode()
        if not self.token or not hmac.compare_digest(got, want):
            raise ApiError(
                401, "write routes need 'Authorization: Bearer <token>' (the controller's token file holds it)"
            )

    def _reset(self) -> dict:
        self.view.reset_estimates()
        return {"reset": True}
