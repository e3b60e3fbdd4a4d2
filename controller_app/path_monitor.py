"""Per-path figures for the orchestrator <-> edge-node paths, from port
statistics and probes. Pure state: the controller app feeds it events.

Method (documented in docs/controller.md):
- capacity: the node's access link takes the capacity that packet trains
  measure on the path (controller_app/capacity.py); a registered hint
  (PUT /v1/links/capacity) overrides it; until either exists the path has no
  bandwidth figure. Other links take their hint, else the port's curr_speed.
- available bandwidth: for every link on the path, capacity minus the load on
  it (tx and rx rates of the switch port the link hangs on, from port-stats byte
  deltas, EWMA-smoothed), where the run's own traffic with this node (its
  transfers to and from the orchestrator's service port, counted by flow stats)
  is not load; the path's figure is the minimum over its links.
- delay: an ICMP echo probe is sent by packet-out at the orchestrator's switch
  and its reply caught by packet-in at the node's gateway; half of each
  switch's control-channel echo RTT (least of the last ECHO_WINDOW) is
  removed. The figure is the orchestrator <-> node round trip beyond the
  control channel (with this project's shaping
  all added delay sits on the orchestrator -> node direction, so it equals the
  one-way orchestrator -> node delay). The median of the last `delay_window` probes.
- loss: the share of unanswered probes among the last `window` probes, with
  its 95 % Wilson interval (edgeft/loss_confidence.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from controller_app.capacity import FRAME_BYTES, TRAIN_PACKETS, CapacityEstimate, judge_train
from controller_app.measure import (
    Ewma,
    LinkState,
    ProbeWindow,
    RecentMedian,
    RecentMin,
    available_bandwidth,
    counter_rate,
    probe_delay_ms,
)
from edgeft.loss_confidence import wilson_interval
from edgeft.paths_api import PathAnswer

log = logging.getLogger("edgeft.controller")
ECHO_WINDOW = 5  # echo RTTs per switch the median is taken over (one per poll)


@dataclass
class PortCounters:
    tx_bytes: int
    rx_bytes: int
    at: float


@dataclass
class PortRates:
    tx: Ewma
    rx: Ewma
    updated_at: float = 0.0


@dataclass
class NodeProbes:
    delay: RecentMedian
    window: ProbeWindow
    outstanding: dict[int, float] = field(default_factory=dict)  # seq -> sent at
    updated_at: float = 0.0


@dataclass
class OpenTrain:
    train_id: int
    sent_at: float
    arrivals: dict[int, float] = field(default_factory=dict)  # position -> arrival time


@dataclass(frozen=True)
class MonitorSettings:
    alpha: float = 0.3
    delay_window: int = 5  # probes; 2.5 s at 2 Hz
    loss_window: int = 600
    probe_timeout_s: float = 2.0


class PathMonitor:
    def __init__(self, settings: MonitorSettings = MonitorSettings()) -> None:
        self.settings = settings
        self.counters: dict[tuple[int, int], PortCounters] = {}
        self.rates: dict[tuple[int, int], PortRates] = {}
        self.capacity: dict[tuple[int, int], float] = {}  # registered, Mb/s
        self.port_speed: dict[tuple[int, int], float] = {}  # from the switch, Mb/s
        self.echo_rtt: dict[int, RecentMin] = {}
        self.probes: dict[str, NodeProbes] = {}
        self.trains: dict[str, CapacityEstimate] = {}  # by node ip
        self.open_trains: dict[str, OpenTrain] = {}
        self.own_counters: dict[tuple[str, str], PortCounters] = {}  # (ip, "down"|"up") -> bytes, tx only
        self.own_rates: dict[tuple[str, str], Ewma] = {}

    def reset_estimates(self) -> None:
        """Forget every per-node estimate (probes, trains, smoothed rates), so that the next
        experiment starts from the same knowledge as the last; hints and the control
        channel's echo times stay, and rates resume at the next poll."""
        self.probes.clear()
        self.trains.clear()
        self.open_trains.clear()
        self.rates.clear()
        self.own_rates.clear()

    # -- port statistics ---------------------------------------------------------
    def port_stats(self, dpid: int, port: int, tx_bytes: int, rx_bytes: int, at: float) -> None:
        key = (dpid, port)
        prev = self.counters.get(key)
        self.counters[key] = PortCounters(tx_bytes, rx_bytes, at)
        if prev is None:
            return
        tx = counter_rate(prev.tx_bytes, prev.at, tx_bytes, at)
        rx = counter_rate(prev.rx_bytes, prev.at, rx_bytes, at)
        if tx is None or rx is None:
            return  # reset counter: skip this interval
        r = self.rates.setdefault(key, PortRates(Ewma(self.settings.alpha), Ewma(self.settings.alpha)))
        r.tx.add(tx / 1e6)
        r.rx.add(rx / 1e6)
        r.updated_at = at

    def used_mbps(self, dpid: int, port: int) -> float:
        r = self.rates.get((dpid, port))
        return 0.0 if r is None else max(r.tx.value or 0.0, r.rx.value or 0.0)

    def capacity_mbps(self, dpid: int, port: int) -> float | None:
        return self.capacity.get((dpid, port), self.port_speed.get((dpid, port)))

    # -- the run's own traffic with a node (flow stats) ---------------------------------
    def own_bytes(self, ip: str, direction: str, byte_count: int, at: float) -> None:
        """Bytes of the orchestrator's own connections with node `ip` so far, towards the
        node ("down") or from it ("up")."""
        key = (ip, direction)
        prev = self.own_counters.get(key)
        self.own_counters[key] = PortCounters(byte_count, 0, at)
        rate = counter_rate(prev.tx_bytes, prev.at, byte_count, at) if prev else None
        if rate is not None:
            self.own_rates.setdefault(key, Ewma(self.settings.alpha)).add(rate / 1e6)

    def own_mbps(self, ip: str, direction: str) -> float:
        e = self.own_rates.get((ip, direction))
        return (e.value or 0.0) if e else 0.0

    # -- packet trains ---------------------------------------------------------------
    def train_sent(self, ip: str, train_id: int, at: float) -> None:
        if ip in self.open_trains:  # the last one to this node still waits for stragglers: judge it now
            self._close(ip, at)
        self.open_trains[ip] = OpenTrain(train_id, at)

    def train_busy(self, ip: str, now: float) -> bool:
        """Whether a train may still fill this node's bottleneck queue: a delay probe sent
        now would measure the train's queue, not the path. Judged from the last estimate
        (0.5 Mb/s before there is one) and the path's delay, with 50 % margin."""
        t = self.open_trains.get(ip)
        if t is None:
            return False
        est = self.trains.get(ip)
        mbps = est.mbps if est is not None and est.mbps else 0.5
        p = self.probes.get(ip)
        rtt_s = 2 * (p.delay.value or 0.0) / 1000 if p else 0.0
        return now - t.sent_at < 1.5 * (TRAIN_PACKETS * FRAME_BYTES * 8 / (mbps * 1e6) + rtt_s) + 0.05

    def _close(self, ip: str, now: float) -> tuple[str, OpenTrain, float | None]:
        t = self.open_trains.pop(ip)
        verdict = judge_train(t.arrivals)
        est = self.trains.setdefault(ip, CapacityEstimate())
        if verdict.mbps is not None:
            est.add(verdict.mbps, now)
        elif verdict.reason != "too few":  # bunched or a poor fit: counted, not used
            est.refuse()
        log.debug(
            "train to %s: %d back, arrivals %s ms, %s Mb/s %s",
            ip,
            len(t.arrivals),
            [(i, round(1000 * (a - t.sent_at), 1)) for i, a in sorted(t.arrivals.items())],
            verdict.mbps,
            verdict.reason,
        )
        return ip, t, verdict.mbps

    def train_reply(self, ip: str, train_id: int, position: int, at: float) -> None:
        t = self.open_trains.get(ip)
        if t is not None and t.train_id == train_id:
            t.arrivals[position] = at

    def close_trains(self, now: float, timeout_s: float, complete: int) -> list[tuple[str, OpenTrain, float | None]]:
        """Turn trains that are complete or older than `timeout_s` into estimates; returns
        (ip, train, Mb/s or None) of each closed train."""
        return [
            self._close(ip, now)
            for ip, t in list(self.open_trains.items())
            if len(t.arrivals) >= complete or now - t.sent_at > timeout_s
        ]

    # -- control channel and probes ---------------------------------------------------
    def echo(self, dpid: int, rtt_s: float) -> None:
        self.echo_rtt.setdefault(dpid, RecentMin(ECHO_WINDOW)).add(rtt_s)

    def probe_sent(self, ip: str, seq: int, at: float) -> None:
        p = self.probes.setdefault(
            ip, NodeProbes(RecentMedian(self.settings.delay_window), ProbeWindow(self.settings.loss_window))
        )
        p.outstanding[seq] = at

    def probe_reply(self, ip: str, seq: int, at: float, out_dpid: int, back_dpid: int) -> float | None:
        p = self.probes.get(ip)
        if p is None or seq not in p.outstanding:
            return None  # unknown or already timed out
        rtt = at - p.outstanding.pop(seq)
        e_out = self.echo_rtt.get(out_dpid)
        e_back = self.echo_rtt.get(back_dpid)
        d = probe_delay_ms(rtt, e_out.value if e_out else 0.0, e_back.value if e_back else 0.0)
        p.delay.add(d)
        p.window.add(True)
        p.updated_at = at
        return d

    def expire_probes(self, now: float) -> None:
        for p in self.probes.values():
            for seq in [s for s, t in p.outstanding.items() if now - t > self.settings.probe_timeout_s]:
                del p.outstanding[seq]
                p.window.add(False)
                p.updated_at = now

    # -- per path ---------------------------------------------------------------------
    def _access_capacity(self, ip: str, access: tuple[int, int]) -> tuple[float | None, str, int, float | None]:
        """(Mb/s, estimator, samples, updated_at) of the node's access link."""
        if access in self.capacity:
            return self.capacity[access], "hint", 1, None
        est = self.trains.get(ip)
        if est is not None and est.mbps is not None:
            return est.mbps, "train", est.trains, est.updated_at
        return None, "", 0, None  # not measured yet: the port's nominal speed (a veth says 10 Gb/s) would be a lie

    def _train_record(self, ip: str) -> dict:
        """How far the trains behind a node's capacity agree: PathAnswer's capacity_trains,
        capacity_spread_mbps and capacity_refused (trains bunched by the controller's own
        scheduling or fitting poorly)."""
        est = self.trains.get(ip)
        if est is None:
            return {"capacity_trains": 0, "capacity_spread_mbps": None, "capacity_refused": 0}
        spread = est.spread_mbps
        return {
            "capacity_trains": len(est.recent),
            "capacity_spread_mbps": round(spread, 3) if spread is not None else None,
            "capacity_refused": est.refused,
        }

    def _load(self, key: tuple[int, int], own_down: float, own_up: float, access: bool) -> float:
        """Load on a link other than this node's own traffic (Mb/s). On the node's access
        port tx is towards the node (down) and rx from it (up); elsewhere the direction
        is not tracked and the node's larger own rate is removed from the busier one."""
        r = self.rates.get(key)
        if r is None:
            return 0.0
        tx, rx = r.tx.value or 0.0, r.rx.value or 0.0
        if access:
            return max(tx - own_down, rx - own_up, 0.0)
        return max(max(tx, rx) - max(own_down, own_up), 0.0)

    def path_figures(self, ip: str, links: list[tuple[int, int]]) -> dict:
        """Figures for the path to `ip` whose links hang on the given (dpid, port)s; the
        last one is the node's access port (the gateway's port facing the node)."""
        access = links[-1]
        down, up = self.own_mbps(ip, "down"), self.own_mbps(ip, "up")
        cap, source, cap_samples, cap_at = self._access_capacity(ip, access)
        states = []
        if cap is not None:
            states.append(LinkState(cap, self._load(access, down, up, True)))
            for key in links[:-1]:
                c = self.capacity_mbps(*key)
                if c is not None:
                    states.append(LinkState(c, self._load(key, down, up, False)))
        p = self.probes.get(ip)
        stamps = [self.rates[k].updated_at for k in links if k in self.rates] + ([p.updated_at] if p else [])
        avail = round(available_bandwidth(states), 3) if states else None
        lost = sum(1 for r in p.window.results if not r) if p else 0
        samples = p.window.samples if p else 0
        lo, hi = wilson_interval(lost, samples)
        return PathAnswer(
            ip=ip,
            bandwidth_mbps=avail,  # = available_mbps, the name older clients read
            available_mbps=avail,
            capacity_mbps=round(min(s.capacity_mbps for s in states), 3) if states else None,
            capacity_source=source if cap is not None else None,
            capacity_samples=cap_samples,
            capacity_updated_at=cap_at,
            **self._train_record(ip),
            own_traffic_mbps={"down": round(down, 3), "up": round(up, 3)},
            delay_ms=round(p.delay.value, 3) if p and p.delay.value is not None else None,
            delay_samples=p.delay.samples if p else 0,
            loss_pct=round(p.window.loss_pct(), 3) if p and p.window.samples else None,
            loss_ci95_pct=[round(100 * lo, 3), round(100 * hi, 3)] if samples else None,
            samples=samples,
            updated_at=max(stamps) if stamps else None,
        ).model_dump()
