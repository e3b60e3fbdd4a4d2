import pytest

from controller_app.capacity import KEEP, TRAIN_PACKETS, CapacityEstimate, train_rate_mbps
from controller_app.measure import (
    Ewma,
    LinkState,
    ProbeWindow,
    available_bandwidth,
    counter_rate,
    probe_delay_ms,
)
from controller_app.netgraph import NetGraph, SwitchLink
from controller_app.path_monitor import MonitorSettings, PathMonitor


def test_counter_rate_and_resets():
    assert counter_rate(1000, 10.0, 2250, 11.0) == 10_000.0
    assert counter_rate(5000, 10.0, 100, 11.0) is None  # counter reset
    assert counter_rate(0, 10.0, 100, 10.0) is None  # no time passed


def test_ewma_and_probe_window():
    e = Ewma(0.5)
    assert e.add(10) == 10 and e.add(20) == 15 and e.samples == 2
    with pytest.raises(ValueError):
        Ewma(0)
    w = ProbeWindow(4)
    assert w.loss_pct() is None
    for ok in (True, False, True, True, False):
        w.add(ok)
    assert w.samples == 4 and w.loss_pct() == 50.0  # the first result slid out


def test_path_composition():
    assert available_bandwidth([LinkState(100, 30), LinkState(10, 2), LinkState(1000, 0)]) == 8
    assert available_bandwidth([LinkState(10, 12)]) == 0.0
    assert probe_delay_ms(0.030, 0.002, 0.004) == pytest.approx(27.0)
    assert probe_delay_ms(0.001, 0.004, 0.004) == 0.0


TRIANGLE = [SwitchLink(1, 2, 2, 1), SwitchLink(2, 2, 3, 1), SwitchLink(1, 3, 3, 2)]  # redundant links


def _graph():
    g = NetGraph()
    g.replace_links(TRIANGLE)
    return g


def test_graph_paths_and_hops():
    g = _graph()
    assert g.learn_host("10.0.0.1", "aa", 1, 1) and g.learn_host("10.1.0.2", "bb", 3, 5)
    assert not g.learn_host("10.9.9.9", "cc", 2, 1)  # a switch-facing port never holds a host
    hops = g.hops(g.hosts["10.0.0.1"], g.hosts["10.1.0.2"])
    assert hops == [(1, 1, 3), (3, 2, 5)]  # the direct link, not the two-hop way
    assert g.path_links(g.hosts["10.0.0.1"], g.hosts["10.1.0.2"]) == [(1, 1), (1, 3), (3, 5)]
    assert sorted(g.links(), key=lambda link: (link.src_dpid, link.dst_dpid)) == sorted(
        TRIANGLE, key=lambda link: (link.src_dpid, link.dst_dpid)
    )
    g.replace_links(TRIANGLE[:2])  # LLDP lost the direct link: the two-hop way
    assert g.hops(g.hosts["10.0.0.1"], g.hosts["10.1.0.2"]) == [(1, 1, 2), (2, 1, 2), (3, 1, 5)]


def test_hosts_learnt_on_a_link_found_later_are_forgotten():
    g = NetGraph()
    g.replace_links(TRIANGLE[:2])
    assert (
        g.learn_host("10.0.0.1", "aa", 1, 1) and g.learn_host("10.1.0.2", "bb", 1, 3) and g.learn_host(None, "cc", 3, 2)
    )
    g.replace_links(TRIANGLE)  # port 3 of switch 1 (and port 2 of switch 3) face a switch after all
    assert g.forget_misplaced_hosts() == ["10.1.0.2"]  # the one with a known IP, to ask for again
    assert set(g.hosts) == {"10.0.0.1"} and set(g.macs) == {"aa"}


def _train(m, ip, train_id, at, gap_s, lost=()):
    """Replies of one train: a 15 kB burst (10 packets) at once, then one packet per gap."""
    m.train_sent(ip, train_id, at)
    for pos in range(TRAIN_PACKETS):
        if pos not in lost:
            m.train_reply(ip, train_id, pos, at + 0.01 + max(pos - 9, 0) * gap_s)


