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

from controller_app.train_log import OpenTrain, TrainLog
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


@dataclass(frozen=True)
class MonitorSettings:
    alpha: float = 0.3
    delay_window: int = 5  # probes; 2.5 s at 2 Hz
    loss_window: int = 600
    probe_timeout_s: float = 2.0


class PathMonitor:
    """Per-port, per-node and per-switch measurement state, fed by the apps' events, and the
    figures of a path from it (`path_figures`)."""

    def __init__(self, settings: MonitorSettings = MonitorSettings()) -> None:
        self.settings = settings
        self.counters: dict[tuple[int, int], PortCounters] = {}
        self.rates: dict[tuple[int, int], PortRates] = {}
        self.capacity: dict[tuple[int, int], float] = {}  # registered, Mb/s
        self.port_speed: dict[tuple[int, int], float] = {}  # from the switch, Mb/s
        self.echo_rtt: dict[int, RecentMin] = {}
        self.probes: dict[str, NodeProbes] = {}
        self.train_log = TrainLog()
        self.own_counters: dict[tuple[str, str], PortCounters] = {}  # (ip, "down"|"up") -> bytes, tx only
        self.own_rates: dict[tuple[str, str], Ewma] = {}

    def reset_estimates(self) -> None:
        """Forget every per-node estimate (probes, trains, smoothed rates), so that the next
        experiment starts from the same knowledge as the last; hints and the control
        channel's echo times stay, and rates resume at the next poll."""
        self.probes.clear()
        self.train_log.clear()
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
        rates = self.rates.setdefault(key, PortRates(Ewma(self.settings.alpha), Ewma(self.settings.alpha)))
        rates.tx.add(tx / 1e6)
        rates.rx.add(rx / 1e6)
        rates.updated_at = at

    def used_mbps(self, dpid: int, port: int) -> float:
        rates = self.rates.get((dpid, port))
        return 0.0 if rates is None else max(rates.tx.value or 0.0, rates.rx.value or 0.0)

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
        rate = self.own_rates.get((ip, direction))
        return (rate.value or 0.0) if rate else 0.0

    # -- packet trains (controller_app/train_log.py) -------------------------------------
    def train_sent(self, ip: str, train_id: int, at: float) -> None:
        self.train_log.sent(ip, train_id, at)

    def train_reply(self, ip: str, train_id: int, position: int, at: float) -> None:
        self.train_log.reply(ip, train_id, position, at)

    def close_trains(self, now: float, timeout_s: float, complete: int) -> list[tuple[str, OpenTrain, float | None]]:
        """Turn trains that are complete or older than `timeout_s` into estimates."""
        return self.train_log.close_due(now, timeout_s, complete)

    def train_busy(self, ip: str, now: float) -> bool:
        """Whether a train may still fill this node's bottleneck queue (a delay probe sent now
        would time the train's queue, not the path)."""
        probes = self.probes.get(ip)
        rtt_s = 2 * (probes.delay.value or 0.0) / 1000 if probes else 0.0
        return self.train_log.busy(ip, now, rtt_s)

    # -- control channel and probes ---------------------------------------------------
    def echo(self, dpid: int, rtt_s: float) -> None:
        self.echo_rtt.setdefault(dpid, RecentMin(ECHO_WINDOW)).add(rtt_s)

    def probe_sent(self, ip: str, seq: int, at: float) -> None:
        probes = self.probes.setdefault(
            ip, NodeProbes(RecentMedian(self.settings.delay_window), ProbeWindow(self.settings.loss_window))
        )
        probes.outstanding[seq] = at

    def probe_reply(self, ip: str, seq: int, at: float, out_dpid: int, back_dpid: int) -> float | None:
        probes = self.probes.get(ip)
        if probes is None or seq not in probes.outstanding:
            return None  # unknown or already timed out
        rtt = at - probes.outstanding.pop(seq)
        echo_out = self.echo_rtt.get(out_dpid)
        echo_back = self.echo_rtt.get(back_dpid)
        delay = probe_delay_ms(rtt, echo_out.value if echo_out else 0.0, echo_back.value if echo_back else 0.0)
        probes.delay.add(delay)
        probes.window.add(True)
        probes.updated_at = at
        return delay

    def expire_probes(self, now: float) -> None:
        for probes in self.probes.values():
            late = [seq for seq, sent in probes.outstanding.items() if now - sent > self.settings.probe_timeout_s]
            for seq in late:
                del probes.outstanding[seq]
                probes.window.add(False)
                probes.updated_at = now

    # -- per path ---------------------------------------------------------------------
    def _access_capacity(self, ip: str, access: tuple[int, int]) -> tuple[float | None, str, int, float | None]:
        """(Mb/s, estimator, samples, updated_at) of the node's access link."""
        if access in self.capacity:
            return self.capacity[access], "hint", 1, None
        estimate = self.train_log.estimates.get(ip)
        if estimate is not None and estimate.mbps is not None:
            return estimate.mbps, "train", estimate.trains, estimate.updated_at
        return None, "", 0, None  # not measured yet: the port's nominal speed (a veth says 10 Gb/s) would be a lie

    def _load(self, key: tuple[int, int], own_down: float, own_up: float, access: bool) -> float:
        """Load on a link other than this node's own traffic (Mb/s). On the node's access
        port tx is towards the node (down) and rx from it (up); elsewhere the direction
        is not tracked and the node's larger own rate is removed from the busier one."""
        rates = self.rates.get(key)
        if rates is None:
            return 0.0
        tx, rx = rates.tx.value or 0.0, rates.rx.value or 0.0
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
                link_capacity = self.capacity_mbps(*key)
                if link_capacity is not None:
                    states.append(LinkState(link_capacity, self._load(key, down, up, False)))
        probes = self.probes.get(ip)
        stamps = [self.rates[key].updated_at for key in links if key in self.rates]
        stamps += [probes.updated_at] if probes else []
        avail = round(available_bandwidth(states), 3) if states else None
        lost = sum(1 for answered in probes.window.results if not answered) if probes else 0
        samples = probes.window.samples if probes else 0
        low, high = wilson_interval(lost, samples)
        return PathAnswer(
            ip=ip,
            bandwidth_mbps=avail,  # = available_mbps, under the key a static metrics file uses for B
            available_mbps=avail,
            capacity_mbps=round(min(state.capacity_mbps for state in states), 3) if states else None,
            capacity_source=source if cap is not None else None,
            capacity_samples=cap_samples,
            capacity_updated_at=cap_at,
            **self.train_log.record(ip),
            own_traffic_mbps={"down": round(down, 3), "up": round(up, 3)},
            delay_ms=round(probes.delay.value, 3) if probes and probes.delay.value is not None else None,
            delay_samples=probes.delay.samples if probes else 0,
            loss_pct=round(probes.window.loss_pct(), 3) if probes and probes.window.samples else None,
            loss_ci95_pct=[round(100 * low, 3), round(100 * high, 3)] if samples else None,
            samples=samples,
            updated_at=max(stamps) if stamps else None,
        ).model_dump()
