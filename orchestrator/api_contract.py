"""The orchestrator's OpenAPI document as the contract the server keeps.

FastAPI generates the paths and the success schemas; this module adds what it
cannot see: the security schemes (enrolment: a provisioned node's own secret with
its id, or the run token in a trial without a credentials list; status: the run
token; everything else: the per-node token with the node's id), every error status
each route can send with the one error body the server sends (`{"detail":
"..."}`, validation errors included: api.py turns them into one string), and
the binary content type of the artifact routes. tests/unit/test_api_contract.py
checks every route's real answers, errors included, against the document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string"}},
    "description": "what went wrong and, where there is one, the fix",
}
OCTET = "application/octet-stream"
WHY = {
    400: "bad request (named in detail)",
    401: "missing or wrong token",
    403: "not this node's to ask for (enrolment: the run is full, or this node was failed for the run)",
    404: "not found",
    409: "conflicts with the run's state (late, duplicate, not training; enrolment: the id is taken)",
    413: "body over the route's limit (refused before it is read)",
    422: "malformed parameter or body",
    503: "the workload is still being prepared; retry",
}
NODE, RUN, ENROL = "node", "run", "enrol"
# (method, path) -> (security, error statuses, binary 200 body)
ROUTES: dict[tuple[str, str], tuple[str | None, tuple[int, ...], bool]] = {
    ("get", "/v1/health"): (None, (413,), False),
    ("post", "/v1/enroll"): (ENROL, (400, 401, 403, 409, 413, 422), False),
    ("get", "/v1/tasks/next"): (NODE, (401, 413, 422), False),
    ("post", "/v1/heartbeat"): (NODE, (401, 413), False),
    ("get", "/v1/artifacts/base-info"): (NODE, (401, 413, 503), False),
    ("get", "/v1/artifacts/base"): (NODE, (401, 409, 413, 503), True),
    ("get", "/v1/artifacts/lora"): (NODE, (401, 413, 503), False),
    ("get", "/v1/artifacts/partition/{node_id}"): (NODE, (401, 403, 409, 413, 503), True),
    ("get", "/v1/artifacts/padding/{nbytes}"): (NODE, (400, 401, 413, 422), True),
    ("post", "/v1/padding"): (NODE, (401, 413), False),
    ("get", "/v1/artifacts/adapter/{version}"): (NODE, (401, 404, 413, 422), True),
    ("post", "/v1/results"): (NODE, (400, 401, 403, 409, 413), False),
    ("post", "/v1/acks"): (NODE, (401, 403, 409, 413, 422), False),
    ("get", "/v1/status"): (RUN, (401, 413), False),
}
SECURITY = {
    RUN: [{"RunToken": []}],
    NODE: [{"NodeToken": [], "NodeId": []}],
    ENROL: [{"NodeSecret": [], "NodeId": []}, {"RunToken": []}],
}
SCHEMES = {
    "RunToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "the run token the orchestrator printed or wrote to run_token",
    },
    "NodeToken": {"type": "http", "scheme": "bearer", "description": "the node token returned by POST /v1/enroll"},
    "NodeSecret": {
        "type": "http",
        "scheme": "bearer",
        "description": "a provisioned node's own secret (its <id>.token from `edgeft provision`); a re-enrolment "
        "of a taken id in a trial without a credentials list also sends the node's current token as X-Node-Token",
    },
    "NodeId": {"type": "apiKey", "in": "header", "name": "X-Node-Id", "description": "the enrolled node's id"},
}


def _patch_operation(operation: dict[str, Any], security: str | None, errors: tuple[int, ...], binary: bool) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    for status in errors:
        responses[str(status)] = {
            "description": WHY[status],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    if binary:
        responses["200"] = {
            "description": "the artifact's bytes (SHA-256 in the X-Content-SHA256 header where it is one)",
            "content": {OCTET: {"schema": {"type": "string", "format": "binary"}}},
        }
    if security:
        operation["security"] = SECURITY[security]
        # the credentials are declared as security schemes, not as plain header parameters
        operation["parameters"] = [
            p
            for p in operation.get("parameters", [])
            if p.get("in") != "header" or p["name"].lower() not in ("authorization", "x-node-id")
        ]
        if not operation["parameters"]:
            del operation["parameters"]


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The generated document with the contract's additions (cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes, description=__doc__.split("\n\n")[0])
    comps = doc.setdefault("components", {})
    comps.setdefault("schemas", {})["Error"] = ERROR
    comps["schemas"].pop("HTTPValidationError", None)
    comps["schemas"].pop("ValidationError", None)
    comps["securitySchemes"] = SCHEMES
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            security, errors, binary = ROUTES[(method, path)]  # a route missing here is a bug: KeyError at start-up
            _patch_operation(op, security, errors, binary)
    app.openapi_schema = doc
    return doc


def install(app: FastAPI) -> None:
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
