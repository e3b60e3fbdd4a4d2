"""Loading config files (YAML, TOML or JSON) with dotted CLI overrides, and
turning validation errors into one line that names the field and the fix."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A config problem the user can fix; the message says which field and how."""


def read_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist: give the path of a .yaml, .toml or .json file")
    text = p.read_text()
    try:
        data = (
            tomllib.loads(text)
            if p.suffix == ".toml"
            else (json.loads(text) if p.suffix == ".json" else yaml.safe_load(text))
        )
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file '{p}' cannot be parsed: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{p}' must hold a mapping at the top level")
    return data


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def build(model: type[M], data: dict[str, Any], overrides: dict[str, Any]) -> M:
    merged = json.loads(json.dumps(data))
    for key, value in overrides.items():
        if value is not None:
            set_dotted(merged, key, value)
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    e = exc.errors()[0]
    field = ".".join(str(p) for p in e["loc"]) or "config"
    if e["type"] == "extra_forbidden":
        return f"unknown config key '{field}': remove it or check its spelling"
    msg = e["msg"].removeprefix("Value error, ")
    got = e.get("input")
    shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
    more = f" [+{len(exc.errors()) - 1} more]" if len(exc.errors()) > 1 else ""
    return f"invalid config field '{field}': {msg}{shown}{more}"
