"""How far a run's measured times are from the emulated world it claims to be.

Two questions, answered from the run's own rows (node_epochs.csv), pure math:

- Compute: did each node's compute phase last its declared window? A node-epoch
  overran when compute_wall_s > 1.05 x train_time_declared_s + 50 ms (both in the
  run's reported units; runs written before the orchestrator measured T_i have only
  train_time_s, which then held the declared window). Report the overrun share and
  the p95 of wall / window.
- Transfers: are the download and upload phases what the drawn links predict?
  Prediction per phase: the protocol's round trips at the drawn delay plus the
  bytes at the drawn rate. The shaping drops packets on the orchestrator ->
  node direction only, so downloads lose data segments and uploads only ACKs
  (which cumulative ACKs absorb): a download pays one RTT of recovery per
  expected loss, and a flow long enough to see many losses (>= 8 expected) is
  held to the Mathis bound MSS / RTT x 1.22 / sqrt(p). The connections are
  kept alive, so a window once opened stays open: only the first upload of a
  run (epoch 0) grows its window from 10 segments, one doubling per RTT.
  Reported: R^2 and median relative error over all phases, and the share of the
  measured transfer time above prediction (high when something other than the
  drawn link, e.g. the userspace switch, is the bottleneck).

The shaping (topologies/shaping.py) puts the drawn delay on the orchestrator ->
node direction only, so one request-response round trip costs delay_ms.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from edgeft.link_figures import LinkFigures
from edgeft.timemodel import OVERRUN_RATIO, OVERRUN_SLACK_S, overran  # noqa: F401  (re-exported)

MSS = 1448  # bytes of payload per segment
WIRE_PER_PAYLOAD = 1514 / 1448  # Ethernet + IP + TCP headers (with timestamps) per full segment
INIT_CWND = 10  # segments (Linux)
# Round trips of the protocol (edge_client/agent.py) in each phase, besides the bytes:
# download: the adapter GET; upload: the SYNC task's delivery, the ack, the poll for the
# TRAIN task, then the result POST (stamped when its body arrives: no return trip).
# Epoch 0 has no sync: the TRAIN task's delivery only. Padding adds one request each way.
DOWNLOAD_RTTS, UPLOAD_RTTS_AFTER_SYNC, UPLOAD_RTTS_FIRST = 1, 3, 1
MANY_LOSSES = 8  # expected losses from which a flow is taken as loss-limited (Mathis)


Link = LinkFigures  # the drawn link a transfer is predicted from


def link_rate_bps(link: Link) -> float:
    """Payload bits per second the link carries (headers take the rest)."""
    return link.bandwidth_mbps * 1e6 / WIRE_PER_PAYLOAD


def mathis_bps(link: Link) -> float:
    """Mathis et al.'s bound on a long TCP flow's rate at loss p and this RTT."""
    rtt, p = link.delay_ms / 1000, link.loss_pct / 100
    return MSS * 8 / rtt * 1.22 / math.sqrt(p) if p > 0 and rtt > 0 else math.inf


def transfer_s(nbytes: int, link: Link, lossy: bool = False, fresh: bool = False) -> float:
    """Seconds for TCP to move `nbytes` after its request: from a fresh window, slow-start
    rounds of one RTT while the window is below the bandwidth-delay product; the rest
    at the link's rate; on the lossy direction, recovery as in the module doc."""
    rate, rtt = link_rate_bps(link), link.delay_ms / 1000
    left, t = float(nbytes), 0.0
    if fresh:
        cwnd, bdp = INIT_CWND * MSS, rate / 8 * rtt
        while left > 0 and cwnd < bdp:  # each round waits for its ACKs, the last one too (delayed ACKs)
            left -= cwnd
            t += rtt
            cwnd *= 2
    t += max(left, 0.0) * 8 / rate
    if lossy and link.loss_pct > 0:
        losses = nbytes / MSS * link.loss_pct / 100
        t = max(t, nbytes * 8 / mathis_bps(link)) if losses >= MANY_LOSSES else t + losses * rtt
    return t


def predict_download_s(nbytes: int, pad: int, link: Link) -> float:
    rtt = link.delay_ms / 1000
    pad_s = (rtt + transfer_s(pad, link, lossy=True)) if pad else 0.0
    return DOWNLOAD_RTTS * rtt + transfer_s(nbytes, link, lossy=True) + pad_s


