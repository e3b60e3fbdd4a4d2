"""The paper's Node Elimination (NE), the All-Resources baseline (AR), and NE+.

NE drops the n lowest-scoring active nodes after every epoch but the last,
n = floor((|N| - 1) / (T - 1)); a dropped node never comes back. AR keeps
everyone. NE+ adds re-admission: benched nodes keep being scored (fresh
controller metrics, their last training time), and the best of them swaps in
for the weakest active node once it has beaten that node by `margin` in
`patience` consecutive selections. A node cannot return in the epoch it was
dropped. Margin and patience are the hysteresis that keeps near-equal nodes
from trading places every epoch: measured figures are noisy, and an idle
(benched) link shows more available bandwidth than one that just carried an
upload, which favours benched nodes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from orchestrator.policies.base import SelectionContext, elimination_count, rank_ascending


class NodeElimination:
    name = "ne"

    def __init__(self, total_nodes: int, epochs: int) -> None:
        self.epochs = epochs
        self.per_epoch = elimination_count(total_nodes, epochs)

    def eliminate(self, node_ids: Sequence[str], scores: np.ndarray, epoch: int) -> list[str]:
        """Node ids to drop after `epoch` (0-based), given the active nodes' scores."""
        if epoch >= self.epochs - 1:
            return []
        n = min(self.per_epoch, len(node_ids) - 1)  # never leave fewer than one active node
        return rank_ascending(node_ids, scores)[:n] if n > 0 else []

    def select(self, ctx: SelectionContext) -> set[str]:
        scores = ctx.active_scores
        ids = list(scores)
        dropped = set(self.eliminate(ids, np.array([scores[i] for i in ids]), ctx.epoch))
        return set(ids) - dropped


class AllResources:
    name = "ar"

    def select(self, ctx: SelectionContext) -> set[str]:
        return {c.node_id for c in ctx.candidates}


class NodeEliminationReadmit:
    """NE+ (see the module docstring)."""

    name = "ne_plus"

    def __init__(self, total_nodes: int, epochs: int, margin: float = 0.1, patience: int = 2) -> None:
        self.ne = NodeElimination(total_nodes, epochs)
        self.margin, self.patience = margin, patience
        self.streak: dict[str, int] = {}  # benched node -> consecutive selections it led by the margin

    def select(self, ctx: SelectionContext) -> set[str]:
        keep = self.ne.select(ctx)
        just_dropped = {c.node_id for c in ctx.active()} - keep
        pool = [c for c in ctx.candidates if c.node_id in keep or c.node_id not in just_dropped]
        score = dict(zip((c.node_id for c in pool), ctx.scores(pool)))
        benched = sorted((n for n in score if n not in keep), key=lambda n: (-score[n], n))
        weakest_score = min(score[n] for n in keep)
        self.streak = {n: self.streak.get(n, 0) + 1 for n in benched if score[n] > weakest_score + self.margin}
        for nid in benched:
            weakest = min(keep, key=lambda n: (score[n], n))
            if score[nid] <= score[weakest] + self.margin:
                break
            if self.streak.get(nid, 0) >= self.patience:
                keep = (keep - {weakest}) | {nid}
                del self.streak[nid]
        return keep
