"""The one clock: every wall <-> reported conversion and its direction."""

import math

import pytest

from edgeft.clock import Clock
from edgeft.link_figures import LinkFigures


def test_durations_round_trip_and_direction():
    clock = Clock(4.0)
    assert clock.to_wall(2.5) == 10.0  # a 2.5 s window lasts 10 s on the wall at k = 4
    assert clock.to_reported(10.0) == 2.5
    assert clock.since(100.0, now_wall=108.0) == 2.0


def test_link_figures_dilate_and_come_back():
    clock = Clock(5.0)
    shaped = clock.to_wall_figures(LinkFigures(100.0, 20.0, 1.5))
    assert shaped == LinkFigures(20.0, 100.0, 1.5)  # rate / k, delay x k, loss unchanged
    assert clock.reported(shaped) == LinkFigures(100.0, 20.0, 1.5)
    assert clock.wall_rate_mbps(50.0) == 10.0 and clock.reported_rate_mbps(10.0) == 50.0
    assert clock.wall_delay_ms(3.0) == 15.0 and clock.reported_delay_ms(15.0) == 3.0


def test_unknown_figures_stay_unknown():
    back = Clock(3.0).reported(LinkFigures(math.nan, 9.0, math.nan))
    assert math.isnan(back.bandwidth_mbps) and back.delay_ms == 3.0 and math.isnan(back.loss_pct)


def test_identity_changes_nothing():
    clock = Clock.identity()
    assert clock.to_wall(7.0) == 7.0 and clock.reported(LinkFigures(1.0, 2.0, 3.0)) == LinkFigures(1.0, 2.0, 3.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
def test_a_nonsense_factor_is_refused(bad):
    with pytest.raises(ValueError, match="dilation"):
        Clock(bad)
