"""Fixed-budget baselines: each picks NE's number of nodes (policies/base.py
`budget`) from all live nodes, every epoch, by a different rule."""

from __future__ import annotations

import numpy as np

import math

from edgeft.timemodel import compute_window_s
from orchestrator.fidelity import predict_download_s, predict_upload_s
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
        return set(rank_descending(ids, [getattr(c, self.attr) for c in ctx.candidates])[: budget(ctx)])


def _truth_of(ctx: SelectionContext, name: str) -> list:
    missing = [c.node_id for c in ctx.candidates if c.node_id not in ctx.truth]
    if missing:
        raise ValueError(f"policy '{name}' has no ground truth for {missing[:5]}: set policy_options.truth_file")
    return [ctx.truth[c.node_id] for c in ctx.candidates]


def truth_round_s(truth, ctx: SelectionContext) -> float:
    """A node's round time predicted from its drawn link and compute: the sync download,
    the declared compute window and the upload (orchestrator/fidelity.py's TCP model)."""
    link = truth.link
    if truth.compute_power <= 0:  # a node without compute never finishes (the config refuses such a truth file)
        return math.inf
    window = compute_window_s(ctx.work_gflop * 1e9, truth.compute_power, ctx.gflops_per_power)
    return (
        predict_download_s(ctx.download_bytes, 0, link)
        + window
        + predict_upload_s(ctx.upload_bytes, 0, link, after_sync=True)
    )


class Oracle:
    """The time-optimal choice for the budget: the nodes with the shortest round time
    predicted from the ground truth (drawn links and compute, not measurements). An
    epoch lasts as long as its slowest chosen node, so no policy with the same budget
    can have shorter epochs."""

    name = "oracle"

    def select(self, ctx: SelectionContext) -> set[str]:
        truth = _truth_of(ctx, self.name)
        if budget(ctx) >= len(truth):
            return {t.node_id for t in truth}  # no choice to make
        if math.isnan(ctx.work_gflop) or math.isnan(ctx.gflops_per_power):
            raise ValueError(
                "policy 'oracle' needs the run's time model (work per node-epoch, GFLOP/s per unit of power)"
            )
        rounds = [truth_round_s(t, ctx) for t in truth]
        return set(rank_descending([t.node_id for t in truth], [-r for r in rounds])[: budget(ctx)])


class OracleScore:
    """The budget's best nodes by the utopia score on the ground truth of the topology.
    Training time is taken as 1 / compute power, which the time model enforces."""

    name = "oracle_score"

    def select(self, ctx: SelectionContext) -> set[str]:
        truth = _truth_of(ctx, self.name)
        rows = np.array(
            [[t.compute_power, t.bandwidth_mbps, t.delay_ms, t.loss_pct, _train_time(t.compute_power)] for t in truth]
        )
        scores = perf_scores(rows, ctx.weights, ctx.utopia)
        return set(rank_descending([t.node_id for t in truth], scores)[: budget(ctx)])


def _train_time(compute_power: float) -> float:
    """1 / compute power, finite for a node of no power (scored as the slowest there could be):
    one bad node must not turn every score into NaN (the config refuses such a truth file)."""
    return 1.0 / max(compute_power, MIN_POWER)


MIN_POWER = 1e-9
