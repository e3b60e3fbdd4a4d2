"""The orchestrator's view of the network: per-node bandwidth, delay and loss
from one interface with two sources, a static file/dict or the SDN
controller's northbound REST API (`GET /v1/paths?src=<orchestrator ip>`)."""
from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PathMetrics:
    bandwidth_mbps: float
    delay_ms: float
    loss_pct: float
    updated_at: float
    stale: bool = False


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
        self.table = {k: _parse(v, now) for k, v in table.items()}

    @classmethod
    def from_file(cls, path: str | Path) -> "StaticMetrics":
        try:
            return cls(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise ValueError(f"metrics.static_file '{path}' does not exist") from None
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"metrics.static_file '{path}' is not a {{node: {{bandwidth_mbps, delay_ms, loss_pct}}}} map ({exc})") from None

    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathMetrics]:
        out = {}
        for n in nodes:
            m = self.table.get(n.node_id) or (self.table.get(n.ip) if n.ip else None)
            if m is not None:
                out[n.node_id] = m
        return out


def _parse(rec: dict, default_ts: float) -> PathMetrics:
    vals = [float(rec["bandwidth_mbps"]), float(rec["delay_ms"]), float(rec["loss_pct"])]
    if not all(math.isfinite(v) and v >= 0 for v in vals):
        raise TypeError(f"metrics must be finite and >= 0: {rec}")
    return PathMetrics(*vals, updated_at=float(rec.get("updated_at", default_ts)))


class ControllerMetrics:
    """Figures from the controller app. A node without fresh figures (the controller
    unreachable, or back after a restart but not done measuring that node) keeps its
    last-known ones, marked stale; `stale_after_s` after they were fresh they are
    dropped, so scoring falls back to compute and training time (missing columns
    score as uninformative, see scoring.normalise).

    In a dilated run (factor k) the controller measures links k times slower than the
    emulated world's; figures are turned back into emulated units (bandwidth x k,
    delay / k; loss is a ratio and unchanged)."""

    def __init__(self, base_url: str, src_ip: str, stale_after_s: float, timeout_s: float = 2.0, dilation: float = 1.0) -> None:
        self.dilation = dilation
        self.stale_after_s = stale_after_s * dilation  # emulated seconds, lived through x k
        self.url = base_url.rstrip("/") + "/v1/paths"
        self.src_ip = src_ip
        self.timeout_s = timeout_s
        self.last: dict[str, PathMetrics] = {}
        self.fresh_at: dict[str, float] = {}

    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathMetrics]:
        now = time.time()
        try:
            fresh = self._fetch(nodes, now)
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            log.warning("controller metrics unavailable (%s); using last-known figures up to %.0f s old", exc, self.stale_after_s)
            fresh = {}
        for node_id, m in fresh.items():
            self.last[node_id], self.fresh_at[node_id] = m, now
        out = dict(fresh)
        for n in nodes:
            m = self.last.get(n.node_id)
            if n.node_id not in out and m is not None and now - self.fresh_at[n.node_id] <= self.stale_after_s:
                out[n.node_id] = PathMetrics(m.bandwidth_mbps, m.delay_ms, m.loss_pct, m.updated_at, stale=True)
        return out

    def _undilate(self, m: PathMetrics) -> PathMetrics:
        k = self.dilation
        return PathMetrics(m.bandwidth_mbps * k, m.delay_ms / k, m.loss_pct, m.updated_at, m.stale)

    def _fetch(self, nodes: list[NodeAddress], now: float) -> dict[str, PathMetrics]:
        resp = requests.get(self.url, params={"src": self.src_ip}, timeout=self.timeout_s)
        resp.raise_for_status()
        # A path whose figures are not measured yet (null) is left out: unknown now.
        by_ip = {str(r["ip"]): self._undilate(_parse(r, now)) for r in resp.json()["paths"]
                 if all(r.get(k) is not None for k in ("bandwidth_mbps", "delay_ms", "loss_pct"))}
        return {n.node_id: by_ip[n.ip] for n in nodes if n.ip in by_ip}
