import pytest

from orchestrator import fairness


@pytest.mark.parametrize(
    "x,jain,norm",
    [
        ([1, 1, 1, 1], 1.0, 1.0),
        ([1, 0, 0, 0], 0.25, 0.0),
        ([1, 1, 0, 0], 0.5, 1 / 3),
        ([0.3, 0.3, 0.3], 1.0, 1.0),
        ([0, 0], 1.0, 1.0),
        ([5], 1.0, 1.0),
    ],
)
def test_jain_index_on_known_vectors(x, jain, norm):
    assert fairness.jain_index(x) == pytest.approx(jain)
    assert fairness.jain_normalised(x) == pytest.approx(norm)


def test_jain_of_nothing_is_an_error():
    with pytest.raises(ValueError):
        fairness.jain_index([])


def test_participation_bubble_and_coverage():
    assert fairness.participation([10, 5, 0], 10).tolist() == [1.0, 0.5, 0.0]
    assert fairness.bubble_time(10.0, [4.0, 10.0, 7.0]) == 9.0
    assert fairness.coverage(48, 192) == 0.25 and fairness.coverage(0, 0) == 0.0
