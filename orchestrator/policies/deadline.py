"""FedCS-style selection (Nishio & Yonetani, 2019): each epoch, keep every node whose
predicted round time (download + compute + upload, from measured bandwidth, delay,
loss and its last training time) fits a deadline. Nodes train in parallel here, so
the largest set that fits is all nodes that fit one by one."""

from __future__ import annotations

import math

import numpy as np

from orchestrator.policies.base import SelectionContext, predicted_round_s


class DeadlineSelection:
    name = "fedcs"

    def __init__(self, deadline_s: float | None = None) -> None:
        # None: fixed after epoch 0 at the median predicted round time (about half the
        # nodes fit), since a good absolute deadline depends on model and network.
        self.deadline_s = deadline_s

    def select(self, ctx: SelectionContext) -> set[str]:
        predicted = {c.node_id: predicted_round_s(c, ctx.download_bytes, ctx.upload_bytes) for c in ctx.candidates}
        known = [t for t in predicted.values() if not math.isnan(t)]
        if self.deadline_s is None and known:
            self.deadline_s = float(np.median(known))
        fits = {n for n, t in predicted.items() if not math.isnan(t) and t <= (self.deadline_s or math.inf)}
        if fits:
            return fits
        # nothing fits: the single fastest node, so that the run goes on
        return {min(predicted, key=lambda n: (math.inf if math.isnan(predicted[n]) else predicted[n], n))}
