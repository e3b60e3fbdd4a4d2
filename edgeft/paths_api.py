"""The controller's `GET /v1/paths`, both sides: `PathAnswer`, the one schema of a path's
record (the controller app builds its answers with it, its OpenAPI document is made from
it), and one request for the orchestrator's metrics source, the runners and the benchmarks
alike. A record is validated once, straight into `PathFigures`, the one type the network
figures keep from here to the scorer: the controller's answer by its schema
(`parse_answer`), a static file's record by `parse_record`."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from edgeft.link_figures import HasLinkFigures, LinkFigures


Figure = Annotated[float, Field(ge=0, allow_inf_nan=False)] | None
Count = Annotated[int, Field(ge=0)]
Stamp = Annotated[float, Field(allow_inf_nan=False)] | None  # a time in seconds; null: never


class PathAnswer(BaseModel):
    """One record of `paths` in the controller's answer; null: not measured yet."""

    model_config = ConfigDict(extra="forbid")

    ip: str
    bandwidth_mbps: Figure = Field(
        description="= available_mbps: the B figure of the score, under the key static metrics files use too"
    )
    available_mbps: Figure = Field(description="capacity minus the load of others on the path, Mb/s")
    capacity_mbps: Figure = Field(description="the path's capacity: learned by packet trains, or a registered hint")
    capacity_source: Literal["train", "hint"] | None
    capacity_samples: Count
    capacity_updated_at: Stamp = None
    capacity_trains: Count = Field(default=0, description="recent accepted trains the train figure rests on")
    capacity_spread_mbps: Figure = Field(
        default=None, description="largest minus smallest of those trains' estimates: how far they disagree"
    )
    capacity_refused: Count = Field(
        default=0, description="trains refused so far (packet-ins bunched by the controller's scheduling, poor fit)"
    )
    own_traffic_mbps: dict[Literal["down", "up"], float] = Field(default_factory=dict)
    delay_ms: Figure
    delay_samples: Count = 0
    loss_pct: Figure
    loss_ci95_pct: Annotated[list[float], Field(min_length=2, max_length=2)] | None
    samples: Count = Field(description="probes behind loss_pct")
    updated_at: Stamp


@dataclass(frozen=True)
class PathFigures(HasLinkFigures):
    """One node's network figures, the one type from the controller's answer (or a static
    file) to the scorer; NaN = missing (not measured yet, or stale past the limit), which
    the scorer treats as neutral (orchestrator/scoring.py). `loss_pct` is the loss as
    measured; `scored_loss_pct` the adjusted loss the scorer uses (edgeft/loss_confidence.py,
    attached by the network view; NaN: none, the measured one counts)."""

    bandwidth_mbps: float
    delay_ms: float
    loss_pct: float
    updated_at: float = math.nan
    stale: bool = False  # some figure is a last-known value, not a fresh one
    loss_samples: int = 0  # probes behind loss_pct (0: not from probes, e.g. a static file)
    capacity_mbps: float = math.nan
    scored_loss_pct: float = math.nan
    capacity_source: str = ""  # "train" (measured), "hint" (the topology's figure) or "" (none; a static file)
    ip: str = ""
    capacity_spread_mbps: float = math.nan  # how far the trains behind capacity_mbps disagree; NaN: unknown

    @property
    def missing(self) -> list[str]:
        return self.link.missing

    @property
    def loss_for_scoring(self) -> float:
        """The adjusted loss where there is one, else the measured loss."""
        return self.loss_pct if math.isnan(self.scored_loss_pct) else self.scored_loss_pct


def _figure(rec: dict, key: str) -> float:
    value = rec.get(key)
    if value is None:
        return math.nan
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise TypeError(f"'{key}' must be finite and >= 0 (got {value!r}) in {rec}")
    return number


def _count(rec: dict, key: str) -> int:
    value = rec.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TypeError(f"'{key}' must be a whole number >= 0 (got {value!r})")
    if value != int(value):
        raise TypeError(f"'{key}' must be a whole number >= 0 (got {value!r})")
    return int(value)


def _stamp(rec: dict, received_at: float) -> float:
    value = rec.get("updated_at")
    if value is None:
        return received_at
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"'updated_at' must be a finite time in seconds (got {value!r})")
    return float(value) or received_at


