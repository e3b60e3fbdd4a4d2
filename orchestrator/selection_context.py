"""Glue between the epoch core (orchestrator/epoch_core.py) and the policies: what a run
remembers about each node between epochs, the SelectionContext built from it, the
network figures and the scenario (orchestrator/scenario.py), and the statuses a
Decision gives the nodes."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from edgeft.link_figures import LinkFigures
from edgeft.paths_api import PathFigures
from orchestrator.config import OrchestratorConfig
from orchestrator.policies import Candidate, SelectionContext, Truth
from orchestrator.registry import NodeStatus
from orchestrator.scenario import Scenario
from orchestrator.strategy import Decision

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
    for profile in _truth_nodes(path):
        drawn = {name: profile[name] for name in ("compute_power", *LinkFigures.FIELDS)}
        changed = scenario.state(profile["node_id"], epoch)  # the scenario's values win
        out[profile["node_id"]] = Truth(profile["node_id"], **{**drawn, **changed})
    return out


def build_context(
    cfg: OrchestratorConfig,
    epoch: int,
    total: int,
    live: list,
    active: set[str],
    history: dict[str, LastSeen],
    figures: dict[str, PathFigures],
    rng: np.random.Generator,
    transfer_bytes: int,
    scenario: Scenario,
) -> SelectionContext:
    """`live`: nodes still in the run (not failed); `active`: those that trained this epoch;
    `figures`: the network view's, by node (a node without any scores as neutral)."""
    candidates = []
    for node in live:
        seen, path = history[node.node_id], figures.get(node.node_id)
        candidates.append(
            Candidate(
                node.node_id,
                node.node_id in active,
                node.compute_power,
                path.bandwidth_mbps if path else math.nan,
                path.delay_ms if path else math.nan,
                path.loss_pct if path else math.nan,
                train_time_s=seen.train_time_s,
                round_time_s=seen.round_time_s,
                train_loss=seen.train_loss,
                samples=seen.samples,
                last_epoch=seen.last_epoch,
                eliminated_at=seen.eliminated_at,
                scored_loss_pct=path.scored_loss_pct if path else math.nan,
            )
        )
    scoring = cfg.scoring
    return SelectionContext(
        epoch,
        cfg.training.epochs,
        total,
        candidates,
        np.array(scoring.weight_vector()),
        np.array(scoring.utopia_vector()),
        rng,
        transfer_bytes,
        transfer_bytes,
        load_truth(cfg.policy_options.truth_file, scenario, epoch + 1),
    )


def apply_decision(
    live: list, decision: Decision, history: dict[str, LastSeen], epoch: int
) -> tuple[list[str], list[str]]:
    """Give the live nodes (anything with node_id and a NodeStatus `status`) the statuses a
    strategy's Decision chose; returns (benched, re-admitted). Called by the epoch core
    only, so that every engine applies a decision the same way."""
    if decision.chosen is None:
        return [], []
    was_active = {node.node_id for node in live if node.status == NodeStatus.ACTIVE}
    for node in live:
        node.status = NodeStatus.ACTIVE if node.node_id in decision.chosen else NodeStatus.ELIMINATED
    dropped = sorted(was_active - decision.chosen)
    readmitted = sorted(decision.chosen - was_active)
    for nid in dropped:
        history[nid].eliminated_at = epoch
    if readmitted:
        log.info("epoch %d: re-admitted %s", epoch, readmitted)
    return dropped, readmitted
