"""Utopia-point performance scoring (seed paper Eq. 2-3), pure numpy.

Columns, in this order: compute power C, bandwidth B, delay D, loss rate L,
training time T. Higher C and B are better; lower D, L, T are better. Every
column is min-max normalised so that 1 is the best value among the nodes.
"""

from __future__ import annotations

import numpy as np

COLUMNS = ("compute", "bandwidth", "delay", "loss", "train_time")
HIGHER_IS_BETTER = np.array([True, True, False, False, False])


def normalise(values: np.ndarray) -> np.ndarray:
    """Oriented min-max normalisation of an [n, 5] matrix to [0, 1], 1 = best.

    A column with max == min carries no information and normalises to 1.
    A missing value (NaN) is neutral: it takes the median of the values its column
    has, so the node neither gains nor loses on that figure and its other figures
    still count; a column missing for every node normalises to 1.
    """
    x = np.array(values, dtype=np.float64, copy=True)
    if x.ndim != 2 or x.shape[1] != len(COLUMNS):
        raise ValueError(f"expected an [n, {len(COLUMNS)}] matrix, got shape {x.shape}")
    out = np.ones_like(x)
    for j in range(x.shape[1]):
        col = x[:, j]
        known = ~np.isnan(col)
        if not known.any():
            continue
        lo, hi = col[known].min(), col[known].max()
        col[~known] = np.median(col[known])
        if hi > lo:
            out[:, j] = (col - lo) / (hi - lo) if HIGHER_IS_BETTER[j] else (hi - col) / (hi - lo)
    return out


def perf_scores(values: np.ndarray, weights: np.ndarray, utopia: np.ndarray) -> np.ndarray:
    """PerfScore_i = 1 - |<w, N_i> - <w, lambda>|."""
    w = np.asarray(weights, dtype=np.float64)
    lam = np.asarray(utopia, dtype=np.float64)
    s = normalise(values) @ w
    return 1.0 - np.abs(s - float(w @ lam))
