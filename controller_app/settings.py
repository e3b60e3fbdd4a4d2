"""The controller app's settings: one validated object.

`edgeft controller` builds it from a config file (`--config`, YAML/TOML/JSON) and its
flags, and hands it to the app inside osken-manager/ryu-manager as one JSON
environment variable, EDGEFT_CONTROLLER (the manager owns the command line). Run
under the manager by hand, the app also reads the single EDGEFT_* variables below;
either way the same model validates them, and a bad value names its variable."""

from __future__ import annotations

import json
import os
from typing import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENV = "EDGEFT_CONTROLLER"


class ControllerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rest_host: str = Field(default="127.0.0.1", description="northbound REST bind address (loopback by default)")
    rest_port: int = Field(default=8080, ge=1, le=65535)
    poll_s: float = Field(default=1.0, gt=0, description="port-stats and echo polling period, seconds")
    probe_hz: float = Field(default=2.0, gt=0, description="delay/loss probes per node per second")
    loss_window: int = Field(default=600, ge=1, description="probes behind each loss figure")
    probe_timeout_s: float = Field(
        default=2.0, gt=0, description="seconds before a probe counts as lost (x k in a dilated run)"
    )
    train_interval_s: float = Field(
        default=10.0, ge=0, description="seconds between two capacity trains to one node; 0: none"
    )
    token: str = Field(default="", description="bearer token the write endpoints require ('' = open)")


# One variable per field, for a user who starts the manager without the wrapper.
SINGLE_VARS = {
    "rest_host": "EDGEFT_REST_HOST",
    "rest_port": "EDGEFT_REST_PORT",
    "poll_s": "EDGEFT_POLL_S",
    "probe_hz": "EDGEFT_PROBE_HZ",
    "loss_window": "EDGEFT_LOSS_WINDOW",
    "probe_timeout_s": "EDGEFT_PROBE_TIMEOUT_S",
    "train_interval_s": "EDGEFT_TRAIN_INTERVAL_S",
    "token": "EDGEFT_TOKEN",
}


def to_env(settings: ControllerSettings) -> dict[str, str]:
    """What the wrapper adds to the manager's environment."""
    return {ENV: settings.model_dump_json()}


def from_env(environ: Mapping[str, str] | None = None) -> ControllerSettings:
    """The settings in `environ` (os.environ by default): EDGEFT_CONTROLLER if set, else the
    single variables, else the defaults. Raises ValueError naming the variable to fix."""
    env = os.environ if environ is None else environ
    if ENV in env:
        try:
            return ControllerSettings.model_validate(json.loads(env[ENV]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{ENV} is not JSON ({exc}): let `edgeft controller` set it, or unset it") from None
        except ValidationError as exc:
            raise ValueError(f"{ENV}: {_first(exc, lambda f: f)}") from None
    given = {f: env[var] for f, var in SINGLE_VARS.items() if var in env}
    try:
        return ControllerSettings.model_validate(given)
    except ValidationError as exc:
        raise ValueError(_first(exc, lambda f: SINGLE_VARS.get(f, f))) from None


def _first(exc: ValidationError, name) -> str:
    e = exc.errors()[0]
    field = ".".join(str(p) for p in e["loc"])
    return f"{name(field)}: {e['msg']} (got {e.get('input')!r})"
