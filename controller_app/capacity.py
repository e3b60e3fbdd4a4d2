"""Path capacity from packet trains (pure).

The controller sends a train of `TRAIN_PACKETS` full-size ICMP echo requests
back to back by packet-out at the orchestrator's switch; the node answers each
one and its gateway hands the replies to the controller (packet-in). The
bottleneck of the path spaces the packets out at its rate, and the replies keep
that spacing. A shaped link may let a token-bucket burst through at line rate
first (HTB: a packet or two at its default cburst, up to ten with a 15 kB
burst): the leading packets whose gaps are under half the paced gap (the
second-largest gap, so that one delayed packet-in does not set it) are
skipped. The rate is measured on the longest run of consecutive positions: a
gap in the positions is a packet dropped either by the bottleneck's full queue
(it used no time slot there) or later (it did), and the two cannot be told
apart. On a slow link the queue (>= 10 packets, topologies/shaping.queue_packets)
drops the train's tail, so about 12 of the 20 packets carry the estimate.

The arrival time is when the controller's event loop handled the packet-in, not
when the packet reached the switch. While the loop is busy (stats replies,
probes, REST, another process on the same cores), packet-ins wait in the
control channel and are then handled in a bunch, microseconds apart: a
least-squares fit through such a train reads fast (a 12-node run under load
read 43 % high). But a packet-in is only ever handled late, never early: the
ones handled on time lie on the bottleneck's line and the late ones above it.
So the rate is the slope of the lower envelope (`envelope`: the edge of the
arrivals' lower convex hull that spans the run's middle), which a bunch above
it does not tilt. A train is refused (`judge_train`, "bunched") when that line
rests on too few arrivals (under `MIN_ON_TIME` of the run within
`ON_TIME_SHARE` of a paced gap + the loop's ordinary jitter, or spread over
less than half the run or `MIN_SPAN_S`): the loop held most of it, and nothing
in it tells the rate. The line must also rest on `MIN_ON_TIME_PER_HALF` arrivals in
each half of the run: a line through a few early arrivals and the very last one
(itself late) passes under a late bunch and reads low, and one through three
evenly spaced bunches reads high (recorded at 12 and 40 nodes under load:
6.49 Mb/s for a drawn 7.41, 26.7 for 5.03; over four recorded bench runs, 1 195
trains, this rule refused 20 of the 26 accepted trains that were more than 10 %
off the drawn rate, and 9 % of all accepted ones).

A train measures what is left of the bottleneck, so traffic sharing it (the
run's own transfers included) makes an estimate low; and a train that the loop
held in two bunches can still read high. The capacity is therefore not the largest of the
recent estimates (the largest of noisy estimates is biased upward) but
`agreed_capacity`: among the last `KEEP` accepted estimates, the highest one that
another estimate confirms (within `AGREE`), averaged with the estimates that
agree with it; a lone high or low estimate is outvoted. With no two agreeing it
is the first train's estimate until a second one agrees with either (a figure
does not jump on one train), then the lower median of three or four. A link that really
got slower shows once the estimates from before the drop no longer agree with
one another: within KEEP - 1 trains, i.e. (KEEP - 1) x the train interval
(30 s at the default 10 s; docs/controller.md).
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

TRAIN_PACKETS = 20  # a burst + a drop-tail queue of >= 10 packets (topologies/shaping.queue_packets) hold most of them
FRAME_BYTES = 1514  # what HTB counts per packet: IP packet of 1500 B + Ethernet header
KEEP = 4  # accepted train estimates behind the capacity figure: a real drop shows within KEEP - 1 trains
AGREE = 0.10  # two estimates agree within 10 % of the larger
ON_TIME_SHARE = 0.3  # an arrival within 30 % of a paced gap (+ RESIDUAL_SLACK_S) of the envelope was on time
RESIDUAL_SLACK_S = 0.0003  # the event loop's ordinary wake-up jitter
MIN_ON_TIME = 0.3  # the envelope must rest on this share of the run's arrivals, spread over half of it
MIN_ON_TIME_PER_HALF = 2  # ... with at least this many arrivals in each half of the run
MIN_SPAN_S = (
    10 * RESIDUAL_SLACK_S
)  # ... and over more time than the loop's jitter (a 20-packet train at 22 Mb/s: 10 ms)


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


def _runs(arrivals: dict[int, float]) -> list[list[tuple[int, float]]]:
    """The paced arrivals (after the burst) in runs of consecutive positions, each >= 2 long."""
    skip = burst_end(arrivals)
    runs: list[list[tuple[int, float]]] = []
    for i, t in sorted((i, t) for i, t in arrivals.items() if i >= skip):
        if runs and i == runs[-1][-1][0] + 1:
            runs[-1].append((i, t))
        else:
            runs.append([(i, t)])
    return [r for r in runs if len(r) >= 2]


@dataclass(frozen=True)
class TrainVerdict:
    """One train's estimate (Mb/s) or why it has none: 'too few', 'bunched'."""

    mbps: float | None
    reason: str = ""


