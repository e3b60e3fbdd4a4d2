import pytest

from controller_app.measure import Ewma, LinkState, ProbeWindow, available_bandwidth, compose_loss, counter_rate, probe_delay_ms
from controller_app.netgraph import NetGraph
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
    assert compose_loss([1.0, 1.0]) == pytest.approx(1.99)
    assert probe_delay_ms(0.030, 0.002, 0.004) == pytest.approx(27.0)
    assert probe_delay_ms(0.001, 0.004, 0.004) == 0.0


def _graph():
    g = NetGraph()
    for a, pa, b, pb in [(1, 2, 2, 1), (2, 2, 3, 1), (1, 3, 3, 2)]:  # a triangle: redundant links
        g.add_link(a, pa, b, pb)
    return g


def test_graph_paths_hops_and_flooding_without_loops():
    g = _graph()
    assert g.learn_host("10.0.0.1", "aa", 1, 1) and g.learn_host("10.1.0.2", "bb", 3, 5)
    assert not g.learn_host("10.9.9.9", "cc", 2, 1)  # a switch-facing port never holds a host
    hops = g.hops(g.hosts["10.0.0.1"], g.hosts["10.1.0.2"])
    assert hops == [(1, 1, 3), (3, 2, 5)]  # the direct link, not the two-hop way
    floods = {d: g.flood_ports(d, [1, 2, 3, 5]) for d in (1, 2, 3)}
    tree_edges = sum(len([p for p in ports if g.is_switch_port(d, p)]) for d, ports in floods.items()) // 2
    assert tree_edges == 2  # a spanning tree of 3 switches: no broadcast loop
    g.remove_link(1, 3)
    assert g.hops(g.hosts["10.0.0.1"], g.hosts["10.1.0.2"]) == [(1, 1, 2), (2, 1, 2), (3, 1, 5)]


def test_path_monitor_figures():
    m = PathMonitor(MonitorSettings(alpha=1.0, loss_window=10, probe_timeout_s=1.0))
    m.capacity[(1, 1)] = 100.0
    m.port_speed[(2, 3)] = 10.0  # falls back to curr_speed when nothing is registered
    m.port_stats(1, 1, 0, 0, 0.0)
    m.port_stats(1, 1, 1_250_000, 0, 1.0)  # 10 Mb/s out
    m.port_stats(2, 3, 0, 0, 0.0)
    m.port_stats(2, 3, 0, 250_000, 1.0)  # 2 Mb/s in
    m.echo(1, 0.002)
    m.echo(2, 0.004)
    m.probe_sent("10.1.0.2", 1, 10.0)
    assert m.probe_reply("10.1.0.2", 1, 10.033, out_dpid=1, back_dpid=2) == pytest.approx(30.0)
    m.probe_sent("10.1.0.2", 2, 11.0)
    m.expire_probes(13.0)
    f = m.path_figures("10.1.0.2", [(1, 1), (2, 3)])
    assert f["bandwidth_mbps"] == pytest.approx(8.0) and f["delay_ms"] == pytest.approx(30.0)
    assert f["loss_pct"] == 50.0 and f["samples"] == 2 and f["updated_at"] == 13.0
    assert m.probe_reply("10.1.0.2", 2, 13.5, 1, 2) is None  # a late reply after expiry does not count twice
    m.port_stats(1, 1, 10, 0, 2.0)  # counter reset: no new rate, old one kept
    assert m.used_mbps(1, 1) == pytest.approx(10.0)


def test_a_slow_first_echo_after_a_restart_does_not_make_delays_undershoot():
    # A restarted controller's first echo to a switch comes back late (it is busy setting
    # switches up); later ones take 2 ms. With an EWMA (alpha 0.3) seeded by the 300 ms
    # spike the echo estimate would still be ~100 ms three polls on, and a 50 ms path
    # would read as 0; the median drops the spike after the next echo.
    m = PathMonitor(MonitorSettings(alpha=0.3, loss_window=10, probe_timeout_s=1.0))
    for rtt in (0.300, 0.002, 0.002):
        m.echo(1, rtt)
        m.echo(2, rtt)
    m.probe_sent("10.1.0.2", 1, 10.0)
    assert m.probe_reply("10.1.0.2", 1, 10.052, out_dpid=1, back_dpid=2) == pytest.approx(50.0)


def test_recent_median_keeps_the_last_samples_and_takes_the_lower_middle():
    from controller_app.measure import RecentMedian

    r = RecentMedian(3)
    assert r.value is None
    assert [r.add(x) for x in (9.0, 1.0, 5.0, 7.0, 2.0)] == [9.0, 1.0, 5.0, 5.0, 5.0]
    with pytest.raises(ValueError):
        RecentMedian(0)
