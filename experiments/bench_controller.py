"""Controller benchmark (as root), with no capacity registered: the controller
learns every capacity with its packet trains. For each size (Setup 2 profiles)
it prints what the controller measured against the drawn links:

- capacity error of every node: its first figure (one train) and every later one
  (each new train) during `--settle` seconds (about a demo run's set-up and first
  epoch), against the drawn rate (targets: first within 15 %, later within 10 %),
  and the refused trains (packet-ins bunched by the controller's scheduling);
- available bandwidth under an iperf3 load from the server, against the drawn
  capacity minus iperf3's own throughput figure;
- delay error and loss error, with the median width of the loss interval;
- how long a collapsed link (rate / 4) takes to show its new capacity;
- probe bytes per second, counted: on the data path from the hosts' interface
  counters while the network is otherwise idle, on the control channel from the
  kernel's byte counters of the OpenFlow connections (`ss`); and the controller's CPU.

    sudo .venv/bin/python experiments/bench_controller.py [--sizes 12,40] [--settle 40] [--load]

--load keeps both cores busy, as a loaded CI machine is, with a concurrent
`edgeft local --nodes 12` on a port of its own, started and stopped by the bench.
The controller runs under osken-manager with the settings `edgeft controller`
hands it (controller_app/config.py), measuring from the server host.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import requests

from controller_app.config import ControllerSettings, to_env
from edgeft.paths_api import get_paths
from experiments.runners.mininet_hosts import teach_hosts
from experiments.runners.local import free_port
from experiments.runners.progress import wait_until
from topologies.edge_cloud import SERVER_IP, build
from experiments.launcher import REPO, ProcessGroup
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


def _loaded(edge, url: str, profile) -> tuple[float | None, float, float]:
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


def _start_controller(procs: ProcessGroup, ofp: int, rest: int, train_interval: float, tmp: Path):
    """The app under osken-manager, as `edgeft controller` starts it, measuring from the server."""
    cfg = ControllerSettings(
        rest_port=rest,
        train_interval_s=train_interval,
        token_file=str(tmp / f"ctl-{rest}.token"),
        measure_from=SERVER_IP,
        own_port=OWN_PORT,
    )
    manager = str(Path(sys.executable).parent / "osken-manager")
    app = str(REPO / "controller_app" / "edge_monitor.py")
    env = {**to_env(cfg), "EDGEFT_DEBUG": "1"}  # every train's arrivals in the controller's log
    return procs.start("controller", ["--ofp-tcp-listen-port", str(ofp), app], program=[manager], env=env)


def _track(url: str, ips: list[str], stop: threading.Event, seen: dict[str, list[tuple[float, float]]]) -> None:
    """Every capacity figure each node gets (one per new train or refusal), until `stop`."""
    last: dict[str, tuple] = {}
    while not stop.wait(0.25):
        try:
            got = _paths(url)
        except (requests.RequestException, ValueError):
            continue
        for ip in ips:
            rec = got.get(ip, {})
            key = (rec.get("capacity_samples"), rec.get("capacity_refused"))
            if rec.get("capacity_mbps") is not None and key != last.get(ip):
                last[ip] = key
                seen[ip].append((rec["capacity_mbps"], rec.get("capacity_spread_mbps") or 0.0))


def _capacity_lines(profiles, ip: dict, seen: dict, refused: int) -> str:
    """First-figure and later-figure errors against the drawn rates, as printed."""
    first = [abs(seen[ip[p.node_id]][0][0] / p.bandwidth_mbps - 1) for p in profiles if seen[ip[p.node_id]]]
    later = [abs(c / p.bandwidth_mbps - 1) for p in profiles for c, _ in seen[ip[p.node_id]][1:]]
    missing = [p.node_id for p in profiles if not seen[ip[p.node_id]]]
    line = (
        f"capacity: first figure error median {100 * statistics.median(first):.1f} % max {100 * max(first):.1f} % "
        f"({sum(e <= 0.15 for e in first)} of {len(first)} within 15 %)"
        if first
        else "capacity: no figure at all"
    )
    if later:
        line += (
            f"; later figures ({len(later)}) error median {100 * statistics.median(later):.1f} % "
            f"max {100 * max(later):.1f} % ({sum(e <= 0.10 for e in later)} of {len(later)} within 10 %)"
        )
    return line + f"; {refused} trains refused" + (f"; never measured: {missing}" if missing else "")


def _load(tmp: Path) -> ProcessGroup:
    """Both cores busy: a concurrent `edgeft local --nodes 12` on a free port of its own."""
    procs = ProcessGroup(tmp / "load-logs")
    cmd = [
        "local",
        "--nodes",
        "12",
        "--policy",
        "ar",
        "--epochs",
        "1000",
        "--dilation",
        "1",
        "--port",
        str(free_port()),
    ]
    procs.start("local", [*cmd, "--out", str(tmp / "load-run")])
    time.sleep(20)  # its clients have started and enrolled: the load is on
    return procs


def bench(
    nodes: int, settle: float, train_interval: float, tmp: Path, skip_extras: bool = False, verbose: bool = False
) -> None:
    """One size: start the controller and the network, track the capacity figures while
    it settles, then print every figure (module docstring)."""
    ofp, rest = free_port(), free_port()
    procs = ProcessGroup(tmp / f"logs{nodes}")
    ctl = _start_controller(procs, ofp, rest, train_interval, tmp)
    url = f"http://127.0.0.1:{rest}"
    profiles = draw_profiles(nodes, 2, 0)
    edge = None
    try:
        wait_until(lambda: requests.get(url + "/v1/health", timeout=1).ok, 30, "the controller's REST API")
        edge = build(profiles, controller=("127.0.0.1", ofp), run_dir=tmp / f"net{nodes}")
        ip = {p.node_id: edge.hosts[p.node_id].IP() for p in profiles}
        seen: dict[str, list] = {v: [] for v in ip.values()}
        stop = threading.Event()
        tracker = threading.Thread(target=_track, args=(url, list(ip.values()), stop, seen), daemon=True)
        tracker.start()
        teach_hosts(edge, url)
        time.sleep(settle)
        stop.set()
        tracker.join()
        got = _paths(url)
        refused = sum(got[v]["capacity_refused"] for v in ip.values())
        dl = [abs(got[ip[p.node_id]]["delay_ms"] - p.delay_ms) for p in profiles]
        ls = [abs(got[ip[p.node_id]]["loss_pct"] - p.loss_pct) for p in profiles]
        width = statistics.median(
            got[ip[p.node_id]]["loss_ci95_pct"][1] - got[ip[p.node_id]]["loss_ci95_pct"][0] for p in profiles
        )
        samples = statistics.median(got[ip[p.node_id]]["samples"] for p in profiles)
        print(f"{nodes:>4} nodes, {settle:.0f} s: {_capacity_lines(profiles, ip, seen, refused)}", flush=True)
        for p in profiles if verbose else []:
            figures = " ".join(f"{c:.2f}" for c, _ in seen[ip[p.node_id]])
            print(f"      {p.node_id}: drawn {p.bandwidth_mbps:.2f} Mb/s loss {p.loss_pct:.1f} %; figures {figures}")
        print(
            f"      delay error mean {statistics.mean(dl):.2f} ms (max {max(dl):.2f}); "
            f"loss error mean {statistics.mean(ls):.2f} pp "
            f"(max {max(ls):.2f}; {samples:.0f} probes each, 95 % interval median width {width:.2f} pp)",
            flush=True,
        )
        if not skip_extras:
            _extras(edge, url, ctl, ofp, profiles, train_interval)
    finally:
        if edge is not None:
            edge.stop()
        procs.stop_all()


def _extras(edge, url: str, ctl, ofp: int, profiles, train_interval: float) -> None:
    """Available bandwidth under iperf3 load, a collapsed link, the probes' own traffic."""
    n = len(profiles)
    data_bps = _rate(lambda: _host_bytes(edge), 10.0)
    ctl_bps = _rate(lambda: _openflow_bytes(ofp), 10.0)
    cpu = psutil.Process(ctl.pid).cpu_percent(interval=5.0)
    by_rate = sorted(profiles, key=lambda p: p.bandwidth_mbps)
    loads = [(p, *_loaded(edge, url, p)) for p in (by_rate[-1], by_rate[len(by_rate) // 2])]
    collapse = _collapse_s(edge, url, by_rate[-1])
    for p, avail, expect, iperf in loads:
        # A path without a capacity figure yet (its trains refused so far) has no available bandwidth either.
        shown = "no figure yet" if avail is None else f"{avail:.2f} Mb/s"
        print(
            f"      under iperf3 load on {p.node_id} ({p.bandwidth_mbps:.2f} Mb/s drawn, iperf3 {iperf:.2f} Mb/s): "
            f"available {shown} vs drawn - iperf3 = {expect:.2f} Mb/s"
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="12,40")
    p.add_argument("--settle", type=float, default=40.0, help="seconds of measuring before the figures are read")
    p.add_argument("--train-interval", type=float, default=10.0, help="the controller's --train-interval")
    p.add_argument("--load", action="store_true", help="a concurrent `edgeft local --nodes 12` keeps the cores busy")
    p.add_argument("--logs", help="keep the controller's log (every train's arrivals) and the load's in this folder")
    p.add_argument("--verbose", action="store_true", help="every node's capacity figures, in order")
    p.add_argument("--skip-extras", action="store_true", help="capacity, delay and loss only (no iperf3, no collapse)")
    a = p.parse_args()
    from mininet.log import setLogLevel

    setLogLevel("error")
    with tempfile.TemporaryDirectory() as d:
        d = a.logs or d
        load = _load(Path(d)) if a.load else None
        try:
            for n in (int(x) for x in a.sizes.split(",")):
                bench(n, a.settle, a.train_interval, Path(d), a.skip_extras, a.verbose)
        finally:
            if load is not None:
                load.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
