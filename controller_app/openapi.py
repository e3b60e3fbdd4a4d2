"""The controller's northbound REST API as an OpenAPI 3.1 document (served at
GET /v1/openapi.json). tests/unit/test_northbound_contract.py drives every route to
every status listed here and validates each answer against this document, and checks
that every method a path does not list is 405 with an `Allow` header naming the ones
it does, so a generated client can rely on it."""

from __future__ import annotations

from edgeft.paths_api import PathAnswer

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
# One schema for a path's record: the model the app builds its answers with (edgeft/paths_api.py).
PATH = PathAnswer.model_json_schema()


def _json(schema: dict, why: str) -> dict:
    return {"description": why, "content": {"application/json": {"schema": schema}}}


def _json_body(schema: dict) -> dict:
    """A request body of JSON matching `schema` (a missing body reads as null: 400)."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    why = {
        400: "bad parameter or body (named in error)",
        401: "missing or wrong bearer token (checked before the body is read)",
        404: "unknown host",
        409: "src (or own_port) is not the one the controller measures from; PUT /v1/measure names it",
        413: "body over 1 MiB (not read)",
        500: "internal error; see the controller log",
    }
    return {str(s): _json({"$ref": "#/components/schemas/Error"}, why[s]) for s in (*statuses, 500)}


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "edgeft controller northbound API", "version": "1"},
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
        "/v1/health": {
            "get": {"responses": {"200": _json({"type": "object", "required": ["ok"]}, "the app is up"), **_errors()}}
        },
        "/v1/openapi.json": {"get": {"responses": {"200": _json({"type": "object"}, "this document")}}},
        "/v1/topology": {
            "get": {
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["switches", "links", "hosts"]},
                        "switches, LLDP links, learnt hosts",
                    ),
                    **_errors(),
                }
            }
        },
        "/v1/paths": {
            "get": {
                "parameters": [
                    {"name": "src", "in": "query", "required": True, "schema": {"type": "string"}},
                    {"name": "dst", "in": "query", "schema": {"type": "string"}},
                    {"name": "own_port", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 65535}},
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["src", "paths"],
                            "properties": {
                                "src": {"type": "string"},
                                "paths": {"type": "array", "items": {"$ref": "#/components/schemas/PathFigures"}},
                            },
                        },
                        "figures of every path from src",
                    ),
                    **_errors(400, 404, 409),
                },
            }
        },
        "/v1/measure": {
            "put": {
                "security": [{"ControllerToken": []}],
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["src"],
                        "additionalProperties": False,
                        "properties": {
                            "src": {"type": "string", "description": "IP of the host probes start from"},
                            "own_port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535},
                        },
                    }
                ),
                "responses": {
                    "200": _json(
                        {"type": "object", "required": ["src", "own_port"]}, "probes and trains start from src now"
                    ),
                    **_errors(400, 401, 413),
                },
            }
        },
        "/v1/links/capacity": {
            "put": {
                "security": [{"ControllerToken": []}],
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["links"],
                        "properties": {
                            "links": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["dpid", "port", "mbps"],
                                    "properties": {
                                        "dpid": {"type": "integer"},
                                        "port": {"type": "integer"},
                                        "mbps": {"type": "number", "exclusiveMinimum": 0},
                                    },
                                },
                            }
                        },
                    }
                ),
                "responses": {
                    "200": _json({"type": "object", "required": ["updated"]}, "hints registered"),
                    **_errors(400, 401, 413),
                },
            }
        },
        "/v1/reset": {
            "post": {
                "security": [{"ControllerToken": []}],
                "responses": {
                    "200": _json({"type": "object", "required": ["reset"]}, "per-node estimates forgotten"),
                    **_errors(400, 401, 413),
                },
            }
        },
    },
}