def predict_upload_s(nbytes: int, pad: int, link: Link, after_sync: bool) -> float:
    """The upload phase; `after_sync` False is epoch 0 (the run's first upload, with its own
    round trips). Every upload starts from a fresh window: Mininet's hosts keep Linux's
    tcp_slow_start_after_idle = 1, and the compute window before an upload is an idle far
    longer than the retransmission timeout (the k 8 recordings' uploads exceeded the old
    "warm window after epoch 0" prediction by 3-5 one-way delays on high bandwidth-delay
    nodes, 1-3 with this). The padding, where there is one, goes first and opens it."""
    rtt = link.delay_ms / 1000
    trips = UPLOAD_RTTS_AFTER_SYNC if after_sync else UPLOAD_RTTS_FIRST
    pad_s = (rtt + transfer_s(pad, link, fresh=True)) if pad else 0.0
    return trips * rtt + transfer_s(nbytes, link, fresh=not pad) + pad_s


def r_squared(measured: Sequence[float], predicted: Sequence[float]) -> float:
    m, p = np.asarray(measured, float), np.asarray(predicted, float)
    if len(m) < 2:
        return math.nan
    ss_tot = float(((m - m.mean()) ** 2).sum())
    return 1.0 - float(((m - p) ** 2).sum()) / ss_tot if ss_tot > 0 else math.nan


def median_rel_err(measured: Sequence[float], predicted: Sequence[float]) -> float:
    """Median of |measured - predicted| / predicted."""
    m, p = np.asarray(measured, float), np.asarray(predicted, float)
    return float(np.median(np.abs(m - p) / np.maximum(p, 1e-9)))


@dataclass(frozen=True)
class Fidelity:
    node_epochs: int
    overrun_share: float
    overrun_p95: float  # p95 of compute wall / window
    transfers: str  # "measured" or "not applicable" (no emulated links)
    transfer_phases: int = 0
    transfer_r2: float = math.nan
    transfer_median_rel_err: float = math.nan
    transfer_above_share: float = math.nan

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()}

    @property
    def acceptable(self) -> bool:
        return not self.overrun_share > 0.05  # no compute rows: nothing overran


def _number(row: dict, key: str) -> float:
    try:
        return float(row.get(key, ""))
    except (TypeError, ValueError):
        return math.nan


def declared_window(row: dict) -> float:
    """The node's declared compute window: train_time_declared_s. Since the orchestrator measures
    T_i itself (train_time_s), the claim has a column of its own; older run folders hold it in
    train_time_s."""
    value = _number(row, "train_time_declared_s")
    return _number(row, "train_time_s") if math.isnan(value) else value


def compute_figures(rows: Iterable[dict]) -> tuple[int, float, float]:
    """(node-epochs with a compute phase, overrun share, p95 of wall / window)."""
    pairs = [(declared_window(r), _number(r, "compute_wall_s")) for r in rows]
    pairs = [(t, w) for t, w in pairs if t > 0 and not math.isnan(w)]
    if not pairs:
        return 0, math.nan, math.nan
    share = sum(overran(t, w) for t, w in pairs) / len(pairs)
    return len(pairs), share, float(np.percentile([w / t for t, w in pairs], 95))


class TransferPhase(NamedTuple):
    """One transfer phase of a node-epoch: what the drawn link predicts and what it took."""

    node_id: str
    epoch: int
    direction: str  # "download" or "upload"
    predicted_s: float
    measured_s: float


def transfer_pairs(
    rows: Iterable[dict], links: dict[tuple[str, int], Link], sizes: tuple[int, int], pads: tuple[int, int]
) -> list[TransferPhase]:
    """Every transfer phase, predicted against measured. `links`: the drawn link of each
    (node, epoch); `sizes`/`pads`: bytes and padding of (download, upload)."""
    out = []
    for r in rows:
        nid, epoch = r["node_id"], int(r["epoch"])
        link = links.get((nid, epoch))
        down, up = _number(r, "download_s"), _number(r, "upload_s")
        if link is None or math.isnan(up):
            continue
        synced = down > 0
        if synced:
            out.append(TransferPhase(nid, epoch, "download", predict_download_s(sizes[0], pads[0], link), down))
        out.append(
            TransferPhase(nid, epoch, "upload", predict_upload_s(sizes[1], pads[1], link, after_sync=synced), up)
        )
    return out


def assess(
    rows: list[dict],
    links: dict[tuple[str, int], Link] | None,
    sizes: tuple[int, int] = (0, 0),
    pads: tuple[int, int] = (0, 0),
) -> Fidelity:
    """The run's fidelity; `links` None: no emulated links (loopback), transfers not applicable."""
    n, share, p95 = compute_figures(rows)
    if links is None:
        return Fidelity(n, share, p95, "not applicable")
    pairs = transfer_pairs(rows, links, sizes, pads)
    if not pairs:
        return Fidelity(n, share, p95, "measured")
    pred, meas = np.array([p.predicted_s for p in pairs]), np.array([p.measured_s for p in pairs])
    above = float(np.maximum(meas - pred, 0).sum() / max(meas.sum(), 1e-9))
    return Fidelity(n, share, p95, "measured", len(pairs), r_squared(meas, pred), median_rel_err(meas, pred), above)
