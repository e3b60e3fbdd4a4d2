"""TiFL-style tiers (Chai et al., HPDC 2020): group the live nodes into tiers by
measured latency (their last round time; predicted where never measured) and let
one tier train per epoch. The tier is drawn with probability proportional to
1 / its mean latency, among tiers that still have credits; each tier has
ceil((T - 1) / tiers) credits, so slow tiers are throttled but not starved."""

from __future__ import annotations

import math

import numpy as np

from orchestrator.policies.base import SelectionContext, latency_s


class TierSelection:
    name = "tifl"

    def __init__(self, epochs: int, tiers: int = 3) -> None:
        if tiers < 1:
            raise ValueError(f"tifl: tiers must be >= 1 (got {tiers})")
        self.tiers = tiers
        self.credits = [math.ceil(max(epochs - 1, 1) / tiers)] * tiers

    def make_tiers(self, ctx: SelectionContext) -> list[list[str]]:
        lat = {c.node_id: latency_s(c, ctx) for c in ctx.candidates}
        order = sorted(lat, key=lambda n: (math.inf if math.isnan(lat[n]) else lat[n], n))
        return [list(t) for t in np.array_split(order, min(self.tiers, len(order))) if len(t)]

    def select(self, ctx: SelectionContext) -> set[str]:
        tiers = self.make_tiers(ctx)
        lat = {c.node_id: latency_s(c, ctx) for c in ctx.candidates}
        open_tiers = [i for i in range(len(tiers)) if self.credits[i] > 0] or list(range(len(tiers)))
        known = [t for t in lat.values() if not math.isnan(t) and t > 0]
        slowest = max(known, default=1.0)  # a never-measured node counts as the slowest
        means = np.array(
            [np.mean([slowest if math.isnan(lat[n]) or lat[n] <= 0 else lat[n] for n in tiers[i]]) for i in open_tiers]
        )
        p = (1 / means) / (1 / means).sum()
        pick = int(ctx.rng.choice(open_tiers, p=p))
        self.credits[pick] -= 1
        return set(tiers[pick])
