"""Checks one HTTP answer against an OpenAPI document: its status is documented for
the route, its content type is the documented one, and a JSON body validates
against the documented schema ($refs resolved within the document)."""

from __future__ import annotations

import json

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def check_answer(doc: dict, method: str, path: str, status: int, content_type: str, body: bytes) -> None:
    op = doc["paths"][path][method.lower()]
    documented = op["responses"]
    assert str(status) in documented, f"{method} {path} answered {status}, documented only {sorted(documented)}"
    content = documented[str(status)].get("content")
    if not content:
        assert not body, f"{method} {path} {status}: a body the document does not declare"
        return
    ctype = content_type.split(";")[0].strip()
    assert ctype in content, f"{method} {path} {status}: content type {ctype}, documented {sorted(content)}"
    if ctype != "application/json":
        return
    # Validate through a pointer into the document itself, so that every nested $ref resolves in it.
    pointer = "/".join(
        ["", "paths", _esc(path), method.lower(), "responses", str(status), "content", _esc(ctype), "schema"]
    )
    registry = Registry().with_resource("doc", Resource.from_contents(doc, default_specification=DRAFT202012))
    jsonschema.Draft202012Validator({"$ref": "doc#" + pointer}, registry=registry).validate(json.loads(body))


def _esc(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")
