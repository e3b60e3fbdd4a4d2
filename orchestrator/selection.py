"""Glue between the epoch loop and the policies: what the orchestrator remembers
about each node between epochs, and the SelectionContext built from it, the
metrics snapshot and the scenario (orchestrator/scenario.py)."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from orchestrator.config import OrchestratorConfig
from orchestrator.network_view import PathMetrics
from orchestrator.policies import Candidate, SelectionContext, Truth
from orchestrator.registry import NodeStatus
from orchestrator.scenario import LINK_FIELDS, Scenario

log = logging.getLogger(__name__)


@dataclass
class LastSeen:
    """The latest of a node's figures, kept while it is benched."""

    train_time_s: float = math.nan
    round_time_s: float = math.nan
    train_loss: float = math.nan
    samples: int = 0
    last_epoch: int = -1
    eliminated_at: int = -1


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


def build_context(
    cfg: OrchestratorConfig,
    epoch: int,
    total: int,
    live: list,
    active: set[str],
    history: dict[str, LastSeen],
    snap: dict[str, PathMetrics],
    rng: np.random.Generator,
    transfer_bytes: int,
    scenario: Scenario,
) -> SelectionContext:
    """`live`: registry nodes still in the run (not failed); `active`: those that trained this epoch."""
    cands = []
    for node in live:
        h, m = history[node.node_id], snap.get(node.node_id)
        link = dict(bandwidth_mbps=m.bandwidth_mbps, delay_ms=m.delay_ms, loss_pct=m.loss_for_scoring) if m else {}
        cands.append(
            Candidate(
                node.node_id,
                node.node_id in active,
                node.compute_power,
                **link,
                train_time_s=h.train_time_s,
                round_time_s=h.round_time_s,
                train_loss=h.train_loss,
                samples=h.samples,
                last_epoch=h.last_epoch,
                eliminated_at=h.eliminated_at,
            )
        )
    sc = cfg.scoring
    return SelectionContext(
        epoch,
        cfg.training.epochs,
        total,
        cands,
        np.array(sc.weight_vector()),
        np.array(sc.utopia_vector()),
        rng,
        transfer_bytes,
        transfer_bytes,
        load_truth(cfg.policy_options.truth_file, scenario, epoch + 1),
    )


def apply_decision(live: list, decision, history: dict[str, LastSeen], epoch: int) -> tuple[list[str], list[str]]:
    """Give the live nodes (anything with node_id and a NodeStatus `status`) the statuses a
    strategy's Decision chose; returns (benched, re-admitted). Shared by the epoch loop and
    the Flower strategy, so that both apply a decision the same way."""
    if decision.chosen is None:
        return [], []
    was_active = {n.node_id for n in live if n.status == NodeStatus.ACTIVE}
    for n in live:
        n.status = NodeStatus.ACTIVE if n.node_id in decision.chosen else NodeStatus.ELIMINATED
    dropped = sorted(was_active - decision.chosen)
    readmitted = sorted(decision.chosen - was_active)
    for nid in dropped:
        history[nid].eliminated_at = epoch
    if readmitted:
        log.info("epoch %d: re-admitted %s", epoch, readmitted)
    return dropped, readmitted
