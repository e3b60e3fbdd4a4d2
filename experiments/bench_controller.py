"""Controller benchmark (as root), with no capacity registered: the controller
learns every capacity with its packet trains. For each size (Setup 2 profiles)
it prints what the controller measured against the drawn links:

- capacity error of every node after `--settle` seconds (about a demo run's
  set-up and first epoch), median and max;
- available bandwidth under an iperf3 load from the server, against the drawn
  capacity minus iperf3's own throughput figure;
- delay error and loss error, with the median width of the loss interval;
- how long a collapsed link (rate / 4) takes to show its new capacity;
- probe bytes per second, counted: on the data path from the hosts' interface
  counters while the network is otherwise idle, on the control channel from the
  kernel's byte counters of the OpenFlow connections (`ss`); and the controller's CPU.

    sudo .venv/bin/python experiments/bench_controller.py [--sizes 12,40] [--settle 40]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from edgeft.paths_api import get_paths
from experiments.runners.compare import teach_hosts
from experiments.runners.local import free_port
from topologies.edge_cloud import SERVER_IP, build
from topologies.launcher import ProcessGroup
from topologies.profiles import draw_profiles
from topologies.shaping import LinkShape

OWN_PORT = 8700


def _paths(url: str) -> dict[str, dict]:
    return get_paths(url, SERVER_IP, OWN_PORT, timeout_s=5)


def _host_bytes(edge) -> int:
    """rx + tx bytes of every edge host's interfaces so far."""
    total = 0
    for host in edge.hosts.values():
        intf = host.defaultIntf().name
        out = host.cmd(f"cat /sys/class/net/{intf}/statistics/rx_bytes /sys/class/net/{intf}/statistics/tx_bytes")
        total += sum(int(x) for x in out.split())
    return total


def _openflow_bytes(ofp_port: int) -> int:
    """Bytes the controller sent and received on its OpenFlow connections so far."""
    out = subprocess.run(
        ["ss", "-tinH", "state", "established", f"( sport = :{ofp_port} )"], capture_output=True, text=True
    ).stdout
    sent = sum(int(x) for x in re.findall(r"bytes_sent:(\d+)", out))
    received = sum(int(x) for x in re.findall(r"bytes_received:(\d+)", out))
    return sent + received


def _rate(read, seconds: float) -> float:
    a = read()
    time.sleep(seconds)
    return (read() - a) / seconds


