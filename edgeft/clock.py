"""The run's one clock: every conversion between wall time and reported time.

Time dilation (Gupta et al., NSDI 2006) runs the emulated world `dilation` times
slower than the emulated network it describes so that this host can live through it:
compute windows and timeouts last `dilation` times longer on the wall, link rates are
divided by it and delays multiplied by it; everything a run reports is wall time
divided by it. Those rules are written here once. Code outside this module asks the
clock (`clock.to_wall(window_s)`, `clock.reported(figures)`) instead of multiplying or
dividing by the factor itself, so the direction of a conversion is named, not guessed.

A simulated run has no wall time to dilate: its clock is `Clock.identity()`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from edgeft.link_figures import LinkFigures


@dataclass(frozen=True)
class Clock:
    """Wall <-> reported time for a run dilated by `dilation` (>= 1 when emulating; 1 = real time)."""

    dilation: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.dilation) and self.dilation > 0):
            raise ValueError(f"dilation: expected a finite number > 0, got {self.dilation!r}")

    @classmethod
    def identity(cls) -> "Clock":
        """The clock of a world that is not slowed down (loopback at k = 1, the simulator)."""
        return cls(1.0)

    # --- durations ------------------------------------------------------------------
    def to_wall(self, reported_s: float) -> float:
        """Wall seconds this host lives through for `reported_s` of the emulated world
        (a compute window, a timeout, a staleness limit)."""
        return reported_s * self.dilation

    def to_reported(self, wall_s: float) -> float:
        """Seconds of the emulated world that `wall_s` of wall time stand for."""
        return wall_s / self.dilation

    def since(self, started_wall: float, now_wall: float | None = None) -> float:
        """Reported seconds elapsed since `started_wall` (a `time.time()` stamp)."""
        return self.to_reported((time.time() if now_wall is None else now_wall) - started_wall)

    # --- link figures ---------------------------------------------------------------
    def wall_rate_mbps(self, reported_mbps: float) -> float:
        """The rate to shape a link to on the wall so that it carries `reported_mbps`."""
        return reported_mbps / self.dilation

    def reported_rate_mbps(self, wall_mbps: float) -> float:
        """The emulated rate a rate measured on the wall stands for."""
        return wall_mbps * self.dilation

    def wall_delay_ms(self, reported_ms: float) -> float:
        """The delay to configure on the wall for a reported delay."""
        return reported_ms * self.dilation

    def reported_delay_ms(self, wall_ms: float) -> float:
        """The emulated delay a delay measured on the wall stands for."""
        return wall_ms / self.dilation

    def to_wall_figures(self, figures: LinkFigures) -> LinkFigures:
        """Figures of the emulated world as they are shaped on the wall (loss is a ratio)."""
        return LinkFigures(
            self.wall_rate_mbps(figures.bandwidth_mbps), self.wall_delay_ms(figures.delay_ms), figures.loss_pct
        )

    def reported(self, figures: LinkFigures) -> LinkFigures:
        """Figures measured on the wall, back in the emulated world's units."""
        return LinkFigures(
            self.reported_rate_mbps(figures.bandwidth_mbps), self.reported_delay_ms(figures.delay_ms), figures.loss_pct
        )
