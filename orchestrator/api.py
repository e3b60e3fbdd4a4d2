"""The orchestrator's HTTP API (FastAPI): enrolment, long-polled tasks,
artifact downloads, result uploads, sync acknowledgements.

Clients pull: edge devices sit behind NAT, so the orchestrator never dials them.
Every request is authenticated: enrolment with the run token, everything else
with the per-node token returned at enrolment. The routes live in
orchestrator/routes/, one router per concern; this module assembles them.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from orchestrator import api_contract
from orchestrator.coordinator import Coordinator
from orchestrator.rounds import RoundReject
from orchestrator.routes import artifacts, nodes, rounds, run


def create_app(coord: Coordinator) -> FastAPI:
    app = FastAPI(title="edgeft orchestrator", version="1")
    app.state.coord = coord
    for router in (run.router, nodes.router, artifacts.router, rounds.router):
        app.include_router(router)
    app.add_exception_handler(RoundReject, _reject)
    app.add_exception_handler(RequestValidationError, _invalid)
    api_contract.install(app)
    return app


async def _reject(_: Request, exc: RoundReject) -> JSONResponse:
    return JSONResponse({"detail": exc.message}, status_code=exc.status)


async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    e = exc.errors()[0]
    return JSONResponse({"detail": f"field '{'.'.join(map(str, e['loc']))}': {e['msg']}"}, status_code=422)
