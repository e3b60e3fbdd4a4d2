"""The orchestrator's view of the network: per-node bandwidth, delay and loss
from one interface with two sources, a static file/dict or the SDN
controller's northbound REST API (`GET /v1/paths?src=<orchestrator ip>`)."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, astuple, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import requests

from edgeft.link_figures import HasLinkFigures, LinkFigures
from edgeft.loss_confidence import LossCount, scored_loss
from edgeft.paths_api import get_paths, parse_answer, parse_record

if TYPE_CHECKING:
    from orchestrator.config import OrchestratorConfig

log = logging.getLogger(__name__)


FIGURES = LinkFigures.FIELDS


@dataclass(frozen=True)
class PathMetrics(HasLinkFigures):
    """A node's network figures; NaN = missing (not measured yet, or stale past the limit),
    which the scorer treats as neutral (orchestrator/scoring.py)."""

    bandwidth_mbps: float
    delay_ms: float
    loss_pct: float
    updated_at: float
    stale: bool = False  # some figure is a last-known value, not a fresh one
    loss_samples: int = 0  # probes behind loss_pct (0: not from probes, e.g. a static file)
    capacity_mbps: float = math.nan
    scored_loss_pct: float = math.nan  # the loss the scorer uses (settle_loss); NaN: loss_pct as is
    capacity_source: str = ""  # "train" (measured), "hint" (the topology's figure) or "" (none; a static file)

    @property
    def missing(self) -> list[str]:
        return self.link.missing

    @property
    def loss_for_scoring(self) -> float:
        return self.loss_pct if math.isnan(self.scored_loss_pct) else self.scored_loss_pct


def settle_loss(snap: dict[str, "PathMetrics"]) -> dict[str, "PathMetrics"]:
    """Attach to every probe-measured loss the estimate the scorer uses: shrunk to the
    pooled loss and tied with the best node's where the intervals overlap
    (edgeft/loss_confidence.py). Figures without a sample count are left alone."""
    ids = [i for i, m in snap.items() if m.loss_samples > 0 and not math.isnan(m.loss_pct)]
    scored = scored_loss([LossCount.from_pct(snap[i].loss_pct, snap[i].loss_samples) for i in ids])
    return {**snap, **{i: replace(snap[i], scored_loss_pct=v) for i, v in zip(ids, scored)}}


@dataclass(frozen=True)
class NodeAddress:
    node_id: str
    ip: str | None


class MetricsSource(Protocol):
    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathMetrics]:
        """Latest metrics per node id; a node with no figures is absent."""
        ...


class StaticMetrics:
    """Fixed figures keyed by node id (or ip): for runs without SDN."""

    def __init__(self, table: dict[str, dict[str, float]]) -> None:
        now = time.time()
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            raise TypeError("expected a JSON object of objects")
        self.table = {k: _parse(v, now) for k, v in table.items()}

    @classmethod
    def from_file(cls, path: str | Path) -> "StaticMetrics":
        try:
            return cls(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise ValueError(f"'{path}' does not exist: give a JSON file of per-node figures") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"'{path}' is not a {{node: {{bandwidth_mbps, delay_ms, loss_pct}}}} map ({str(exc)[:120]})"
            ) from None

    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathMetrics]:
        out = {}
        for n in nodes:
            m = self.table.get(n.node_id) or (self.table.get(n.ip) if n.ip else None)
            if m is not None:
                out[n.node_id] = m
        return out


def _check_numbers(rec: object) -> None:
    """The record's count and time stamp, which edgeft/paths_api.py converts as they come: a
    TypeError naming the field for one that is not a finite number (`"samples": 1e400`)."""
    if not isinstance(rec, dict):
        return  # parse_record names that
    n = rec.get("samples")
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n) or n < 0):
        raise TypeError(f"'samples' must be a whole number >= 0 (got {n!r})")
    if n is not None and n != int(n):
        raise TypeError(f"'samples' must be a whole number >= 0 (got {n!r})")
    stamp = rec.get("updated_at")
    if stamp is not None and (
        isinstance(stamp, bool) or not isinstance(stamp, (int, float)) or not math.isfinite(stamp)
    ):
        raise TypeError(f"'updated_at' must be a finite time in seconds (got {stamp!r})")


def _parse(rec: dict, default_ts: float, answer: bool = False) -> PathMetrics:
    """One record (edgeft/paths_api.py): the controller's (`answer`, checked against its
    schema) or a static file's; a figure that is absent or null is missing (NaN)."""
    _check_numbers(rec)
    r = parse_answer(rec) if answer else parse_record(rec)
    return PathMetrics(
        *astuple(r.link),
        updated_at=r.updated_at or default_ts,
        loss_samples=r.loss_samples,
        capacity_mbps=r.capacity_mbps,
        capacity_source=getattr(r, "capacity_source", "") or "",
    )


