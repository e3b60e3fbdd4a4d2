"""Run-level figures every policy is judged by, pure numpy: Jain's fairness index
over participation, idle ("bubble") time per epoch, and data coverage."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def jain_index(x: Sequence[float]) -> float:
    """(sum x)^2 / (n sum x^2): 1 when all equal, 1/n when one node has it all.
    All zeros (nobody took part) counts as equal."""
    v = np.asarray(x, dtype=float)
    if v.size == 0:
        raise ValueError("Jain's index of an empty vector is undefined")
    sq = float((v**2).sum())
    return 1.0 if sq == 0 else float(v.sum() ** 2 / (v.size * sq))


def jain_normalised(x: Sequence[float]) -> float:
    """F_norm = (F - 1/N) / (1 - 1/N), in [0, 1]; 1 for a single node."""
    n = len(x)
    return 1.0 if n == 1 else (jain_index(x) - 1 / n) / (1 - 1 / n)


def participation(epochs_trained: Sequence[int], epochs: int) -> np.ndarray:
    """Share of the run's epochs each node trained in."""
    return np.asarray(epochs_trained, dtype=float) / max(epochs, 1)


def bubble_time(epoch_time_s: float, node_times_s: Sequence[float]) -> float:
    """Sum over the active nodes of the time each sat idle waiting for the slowest."""
    return float(sum(max(epoch_time_s - t, 0.0) for t in node_times_s))


def coverage(samples_used: int, samples_total: int) -> float:
    """Share of the run's training samples that took part in an epoch."""
    return samples_used / samples_total if samples_total else 0.0
