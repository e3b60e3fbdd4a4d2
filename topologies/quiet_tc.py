"""Mininet's TC link with the HTB quantum named.

Mininet's TCIntf adds one HTB class per shaped interface without a quantum, so
tc derives it from the rate (rate / r2q, r2q = 10) and, for any rate above
16 Mb/s, prints "Warning: sch_htb: quantum of class 50001 is big. Consider r2q
change.", which Mininet relays as "*** Error: ..." once per link: about fifty
lines of false alarm before a demo says anything. The quantum only decides how
spare rate is lent among sibling classes; each shaped interface has a single
class, so naming it changes no shaping.
"""

from __future__ import annotations

from mininet.link import TCIntf, TCLink

MIN_QUANTUM, MAX_QUANTUM = 1514, 200_000  # tc's own bounds: one full frame, and where it starts to warn


def htb_quantum(rate_mbps: float) -> int:
    """The quantum tc would derive (rate in bytes/s over r2q = 10), kept inside its bounds."""
    return int(min(MAX_QUANTUM, max(MIN_QUANTUM, rate_mbps * 1e6 / 8 / 10)))


class QuietTCIntf(TCIntf):
    def bwCmds(self, bw=None, **params):  # noqa: N802 (Mininet's name)
        cmds, parent = super().bwCmds(bw=bw, **params)
        if bw:
            cmds = [c + f" quantum {htb_quantum(bw)}" if "classid 5:1 htb" in c else c for c in cmds]
        return cmds, parent


class QuietTCLink(TCLink):
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("cls1", QuietTCIntf)
        kwargs.setdefault("cls2", QuietTCIntf)
        super().__init__(*args, **kwargs)