def _loaded(edge, url: str, profile) -> tuple[float, float, float]:
    """(available read mid-flow, drawn capacity - iperf3's throughput, iperf3 Mb/s)."""
    node = edge.hosts[profile.node_id]
    srv = node.popen(["iperf3", "-s", "-1"])
    try:
        time.sleep(0.5)
        client = edge.server.popen(["iperf3", "-c", node.IP(), "-t", "10", "-J"], stdout=subprocess.PIPE)
        time.sleep(6)
        avail = _paths(url)[node.IP()]["available_mbps"]
        got = json.loads(client.communicate(timeout=40)[0])["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        srv.kill()
        srv.wait()
    return avail, profile.bandwidth_mbps - got, got


def _collapse_s(edge, url: str, profile, limit_s: float = 120.0) -> float:
    """Seconds until the capacity of a link cut to a quarter reads within 15 % of that."""
    new = profile.bandwidth_mbps / 4
    edge.set_shape(profile.node_id, LinkShape(new, profile.delay_ms, profile.loss_pct))
    ip, t0 = edge.hosts[profile.node_id].IP(), time.monotonic()
    while time.monotonic() - t0 < limit_s:
        cap = _paths(url)[ip]["capacity_mbps"]
        if cap is not None and abs(cap - new) <= 0.15 * new:
            return time.monotonic() - t0
        time.sleep(0.5)
    return float("inf")


def bench(n: int, settle: float, train_interval: float, tmp: Path) -> None:
    ofp, rest = free_port(), free_port()
    procs = ProcessGroup(tmp / f"logs{n}")
    ctl = procs.start(
        "controller",
        ["controller", "--ofp-port", str(ofp), "--rest-port", str(rest), "--train-interval", str(train_interval)],
    )
    url = f"http://127.0.0.1:{rest}"
    profiles = draw_profiles(n, 2, 0)
    edge = build(profiles, controller=("127.0.0.1", ofp), run_dir=tmp / f"net{n}")
    try:
        teach_hosts(edge, url)  # the first query also starts the probes and trains
        time.sleep(settle)
        got = _paths(url)
        ip = {p.node_id: edge.hosts[p.node_id].IP() for p in profiles}
        missing = [p.node_id for p in profiles if got[ip[p.node_id]]["capacity_mbps"] is None]
        cap = [
            abs(got[ip[p.node_id]]["capacity_mbps"] - p.bandwidth_mbps) / p.bandwidth_mbps
            for p in profiles
            if p.node_id not in missing
        ]
        dl = [abs(got[ip[p.node_id]]["delay_ms"] - p.delay_ms) for p in profiles]
        ls = [abs(got[ip[p.node_id]]["loss_pct"] - p.loss_pct) for p in profiles]
        width = statistics.median(
            got[ip[p.node_id]]["loss_ci95_pct"][1] - got[ip[p.node_id]]["loss_ci95_pct"][0] for p in profiles
        )
        samples = statistics.median(got[ip[p.node_id]]["samples"] for p in profiles)
        data_bps = _rate(lambda: _host_bytes(edge), 10.0)
        ctl_bps = _rate(lambda: _openflow_bytes(ofp), 10.0)
        cpu = psutil.Process(ctl.pid).cpu_percent(interval=5.0)
        by_rate = sorted(profiles, key=lambda p: p.bandwidth_mbps)
        loads = [(p, *_loaded(edge, url, p)) for p in (by_rate[-1], by_rate[len(by_rate) // 2])]
        collapse = _collapse_s(edge, url, by_rate[-1])
        print(
            f"{n:>4} nodes, after {settle:.0f} s: capacity error median {100 * statistics.median(cap):.1f} % "
            f"max {100 * max(cap):.1f} %"
            f"{f' ({len(missing)} not measured yet: {missing})' if missing else ''}; "
            f"delay error mean {statistics.mean(dl):.2f} ms (max {max(dl):.2f}); "
            f"loss error mean {statistics.mean(ls):.2f} pp "
            f"(max {max(ls):.2f}; {samples:.0f} probes each, 95 % interval median width {width:.2f} pp)"
        )
        for p, avail, expect, iperf in loads:
            print(
                f"      under iperf3 load on {p.node_id} ({p.bandwidth_mbps:.2f} Mb/s drawn, iperf3 {iperf:.2f} Mb/s): "
                f"available {avail:.2f} Mb/s vs drawn - iperf3 = {expect:.2f} Mb/s"
            )
        print(
            f"      a link cut to a quarter ({by_rate[-1].bandwidth_mbps:.2f} -> "
            f"{by_rate[-1].bandwidth_mbps / 4:.2f} Mb/s) shows "
            f"after {collapse:.1f} s (train interval {train_interval:g} s)"
        )
        print(
            f"      probe traffic, counted: data path {data_bps / 1000:.1f} kB/s "
            f"({8 * data_bps / 1e3 / n:.1f} kb/s per node), "
            f"control channel {ctl_bps / 1000:.1f} kB/s (all OpenFlow: probes, trains, stats, LLDP); "
            f"controller CPU {cpu:.0f} % of one core"
        )
    finally:
        edge.stop()
        procs.stop_all()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="12,40")
    p.add_argument("--settle", type=float, default=40.0, help="seconds of measuring before the figures are read")
    p.add_argument("--train-interval", type=float, default=10.0, help="the controller's --train-interval")
    a = p.parse_args()
    from mininet.log import setLogLevel

    setLogLevel("error")
    with tempfile.TemporaryDirectory() as d:
        for n in (int(x) for x in a.sizes.split(",")):
            bench(n, a.settle, a.train_interval, Path(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
