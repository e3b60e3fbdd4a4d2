import math

import pytest

from experiments.reports.stats import fmt_ci, mean_ci95, t95


def test_mean_and_95_ci_by_hand():
    m, h = mean_ci95([1.0, 2.0, 3.0])  # sd 1, n 3: 4.303 / sqrt(3)
    assert m == 2.0 and h == pytest.approx(4.303 / math.sqrt(3))
    assert fmt_ci([1.0, 2.0, 3.0]) == "2.00 ± 2.48"
    assert math.isnan(mean_ci95([5.0])[1]) and fmt_ci([5.0]) == "5.00"


def test_t_values_are_conservative_between_table_rows():
    assert t95(2) == 4.303 and t95(11) == t95(10) and t95(100) == 1.96
    with pytest.raises(ValueError):
        t95(0)
