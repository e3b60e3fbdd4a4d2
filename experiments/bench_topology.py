"""Benchmark of the emulated network (issue: topology and link shaping). As root:

    sudo .venv/bin/python experiments/bench_topology.py [--skip-build-100]

Prints, for each delay line (`--delay-lines c,python`: the C one and the Python one,
in the same run): its TCP throughput and p50/p95 added delay on one link; the
same with 40 shaped links loaded at once (achieved / profile rate, aggregate,
and the CPU the 40 delay lines used), then the C/Python ratios; the
wall time to build and tear down 12, 40 and 100-node topologies; the memory of
one running edge client (RSS and USS after set-up).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from topologies.edge_cloud import build  # noqa: E402
from topologies.profiles import NodeProfile, draw_profiles  # noqa: E402
from topologies.shaping import LinkShape  # noqa: E402


def _rtts(server, ip: str, count: int, interval: float) -> list[float]:
    out = server.cmd(f"ping -c {count} -i {interval} -W 2 {ip}")
    return [float(x) for x in re.findall(r"time=([\d.]+) ms", out)]


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _iperf(server, host, seconds: int) -> float:
    srv = host.popen(["iperf3", "-s", "-1"])
    try:
        time.sleep(0.3)
        out = server.cmd(f"timeout {seconds + 20} iperf3 -c {host.IP()} -t {seconds} -f m")
        found = re.findall(r"([\d.]+) Mbits/sec\s+receiver", out)
        return float(found[-1]) if found else 0.0
    finally:
        srv.kill()
        srv.wait()


def _delay_line_cpu(edge) -> float:
    """CPU seconds the delay lines of this network used so far (they are children of
    the shell that `host.popen` runs in, or that shell itself)."""
    import psutil

    total = 0.0
    for proc in edge.shaper.delay_lines.values():
        try:
            p = psutil.Process(proc.pid)
            for q in [p, *p.children(recursive=True)]:
                t = q.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def one_link(tmp: Path) -> dict:
    edge = build([NodeProfile("node-01", 1000.0, 0.0, 0.0, 30.0)], domains=1, controller=None, run_dir=tmp / "one")
    try:
        server, host = edge.server, edge.hosts["node-01"]
        base = statistics.median(_rtts(server, host.IP(), 50, 0.01))
        edge.set_shape("node-01", LinkShape(1000.0, 20.0, 0.0))
        time.sleep(0.5)
        added = [r - base for r in _rtts(server, host.IP(), 200, 0.01)]
        rate = _iperf(server, host, 5)
        print(f"one link, 20 ms delay line: TCP {rate:.0f} Mb/s (target >= 50), added delay p50 {_pct(added, .5):.2f} ms, "
              f"p95 {_pct(added, .95):.2f} ms (target 20 +- 1 at p95)")
        return {"one_link_mbps": rate, "p95_ms": _pct(added, .95)}
    finally:
        edge.stop()


UDP_HEADROOM = 0.95  # iperf3's -b counts payload; HTB counts whole frames


def _received_mbps(out: bytes) -> float:
    """What the receiving end counted (TCP and UDP alike)."""
    try:
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6
    except (ValueError, KeyError):
        return 0.0


def forty_links(tmp: Path, load: str) -> dict:
    """40 Setup-1 links loaded at once, each domain's gateway uplink wide enough for all
    its links (uplink_factor 5: by design the usual 2 x its fastest link is a bottleneck
    that busy nodes share, 394 of the 687 Mb/s here). `udp`: the drawn profiles, loss included, each
    offered 95 % of its rate; a link carries its profile when it delivers the offered
    rate less its drawn loss. `tcp`: the same rates and delays with loss off, since one
    TCP flow cannot fill a link with 1 % random loss at these delays (Mathis: about
    MSS/RTT x 1.22/sqrt(p), ~2 Mb/s at 60 ms), whatever the emulator does."""
    udp = load == "udp"
    profiles = draw_profiles(40, setup=1, seed=0)
    if not udp:
        profiles = [dataclasses.replace(p, loss_pct=0.0) for p in profiles]
    edge = build(profiles, domains=4, controller=None, run_dir=tmp / f"forty-{load}", uplink_factor=5.0)
    try:
        server = edge.server
        base = {p.node_id: statistics.median(_rtts(server, edge.hosts[p.node_id].IP(), 5, 0.05)) - p.delay_ms for p in profiles}
        servers = [edge.hosts[p.node_id].popen(["iperf3", "-s", "-1"]) for p in profiles]
        time.sleep(1.0)
        cpu0, t0 = _delay_line_cpu(edge), time.monotonic()
        clients = {}
        for p in profiles:
            extra = ["-u", "-b", f"{UDP_HEADROOM * p.bandwidth_mbps:.3f}M", "-l", "1400"] if udp else []
            clients[p.node_id] = server.popen(["iperf3", "-c", edge.hosts[p.node_id].IP(), "-t", "10", "-f", "m", "-J", *extra],
                                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        time.sleep(3.0)
        probe = profiles[0]
        added = [r - base[probe.node_id] for r in _rtts(server, edge.hosts[probe.node_id].IP(), 50, 0.1)]
        ratios, achieved = [], 0.0
        for p in profiles:
            got = _received_mbps(clients[p.node_id].communicate(timeout=60)[0])
            want = UDP_HEADROOM * p.bandwidth_mbps * (1 - p.loss_pct / 100) if udp else p.bandwidth_mbps
            ratios.append(got / want)
            achieved += got
        cores = (_delay_line_cpu(edge) - cpu0) / (time.monotonic() - t0)
        for s in servers:
            s.kill()
            s.wait()
        what = "UDP at 95 % of each rate, drawn loss on" if udp else "TCP, loss off"
        print(f"40 shaped links at once (Setup 1, {sum(p.bandwidth_mbps for p in profiles):.0f} Mb/s of profile rate; {what}): "
              f"delivered/expected median {statistics.median(ratios):.2f}, min {min(ratios):.2f}; "
              f"{sum(r >= 0.9 for r in ratios)}/40 links >= 90 %; aggregate {achieved:.0f} Mb/s; the 40 delay lines used {cores:.2f} cores")
        print(f"  delay on {probe.node_id} (target {probe.delay_ms:.1f} ms) under that load: p50 {_pct(added, .5):.1f} ms, "
              f"p95 {_pct(added, .95):.1f} ms (includes HTB queueing of the loaded link)")
        return {f"{load}_mbps": achieved, f"{load}_cores": cores, f"{load}_links_ok": sum(r >= 0.9 for r in ratios)}
    finally:
        edge.stop()


def build_times(tmp: Path, sizes: list[int]) -> None:
    for n in sizes:
        t0 = time.perf_counter()
        edge = build(draw_profiles(n, 2, 0), controller=None, run_dir=tmp / f"b{n}")
        t1 = time.perf_counter()
        edge.stop()
        t2 = time.perf_counter()
        print(f"{n:>4}-node topology: build {t1 - t0:5.1f} s, tear down {t2 - t1:5.1f} s")


def client_memory() -> None:
    """RSS and USS of one edge client after set-up, in a loopback run."""
    import psutil

    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-m", "edgeft.cli", "local", "--nodes", "2", "--epochs", "3", "--policy", "ar", "--out", d,
               "--no-emulate-compute"]
        proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peak = (0, 0)
        while proc.poll() is None:
            for child in proc.children(recursive=True):
                try:
                    if "edge" in child.cmdline() and "--node-id" in child.cmdline():
                        m = child.memory_full_info()
                        peak = max(peak, (m.rss, m.uss))
                except psutil.Error:
                    pass
            time.sleep(0.5)
    rss, uss = peak[0] / 2**20, peak[1] / 2**20
    print(f"edge client memory: RSS {rss:.0f} MiB, USS {uss:.0f} MiB -> 100 clients ~ {100 * uss / 1024:.1f} GiB unique "
          f"(+ shared libraries once); this machine has 24 GiB")


def live_clients(tmp: Path, n: int) -> None:
    """n edge hosts with live clients (forked from one pre-loaded parent) in one real run."""
    import threading

    import psutil

    from experiments.compare import run_one

    stop, peak = threading.Event(), {"pss": 0, "clients": 0}

    def sample() -> None:
        while not stop.wait(2.0):
            for proc in psutil.process_iter(["cmdline"]):
                if "edge-pool" in (proc.info["cmdline"] or []):
                    try:
                        family = [proc, *proc.children()]
                        pss = sum(p.memory_full_info().pss for p in family)
                    except psutil.Error:
                        continue
                    if len(family) - 1 >= peak["clients"]:
                        peak.update(pss=max(pss, peak["pss"]), clients=len(family) - 1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    row = run_one({}, n, 3, 0, "ar", 1, tmp / f"live{n}", 1800)
    stop.set()
    thread.join()
    per = peak["pss"] / max(peak["clients"], 1) / 2**20
    print(f"{n} edge hosts with live clients (fork pool, Setup 3, 1 AR epoch): run ok in {time.perf_counter() - t0:.0f} s, "
          f"final loss {row['final_val_loss']:.3f}; clients' total PSS {peak['pss'] / 2**30:.1f} GiB = {per:.0f} MiB per client")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-build-100", action="store_true")
    p.add_argument("--delay-lines", default="c,python", help="delay lines to measure, in order (c, python)")
    p.add_argument("--links-only", action="store_true", help="only the delay-line figures")
    p.add_argument("--live-clients", type=int, default=100, help="edge hosts with live clients for the memory target (0: skip)")
    a = p.parse_args()
    from mininet.log import setLogLevel

    setLogLevel("error")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        seen = {}
        for impl in a.delay_lines.split(","):
            os.environ["EDGEFT_DELAY_LINE"] = impl
            print(f"== delay line: {impl}")
            seen[impl] = {**one_link(tmp / impl), **forty_links(tmp / impl, "udp"), **forty_links(tmp / impl, "tcp")}
        if {"c", "python"} <= set(seen):
            c, py = seen["c"], seen["python"]
            print(f"C / Python, same run: one-link throughput x{c['one_link_mbps'] / max(py['one_link_mbps'], 1e-9):.2f}; "
                  f"40 links, UDP aggregate x{c['udp_mbps'] / max(py['udp_mbps'], 1e-9):.2f}, "
                  f"TCP aggregate x{c['tcp_mbps'] / max(py['tcp_mbps'], 1e-9):.2f}, "
                  f"delay-line CPU under UDP x{c['udp_cores'] / max(py['udp_cores'], 1e-9):.2f}")
        os.environ.pop("EDGEFT_DELAY_LINE", None)
        if a.links_only:
            return 0
        build_times(tmp, [12, 40] + ([] if a.skip_build_100 else [100]))
        client_memory()
        if a.live_clients:
            live_clients(tmp, a.live_clients)
    return 0


if __name__ == "__main__":
    sys.exit(main())
