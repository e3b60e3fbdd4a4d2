"""What every node-selection policy sees and returns.

After each epoch but the last, the epoch loop hands a policy one
`SelectionContext`: every live node (trained this epoch or benched earlier;
failed nodes are gone) with its latest measurements, and the policy returns the
ids that train in the next epoch. Everyone trains in epoch 0, when nothing has
been measured yet. Pure data in, a set out: policies do no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol, Sequence

import numpy as np

from edgeft.link_figures import HasLinkFigures
from orchestrator.scoring import perf_scores

POLICY_NAMES = (
    "ne",
    "ar",
    "random",
    "bandwidth",
    "compute",
    "fedcs",
    "oort",
    "tifl",
    "oracle",
    "oracle_score",
    "ne_plus",
    "pace",
)
# These keep NE's per-epoch node count, which exists only for nodes > epochs.
SCHEDULED_POLICIES = ("ne", "ne_plus", "random", "bandwidth", "compute", "oort", "oracle", "oracle_score")


@dataclass(frozen=True)
class Candidate(HasLinkFigures):
    """A live node as the orchestrator knows it after an epoch. NaN = never measured."""

    node_id: str
    active: bool  # trained in the epoch that just ended
    compute_power: float
    bandwidth_mbps: float = math.nan
    delay_ms: float = math.nan
    loss_pct: float = math.nan  # as measured
    train_time_s: float = math.nan  # last reported T_i
    round_time_s: float = math.nan  # last download + train + upload, as the orchestrator saw it
    train_loss: float = math.nan  # last reported local training loss
    samples: int = 0  # size of its partition
    last_epoch: int = -1  # last epoch it trained in
    eliminated_at: int = -1  # epoch after which it was last benched (-1: never)
    scored_loss_pct: float = math.nan  # the adjusted loss (edgeft/loss_confidence.py); NaN: loss_pct counts

    @property
    def loss_for_scoring(self) -> float:
        """The loss the scorer uses: the adjusted one where there is one, else the measured one."""
        return self.loss_pct if math.isnan(self.scored_loss_pct) else self.scored_loss_pct

    def row(self) -> list[float]:
        """The scoring row: C, B, D, L, T (orchestrator/scoring.py)."""
        return [self.compute_power, self.bandwidth_mbps, self.delay_ms, self.loss_for_scoring, self.train_time_s]


@dataclass(frozen=True)
class Truth(HasLinkFigures):
    """A node's real link and compute values (the drawn profile), for the oracle."""

    node_id: str
    compute_power: float
    bandwidth_mbps: float
    delay_ms: float
    loss_pct: float


@dataclass
class SelectionContext:
    epoch: int  # the epoch that just ended (0-based)
    epochs: int
    total_nodes: int  # nodes that started the run
    candidates: list[Candidate]
    weights: np.ndarray
    utopia: np.ndarray
    rng: np.random.Generator
    download_bytes: int = 0  # what a node fetches per epoch (parameters)
    upload_bytes: int = 0  # what a node sends per epoch (its update)
    truth: dict[str, Truth] = field(default_factory=dict)
    work_gflop: float = math.nan  # one node-epoch's declared work (edgeft/timemodel.py), from the last results
    gflops_per_power: float = math.nan  # the run's time model: GFLOP/s per unit of compute power

    def active(self) -> list[Candidate]:
        return [c for c in self.candidates if c.active]

    def scores(self, cands: Sequence[Candidate]) -> np.ndarray:
        """Utopia-point scores of these candidates, normalised among themselves."""
        if not cands:
            return np.zeros(0)
        return perf_scores(np.array([c.row() for c in cands], dtype=float), self.weights, self.utopia)

    @cached_property
    def active_scores(self) -> dict[str, float]:
        """The scores of the nodes that trained this epoch, normalised among them: what NE
        ranks, and what the run records (orchestrator/strategy.py)."""
        active = self.active()
        return {c.node_id: float(s) for c, s in zip(active, self.scores(active))}


class SelectionPolicy(Protocol):
    name: str

    def select(self, ctx: SelectionContext) -> set[str]:
        """Ids of the nodes that train in epoch ctx.epoch + 1 (never empty)."""
        ...


class SetupSelection(Protocol):
    """A policy that also chooses who is set up at all (optional; PACE does): before the set-up,
    from a context whose epoch is -1, whose candidates are every enrolled node with its measured
    link figures (no T_i yet) and whose `download_bytes` are one node's set-up download. A node
    left out is never set up: it takes no part in the run. Policies without this method set up
    every node, as the paper does."""

    def select_setup(self, ctx: SelectionContext) -> set[str]:
        """Ids of the nodes to set up (never empty)."""
        ...


def elimination_count(total_nodes: int, epochs: int) -> int:
    """Eq. 1: floor((|N| - 1) / (T - 1)); requires |N| > T."""
    if total_nodes <= epochs:
        raise ValueError(
            f"node elimination needs more nodes than epochs (nodes={total_nodes}, epochs={epochs}): "
            "add nodes, lower epochs, or use policy 'ar'"
        )
    return 0 if epochs <= 1 else (total_nodes - 1) // (epochs - 1)


def budget(ctx: SelectionContext) -> int:
    """How many nodes NE would let train in the next epoch. Policies that pick a fixed
    number of nodes (random, single-metric, Oort, oracle) use the same number, so that
    every one of them spends the same compute as NE and only the choice differs."""
    keep = ctx.total_nodes - elimination_count(ctx.total_nodes, ctx.epochs) * (ctx.epoch + 1)
    return max(1, min(keep, len(ctx.candidates)))


def rank_descending(node_ids: Sequence[str], values: Sequence[float]) -> list[str]:
    """Best first; NaN counts as worst; ties broken by node id so runs are reproducible."""
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=-np.inf)
    order = np.lexsort((np.asarray(node_ids, dtype=str), -v))
    return [node_ids[i] for i in order]


def rank_ascending(node_ids: Sequence[str], scores: Sequence[float]) -> list[str]:
    """Weakest first; ties broken by node id so that runs are reproducible."""
    ids = np.asarray(node_ids, dtype=str)
    order = np.lexsort((ids, np.asarray(scores, dtype=float)))
    return ids[order].tolist()


def predicted_round_s(candidate: Candidate, download_bytes: int, upload_bytes: int) -> float:
    """Download + compute + upload time of one epoch from measured link figures and the
    last training time (FedCS's estimate). Loss shrinks goodput by (1 - p); unknown
    figures make the estimate unknown (NaN)."""
    bytes_per_s = candidate.bandwidth_mbps * 1e6 / 8
    if not bytes_per_s > 0:
        return math.nan
    goodput = bytes_per_s * max(1.0 - candidate.loss_for_scoring / 100, 0.01)
    rtt = 2 * candidate.delay_ms / 1000
    return download_bytes / goodput + candidate.train_time_s + upload_bytes / goodput + 2 * rtt


def latency_s(candidate: Candidate, ctx: SelectionContext) -> float:
    """Measured round time where known, else the FedCS prediction."""
    if not math.isnan(candidate.round_time_s):
        return candidate.round_time_s
    return predicted_round_s(candidate, ctx.download_bytes, ctx.upload_bytes)