class ControllerMetrics:
    """Figures from the controller app, one by one: a figure the controller does not have
    now (unreachable, or back after a restart and not done measuring) keeps its
    last-known value, marked stale, for `stale_after_s`; after that it is missing,
    which scores as neutral (the median of its column) without hiding the node's other
    figures.

    In a dilated run (factor k) the controller measures links k times slower than the
    emulated world's; figures are turned back into emulated units (bandwidth x k,
    delay / k; loss is a ratio and unchanged).

    `own_port` is this orchestrator's service port: the controller does not count its
    transfers with a node as load on that node's path."""

    def __init__(
        self,
        base_url: str,
        src_ip: str,
        stale_after_s: float,
        timeout_s: float = 2.0,
        dilation: float = 1.0,
        own_port: int | None = None,
    ) -> None:
        self.dilation = dilation
        self.stale_after_s = stale_after_s * dilation  # emulated seconds, lived through x k
        self.base_url = base_url
        self.src_ip = src_ip
        self.own_port = own_port
        self.timeout_s = timeout_s
        self.last: dict[str, PathMetrics] = {}  # per node: the latest value of every figure
        self.fresh_at: dict[tuple[str, str], float] = {}  # (node, figure) -> when it was last fresh

    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathMetrics]:
        now = time.time()
        try:
            fresh = self._fetch(nodes, now)
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            log.warning(
                "controller metrics unavailable (%s); using last-known figures up to %.0f s old",
                exc,
                self.stale_after_s,
            )
            fresh = {}
        out = {}
        for n in nodes:
            merged = self._merge(n.node_id, fresh.get(n.node_id), now)
            if merged is not None:
                out[n.node_id] = merged
        return out

    def _merge(self, node_id: str, fresh: PathMetrics | None, now: float) -> PathMetrics | None:
        """Fresh figures where there are some, last-known ones (stale) up to the limit."""
        last = self.last.get(node_id)
        vals, stale = {}, False
        for f in FIGURES:
            v = getattr(fresh, f) if fresh is not None else math.nan
            if not math.isnan(v):
                self.fresh_at[(node_id, f)] = now
            elif (
                last is not None
                and not math.isnan(getattr(last, f))
                and now - self.fresh_at.get((node_id, f), -math.inf) <= self.stale_after_s
            ):
                v, stale = getattr(last, f), True
            vals[f] = v
        if all(math.isnan(v) for v in vals.values()):
            return None
        base = fresh or last
        merged = replace(base, **vals, stale=stale) if base is not None else None
        if merged is not None:
            self.last[node_id] = merged
        return merged

    def _undilate(self, m: PathMetrics) -> PathMetrics:
        k = self.dilation
        return replace(m, **asdict(m.link.undilated(k)), capacity_mbps=m.capacity_mbps * k)

    def _fetch(self, nodes: list[NodeAddress], now: float) -> dict[str, PathMetrics]:
        records = get_paths(self.base_url, self.src_ip, self.own_port, self.timeout_s)
        by_ip = {ip: self._undilate(_parse(r, now, answer=True)) for ip, r in records.items()}
        return {n.node_id: by_ip[n.ip] for n in nodes if n.ip in by_ip}


def build_metrics(cfg: "OrchestratorConfig") -> MetricsSource:
    """The run's metrics source (config `metrics`): the controller app's /v1/paths, or a static file."""
    m = cfg.metrics
    if m.source == "controller":
        return ControllerMetrics(
            m.controller_url, m.orchestrator_ip, m.stale_after_s, dilation=cfg.emulation.k, own_port=cfg.port or None
        )
    return StaticMetrics.from_file(m.static_file) if m.static_file else StaticMetrics({})
