"""The orchestrator's view of the network: per-node bandwidth, delay and loss from one
interface with two sources, a static file/dict or the SDN controller's northbound REST
API (`GET /v1/paths?src=<orchestrator ip>`).

Every engine asks a `NetworkView` and gets the figures ready to score, in one type
(`PathFigures`, edgeft/paths_api.py): in the emulated world's units (the controller's are
turned back through the run's Clock), merged with last-known values where a figure is
missing now, and with the adjusted loss (`scored_loss_pct`, edgeft/loss_confidence.py)
next to the measured one (`loss_pct`)."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Protocol

import requests

from edgeft.clock import Clock
from edgeft.link_figures import LinkFigures
from edgeft.loss_confidence import LossCount, scored_loss
from edgeft.paths_api import PathFigures, get_paths, parse_answer, parse_static_table, read_static_file
from orchestrator.config import OrchestratorConfig

log = logging.getLogger(__name__)


def settle_loss(snapshot: dict[str, PathFigures]) -> dict[str, PathFigures]:
    """Attach to every probe-measured loss the estimate the scorer uses: shrunk to the
    pooled loss and tied with the best node's where the intervals overlap
    (edgeft/loss_confidence.py). Figures without a sample count are left alone."""
    ids = [nid for nid, fig in snapshot.items() if fig.loss_samples > 0 and not math.isnan(fig.loss_pct)]
    counts = [LossCount.from_pct(snapshot[nid].loss_pct, snapshot[nid].loss_samples) for nid in ids]
    adjusted = scored_loss(counts)
    return {**snapshot, **{nid: replace(snapshot[nid], scored_loss_pct=v) for nid, v in zip(ids, adjusted)}}


@dataclass(frozen=True)
class NodeAddress:
    """A node as the network view looks it up: by id (a static table) or by ip (the controller)."""

    node_id: str
    ip: str | None


class MetricsSource(Protocol):
    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathFigures]:
        """Latest figures per node id, in the emulated world's units; a node with none is absent."""
        ...


class NetworkView:
    """What every engine asks for the figures of its live nodes: a source's figures with the
    adjusted loss attached (`settle_loss`), so no engine settles the loss itself."""

    def __init__(self, source: MetricsSource) -> None:
        self.source = source.source if isinstance(source, NetworkView) else source

    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathFigures]:
        return settle_loss(self.source.snapshot(nodes))


class StaticMetrics:
    """Fixed figures keyed by node id (or ip): for runs without SDN."""

    def __init__(self, table: dict[str, dict[str, float]]) -> None:
        self.table = parse_static_table(table)

    @classmethod
    def from_file(cls, path: str) -> "StaticMetrics":
        source = cls({})
        source.table = read_static_file(path)
        return source

    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathFigures]:
        out = {}
        for node in nodes:
            figures = self.table.get(node.node_id) or (self.table.get(node.ip) if node.ip else None)
            if figures is not None:
                out[node.node_id] = figures
        return out


class ControllerMetrics:
    """Figures from the controller app, one by one: a figure the controller does not have
    now (unreachable, or back after a restart and not done measuring) keeps its
    last-known value, marked stale, for `stale_after_s`; after that it is missing,
    which scores as neutral (the median of its column) without hiding the node's other
    figures.

    In a dilated run the controller measures links on the wall, slower than the emulated
    world's; the run's Clock turns its figures back into emulated units (loss is a ratio
    and unchanged).

    `own_port` is this orchestrator's service port: the controller does not count its
    transfers with a node as load on that node's path."""

    def __init__(
        self,
        base_url: str,
        src_ip: str,
        stale_after_s: float,
        timeout_s: float = 2.0,
        clock: Clock | None = None,
        own_port: int | None = None,
        *,
        dilation: float | None = None,
    ) -> None:
        """`clock`: the run's; `dilation` builds one from the bare factor (tests, old callers)."""
        self.clock = clock or Clock(dilation if dilation is not None else 1.0)
        self.stale_after_s = self.clock.to_wall(stale_after_s)  # emulated seconds, lived through on the wall
        self.base_url = base_url
        self.src_ip = src_ip
        self.own_port = own_port
        self.timeout_s = timeout_s
        self.last: dict[str, PathFigures] = {}  # per node: the latest value of every figure
        self.fresh_at: dict[tuple[str, str], float] = {}  # (node, figure) -> when it was last fresh

    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathFigures]:
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
        for node in nodes:
            merged = self._merge(node.node_id, fresh.get(node.node_id), now)
            if merged is not None:
                out[node.node_id] = merged
        return out

    def _merge(self, node_id: str, fresh: PathFigures | None, now: float) -> PathFigures | None:
        """Fresh figures where there are some, last-known ones (stale) up to the limit."""
        last = self.last.get(node_id)
        values, stale = {}, False
        for name in LinkFigures.FIELDS:
            value = getattr(fresh, name) if fresh is not None else math.nan
            if not math.isnan(value):
                self.fresh_at[(node_id, name)] = now
            elif (
                last is not None
                and not math.isnan(getattr(last, name))
                and now - self.fresh_at.get((node_id, name), -math.inf) <= self.stale_after_s
            ):
                value, stale = getattr(last, name), True
            values[name] = value
        if all(math.isnan(v) for v in values.values()):
            return None
        base = fresh or last
        merged = replace(base, **values, stale=stale) if base is not None else None
        if merged is not None:
            self.last[node_id] = merged
        return merged

    def _undilate(self, figures: PathFigures) -> PathFigures:
        """Figures measured on the wall, in the emulated world's units (capacity is a rate too)."""
        clock = self.clock
        return replace(
            figures,
            bandwidth_mbps=clock.reported_rate_mbps(figures.bandwidth_mbps),
            delay_ms=clock.reported_delay_ms(figures.delay_ms),
            capacity_mbps=clock.reported_rate_mbps(figures.capacity_mbps),
        )

    def _fetch(self, nodes: list[NodeAddress], now: float) -> dict[str, PathFigures]:
        records = get_paths(self.base_url, self.src_ip, self.own_port, self.timeout_s)
        by_ip = {ip: self._undilate(parse_answer(rec, now)) for ip, rec in records.items()}
        return {node.node_id: by_ip[node.ip] for node in nodes if node.ip in by_ip}


def build_metrics(cfg: OrchestratorConfig) -> NetworkView:
    """The run's network view (config `metrics`): the controller app's /v1/paths, or a static file."""
    settings = cfg.metrics
    if settings.source == "controller":
        return NetworkView(
            ControllerMetrics(
                settings.controller_url,
                settings.orchestrator_ip,
                settings.stale_after_s,
                clock=cfg.emulation.clock,
                own_port=cfg.port or None,
            )
        )
    return NetworkView(StaticMetrics.from_file(settings.static_file) if settings.static_file else StaticMetrics({}))
