"""Run-level figures every policy is judged by, pure numpy: Jain's fairness index
over participation, idle ("bubble") time per epoch, and data coverage."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def jain_index(shares: Sequence[float]) -> float:
    """(sum x)^2 / (n sum x^2) over the shares x: 1 when all equal, 1/n when one node has it
    all. All zeros (nobody took part) counts as equal."""
    values = np.asarray(shares, dtype=float)
    if values.size == 0:
        raise ValueError("Jain's index of an empty vector is undefined")
    squares = float((values**2).sum())
    return 1.0 if squares == 0 else float(values.sum() ** 2 / (values.size * squares))


def jain_normalised(shares: Sequence[float]) -> float:
    """F_norm = (F - 1/N) / (1 - 1/N), in [0, 1]; 1 for a single node."""
    count = len(shares)
    return 1.0 if count == 1 else (jain_index(shares) - 1 / count) / (1 - 1 / count)


def participation(epochs_trained: Sequence[int], epochs: int) -> np.ndarray:
    """Share of the run's epochs each node trained in."""
    return np.asarray(epochs_trained, dtype=float) / max(epochs, 1)


def bubble_time(epoch_time_s: float, node_times_s: Sequence[float]) -> float:
    """Sum over the active nodes of the time each sat idle waiting for the slowest."""
    return float(sum(max(epoch_time_s - t, 0.0) for t in node_times_s))


def coverage(samples_used: int, samples_total: int) -> float:
    """Share of the run's training samples that took part in an epoch."""
    return samples_used / samples_total if samples_total else 0.0
