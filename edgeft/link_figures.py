"""The (bandwidth, delay, loss) of a path: the one type for B, D and L.

A drawn profile, the oracle's truth, a policy's candidate, the controller's
measurement and a shaped link all carry these three figures; each of those types
hands them out as `.link`, and every conversion between them goes through here; the
conversion between wall and emulated units is the run's Clock's (edgeft/clock.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class LinkFigures:
    """Mb/s, one-way ms, % lost. NaN: the figure is not known (not measured yet)."""

    bandwidth_mbps: float
    delay_ms: float
    loss_pct: float

    FIELDS: ClassVar[tuple[str, str, str]] = ("bandwidth_mbps", "delay_ms", "loss_pct")

    @classmethod
    def of(cls, source: Any) -> "LinkFigures":
        """The figures of anything that has them: an object with the three attributes, or
        a mapping with the three keys (a JSON record)."""
        if isinstance(source, LinkFigures):
            return source
        get = source.__getitem__ if isinstance(source, dict) else lambda name: getattr(source, name)
        return cls(*(float(get(f)) for f in cls.FIELDS))

    @property
    def missing(self) -> list[str]:
        return [f for f in self.FIELDS if math.isnan(getattr(self, f))]


class HasLinkFigures:
    """For the types that carry the three figures as flat fields (CSV and JSON rows)."""

    @property
    def link(self) -> LinkFigures:
        return LinkFigures.of(self)
