"""Oort-style guided selection (Lai et al., OSDI 2021), on the figures we have.

Utility of a node = statistical utility x system penalty + staleness bonus:
- statistical utility: partition size x last local training loss (Oort's
  |B_i| * sqrt(mean loss^2), with the mean loss the client reports);
- penalty (T / t_i)^alpha when its round time t_i exceeds the preferred duration
  T (default: the median round time of the live nodes);
- staleness bonus sqrt(0.1 ln(R) / L_i), R = the next epoch, L_i = the last epoch
  it trained in, so long-benched nodes get another look.
The budget's top (1 - epsilon) by utility are exploited; the rest of the budget
is explored uniformly among the others (seeded).
"""

from __future__ import annotations

import math

import numpy as np

from orchestrator.policies.base import Candidate, SelectionContext, budget, latency_s, rank_descending


class UtilitySelection:
    name = "oort"

    def __init__(self, alpha: float = 2.0, epsilon: float = 0.2, preferred_s: float | None = None) -> None:
        self.alpha, self.epsilon, self.preferred_s = alpha, epsilon, preferred_s

    def utility(self, candidate: Candidate, ctx: SelectionContext, preferred: float) -> float:
        stat = candidate.samples * (0.0 if math.isnan(candidate.train_loss) else candidate.train_loss)
        latency = latency_s(candidate, ctx)
        if not math.isnan(latency) and latency > preferred > 0:
            stat *= (preferred / latency) ** self.alpha
        next_round = ctx.epoch + 1
        return (
            stat + math.sqrt(0.1 * math.log(next_round + 1) / (candidate.last_epoch + 1))
            if candidate.last_epoch >= 0
            else stat
        )

    def select(self, ctx: SelectionContext) -> set[str]:
        node_budget = budget(ctx)  # how many nodes train next (NE's count)
        times = [t for t in (latency_s(c, ctx) for c in ctx.candidates) if not math.isnan(t)]
        preferred = self.preferred_s or (float(np.median(times)) if times else 0.0)
        ids = [c.node_id for c in ctx.candidates]
        ranked = rank_descending(ids, [self.utility(c, ctx, preferred) for c in ctx.candidates])
        explore = min(int(round(self.epsilon * node_budget)), len(ids) - node_budget) if node_budget > 1 else 0
        chosen = ranked[: node_budget - explore]
        rest = sorted(set(ids) - set(chosen))
        if explore > 0:
            chosen += ctx.rng.choice(rest, size=explore, replace=False).tolist()
        return set(chosen)
