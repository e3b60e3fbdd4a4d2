"""Packet loss measured by probes, with its uncertainty (pure).

At the probe counts of a run (hundreds per node) a loss figure of 1 % rests on a
handful of lost probes: one more or less moves it by a large share of the
column, and min-max normalisation (orchestrator/scoring.py) would stretch that
noise to the whole 0..1 range. So the controller reports every loss figure with
its 95 % Wilson interval and sample count, and the scorer uses `scored_loss`:

1. shrink each node's estimate towards the pooled loss of all nodes with
   `prior_probes` pseudo-probes (a node with few samples stays near the mean);
2. a node whose Wilson interval overlaps the best node's interval is tied with
   the best (it takes the best node's shrunk value): a difference the probes
   cannot resolve does not reorder nodes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959964
PRIOR_PROBES = 20.0  # pseudo-probes at the pooled loss added to every node's count


def wilson_interval(lost: int, samples: int, z_score: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval of a loss ratio (0..1); (0, 1) without samples."""
    if samples <= 0:
        return 0.0, 1.0
    ratio = lost / samples
    denom = 1 + z_score * z_score / samples
    centre = (ratio + z_score * z_score / (2 * samples)) / denom
    half = z_score * math.sqrt(ratio * (1 - ratio) / samples + z_score * z_score / (4 * samples * samples)) / denom
    return max(centre - half, 0.0), min(centre + half, 1.0)


@dataclass(frozen=True)
class LossCount:
    """A node's probe outcome: `lost` of `samples` probes went unanswered."""

    lost: int
    samples: int

    @classmethod
    def from_pct(cls, loss_pct: float, samples: int) -> "LossCount":
        return cls(round(loss_pct * samples / 100), samples)


def scored_loss(counts: list[LossCount], prior_probes: float = PRIOR_PROBES) -> list[float]:
    """Loss in percent for scoring: shrunk towards the pooled mean, ties to the best
    node where the intervals overlap (module docstring). Same order as `counts`."""
    if not counts:
        return []
    total = sum(c.samples for c in counts)
    pooled = sum(c.lost for c in counts) / total if total else 0.0
    shrunk = [(c.lost + prior_probes * pooled) / (c.samples + prior_probes) for c in counts]
    best = min(range(len(counts)), key=lambda i: shrunk[i])
    best_hi = wilson_interval(counts[best].lost, counts[best].samples)[1]
    out = []
    for c, s in zip(counts, shrunk):
        lo = wilson_interval(c.lost, c.samples)[0]
        out.append(100 * (shrunk[best] if lo <= best_hi else s))
    return out
