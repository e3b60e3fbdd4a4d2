"""Mean and 95 % confidence interval over seeds (Student's t; pure, no SciPy)."""

from __future__ import annotations

import math
import statistics
from typing import Sequence

# Two-sided 95 % critical values of Student's t by degrees of freedom.
_T95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    20: 2.086,
    25: 2.060,
    30: 2.042,
}


def t95(degrees_of_freedom: int) -> float:
    """The critical value for `df` degrees of freedom: the next smaller tabulated df (a
    wider interval), and the normal 1.960 above 30 (t is within 4 % of it there)."""
    if degrees_of_freedom < 1:
        raise ValueError("a confidence interval needs at least two values")
    if degrees_of_freedom > 30:
        return 1.960
    return _T95[max(d for d in _T95 if d <= degrees_of_freedom)]


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """(mean, half-width of the 95 % CI); the half-width is NaN for fewer than two values."""
    vals = [float(v) for v in values]
    if not vals:
        return math.nan, math.nan
    m = statistics.fmean(vals)
    if len(vals) < 2:
        return m, math.nan
    return m, t95(len(vals) - 1) * statistics.stdev(vals) / math.sqrt(len(vals))


def fmt_ci(values: Sequence[float], fmt: str = ".2f") -> str:
    m, h = mean_ci95(values)
    return f"{m:{fmt}}" + ("" if math.isnan(h) else f" ± {h:{fmt}}")
