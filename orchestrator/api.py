"""The orchestrator's HTTP API (FastAPI): enrolment, long-polled tasks,
artifact downloads, result uploads, sync acknowledgements.

Clients pull: edge devices sit behind NAT, so the orchestrator never dials them.
Every request is authenticated: enrolment with the node's provisioned secret (or,
in a trial without a credentials list, the run token), everything else with the
per-node token returned at enrolment. The routes live in orchestrator/routes/, one
router per concern; this module assembles them behind `Guard`, which checks those
credentials and each route's body limit before a byte of the body is read: an
unauthenticated or oversize request costs no memory.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from orchestrator import api_contract
from orchestrator.coordinator import Coordinator
from orchestrator.rounds import RoundReject
from orchestrator.routes import artifacts, nodes, rounds, run
from orchestrator.routes.deps import enrol_error, node_error, run_token_error

log = logging.getLogger("orchestrator.api")
PUBLIC = {"/v1/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
SMALL_BODY = 16 * 1024  # enrolment, acks: a few hundred bytes of JSON
NO_BODY = 1024  # everything else that is not an upload
ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


def create_app(coord: Coordinator) -> FastAPI:
    app = FastAPI(title="edgeft orchestrator", version="1")
    app.state.coord = coord
    for router in (run.router, nodes.router, artifacts.router, rounds.router):
        app.include_router(router)
    app.add_exception_handler(RoundReject, _reject)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_middleware(Guard, coord=coord)
    api_contract.install(app)
    return app


def upload_limit(coord: Coordinator) -> int:
    """An update is the adapter's tensors again: at most twice the current adapter's size (plus
    room for its header), and never more than max_upload_mb."""
    current = coord.adapters.get(coord.version)
    return min(coord.max_upload, 2 * len(current[0]) + 64 * 1024) if current else coord.max_upload


def body_limit(coord: Coordinator, path: str) -> int:
    """The most bytes a request to `path` may carry."""
    if path == "/v1/results":
        return upload_limit(coord)
    if path == "/v1/padding":
        return coord.cfg.model_pad()
    if path in ("/v1/enroll", "/v1/acks"):
        return SMALL_BODY
    return NO_BODY


def credential_error(coord: Coordinator, path: str, headers: dict[str, str]) -> str | None:
    """Why a request to `path` is not authenticated (None: it is, or the path is public)."""
    if path in PUBLIC:
        return None
    auth, node_id = headers.get("authorization"), headers.get("x-node-id")
    if path == "/v1/enroll":
        return enrol_error(coord, auth, node_id)
    if path == "/v1/status":
        return run_token_error(coord, auth)
    return node_error(coord, auth, node_id)


class Guard:
    """ASGI middleware: credentials first, then the body limit (a declared Content-Length over
    it is refused unread; a chunked body is counted as it streams and cut at the limit)."""

    def __init__(self, app: ASGIApp, coord: Coordinator) -> None:
        self.app, self.coord = app, coord

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        why = credential_error(self.coord, path, headers)
        if why:
            client = scope.get("client") or ("?", 0)
            log.warning("%s %s from %s refused: %s", scope["method"], path, client[0], why)
            await _answer(send, 401, why)
            return
        limit = body_limit(self.coord, path)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, f"a body of {declared} bytes exceeds this route's {limit}-byte limit")
            return
        await self.app(scope, _counted(receive, limit), send)


def _counted(receive: Callable[[], Awaitable[dict]], limit: int) -> Callable[[], Awaitable[dict]]:
    """`receive`, raising 413 once the body passes `limit` (for bodies without a Content-Length)."""
    seen = 0

    async def counted() -> dict:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"body exceeds this route's {limit}-byte limit")
        return message

    return counted


async def _answer(send: Callable[[dict], Awaitable[Any]], status: int, detail: str) -> None:
    response = JSONResponse({"detail": detail}, status_code=status)
    await send({"type": "http.response.start", "status": status, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


async def _reject(_: Request, exc: RoundReject) -> JSONResponse:
    return JSONResponse({"detail": exc.message}, status_code=exc.status)


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    e = exc.errors()[0]
    return JSONResponse({"detail": f"field '{'.'.join(map(str, e['loc']))}': {e['msg']}"}, status_code=422)
