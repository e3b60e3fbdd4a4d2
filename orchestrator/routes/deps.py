"""What every route depends on: the run's coordinator, the bearer token, the
authenticated node, and the workload once it is ready."""

from __future__ import annotations

import logging

from fastapi import Depends, Header, HTTPException, Request

from orchestrator.coordinator import Coordinator
from orchestrator.registry import Node

log = logging.getLogger("orchestrator.api")
OCTET = "application/octet-stream"


def coordinator(request: Request) -> Coordinator:
    return request.app.state.coord


def bearer(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "missing 'Authorization: Bearer <token>' header")
    return authorization[7:]


def node_auth(
    request: Request,
    authorization: str | None = Header(None),
    x_node_id: str | None = Header(None),
    coord: Coordinator = Depends(coordinator),
) -> Node:
    node = coord.registry.authenticate(x_node_id or "", bearer(authorization))
    if node is None:
        log.warning(
            "unauthenticated request from %s for node '%s'", request.client.host if request.client else "?", x_node_id
        )
        raise HTTPException(401, "unknown node or wrong node token: enrol first with the run token")
    return node


def ready(coord: Coordinator):
    """The workload; 503 while it is still being prepared."""
    if coord.workload is None:
        raise HTTPException(503, "the workload is still being prepared; retry shortly")
    return coord.workload