def parse_record(rec: dict, received_at: float = math.nan) -> PathFigures:
    """One record of a static metrics file (the /v1/paths shape, any subset of it), checked
    once: a figure that is absent or null is missing (NaN); a negative, infinite or
    non-numeric one, a fractional sample count or a non-finite time stamp is a TypeError
    naming it. `received_at` stands in for a missing time stamp."""
    if not isinstance(rec, dict):
        raise TypeError(f"a path record is a JSON object (got {rec!r})")
    return PathFigures(
        *(_figure(rec, name) for name in LinkFigures.FIELDS),
        updated_at=_stamp(rec, received_at),
        loss_samples=_count(rec, "samples"),
        capacity_mbps=_figure(rec, "capacity_mbps"),
        capacity_source=str(rec.get("capacity_source") or ""),
        ip=str(rec.get("ip", "")),
        capacity_spread_mbps=_figure(rec, "capacity_spread_mbps"),
    )


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def parse_answer(rec: dict, received_at: float = math.nan) -> PathFigures:
    """One record of the controller's answer, checked once against `PathAnswer` (a pydantic
    ValidationError, a ValueError, names what does not fit) and turned into the figures
    as they are: the schema has already enforced every bound."""
    answer = PathAnswer.model_validate(rec)
    return PathFigures(
        _nan(answer.bandwidth_mbps),
        _nan(answer.delay_ms),
        _nan(answer.loss_pct),
        updated_at=answer.updated_at or received_at,
        loss_samples=answer.samples,
        capacity_mbps=_nan(answer.capacity_mbps),
        capacity_source=answer.capacity_source or "",
        ip=answer.ip,
        capacity_spread_mbps=_nan(answer.capacity_spread_mbps),
    )


def read_static_file(path: str | Path) -> dict[str, PathFigures]:
    """A static metrics file, `{node id or ip: {bandwidth_mbps, delay_ms, loss_pct, ...}}`, parsed
    once; a ValueError naming the file and the format it wants for one that does not fit."""
    try:
        return parse_static_table(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise ValueError(f"'{path}' does not exist: give a JSON file of per-node figures") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"'{path}' is not a {{node: {{bandwidth_mbps, delay_ms, loss_pct}}}} map ({str(exc)[:120]})"
        ) from None


def parse_static_table(table: object, received_at: float | None = None) -> dict[str, PathFigures]:
    """A static table of per-node records (node id or ip -> record); TypeError for one that
    is not an object of objects or has a bad figure."""
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise TypeError("expected a JSON object of objects")
    now = time.time() if received_at is None else received_at
    return {str(key): parse_record(rec, now) for key, rec in table.items()}


def get_paths(base_url: str, src_ip: str, own_port: int | None = None, timeout_s: float = 2.0) -> dict[str, dict]:
    """The controller's raw records from `src_ip` to every node it knows, by node ip.
    Raises requests' errors (HTTPError for a 4xx: 404 while the controller does not know
    `src_ip` yet, 409 while it measures from another host or counts another own_port) and
    ValueError for a body that is not the documented JSON. A read: it changes nothing."""
    params: dict = {"src": src_ip, **({"own_port": own_port} if own_port else {})}
    resp = requests.get(base_url.rstrip("/") + "/v1/paths", params=params, timeout=timeout_s)
    resp.raise_for_status()
    return {str(r["ip"]): r for r in resp.json()["paths"]}


def known_ips(base_url: str, src_ip: str, own_port: int | None = None, timeout_s: float = 2.0) -> set[str]:
    """The node ips the controller has paths to now; none while it cannot answer."""
    try:
        return set(get_paths(base_url, src_ip, own_port, timeout_s))
    except (requests.RequestException, ValueError, KeyError):
        return set()


def set_measuring_point(base_url: str, src_ip: str, own_port: int | None, token: str, timeout_s: float = 5.0) -> None:
    """Name the host the controller's probes and trains start from, and the port of its
    service whose traffic is the run's own (PUT /v1/measure, a write: it needs the
    controller's token). Raises requests' errors (HTTPError 401 for a wrong token)."""
    resp = requests.put(
        base_url.rstrip("/") + "/v1/measure",
        json={"src": src_ip, "own_port": own_port},
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout_s,
    )
    resp.raise_for_status()
