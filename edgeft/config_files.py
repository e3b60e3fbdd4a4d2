"""The shared config-file reader: config files (YAML, TOML or JSON) loaded with dotted CLI overrides,
and validation errors turned into one line that names the field and the fix.

A config file is untrusted input: YAML aliases are refused outright (a few hundred
bytes of nested aliases, a "billion laughs", expand to gigabytes before any check
could see the result), files are bounded in size, and every parse failure, bad
encoding or nesting too deep for the parser is one ConfigError line.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a real config is a few kB; a larger file is a mistake, not settings


class ConfigError(ValueError):
    """A config problem the user can fix; the message says which field and how."""


class _NoAliasLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses aliases (`*name`) when it meets them, before expanding anything."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(
                f"YAML aliases (*name) are not accepted in a config file (line {mark.line + 1}): write the values out"
            )
        return super().compose_node(parent, index)


def read_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a .yaml/.yml, .toml or .json config file; ConfigError naming the file and the fix."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file '{p}' does not exist: give the path of a .yaml, .toml or .json file")
    if p.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"config file '{p}' is over {MAX_CONFIG_BYTES >> 20} MB: give the run's settings file")
    try:
        text = p.read_text(encoding="utf-8")
        data = (
            tomllib.loads(text)
            if p.suffix == ".toml"
            else (json.loads(text) if p.suffix == ".json" else yaml.load(text, Loader=_NoAliasLoader))  # noqa: S506
        )
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file '{p}' is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    except RecursionError:
        raise ConfigError(f"config file '{p}' is nested too deeply to be settings: flatten it") from None
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file '{p}' cannot be parsed: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{p}' must hold a mapping at the top level")
    return data


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """data[a][b][c] = value for key "a.b.c"; ConfigError when the file holds a non-mapping on the way
    (`training: 5` and the flag --epochs: the flag has nowhere to go)."""
    node = data
    parts = key.split(".")
    for depth, part in enumerate(parts[:-1], 1):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            field = ".".join(parts[:depth])
            raise ConfigError(
                f"invalid config field '{field}': must be a mapping of settings (got {node!r}); "
                f"write it as {field}: {{{parts[depth]}: ...}}"
            )
    node[parts[-1]] = value


def build(model: type[ModelT], data: dict[str, Any], overrides: dict[str, Any]) -> ModelT:
    """`model` validated from a config file's mapping with dotted overrides (None: not given) on top;
    ConfigError naming the first bad field."""
    merged = json.loads(json.dumps(data, default=str))  # a YAML date or set becomes a string the check names
    for key, value in overrides.items():
        if value is not None:
            set_dotted(merged, key, value)
    try:
        return model.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """The first validation error as one line: the field, what is wrong, the value given."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "config"
    if error["type"] == "extra_forbidden":
        return f"unknown config key '{field}': remove it or check its spelling"
    msg = error["msg"].removeprefix("Value error, ")
    got = error.get("input")
    shown = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
    more = f" [+{len(exc.errors()) - 1} more]" if len(exc.errors()) > 1 else ""
    return f"invalid config field '{field}': {msg}{shown}{more}"
