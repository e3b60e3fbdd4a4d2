"""Per-path figures for the orchestrator <-> edge-node paths, from port
statistics and probes. Pure state: the controller app feeds it events.

Method (documented in the README):
- bandwidth: for every link on the path, capacity (registered over REST, else
  the port's curr_speed) minus its utilisation (max of the tx and rx rates of the
  switch port the link hangs on, from port-stats byte deltas, EWMA-smoothed);
  the path's figure is the minimum over its links.
- delay: an ICMP echo probe is sent by packet-out at the orchestrator's switch
  and its reply caught by packet-in at the node's gateway; half of each
  switch's control-channel echo RTT (median of the last ECHO_WINDOW) is
  removed. The figure is the orchestrator <-> node round trip beyond the
  control channel (with this project's shaping
  all added delay sits on the orchestrator -> node direction, so it equals the
  one-way orchestrator -> node delay). EWMA-smoothed.
- loss: the share of unanswered probes among the last `window` probes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from controller_app.measure import (Ewma, LinkState, ProbeWindow, RecentMedian, available_bandwidth, counter_rate,
                                   probe_delay_ms)

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
    delay: Ewma
    window: ProbeWindow
    outstanding: dict[int, float] = field(default_factory=dict)  # seq -> sent at
    updated_at: float = 0.0


@dataclass(frozen=True)
class MonitorSettings:
    alpha: float = 0.3
    loss_window: int = 200
    probe_timeout_s: float = 2.0


class PathMonitor:
    def __init__(self, settings: MonitorSettings = MonitorSettings()) -> None:
        self.s = settings
        self.counters: dict[tuple[int, int], PortCounters] = {}
        self.rates: dict[tuple[int, int], PortRates] = {}
        self.capacity: dict[tuple[int, int], float] = {}  # registered, Mb/s
        self.port_speed: dict[tuple[int, int], float] = {}  # from the switch, Mb/s
        self.echo_rtt: dict[int, RecentMedian] = {}
        self.probes: dict[str, NodeProbes] = {}

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
        r = self.rates.setdefault(key, PortRates(Ewma(self.s.alpha), Ewma(self.s.alpha)))
        r.tx.add(tx / 1e6)
        r.rx.add(rx / 1e6)
        r.updated_at = at

    def used_mbps(self, dpid: int, port: int) -> float:
        r = self.rates.get((dpid, port))
        return 0.0 if r is None else max(r.tx.value or 0.0, r.rx.value or 0.0)

    def capacity_mbps(self, dpid: int, port: int) -> float | None:
        return self.capacity.get((dpid, port), self.port_speed.get((dpid, port)))

    # -- control channel and probes ---------------------------------------------------
    def echo(self, dpid: int, rtt_s: float) -> None:
        self.echo_rtt.setdefault(dpid, RecentMedian(ECHO_WINDOW)).add(rtt_s)

    def probe_sent(self, ip: str, seq: int, at: float) -> None:
        p = self.probes.setdefault(ip, NodeProbes(Ewma(self.s.alpha), ProbeWindow(self.s.loss_window)))
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
            for seq in [s for s, t in p.outstanding.items() if now - t > self.s.probe_timeout_s]:
                del p.outstanding[seq]
                p.window.add(False)
                p.updated_at = now

    # -- per path ---------------------------------------------------------------------
    def path_figures(self, ip: str, links: list[tuple[int, int]]) -> dict:
        """Figures for the path to `ip` whose links hang on the given (dpid, port)s."""
        states = []
        for dpid, port in links:
            cap = self.capacity_mbps(dpid, port)
            if cap is not None:
                states.append(LinkState(cap, self.used_mbps(dpid, port)))
        p = self.probes.get(ip)
        stamps = [self.rates[k].updated_at for k in links if k in self.rates] + ([p.updated_at] if p else [])
        return {
            "ip": ip,
            "bandwidth_mbps": round(available_bandwidth(states), 3) if states else None,
            "delay_ms": round(p.delay.value, 3) if p and p.delay.value is not None else None,
            "loss_pct": round(p.window.loss_pct(), 3) if p and p.window.samples else None,
            "samples": p.window.samples if p else 0,
            "updated_at": max(stamps) if stamps else None,
        }

