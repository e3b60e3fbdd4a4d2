"""Link and compute profiles of the paper's setups (Table I), drawn per node.

Per node, bandwidth, delay and loss are drawn from exponential distributions
whose means are the setup's averages, clipped to sane bounds so that no node is
unusable or absurdly good: bandwidth in [0.1, 4] x mean (Mb/s), delay in
[1 ms, 4 x mean], loss in [0, 10] %. Compute power C ~ N(30, 15) truncated at
3 (values below are redrawn). One seed fixes the whole draw, so NE and AR of
the same (nodes, setup, seed) see the same network and compute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgeft.link_figures import HasLinkFigures

SETUPS: dict[int, tuple[float, float, float]] = {
    1: (16.0, 58.0, 1.0),  # normal: Mb/s, ms, %
    2: (7.5, 78.5, 1.0),  # limited
    3: (21.0, 19.0, 1.0),  # prolific
}
COMPUTE_MEAN, COMPUTE_STD, COMPUTE_FLOOR = 30.0, 15.0, 3.0


@dataclass(frozen=True)
class NodeProfile(HasLinkFigures):
    node_id: str
    bandwidth_mbps: float
    delay_ms: float
    loss_pct: float
    compute_power: float


def node_ids(count: int) -> list[str]:
    return [f"node-{i:02d}" for i in range(1, count + 1)]


def draw_profiles(n_nodes: int, setup: int, seed: int) -> list[NodeProfile]:
    if setup not in SETUPS:
        raise ValueError(f"setup must be one of {sorted(SETUPS)} (got {setup})")
    bw, delay, loss = SETUPS[setup]
    rng = np.random.default_rng([seed, setup, n_nodes])
    bws = np.clip(rng.exponential(bw, n_nodes), 0.1 * bw, 4 * bw)
    delays = np.clip(rng.exponential(delay, n_nodes), 1.0, 4 * delay)
    losses = np.clip(rng.exponential(loss, n_nodes), 0.0, 10.0)
    compute = truncated_normal(rng, COMPUTE_MEAN, COMPUTE_STD, COMPUTE_FLOOR, n_nodes)
    return [
        NodeProfile(nid, round(float(b), 3), round(float(d), 3), round(float(lo), 3), round(float(c), 3))
        for nid, b, d, lo, c in zip(node_ids(n_nodes), bws, delays, losses, compute)
    ]


def truncated_normal(rng: np.random.Generator, mean: float, std: float, floor: float, count: int) -> np.ndarray:
    out = rng.normal(mean, std, count)
    while (bad := out < floor).any():
        out[bad] = rng.normal(mean, std, int(bad.sum()))
    return out


def as_metrics_table(profiles: list[NodeProfile]) -> dict[str, dict[str, float]]:
    """The static-metrics map the orchestrator reads (runs without a controller)."""
    return {
        p.node_id: {"bandwidth_mbps": p.bandwidth_mbps, "delay_ms": p.delay_ms, "loss_pct": p.loss_pct}
        for p in profiles
    }


def as_ground_truth(profiles: list[NodeProfile], setup: int, seed: int) -> dict:
    return {
        "setup": setup,
        "seed": seed,
        "means": dict(zip(("bandwidth_mbps", "delay_ms", "loss_pct"), SETUPS[setup])),
        "nodes": [asdict(p) for p in profiles],
    }


def from_ground_truth(truth: dict) -> list[NodeProfile]:
    """The profiles a ground_truth.json (as_ground_truth) records."""
    return [
        NodeProfile(**{f: n[f] for f in ("node_id", "bandwidth_mbps", "delay_ms", "loss_pct", "compute_power")})
        for n in truth["nodes"]
    ]
