"""What one node does in one simulated epoch, as SimGrid steps: transfers and waits (pure, no SimGrid).

The protocol model is orchestrator/fidelity.py's, so that a lone flow's simulated phase equals the
fidelity report's prediction for it:

- SimGrid charges a route's latency once per communication. The access link carries the node's
  drawn delay as its latency in both directions: Mininet delays the server -> node direction only
  (topologies/shaping.py), so one request-response round trip costs delay_ms either way. A transfer
  step therefore costs one round trip (its request) plus its bytes at the path's share.
- Bytes travel as wire bytes (payload x fidelity.WIRE_PER_PAYLOAD: Ethernet, IP and TCP headers), so
  a lone flow moves its payload at fidelity.link_rate_bps.
- The protocol's other round trips (download: 1, the adapter GET = the transfer's own latency;
  upload after a sync: 3, the SYNC delivery, the ack, the TRAIN poll, the last being the POST's own
  latency; first upload of a run: 1) are waits of delay_ms each. Padding adds one request each way.
- Random loss, which SimGrid has no notion of, acts as in the fidelity report: the shaping drops
  server -> node packets only, so downloads pay for it, uploads do not. A download is the fidelity
  report's finite flow (fidelity.lossy_transfer: slow start until the first loss, then the lower of
  the link's rate with a round trip per loss and the loss-limited rate, fidelity.loss_limited_bps:
  Mathis's MSS / RTT x C / sqrt(p) for Reno, which the emulated hosts run; a replayed CUBIC
  recording adds CUBIC's cubic-region rate where larger, whose round trip is wall time, k x RTT at
  dilation k), held to its lone-flow time with SimGrid's per-communication rate cap.
- Each transfer starts from the window its sender has then (`download_cwnd`: the orchestrator's,
  `upload_cwnd`: the node's; infinite: an open window). The driver follows each node's connection
  through the run with the fidelity report's own model (fidelity.NodeConnection: Mininet's hosts run
  CUBIC with slow start after idle, so an idle longer than the RTO halves a window, down to 10
  segments; the keep-alive closes a connection idle 5 s, and the next request pays a handshake and
  fresh windows). While below the bandwidth-delay product a transfer goes in flights of a window, each
  doubling it: the flights that wait for their ACKs are a wait, their bytes leave the transfer; the
  last flight is the transfer (fidelity.window_transfer_s).
- An artifact and its padding (the paper-volume mode) move as one SimGrid transfer, whose lone time
  is the two requests' (merge_transfers): half the flow events, and the simulation's cost is mostly
  flow events times the flows sharing the server's link.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from orchestrator import fidelity

Phase = Literal["download", "compute", "upload"]


@dataclass(frozen=True)
class Step:
    """One thing a node does: a transfer (wire bytes, a rate cap in bytes/s or None) or a wait (seconds)."""

    phase: Phase
    kind: Literal["transfer", "wait"]
    wire_bytes: int = 0
    rate_cap: float | None = None  # bytes/s; None: the path's share only
    seconds: float = 0.0

    @property
    def is_transfer(self) -> bool:
        return self.kind == "transfer"


@dataclass(frozen=True)
class NodeEpoch:
    """One node in one epoch: what it downloads, computes and (when active) uploads.

    download_bytes 0 and download_pad 0: no download (epoch 0 of a run: the set-up delivered the
    model). `download_cwnd` / `upload_cwnd`: the sender's congestion window (segments) as the phase
    starts, infinite for an open one (the driver follows each connection: module doc).
    A node that is live but not active (benched) downloads only, then waits `after_s` (the set-up's
    acknowledgement and warm-up; 0 for a benched node)."""

    node_id: str
    active: bool
    download_bytes: int = 0
    download_pad: int = 0
    compute_s: float = 0.0
    upload_bytes: int = 0
    upload_pad: int = 0
    upload_cwnd: float = math.inf
    after_s: float = 0.0  # a node that does not train: a wait after its downloads (the set-up's acks, warm-up)
    download_wait_s: float = 0.0  # a calibrated wait after the downloads (simulator/driver.py: extra round trips)
    upload_wait_s: float = 0.0  # waits with the upload's protocol round trips: a handshake, a late poll, calibrated
    download_cwnd: float = math.inf

    def __post_init__(self) -> None:
        for name in ("download_bytes", "download_pad", "upload_bytes", "upload_pad"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"node {self.node_id}: {name} must be an int >= 0 (got {value!r})")
        for name in ("download_cwnd", "upload_cwnd"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value >= 1):
                raise ValueError(f"node {self.node_id}: {name} must be a window of >= 1 segment (got {value!r})")
        for name in ("compute_s", "after_s", "download_wait_s", "upload_wait_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"node {self.node_id}: {name} must be a finite number >= 0 (got {value!r})")

    @property
    def downloads(self) -> bool:
        return self.download_bytes > 0 or self.download_pad > 0


def wire_bytes(payload: int) -> int:
    """Bytes on the wire for `payload` bytes of TCP payload (an int: SimGrid takes sizes as int)."""
    return int(math.ceil(payload * fidelity.WIRE_PER_PAYLOAD))


def wire_rate(payload_bps: float) -> float:
    """A payload rate in bits/s as wire bytes/s (what SimGrid's links and rate caps count)."""
    return payload_bps / 8 * fidelity.WIRE_PER_PAYLOAD


def slow_start(nbytes: int, link: fidelity.Link, cwnd: float = fidelity.INIT_CWND) -> tuple[float, int]:
    """(seconds, payload bytes) of the slow-start flights a window of `cwnd` segments waits on while
    moving `nbytes` (fidelity.slow_start_flights: one round trip each for every flight but the last,
    which with the rest is the transfer)."""
    waits, left, _ = fidelity.slow_start_flights(nbytes, link, cwnd)
    return waits * link.delay_ms / 1000, nbytes - int(round(left * fidelity.MSS))


def slow_start_losses(
    nbytes: int, link: fidelity.Link, dilation: float = 1.0, congestion_control: str = "reno"
) -> float:
    """The losses a transfer of `nbytes` expects before its window reaches the loss-limited one
    (fidelity.loss_limited_bps): p x the segments it sends until then, about twice that window (the
    flights double up to it), or all of them for a shorter transfer. A loss there, in a window of
    10-40 segments, often lacks the three duplicate ACKs fast retransmit needs and waits for a
    tail-loss probe or a timeout: round trips the protocol model does not charge, which the
    calibration prices per loss (simulator/validation.py fit_round_trips). Past that window the
    Mathis rate already carries the losses' cost, so a long transfer adds nothing more here."""
    p = link.loss_pct / 100
    if not (p > 0 and nbytes > 0):
        return 0.0
    segments = math.ceil(nbytes / fidelity.MSS)
    rtt = link.delay_ms / 1000
    bps = fidelity.loss_limited_bps(link, dilation, congestion_control)
    window = bps * rtt / (fidelity.MSS * 8) if rtt > 0 and math.isfinite(bps) else math.inf
    return p * min(segments, 2 * window)


def window_steps(phase: Phase, nbytes: int, link: fidelity.Link, cwnd: float) -> list[Step]:
    """One transfer from a window of `cwnd` segments: its slow-start flights as a wait, the rest as the
    transfer (its latency the request's round trip)."""
    seconds, sent = slow_start(nbytes, link, cwnd) if math.isfinite(cwnd) else (0.0, 0)
    steps = [Step(phase, "wait", seconds=seconds)] if seconds > 0 else []
    if nbytes - sent <= 0:  # all sent in slow start: the request's round trip is left (SimGrid mistimes empty messages)
        return steps + [Step(phase, "wait", seconds=link.delay_ms / 1000)]
    return steps + [Step(phase, "transfer", wire_bytes(nbytes - sent))]


def download_steps(
    nbytes: int, link: fidelity.Link, cwnd: float = math.inf, dilation: float = 1.0, congestion_control: str = "reno"
) -> list[Step]:
    """One download transfer from the orchestrator's window of `cwnd` segments (its request's round
    trip is the transfer's latency) and its loss (`dilation`, `congestion_control`):
    fidelity.lossy_transfer's finite flow. Its slow-start flights' expected waiting for ACKs is a wait;
    all its bytes are then one transfer (one SimGrid flow per download). Where the link's rate bounds the
    rest, the transfer goes at the path's share; where the loss-limited rate does, it is capped at the
    rate that gives a lone flow the model's time, which leaves the rest of a shared link to the others,
    as a loss-bound TCP flow does. The recovery's round trips are a wait after it. A capped flow costs
    SimGrid's solver more (bench_simulate.py, 1 000 nodes x 10 AR epochs, Setup 2: 28 % of the adapter
    downloads are capped, 5.6 -> 7.0 CPU s against the rule this model replaced)."""
    if not (link.loss_pct > 0 and nbytes > 0):
        return window_steps("download", nbytes, link, cwnd)
    flow = fidelity.lossy_transfer(nbytes, link, cwnd, dilation, congestion_control)
    steps = [Step("download", "wait", seconds=flow.wait_s)] if flow.wait_s > 0 else []
    if flow.rest_bps is None:
        steps.append(Step("download", "transfer", wire_bytes(nbytes)))
    else:
        seconds = flow.seconds(link) - flow.wait_s - flow.recovery_s
        steps.append(Step("download", "transfer", wire_bytes(nbytes), rate_cap=wire_rate(nbytes * 8 / seconds)))
    return steps + ([Step("download", "wait", seconds=flow.recovery_s)] if flow.recovery_s > 0 else [])


def upload_steps(nbytes: int, link: fidelity.Link, cwnd: float = math.inf) -> list[Step]:
    """One upload transfer from the node's window of `cwnd` segments: its slow-start rounds first, as a wait."""
    return window_steps("upload", nbytes, link, cwnd)


def merge_transfers(steps: list[Step], link: fidelity.Link) -> list[Step]:
    """The transfers of one phase run (the artifact and its padding) as one transfer: every flow event
    costs SimGrid a pass over the flows it shares a bottleneck with, so fewer events is faster. Alone,
    the merged transfer takes what its parts take: its cap, where a part is capped, is the rate that
    moves all the bytes in the parts' summed times; the parts' own requests (one round trip each but
    the first, which is the merged transfer's latency) and recovery waits follow it as one wait."""
    transfers = [s for s in steps if s.is_transfer]
    if len(transfers) < 2:
        return steps
    first = steps.index(transfers[0])
    link_bytes_s = link.bandwidth_mbps * 1e6 / 8
    total = sum(t.wire_bytes for t in transfers)
    cap = None
    if any(t.rate_cap is not None for t in transfers):
        seconds = sum(t.wire_bytes / min(link_bytes_s, t.rate_cap or math.inf) for t in transfers)
        cap = total / seconds
    waits = sum(s.seconds for s in steps[first:] if not s.is_transfer) + (len(transfers) - 1) * link.delay_ms / 1000
    phase = transfers[0].phase
    return steps[:first] + [Step(phase, "transfer", total, rate_cap=cap), Step(phase, "wait", seconds=waits)]


def node_steps(
    plan: NodeEpoch, link: fidelity.Link, dilation: float = 1.0, congestion_control: str = "reno"
) -> list[Step]:
    """Everything `plan`'s node does in its epoch, in order (see the module doc); an artifact and its
    padding move as one transfer (merge_transfers). `dilation`, `congestion_control`: the hosts' TCP and
    the k whose wall clock its timers run on (a replayed recording's; Reno at 1 for the world itself)."""
    rtt = link.delay_ms / 1000
    down: list[Step] = []
    cwnd = plan.download_cwnd
    for nbytes in (plan.download_bytes, plan.download_pad):  # the padding's GET follows on the grown window
        if nbytes:
            down += download_steps(nbytes, link, cwnd, dilation, congestion_control)
            cwnd = fidelity.window_transfer_s(nbytes, link, cwnd, True, dilation, congestion_control)[1]
    steps = merge_transfers(down, link)
    if plan.downloads and plan.download_wait_s > 0:
        steps.append(Step("download", "wait", seconds=plan.download_wait_s))
    if not plan.active:
        return steps + ([Step("download", "wait", seconds=plan.after_s)] if plan.after_s > 0 else [])
    trips = fidelity.UPLOAD_RTTS_AFTER_SYNC if plan.downloads else fidelity.UPLOAD_RTTS_FIRST
    if trips > 1 or plan.upload_wait_s > 0:  # the last trip is the result POST's own latency
        steps.append(Step("upload", "wait", seconds=(trips - 1) * rtt + plan.upload_wait_s))
    steps.append(Step("compute", "wait", seconds=plan.compute_s))
    up: list[Step] = []
    cwnd = plan.upload_cwnd
    if plan.upload_pad:  # the padding goes first and opens the window
        up += upload_steps(plan.upload_pad, link, cwnd)
        cwnd = fidelity.window_transfer_s(plan.upload_pad, link, cwnd)[1]
    up += upload_steps(plan.upload_bytes, link, cwnd)
    return steps + merge_transfers(up, link)
