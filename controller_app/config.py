"""The controller app's settings (its config): one validated object.

`edgeft controller` builds it from a config file (`--config`, YAML/TOML/JSON) and its
flags, and hands it to the app inside osken-manager/ryu-manager as one JSON
environment variable, EDGEFT_CONTROLLER (the manager owns the command line). Run
under the manager by hand, the app also reads the single EDGEFT_* variables below;
either way the same model validates them, and a bad value names its variable."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from controller_app import tokens

ENV = "EDGEFT_CONTROLLER"


class ControllerSettings(BaseModel):
    """Every setting of the controller app, validated (defaults: the values below)."""

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
    token: str = Field(
        default="",
        description="bearer token the write routes require; '' (the default): read it from token_file, or generate "
        "one there (the write routes are never open)",
    )
    token_file: str = Field(
        default="",
        description="file holding the write token, mode 0600; '' = .edgeft/controller-<rest_port>.token in the "
        "working directory",
    )
    ofp_listen_host: str = Field(
        default="127.0.0.1", description="OpenFlow listen address (loopback by default: switches on this machine)"
    )
    nice: int = Field(
        default=0,
        ge=-20,
        le=19,
        description="the app's scheduling niceness: below 0 puts it ahead of the machine's other work, so that its "
        "packet-ins are handled as they come (a busy host bunches a capacity train's); needs root; 0 leaves it",
    )
    measure_from: str = Field(
        default="10.0.0.1",
        description="IP of the host the probes and trains start from (the orchestrator's; default: the server host "
        "of topologies/edge_cloud.py); '' = none until PUT /v1/measure names one",
    )
    own_port: int | None = Field(
        default=8700,
        ge=1,
        le=65535,
        description="the orchestrator's TCP service port, whose traffic is not load (default: the port `edgeft "
        "compare` gives it)",
    )

    @field_validator("ofp_listen_host", "measure_from")
    @classmethod
    def _an_ip_address(cls, value: str, info) -> str:
        if value == "" and info.field_name == "measure_from":
            return value
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError("must be an IP address, e.g. 127.0.0.1") from None

    def token_path(self) -> Path:
        """The token file: token_file, or the default for this REST port (relative to the working directory)."""
        return Path(self.token_file) if self.token_file else tokens.default_path(self.rest_port)


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
    "token_file": "EDGEFT_TOKEN_FILE",
    "ofp_listen_host": "EDGEFT_OFP_LISTEN_HOST",
    "measure_from": "EDGEFT_MEASURE_FROM",
    "own_port": "EDGEFT_OWN_PORT",
    "nice": "EDGEFT_NICE",
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
            raise ValueError(f"{ENV}: {_first(exc, lambda field: field)}") from None
    given = {field: env[var] for field, var in SINGLE_VARS.items() if var in env}
    try:
        return ControllerSettings.model_validate(given)
    except ValidationError as exc:
        raise ValueError(_first(exc, lambda field: SINGLE_VARS.get(field, field))) from None


def _first(exc: ValidationError, name) -> str:
    """The first validation error, one line, its field named by `name(field)`."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"])
    return f"{name(field)}: {error['msg']} (got {error.get('input')!r})"
