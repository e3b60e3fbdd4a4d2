"""Fixed-budget baselines: each picks NE's number of nodes (policies/base.py
`budget`) from all live nodes, every epoch, by a different rule."""
from __future__ import annotations

import numpy as np

from orchestrator.policies.base import SelectionContext, budget, rank_descending
from orchestrator.scoring import perf_scores


class RandomSelection:
    """Uniformly at random (seeded by the run's seed)."""

    name = "random"

    def select(self, ctx: SelectionContext) -> set[str]:
        ids = sorted(c.node_id for c in ctx.candidates)
        return set(ctx.rng.choice(ids, size=budget(ctx), replace=False).tolist())


class SingleMetric:
    """The top nodes by one measured figure only: bandwidth or compute power."""

    def __init__(self, metric: str) -> None:
        if metric not in ("bandwidth", "compute"):
            raise ValueError(f"single-metric policy: metric must be 'bandwidth' or 'compute' (got {metric!r})")
        self.name = metric
        self.attr = "bandwidth_mbps" if metric == "bandwidth" else "compute_power"

    def select(self, ctx: SelectionContext) -> set[str]:
        ids = [c.node_id for c in ctx.candidates]
        return set(rank_descending(ids, [getattr(c, self.attr) for c in ctx.candidates])[:budget(ctx)])


class Oracle:
    """The budget's best nodes by the utopia score on the ground truth of the topology
    (drawn link and compute values, not measurements). Training time is taken as
    1 / compute power, which is what the clients' compute emulation enforces."""

    name = "oracle"

    def select(self, ctx: SelectionContext) -> set[str]:
        missing = [c.node_id for c in ctx.candidates if c.node_id not in ctx.truth]
        if missing:
            raise ValueError(f"policy 'oracle' has no ground truth for {missing[:5]}: set policy_options.truth_file")
        truth = [ctx.truth[c.node_id] for c in ctx.candidates]
        rows = np.array([[t.compute_power, t.bandwidth_mbps, t.delay_ms, t.loss_pct, 1.0 / t.compute_power] for t in truth])
        scores = perf_scores(rows, ctx.weights, ctx.utopia)
        return set(rank_descending([t.node_id for t in truth], scores)[:budget(ctx)])
