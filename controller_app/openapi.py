"""The controller's northbound REST API as an OpenAPI 3.1 document (served at
GET /v1/openapi.json), matching what the app answers both ways (#26 item 7):
tests/unit/test_northbound_contract.py drives every route to every status listed here,
sends each route a battery of query, body and token variants and checks that every
answer's status is listed and its body validates, and checks that a method a path does
not list is 405 with an `Allow` header naming the ones it does, so a generated client can
rely on it."""

from __future__ import annotations

from edgeft.paths_api import PathAnswer

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
# One schema for a path's record: the model the app builds its answers with (edgeft/paths_api.py).
PATH = PathAnswer.model_json_schema()
INTEGER, STRING = {"type": "integer"}, {"type": "string"}
TCP_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
WRITE = [{"ControllerToken": []}]
DESCRIPTION = (
    "Reads (GET) change nothing; writes (PUT, POST) need the bearer token, checked before the body is read. "
    "Bodies are JSON, at most 1 MiB, nested at most 32 deep. A path not listed here is 404 naming the routes; "
    "a method a path does not list is 405 with an Allow header naming the ones it does. Every error body is "
    '{"error": "<what is wrong and the fix>"}.'
)


def _object(properties: dict, required: list[str] | None = None, closed: bool = True) -> dict:
    """A JSON object schema; `closed`: no other properties."""
    schema = {"type": "object", "required": required or list(properties), "properties": properties}
    return {**schema, "additionalProperties": False} if closed else schema


def _json(schema: dict, why: str) -> dict:
    return {"description": why, "content": {"application/json": {"schema": schema}}}


def _json_body(schema: dict, required: bool = True) -> dict:
    """A request body of JSON matching `schema` (a missing required body reads as null: 400)."""
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    why = {
        400: "bad parameter or body (named in error)",
        401: "missing or wrong bearer token (checked before the body is read)",
        404: "the measuring host (src) or the node (dst) is not known to the controller",
        409: "src (or own_port) is not the one the controller measures from; PUT /v1/measure names it",
        413: "body over 1 MiB (not read)",
        500: "internal error; see the controller log",
    }
    return {str(s): _json({"$ref": "#/components/schemas/Error"}, why[s]) for s in (*statuses, 500)}


HEALTH = _object(
    {
        "ok": {"const": True},
        "framework": {"enum": ["ryu", "os_ken"]},
        "switches": INTEGER,
        "hosts": INTEGER,
        "uptime_s": {"type": "number"},
        "poll_s": {"type": "number"},
        "probe_hz": {"type": "number"},
        "train_interval_s": {"type": "number"},
        "loss_window": INTEGER,
        "measure_from": {"type": "string", "description": "'' until a host is named"},
        "own_port": {"type": ["integer", "null"]},
        "settings": {"type": "object", "description": "the app's settings (never the token), for a run's record"},
    },
    required=["ok"],
    closed=False,
)
LINK = _object({"src": INTEGER, "src_port": INTEGER, "dst": INTEGER, "dst_port": INTEGER})
HOST = _object({"ip": STRING, "mac": STRING, "dpid": INTEGER, "port": INTEGER})
TOPOLOGY = _object(
    {
        "switches": {"type": "array", "items": INTEGER},
        "links": {"type": "array", "items": LINK},
        "hosts": {"type": "array", "items": HOST},
    }
)
PATHS = _object({"src": STRING, "paths": {"type": "array", "items": {"$ref": "#/components/schemas/PathFigures"}}})
MEASURE = _object(
    {
        "src": {"type": "string", "description": "IP of the host probes start from"},
        "own_port": {**TCP_PORT, "type": ["integer", "null"]},
    },
    required=["src"],
)
CAPACITY_HINT = _object(
    {"dpid": INTEGER, "port": INTEGER, "mbps": {"type": "number", "exclusiveMinimum": 0}}, closed=False
)
CAPACITY = _object({"links": {"type": "array", "items": CAPACITY_HINT}}, closed=False)

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "edgeft controller northbound API", "version": "1", "description": DESCRIPTION},
    "components": {
        "schemas": {"Error": ERROR, "PathFigures": PATH},
        "securitySchemes": {
            "ControllerToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "the controller's write token (its token file, mode 0600; every write route)",
            }
        },
    },
    "paths": {
        "/v1/health": {"get": {"responses": {"200": _json(HEALTH, "the app is up, and its settings"), **_errors()}}},
        "/v1/openapi.json": {"get": {"responses": {"200": _json({"type": "object"}, "this document")}}},
        "/v1/topology": {
            "get": {"responses": {"200": _json(TOPOLOGY, "switches, LLDP links, learnt hosts"), **_errors()}}
        },
        "/v1/paths": {
            "get": {
                "parameters": [
                    {
                        "name": "src",
                        "in": "query",
                        "required": True,
                        "schema": STRING,
                        "description": "the measuring host's IP",
                    },
                    {
                        "name": "dst",
                        "in": "query",
                        "schema": STRING,
                        "description": "one node's IP (default: every node)",
                    },
                    {"name": "own_port", "in": "query", "schema": TCP_PORT, "description": "the orchestrator's port"},
                ],
                "responses": {"200": _json(PATHS, "figures of every path from src"), **_errors(400, 404, 409)},
            }
        },
        "/v1/measure": {
            "put": {
                "security": WRITE,
                "requestBody": _json_body(MEASURE),
                "responses": {
                    "200": _json(
                        _object({"src": STRING, "own_port": {"type": ["integer", "null"]}}),
                        "probes and trains start from src now",
                    ),
                    **_errors(400, 401, 413),
                },
            }
        },
        "/v1/links/capacity": {
            "put": {
                "security": WRITE,
                "requestBody": _json_body(CAPACITY),
                "responses": {
                    "200": _json(_object({"updated": INTEGER}), "hints registered (all or none)"),
                    **_errors(400, 401, 413),
                },
            }
        },
        "/v1/reset": {
            "post": {
                "security": WRITE,
                "requestBody": _json_body({"description": "ignored; if sent, JSON"}, required=False),
                "responses": {
                    "200": _json(_object({"reset": {"const": True}}), "per-node estimates forgotten"),
                    **_errors(400, 401, 413),
                },
            }
        },
    },
}