def test_path_monitor_figures():
    m = PathMonitor(MonitorSettings(alpha=1.0, loss_window=10, probe_timeout_s=1.0))
    ip, links = "10.1.0.2", [(1, 1), (2, 3)]  # the orchestrator's port, then the node's access port
    m.capacity[(1, 1)] = 100.0
    m.port_speed[(2, 3)] = 10_000.0  # a veth's nominal speed: never taken for the access link
    assert m.path_figures(ip, links)["bandwidth_mbps"] is None  # no train yet: not measured
    _train(m, ip, 1, 5.0, gap_s=1514 * 8 / 10e6)  # a 10 Mb/s bottleneck
    m.close_trains(6.0, timeout_s=4.0, complete=TRAIN_PACKETS)
    m.port_stats(1, 1, 0, 0, 0.0)
    m.port_stats(1, 1, 1_250_000, 0, 1.0)  # 10 Mb/s out of the orchestrator's port
    m.port_stats(2, 3, 0, 0, 0.0)
    m.port_stats(2, 3, 0, 250_000, 1.0)  # 2 Mb/s from the node
    m.echo(1, 0.002)
    m.echo(2, 0.004)
    m.probe_sent(ip, 1, 10.0)
    assert m.probe_reply(ip, 1, 10.033, out_dpid=1, back_dpid=2) == pytest.approx(30.0)
    m.probe_sent(ip, 2, 11.0)
    m.expire_probes(13.0)
    f = m.path_figures(ip, links)
    assert f["capacity_mbps"] == pytest.approx(10.0) and f["capacity_source"] == "train" and f["capacity_samples"] == 1
    assert f["bandwidth_mbps"] == f["available_mbps"] == pytest.approx(8.0) and f["delay_ms"] == pytest.approx(30.0)
    assert f["loss_pct"] == 50.0 and f["samples"] == 2 and f["updated_at"] == 13.0
    assert f["loss_ci95_pct"][0] < 50.0 < f["loss_ci95_pct"][1]
    assert m.probe_reply(ip, 2, 13.5, 1, 2) is None  # a late reply after expiry does not count twice
    m.port_stats(1, 1, 10, 0, 2.0)  # counter reset: no new rate, old one kept
    assert m.used_mbps(1, 1) == pytest.approx(10.0)
    # The 2 Mb/s from the node are its own upload to the orchestrator: not load.
    m.own_bytes(ip, "up", 0, 0.0)
    m.own_bytes(ip, "up", 250_000, 1.0)
    assert m.path_figures(ip, links)["available_mbps"] == pytest.approx(10.0)
    m.capacity[(2, 3)] = 4.0  # a registered hint overrides the trains
    f = m.path_figures(ip, links)
    assert f["capacity_source"] == "hint" and f["capacity_mbps"] == 4.0


def test_train_rate_skips_the_burst_and_gaps_in_positions():
    gap = 1514 * 8 / 2e6  # 2 Mb/s
    arrivals = {i: 0.001 * i if i < 10 else 0.009 + (i - 9) * gap for i in range(20)}  # a 10-packet burst, 1 ms apart
    assert train_rate_mbps(arrivals) == pytest.approx(2.0)
    # Tail drops at a full queue: 14-16 never used a slot, 17 came right after 13.
    tail = {i: t for i, t in arrivals.items() if i <= 13}
    tail[17] = tail[13] + gap
    assert train_rate_mbps(tail) == pytest.approx(2.0)
    assert train_rate_mbps({i: arrivals[i] for i in range(12)}) is None  # too few after the burst
    # A short burst (two packets, HTB's default cburst) and tail drops after position 12.
    short = {0: 0.0, 1: 0.0001, **{i: 0.0001 + (i - 1) * gap for i in range(2, 13)}}
    assert train_rate_mbps(short) == pytest.approx(2.0)


def test_capacity_is_the_agreed_recent_trains_and_follows_a_collapse():
    est = CapacityEstimate()
    for mbps in (10.0, 6.0, 9.8):  # one train shared the link with a transfer: outvoted
        est.add(mbps, 0.0)
    assert est.mbps == pytest.approx(9.9) and est.spread_mbps == pytest.approx(4.0)
    for _ in range(KEEP - 1):  # the link really dropped to 2 Mb/s: shown within KEEP - 1 trains
        est.add(2.0, 1.0)
    assert est.mbps == 2.0


def test_a_slow_first_echo_after_a_restart_does_not_make_delays_undershoot():
    # A restarted controller's first echo to a switch comes back late (it is busy setting
    # switches up); later ones take 2 ms. With an EWMA (alpha 0.3) seeded by the 300 ms
    # spike the echo estimate would still be ~100 ms three polls on, and a 50 ms path
    # would read as 0; the least of the recent echoes drops the spike at the next echo.
    m = PathMonitor(MonitorSettings(alpha=0.3, loss_window=10, probe_timeout_s=1.0))
    for rtt in (0.300, 0.002, 0.002):
        m.echo(1, rtt)
        m.echo(2, rtt)
    m.probe_sent("10.1.0.2", 1, 10.0)
    assert m.probe_reply("10.1.0.2", 1, 10.052, out_dpid=1, back_dpid=2) == pytest.approx(50.0)


def test_recent_min_keeps_the_last_samples_and_takes_the_least():
    from controller_app.measure import RecentMin

    r = RecentMin(3)
    assert r.value is None
    assert [r.add(x) for x in (9.0, 1.0, 5.0, 7.0, 8.0)] == [9.0, 1.0, 1.0, 1.0, 5.0]  # 1.0 slides out at the 5th
    with pytest.raises(ValueError):
        RecentMin(0)


def test_one_slow_probe_does_not_move_the_delay_but_queueing_does():
    # A probe that waited for the busy controller reads 30 ms late; every later probe is on
    # time. The figure stays at the path's 10 ms. When the path queues (every probe +40 ms),
    # the figure follows within three probes.
    m = PathMonitor(MonitorSettings(delay_window=5, loss_window=10, probe_timeout_s=1.0))
    ip, t = "10.1.0.2", 100.0
    figures = []
    for seq, extra in enumerate([0, 0, 0.030, 0, 0, 0.040, 0.040, 0.040], start=1):
        m.probe_sent(ip, seq, t)
        m.probe_reply(ip, seq, t + 0.010 + extra, out_dpid=1, back_dpid=2)
        figures.append(m.probes[ip].delay.value)
        t += 0.5
    assert figures[:5] == [pytest.approx(10.0)] * 5
    assert figures[-1] == pytest.approx(50.0) and m.probes[ip].delay.samples == 8
