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
   at the measured B, D, L, plus its last training time T_i. The model sees a node alone on its
   link, so its times are scaled by the median ratio seen/model of the nodes whose last round
   after epoch 0 was seen (the server's share, shared gateways); where a node's own last round
   was slower still, that counts: the larger of the two.
2. Rank by that time (ties by node id) and keep the fastest nodes until their partitions hold
   `floor` of the live nodes' data (samples): the set never shrinks below that share, so every
   round still averages many partitions and the loss keeps falling. The floor grows in a straight
   line from `floor` (0.5, the first epoch PACE chooses) to `floor_end` (1.0: every live node) in
   the last epoch: the late epochs average the most partitions, where the loss is decided (tuned
   with rule 4, seeds 100-109: docs/policies.md).
3. That node's predicted time, x (1 + `margin`), is the epoch's deadline; every other node
   predicted to finish by then trains too (ties at least). The default margin is 0: with noisy
   figures, each node let in on a margin is one more chance that the set's real slowest round is
   longer than predicted (tuning seeds 100-109, 100 nodes, Setup 2, simulated: a margin of 0.25
   cost 3 % of completion time with real artifacts, 4 % at the paper's volumes).

Every epoch starts from all live nodes, so a benched node whose figures improve is back the
next epoch, and a chosen node that turned out slow is dropped: no permanent elimination.

4. The set-up. Every node fetches the base model, its partition and adapter v0 before epoch 0,
   and epoch 0 waits for the last of them: at 100 nodes, Setup 2, real artifacts, that is
   100-124 s of NE's 140-165 s (simulated), so no choice made per epoch can win much back. PACE
   therefore also chooses who is set up (policies/base.py SetupSelection): it predicts each
   enrolled node's set-up download at its measured B, D, L with the same TCP model, ranks by it
   and sets up the fastest nodes until they hold `setup_floor` of the data (and every node
   predicted no slower than the last of them). The rest take no part: the run trades their
   partitions for a set-up that does not wait for the slowest links (the coverage and fairness
   columns show the price). `setup_floor` 1 sets up every node, as before; the default, 0.7, was
   tuned on seeds 100-104 (docs/policies.md).
"""

from __future__ import annotations

import math

import numpy as np

from orchestrator.fidelity import predict_download_s, predict_upload_s
from orchestrator.policies.base import Candidate, SelectionContext


class PaceSelection:
    name = "pace"

    def __init__(
        self, floor: float = 0.5, margin: float = 0.0, floor_end: float | None = 1.0, setup_floor: float = 0.7
    ) -> None:
        end = floor if floor_end is None else floor_end
        for name, value in (("floor", floor), ("floor_end", end), ("setup_floor", setup_floor)):
            if not 0.0 < value <= 1.0:
                raise ValueError(f"pace: {name} is a share of the data in (0, 1] (got {value})")
        if margin < 0:
            raise ValueError(f"pace: margin must be >= 0 (got {margin})")
        self.floor, self.margin, self.floor_end, self.setup_floor = floor, margin, end, setup_floor

    def floor_for(self, epoch: int, epochs: int) -> float:
        """The floor of training epoch `epoch`: `floor` in epoch 1 (the first PACE chooses), growing in a
        straight line to `floor_end` in the last one (the same throughout unless floor_end is set)."""
        if epochs <= 2:
            return self.floor_end
        share = min(max((epoch - 1) / (epochs - 2), 0.0), 1.0)
        return self.floor + (self.floor_end - self.floor) * share

    def select(self, ctx: SelectionContext) -> set[str]:
        return self._fastest(ctx.candidates, predicted_rounds(ctx), self.floor_for(ctx.epoch + 1, ctx.epochs))

    def select_setup(self, ctx: SelectionContext) -> set[str]:
        """Rule 4 (module doc): the nodes with the fastest predicted set-up download, until they hold
        `setup_floor` of the data (at 1, every node)."""
        predicted = {c.node_id: setup_download_s(c, ctx.download_bytes) for c in ctx.candidates}
        return self._fastest(ctx.candidates, predicted, self.setup_floor)

    def _fastest(self, candidates: list[Candidate], predicted: dict[str, float], floor: float) -> set[str]:
        """The fastest by `predicted` (unknown last, ties by id) until their data reaches `floor` of
        all the candidates' data, and everyone predicted within `margin` of the last of them."""
        ranked = sorted(candidates, key=lambda c: (_finite_or_inf(predicted[c.node_id]), c.node_id))
        total = sum(_data(c) for c in ranked)
        chosen: list[Candidate] = []
        covered = 0.0
        for cand in ranked:
            chosen.append(cand)
            covered += _data(cand)
            if covered >= floor * total:
                break
        deadline = _finite_or_inf(predicted[chosen[-1].node_id]) * (1 + self.margin)
        return {c.node_id for c in chosen} | {
            c.node_id for c in ranked if _finite_or_inf(predicted[c.node_id]) <= deadline
        }


def setup_download_s(candidate: Candidate, setup_bytes: int) -> float:
    """A node's set-up download (base, partition, adapter, padding) alone on its measured link, through
    the fidelity report's TCP model; NaN where its link figures are unknown."""
    link = candidate.link
    if link.missing or not link.bandwidth_mbps > 0:
        return math.nan
    return predict_download_s(
        setup_bytes, 0, type(link)(link.bandwidth_mbps, link.delay_ms, candidate.loss_for_scoring)
    )


def predicted_rounds(ctx: SelectionContext) -> dict[str, float]:
    """Every live node's next round (module doc, rule 1), by node id; NaN where nothing is known.

    The model sees one node alone on its link; a real round also waits for what the model leaves out
    (the server's share, a gateway shared with other nodes, round trips beyond the protocol's). So
    the model's times are scaled by the median ratio seen/model of the nodes whose last round after
    epoch 0 was seen, which puts a benched node's prediction on the same footing as a node just
    seen: else every benched node would look faster than every active one, and the set would flap."""
    model = {c.node_id: model_round_s(c, ctx) for c in ctx.candidates}
    seen = {c.node_id: seen_round_s(c) for c in ctx.candidates}
    ratios = [seen[n] / model[n] for n in model if model[n] > 0 and seen[n] > 0]
    scale = float(np.median(ratios)) if ratios else 1.0
    out = {}
    for nid in model:
        known = [t for t in (model[nid] * scale, seen[nid]) if not math.isnan(t)]
        out[nid] = max(known) if known else math.nan
    return out


def model_round_s(candidate: Candidate, ctx: SelectionContext) -> float:
    """Download + T_i + upload of one epoch's bytes at the measured B, D, L, through the fidelity
    report's TCP model (the oracle's model, fed measurements); NaN when a figure or T_i is unknown."""
    link = candidate.link
    if link.missing or not link.bandwidth_mbps > 0 or math.isnan(candidate.train_time_s):
        return math.nan
    link = type(link)(link.bandwidth_mbps, link.delay_ms, candidate.loss_for_scoring)
    return (
        predict_download_s(ctx.download_bytes, 0, link)
        + candidate.train_time_s
        + predict_upload_s(ctx.upload_bytes, 0, link, after_sync=True)
    )


def seen_round_s(candidate: Candidate) -> float:
    """The node's last round as the orchestrator saw it, if it was after epoch 0 (epoch 0 has no
    download and every node uploads at once: not a round like the next); else NaN."""
    return candidate.round_time_s if candidate.last_epoch >= 1 else math.nan


def predicted_round_s(candidate: Candidate, ctx: SelectionContext) -> float:
    """One node's predicted round (predicted_rounds, for this node within its context)."""
    return predicted_rounds(ctx)[candidate.node_id] if candidate in ctx.candidates else math.nan


def _finite_or_inf(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _data(candidate: Candidate) -> float:
    """A node's share of the data: its partition's samples (1 where unknown, so that counts still count)."""
    return float(candidate.samples) if candidate.samples > 0 else 1.0
