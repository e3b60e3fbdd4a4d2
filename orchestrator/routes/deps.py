"""What every route depends on: the run's coordinator, the bearer token, the
authenticated node, and the workload once it is ready.

The credential checks here are the ones orchestrator/api.py's guard runs before a body is
read; the routes run them again (cheap, and a route stays closed if it is ever mounted
without the guard). Every secret is compared in constant time."""

from __future__ import annotations

import hmac
import logging

from fastapi import Depends, Header, HTTPException, Request

from orchestrator.coordinator import Coordinator
from orchestrator.registry import Node

log = logging.getLogger("orchestrator.api")
OCTET = "application/octet-stream"
MISSING = "missing 'Authorization: Bearer <token>' header"
WRONG_NODE = "unknown node or wrong node token: enrol first with your node's credentials"


def coordinator(request: Request) -> Coordinator:
    return request.app.state.coord


def bearer(authorization: str | None) -> str:
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, MISSING)
    return authorization[7:]


def run_token_error(coord: Coordinator, authorization: str | None) -> str | None:
    """Why a request does not hold the run token (None: it does)."""
    if not authorization or not authorization.startswith("Bearer "):
        return MISSING
    return None if hmac.compare_digest(authorization[7:].encode(), coord.run_token.encode()) else "wrong run token"


def enrol_error(coord: Coordinator, authorization: str | None, node_id: str | None) -> str | None:
    """Why a request may not enrol (None: it may). With a provisioned list, the node's own
    secret and its id (X-Node-Id) are needed; without one, the run token."""
    creds = coord.registry.credentials
    if creds is None:
        return run_token_error(coord, authorization)
    if not authorization or not authorization.startswith("Bearer ") or not node_id:
        return (
            "this run enrols provisioned nodes: send 'Authorization: Bearer <your node secret>' "
            "and 'X-Node-Id: <your id>' (edgeft edge --token-file <id>.token)"
        )
    if not creds.verify(node_id, authorization[7:]):
        return (
            f"node '{node_id}' is not provisioned for this run or its secret is wrong (is this its run's orchestrator?)"
        )
    return None


def node_error(coord: Coordinator, authorization: str | None, node_id: str | None) -> str | None:
    """Why a request is not an enrolled node's (None: it is)."""
    if not authorization or not authorization.startswith("Bearer "):
        return MISSING
    return None if coord.registry.authenticate(node_id or "", authorization[7:]) else WRONG_NODE


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
        raise HTTPException(401, WRONG_NODE)
    return node


def ready(coord: Coordinator):
    """The workload; 503 while it is still being prepared."""
    if coord.workload is None:
        raise HTTPException(503, "the workload is still being prepared; retry shortly")
    return coord.workload
