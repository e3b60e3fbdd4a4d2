"""Path capacity from packet trains (pure).

The controller sends a train of `TRAIN_PACKETS` full-size ICMP echo requests
back to back by packet-out at the orchestrator's switch; the node answers each
one and its gateway hands the replies to the controller (packet-in). The
bottleneck of the path spaces the packets out at its rate, and the replies keep
that spacing. A shaped link may let a token-bucket burst through at line rate
first (HTB: a packet or two at its default cburst, up to ten with a 15 kB
burst): the leading packets whose gaps are under half the paced gap (the
second-largest gap, so that one delayed packet-in does not set it) are
skipped. The rate comes from the least-squares slope of arrival time over
position, fitted within runs of consecutive positions only: a gap in the
positions is a packet dropped either by the bottleneck's
full queue (it used no time slot there) or later (it did), and the two cannot
be told apart. On a slow link the queue (>= 10 packets,
topologies/shaping.queue_packets) drops the train's tail, so about 12 of the
20 packets carry the estimate.

A train measures what is left of the bottleneck, so traffic sharing it (the
run's own transfers included) makes an estimate low. The capacity is the
largest of the last `KEEP` estimates: one busy train does not lower it, and a
link that really got slower shows after `KEEP` trains, i.e. within
KEEP x train interval seconds (docs/controller.md).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

TRAIN_PACKETS = 20  # a burst + a drop-tail queue of >= 10 packets (topologies/shaping.queue_packets) hold most of them
FRAME_BYTES = 1514  # what HTB counts per packet: IP packet of 1500 B + Ethernet header
KEEP = 3


def burst_end(arrivals: dict[int, float]) -> int:
    """The first position that arrived paced by the bottleneck (module docstring)."""
    pts = sorted(arrivals.items())
    gaps = [(i, t2 - t1) for (i, t1), (j, t2) in zip(pts, pts[1:]) if j == i + 1]
    if not gaps:
        return 0
    paced = sorted((d for _, d in gaps), reverse=True)[min(1, len(gaps) - 1)]  # 2nd largest: one outlier is ignored
    end = 0
    for i, d in gaps:
        if d >= 0.5 * paced:
            break
        end = i + 1
    return end


def train_rate_mbps(arrivals: dict[int, float], frame_bytes: int = FRAME_BYTES) -> float | None:
    """Bottleneck rate from one train: `arrivals` maps position in the train -> arrival
    time (s). None when fewer than 3 paced gaps came back to fit a slope."""
    skip = burst_end(arrivals)
    pts = sorted((i, t) for i, t in arrivals.items() if i >= skip)
    runs: list[list[tuple[int, float]]] = []
    for i, t in pts:
        if runs and i == runs[-1][-1][0] + 1:
            runs[-1].append((i, t))
        else:
            runs.append([(i, t)])
    sxx = sxt = 0.0
    gaps = 0
    for run in (r for r in runs if len(r) >= 2):  # a pooled within-run regression
        mx = sum(i for i, _ in run) / len(run)
        mt = sum(t for _, t in run) / len(run)
        sxx += sum((i - mx) ** 2 for i, _ in run)
        sxt += sum((i - mx) * (t - mt) for i, t in run)
        gaps += len(run) - 1
    if gaps < 3 or sxt <= 0:
        return None
    return frame_bytes * 8 / (sxt / sxx) / 1e6  # sxt / sxx: seconds per packet


@dataclass
class CapacityEstimate:
    """The recent train estimates of one path and the capacity they give."""

    recent: deque = field(default_factory=lambda: deque(maxlen=KEEP))
    trains: int = 0
    updated_at: float | None = None

    def add(self, mbps: float, at: float) -> None:
        self.recent.append(mbps)
        self.trains += 1
        self.updated_at = at

    @property
    def mbps(self) -> float | None:
        return max(self.recent) if self.recent else None
