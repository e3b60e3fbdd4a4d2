"""PACE, edgeft's own selector: the fastest nodes by predicted round time, with a floor on the data.

NE ranks nodes by the utopia-point score, a weighted distance over C, B, D, L and T_i. An epoch,
though, lasts as long as its slowest chosen node, and the score can rank a node with the most
compute on the slowest link above nodes that finish far sooner, so NE keeps it and it sets every
round time. NE also shrinks the set by the same count every epoch, down to a node or two at the
end, when the validation loss rises again (few partitions, little data per round). PACE fixes
both, from the selection context only (measured figures, T_i, round times; never the truth):

1. Predict each live node's round time as the oracle does, but from what was measured: the
   download and the upload of one epoch's bytes through the fidelity report's TCP model
   (orchestrator/fidelity.py: round trips, slow start, the Mathis cap a lossy long flow meets)
   at the measured B, D, L, plus its last training time T_i. Where the node was seen to take
   longer in its last round after epoch 0 (a shared gateway, a link worse than measured), the
   observed round time counts instead: the larger of the two.
2. Rank by that time (ties by node id) and keep the fastest nodes until their partitions hold
   `floor` of the live nodes' data (samples): the set never shrinks below that share, so every
   round still averages many partitions and the loss keeps falling.
3. That node's predicted time, x (1 + `margin`), is the epoch's deadline; every other node
   predicted to finish by then trains too: more data at no cost in time.

Every epoch starts from all live nodes, so a benched node whose figures improve is back the
next epoch, and a chosen node that turned out slow is dropped: no permanent elimination. The
set-up (every node fetches the base and its partition before epoch 0) lies outside any
selection policy: PACE cannot shorten it either.
"""

from __future__ import annotations

import math

from orchestrator.fidelity import predict_download_s, predict_upload_s
from orchestrator.policies.base import Candidate, SelectionContext


class PaceSelection:
    name = "pace"

    def __init__(self, floor: float = 0.3, margin: float = 0.25) -> None:
        if not 0.0 < floor <= 1.0:
            raise ValueError(f"pace: floor is a share of the data in (0, 1] (got {floor})")
        if margin < 0:
            raise ValueError(f"pace: margin must be >= 0 (got {margin})")
        self.floor, self.margin = floor, margin

    def select(self, ctx: SelectionContext) -> set[str]:
        predicted = {c.node_id: predicted_round_s(c, ctx) for c in ctx.candidates}
        ranked = sorted(ctx.candidates, key=lambda c: (_finite_or_inf(predicted[c.node_id]), c.node_id))
        total = sum(_data(c) for c in ranked)
        chosen: list[Candidate] = []
        covered = 0.0
        for cand in ranked:  # the fastest, until their data reaches the floor
            chosen.append(cand)
            covered += _data(cand)
            if covered >= self.floor * total:
                break
        deadline = _finite_or_inf(predicted[chosen[-1].node_id]) * (1 + self.margin)
        return {c.node_id for c in chosen} | {
            c.node_id for c in ranked if _finite_or_inf(predicted[c.node_id]) <= deadline
        }


def predicted_round_s(candidate: Candidate, ctx: SelectionContext) -> float:
    """The node's next round from its measured figures (module doc, rule 1); NaN when the figures
    or T_i are unknown and no round after epoch 0 was seen."""
    link = candidate.link
    model = math.nan
    if not link.missing and link.bandwidth_mbps > 0 and not math.isnan(candidate.train_time_s):
        link = type(link)(link.bandwidth_mbps, link.delay_ms, candidate.loss_for_scoring)
        model = (
            predict_download_s(ctx.download_bytes, 0, link)
            + candidate.train_time_s
            + predict_upload_s(ctx.upload_bytes, 0, link, after_sync=True)
        )
    # epoch 0's round has no download and every node uploads at once: it is not a round like the next
    seen = candidate.round_time_s if candidate.last_epoch >= 1 else math.nan
    known = [t for t in (model, seen) if not math.isnan(t)]
    return max(known) if known else math.nan


def _finite_or_inf(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _data(candidate: Candidate) -> float:
    """A node's share of the data: its partition's samples (1 where unknown, so that counts still count)."""
    return float(candidate.samples) if candidate.samples > 0 else 1.0
