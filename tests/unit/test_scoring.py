import numpy as np
import pytest

from orchestrator.scoring import normalise, perf_scores

EQUAL = np.full(5, 0.2)
IDEAL = np.ones(5)


def test_hand_computed_three_nodes():
    # columns: C, B, D, L, T
    x = np.array(
        [
            [10.0, 5.0, 100.0, 2.0, 4.0],
            [30.0, 15.0, 50.0, 1.0, 2.0],
            [20.0, 10.0, 75.0, 0.0, 3.0],
        ]
    )
    n = normalise(x)
    expected = np.array(
        [
            [0.0, 0.0, 0.0, 0.0, 0.0],
            [1.0, 1.0, 1.0, 0.5, 1.0],
            [0.5, 0.5, 0.5, 1.0, 0.5],
        ]
    )
    np.testing.assert_allclose(n, expected)
    # s = mean of the row; lambda_s = 1; score = 1 - |s - 1| = s
    np.testing.assert_allclose(perf_scores(x, EQUAL, IDEAL), [0.0, 0.9, 0.6])


def test_weights_and_utopia_change_the_ranking():
    x = np.array([[50.0, 1.0, 10.0, 0.0, 1.0], [10.0, 20.0, 10.0, 0.0, 1.0]])
    compute_only = np.array([1.0, 0, 0, 0, 0])
    bandwidth_only = np.array([0, 1.0, 0, 0, 0])
    assert perf_scores(x, compute_only, IDEAL).tolist() == [1.0, 0.0]
    assert perf_scores(x, bandwidth_only, IDEAL).tolist() == [0.0, 1.0]
    # A utopia at the worst corner rewards the node closest to it: 1 - |s - 0| = 1 - s.
    assert perf_scores(x, compute_only, np.zeros(5)).tolist() == [0.0, 1.0]


def test_tie_gives_equal_scores():
    x = np.array([[10, 5, 20, 1, 3], [10, 5, 20, 1, 3], [20, 10, 10, 0, 1]], dtype=float)
    s = perf_scores(x, EQUAL, IDEAL)
    assert s[0] == s[1]
    assert s[2] == pytest.approx(1.0)


def test_constant_column_normalises_to_one():
    x = np.array([[10, 5, 20, 1, 3], [20, 5, 10, 1, 1]], dtype=float)
    n = normalise(x)
    assert n[:, 1].tolist() == [1.0, 1.0]  # bandwidth equal
    assert n[:, 3].tolist() == [1.0, 1.0]  # loss equal


def test_one_node_scores_perfect():
    x = np.array([[3.0, 1.0, 200.0, 5.0, 9.0]])
    assert perf_scores(x, EQUAL, IDEAL).tolist() == [1.0]


def test_a_missing_figure_is_neutral_and_does_not_hide_the_others():
    # columns C, B, D, L, T; node 3 has no delay: it takes the median delay (20 ms) and
    # so the median delay score, while its bandwidth and loss still count.
    x = np.array([[10, 5, 10, 1, 3], [15, 9, 20, 0, 2], [20, 2, np.nan, 2, 1], [12, 7, 30, 0.5, 2]], dtype=float)
    n = normalise(x)
    assert n[2, 2] == pytest.approx(n[1, 2]) == pytest.approx(0.5)  # median of 10, 20, 30 -> 20 ms -> 0.5
    assert n[2, 1] == 0.0 and n[2, 3] == 0.0  # its own (worst) bandwidth and loss are kept
    assert n[[0, 1, 3], 2].tolist() == [1.0, 0.5, 0.0]  # the others' delay scores are as if it were not there
    y = np.array([[10, np.nan, np.nan, np.nan, 3], [20, np.nan, np.nan, np.nan, 1]], dtype=float)
    assert normalise(y)[:, 1:4].tolist() == [[1.0] * 3, [1.0] * 3]


def test_shape_is_checked():
    with pytest.raises(ValueError, match="matrix"):
        normalise(np.zeros((3, 4)))
