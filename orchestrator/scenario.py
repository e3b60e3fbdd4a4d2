"""A dynamic run's scenario: link and compute changes at epoch starts (config
`scenario`), and a static metrics source that shows them as a controller would."""

from __future__ import annotations

from dataclasses import replace

from orchestrator.config import ScenarioEvent
from orchestrator.network_view import MetricsSource, NodeAddress, PathMetrics

LINK_FIELDS = ("bandwidth_mbps", "delay_ms", "loss_pct")


class Scenario:
    """Changes of links and compute at epoch starts (config `scenario`)."""

    def __init__(self, events: list[ScenarioEvent]) -> None:
        self.events = sorted(events, key=lambda e: e.epoch)

    def state(self, node_id: str, epoch: int) -> dict[str, float]:
        """The overrides in force for a node at an epoch (later events win)."""
        out: dict[str, float] = {}
        for e in self.events:
            if e.node_id == node_id and e.epoch <= epoch:
                if e.restore:
                    out.clear()
                out.update(
                    {k: v for k, v in e.model_dump(exclude={"epoch", "node_id", "restore"}).items() if v is not None}
                )
        return out

    def compute_power(self, node_id: str, epoch: int) -> float | None:
        return self.state(node_id, epoch).get("compute_power")


class ScenarioMetrics:
    """A static metrics source with the scenario's link changes applied: what a
    controller would measure after the change (runs without a real network)."""

    def __init__(self, inner: MetricsSource, scenario: Scenario) -> None:
        self.inner, self.scenario, self.epoch = inner, scenario, 0

    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathMetrics]:
        snap = self.inner.snapshot(nodes)
        for nid, m in snap.items():
            links = {k: v for k, v in self.scenario.state(nid, self.epoch).items() if k in LINK_FIELDS}
            if links:
                snap[nid] = replace(m, **links)
        return snap
