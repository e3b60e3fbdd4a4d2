"""Glue between the epoch loop and the policies: what the orchestrator remembers
about each node between epochs, the scenario of a dynamic run, and the
SelectionContext built from both."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from orchestrator.config import OrchestratorConfig, ScenarioEvent
from orchestrator.network_view import MetricsSource, NodeAddress, PathMetrics
from orchestrator.policies import Candidate, SelectionContext, Truth

LINK_FIELDS = ("bandwidth_mbps", "delay_ms", "loss_pct")


@dataclass
class LastSeen:
    """The latest of a node's figures, kept while it is benched."""

    train_time_s: float = math.nan
    round_time_s: float = math.nan
    train_loss: float = math.nan
    samples: int = 0
    last_epoch: int = -1
    eliminated_at: int = -1


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
                out.update({k: v for k, v in e.model_dump(exclude={"epoch", "node_id", "restore"}).items() if v is not None})
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


@lru_cache(maxsize=4)
def _truth_nodes(path: str) -> tuple[dict, ...]:
    """The drawn profiles in ground_truth.json, read once per run rather than every epoch."""
    return tuple(json.loads(Path(path).read_text())["nodes"])


def load_truth(path: str | None, scenario: Scenario, epoch: int) -> dict[str, Truth]:
    """Ground truth of the topology (ground_truth.json) with the scenario applied."""
    if not path:
        return {}
    out = {}
    for n in _truth_nodes(path):
        vals = {**{k: n[k] for k in ("compute_power", *LINK_FIELDS)}, **scenario.state(n["node_id"], epoch)}
        out[n["node_id"]] = Truth(n["node_id"], **vals)
    return out


def build_context(cfg: OrchestratorConfig, epoch: int, total: int, live: list, active: set[str], history: dict[str, LastSeen],
                  snap: dict[str, PathMetrics], rng: np.random.Generator, transfer_bytes: int, scenario: Scenario) -> SelectionContext:
    """`live`: registry nodes still in the run (not failed); `active`: those that trained this epoch."""
    cands = []
    for node in live:
        h, m = history[node.node_id], snap.get(node.node_id)
        link = dict(bandwidth_mbps=m.bandwidth_mbps, delay_ms=m.delay_ms, loss_pct=m.loss_for_scoring) if m else {}
        cands.append(Candidate(node.node_id, node.node_id in active, node.compute_power, **link, train_time_s=h.train_time_s,
                               round_time_s=h.round_time_s, train_loss=h.train_loss, samples=h.samples,
                               last_epoch=h.last_epoch, eliminated_at=h.eliminated_at))
    sc = cfg.scoring
    return SelectionContext(epoch, cfg.training.epochs, total, cands, np.array(sc.weight_vector()), np.array(sc.utopia_vector()),
                            rng, transfer_bytes, transfer_bytes, load_truth(cfg.policy_options.truth_file, scenario, epoch + 1))
