"""A dynamic run's scenario: link and compute changes at epoch starts (config
`scenario`), and a static metrics source that shows them as a controller would."""

from __future__ import annotations

from dataclasses import replace

from edgeft.link_figures import LinkFigures
from edgeft.paths_api import PathFigures
from orchestrator.config import ScenarioEvent
from orchestrator.network_view import MetricsSource, NodeAddress


class Scenario:
    """Changes of links and compute at epoch starts (config `scenario`)."""

    def __init__(self, events: list[ScenarioEvent]) -> None:
        self.events = sorted(events, key=lambda event: event.epoch)

    def state(self, node_id: str, epoch: int) -> dict[str, float]:
        """The overrides in force for a node at an epoch (later events win)."""
        out: dict[str, float] = {}
        for event in self.events:
            if event.node_id == node_id and event.epoch <= epoch:
                if event.restore:
                    out.clear()
                changes = event.model_dump(exclude={"epoch", "node_id", "restore", "crash"}).items()
                out.update({name: value for name, value in changes if value is not None})
        return out

    def compute_power(self, node_id: str, epoch: int) -> float | None:
        return self.state(node_id, epoch).get("compute_power")

    def crashes(self) -> dict[str, int]:
        """Each crashing node's first crash epoch."""
        out: dict[str, int] = {}
        for event in self.events:
            if event.crash:
                out.setdefault(event.node_id, event.epoch)
        return out

    def crashing_at(self, epoch: int) -> list[str]:
        """The nodes whose client dies as `epoch` starts."""
        return sorted(node for node, at in self.crashes().items() if at == epoch)


class ScenarioMetrics:
    """A static metrics source with the scenario's link changes applied: what a
    controller would measure after the change (runs without a real network)."""

    def __init__(self, inner: MetricsSource, scenario: Scenario) -> None:
        self.inner, self.scenario, self.epoch = inner, scenario, 0

    def snapshot(self, nodes: list[NodeAddress]) -> dict[str, PathFigures]:
        snapshot = self.inner.snapshot(nodes)
        for nid, figures in snapshot.items():
            state = self.scenario.state(nid, self.epoch)
            links = {name: value for name, value in state.items() if name in LinkFigures.FIELDS}
            if links:
                snapshot[nid] = replace(figures, **links)
        return snapshot
