"""The controller's `GET /v1/paths`, both sides: `PathAnswer`, the one schema of a path's
record (the controller app builds its answers with it, its OpenAPI document is made from
it), and one request and one parser for the orchestrator's metrics source, the runners
and the benchmarks alike."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from edgeft.link_figures import LinkFigures


Figure = Annotated[float, Field(ge=0, allow_inf_nan=False)] | None
Count = Annotated[int, Field(ge=0)]


class PathAnswer(BaseModel):
    """One record of `paths` in the controller's answer; null: not measured yet."""

    model_config = ConfigDict(extra="forbid")

    ip: str
    bandwidth_mbps: Figure = Field(description="= available_mbps (the name older clients read)")
    available_mbps: Figure = Field(description="capacity minus the load of others on the path, Mb/s")
    capacity_mbps: Figure = Field(description="the path's capacity: learned by packet trains, or a registered hint")
    capacity_source: Literal["train", "hint"] | None
    capacity_samples: Count
    capacity_updated_at: float | None = None
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
    updated_at: float | None


@dataclass(frozen=True)
class PathRecord:
    """One path's figures as the controller serves them; NaN: not measured yet."""

    ip: str
    link: LinkFigures
    capacity_mbps: float
    loss_samples: int  # probes behind loss_pct
    updated_at: float | None
    capacity_source: str = ""  # "train", "hint", or "" (not measured, or a static file)
    capacity_spread_mbps: float = math.nan  # how far the trains behind capacity_mbps disagree; NaN: unknown


def _figure(rec: dict, key: str) -> float:
    v = rec.get(key)
    if v is None:
        return math.nan
    v = float(v)
    if not math.isfinite(v) or v < 0:
        raise TypeError(f"'{key}' must be finite and >= 0 (got {rec.get(key)!r}) in {rec}")
    return v


def parse_record(rec: dict) -> PathRecord:
    """One record of `paths` (or of a static metrics file): a figure that is absent or null
    is missing (NaN); a negative or infinite one is a TypeError naming it."""
    if not isinstance(rec, dict):
        raise TypeError(f"a path record is a JSON object (got {rec!r})")
    link = LinkFigures(*(_figure(rec, f) for f in LinkFigures.FIELDS))
    stamp = rec.get("updated_at")
    return PathRecord(
        str(rec.get("ip", "")),
        link,
        _figure(rec, "capacity_mbps"),
        int(rec.get("samples") or 0),
        float(stamp) if stamp else None,
        str(rec.get("capacity_source") or ""),
        _figure(rec, "capacity_spread_mbps"),
    )


def parse_answer(rec: dict) -> PathRecord:
    """One record of the controller's answer, checked against `PathAnswer` (a pydantic
    ValidationError, a ValueError, names what does not fit)."""
    return parse_record(PathAnswer.model_validate(rec).model_dump())


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
