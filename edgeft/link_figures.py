"""The (bandwidth, delay, loss) of a path: the one type for B, D and L.

A drawn profile, the oracle's truth, a policy's candidate, the controller's
measurement and a shaped link all carry these three figures; each of those types
hands them out as `.link`, and every conversion between them goes through here."""

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
        get = source.__getitem__ if isinstance(source, dict) else lambda k: getattr(source, k)
        return cls(*(float(get(f)) for f in cls.FIELDS))

    @property
    def missing(self) -> list[str]:
        return [f for f in self.FIELDS if math.isnan(getattr(self, f))]

    def dilated(self, k: float) -> "LinkFigures":
        """These figures in a world run k times slower: rate / k, delay x k (loss is a ratio)."""
        return LinkFigures(self.bandwidth_mbps / k, self.delay_ms * k, self.loss_pct)

    def undilated(self, k: float) -> "LinkFigures":
        """Figures measured in a world run k times slower, back in emulated units."""
        return LinkFigures(self.bandwidth_mbps * k, self.delay_ms / k, self.loss_pct)


class HasLinkFigures:
    """For the types that carry the three figures as flat fields (CSV and JSON rows)."""

    @property
    def link(self) -> LinkFigures:
        return LinkFigures.of(self)