def _lower_hull(run: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """The lower convex hull of (position, arrival) points, sorted by position."""
    hull: list[tuple[int, float]] = []
    for p in run:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (y2 - y1) * (p[0] - x1) >= (p[1] - y1) * (x2 - x1):  # hull[-1] is not below the chord
                hull.pop()
            else:
                break
        hull.append(p)
    return hull


def envelope(run: list[tuple[int, float]]) -> tuple[float, tuple[int, float]] | None:
    """(seconds per packet, a point on the line) of the lower envelope of one run of
    consecutive arrivals: the edge of their lower convex hull that spans the run's
    middle. An arrival is only ever stamped late (it waited for the event loop), never
    early, so the packets handled on time lie on the bottleneck's line and the late ones
    above it; this is the line that lies under every arrival and highest at the middle
    (a least-squares fit goes through the late ones too, and a bunch tilts it)."""
    middle = sum(i for i, _ in run) / len(run)
    hull = _lower_hull(run)
    for (x1, y1), (x2, y2) in zip(hull, hull[1:]):
        if x1 <= middle <= x2:
            return (y2 - y1) / (x2 - x1), (x1, y1)
    return None


def judge_train(arrivals: dict[int, float], frame_bytes: int = FRAME_BYTES) -> TrainVerdict:
    """The bottleneck rate from one train (`arrivals`: position -> arrival time, s), or the
    reason it is refused: too few paced arrivals, or too few of them handled on time."""
    runs = _runs(arrivals)
    run = max(runs, key=len) if runs else []  # a drop inside the train shifts later ones by a slot: one run only
    if len(run) < 4:
        return TrainVerdict(None, "too few")
    line = envelope(run)
    if line is None or line[0] <= 0:
        return TrainVerdict(None, "bunched")
    slope, (x0, t0) = line
    tolerance = ON_TIME_SHARE * slope + RESIDUAL_SLACK_S
    on_time = [i for i, t in run if t - (t0 + slope * (i - x0)) <= tolerance]
    spread_s = slope * (on_time[-1] - on_time[0])
    if len(on_time) < max(3, MIN_ON_TIME * len(run)) or on_time[-1] - on_time[0] < 0.5 * (len(run) - 1):
        return TrainVerdict(None, "bunched")  # the line rests on a few arrivals: the loop held most of them
    if spread_s < MIN_SPAN_S:
        return TrainVerdict(None, "bunched")  # all handled in one wake-up, a few microseconds apart
    middle = (run[0][0] + run[-1][0]) / 2
    early, late = sum(1 for i in on_time if i <= middle), sum(1 for i in on_time if i >= middle)
    if min(early, late) < MIN_ON_TIME_PER_HALF:
        return TrainVerdict(None, "bunched")  # the line hangs on one end: the other half was all held
    return TrainVerdict(frame_bytes * 8 / slope / 1e6)


def train_rate_mbps(arrivals: dict[int, float], frame_bytes: int = FRAME_BYTES) -> float | None:
    """Bottleneck rate from one train: `arrivals` maps position in the train -> arrival
    time (s). None when fewer than 3 paced gaps came back to fit a slope, or when the
    train is refused (`judge_train`)."""
    return judge_train(arrivals, frame_bytes).mbps


def agreed_capacity(estimates: list[float], agree: float = AGREE) -> float | None:
    """The capacity the recent estimates (oldest first) support (module docstring): the mean
    of the cluster around the highest estimate another one confirms; else the older of
    two, or the lower median of more."""
    if not estimates:
        return None

    def close(first: float, second: float) -> bool:
        return abs(first - second) <= agree * max(first, second)

    confirmed = [
        estimate
        for index, estimate in enumerate(estimates)
        if any(close(estimate, other) for other_index, other in enumerate(estimates) if other_index != index)
    ]
    if not confirmed:  # one or two: the older stands until another confirms either; more: the lower median
        return estimates[0] if len(estimates) <= 2 else statistics.median_low(estimates)
    top = max(confirmed)
    cluster = [estimate for estimate in estimates if close(estimate, top)]
    return sum(cluster) / len(cluster)


@dataclass
class CapacityEstimate:
    """The recent accepted train estimates of one path and the capacity they give."""

    recent: deque = field(default_factory=lambda: deque(maxlen=KEEP))
    trains: int = 0  # accepted trains, ever
    refused: int = 0  # trains refused as bunched or a poor fit, ever
    updated_at: float | None = None

    def add(self, mbps: float, at: float) -> None:
        """Count one accepted train's estimate (Mb/s) taken at `at`."""
        self.recent.append(mbps)
        self.trains += 1
        self.updated_at = at

    def refuse(self) -> None:
        """Count a train that was refused (it does not move the figure)."""
        self.refused += 1

    @property
    def mbps(self) -> float | None:
        return agreed_capacity(list(self.recent))

    @property
    def spread_mbps(self) -> float | None:
        """Largest minus smallest of the recent estimates: how much they disagree."""
        return max(self.recent) - min(self.recent) if self.recent else None


def next_train_target(
    last_sent: dict[str, float | None], measured: set[str], now: float, interval_s: float
) -> str | None:
    """The node the next train slot goes to (one slot per interval_s / nodes): a node with
    no capacity figure yet (none since a reset, or its trains refused) first, if its last
    train left at least half an interval ago, so that a refused train is retried soon
    without taking every slot; else the node whose last train is the oldest. The trains
    per second stay the same. `last_sent`: each node's last train time (None: never)."""
    if not last_sent:
        return None
    waited = lambda ip: now - (last_sent[ip] if last_sent[ip] is not None else -float("inf"))  # noqa: E731
    eager = [ip for ip in last_sent if ip not in measured and waited(ip) >= interval_s / 2]
    return max(eager or list(last_sent), key=waited)
