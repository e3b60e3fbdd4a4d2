"""Benchmark of the emulated network (issue: topology and link shaping). As root:

    sudo .venv/bin/python experiments/bench_topology.py [--skip-build-100]

Prints, for each delay line (`--delay-lines c,python`: the C one and the Python one,
in the same run): its TCP throughput and p50/p95 added delay on one link; the
same with 40 shaped links loaded at once, TCP and UDP (delivered / profile rate,
aggregate, the delay the line added to one loaded link, the CPU the 40 delay lines
used), once with the links alone (veths between host pairs, shaped the same way)
and once through the whole tree of userspace switches; then the C/Python ratios; the
wall time to build and tear down 12, 40 and 100-node topologies; the memory of
one running edge client (RSS and USS after set-up).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from topologies.edge_cloud import build
from topologies.profiles import NodeProfile, draw_profiles
from topologies.shaping import LinkShape, Shaper, choose_backend
from experiments.measure.link_load import OMIT_S, Flow, LinkLoad, cpu_seconds, expected_mbps, held_delays
from experiments.runners.local import local_command


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


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


def _delay_line_cpu(shaper) -> float:
    """CPU seconds the delay lines used so far. Most of it is the kernel's own receive
    path: a verdict re-injects the packet, and TCP's processing of it runs in the line's call."""
    return cpu_seconds(list(shaper.delay_lines.values()))


def one_link(tmp: Path) -> dict:
    edge = build([NodeProfile("node-01", 1000.0, 0.0, 0.0, 30.0)], domains=1, controller=None, run_dir=tmp / "one")
    try:
        server, host = edge.server, edge.hosts["node-01"]
        edge.set_shape("node-01", LinkShape(1000.0, 20.0, 0.0))
        time.sleep(0.5)
        held = held_delays(server, host, tmp / "one.pcap", count=200, interval=0.01)
        rate = _iperf(server, host, 5)
        print(
            f"one link, 20 ms delay line: TCP {rate:.0f} Mb/s (target >= 50), added delay p50 {_pct(held, .5):.2f} ms, "
            f"p95 {_pct(held, .95):.2f} ms (target 20 +- 1 at p95)"
        )
        return {"one_link_mbps": rate, "p95_ms": _pct(held, 0.95)}
    finally:
        edge.stop()


def _profiles(load: str) -> list[NodeProfile]:
    """40 Setup-1 links (687 Mb/s in all). `udp`: the drawn profiles, loss included; a
    link carries its profile when it delivers the offered 95 % of its rate less its
    loss. `tcp`: loss off, since one TCP flow cannot fill a link with 1 % random loss at
    these delays (Mathis: about MSS/RTT x 1.22/sqrt(p), ~2 Mb/s at 60 ms), whatever the
    emulator does."""
    profiles = draw_profiles(40, setup=1, seed=0)
    return profiles if load == "udp" else [dataclasses.replace(p, loss_pct=0.0) for p in profiles]


def _load_and_report(where: str, flows: list[Flow], shaper, load: str, pcap: Path) -> dict:
    """Loads every link at once for 10 s, measures the delay line of the first one under
    that load, prints and returns the figures."""
    import psutil

    udp = load == "udp"
    run = LinkLoad(flows, udp, seconds=10)
    try:
        time.sleep(1.0)
        cpu0, gen0, t0 = _delay_line_cpu(shaper), run.cpu_seconds(), time.monotonic()
        psutil.cpu_times_percent(None)
        time.sleep(2.0)
        probe = flows[0]
        held = held_delays(probe.sender, probe.receiver, pcap)
        idle = psutil.cpu_times_percent(None).idle
        dt = time.monotonic() - t0
        cores, generator = (_delay_line_cpu(shaper) - cpu0) / dt, (run.cpu_seconds() - gen0) / dt
        got = run.received_mbps()
    finally:
        run.stop()
    ratios = [g / expected_mbps(f.profile, udp) for g, f in zip(got, flows)]
    want = sum(expected_mbps(f.profile, udp) for f in flows)
    what = "UDP at 95 % of each rate, drawn loss on" if udp else f"TCP, loss off, first {OMIT_S} s left out"
    print(
        f"40 shaped links at once, {where} ({what}): aggregate {sum(got):.0f} of {want:.0f} Mb/s "
        f"({sum(got) / want:.0%}); per link delivered/expected median {statistics.median(ratios):.2f}, "
        f"min {min(ratios):.2f}; {sum(r >= 0.9 for r in ratios)}/40 links >= 90 %"
    )
    print(
        f"  CPU while loaded: delay lines {cores:.2f} cores, iperf3 (the load itself) {generator:.2f} cores, "
        f"machine idle {idle:.0f} %"
    )
    if run.errors:
        print(f"  {len(run.errors)} flows failed; iperf3 said e.g.: {run.errors[0]}")
    print(
        f"  added delay on {probe.profile.node_id} under that load "
        f"(target {probe.profile.delay_ms:.1f} ms, held by the "
        f"line, tcpdump): p50 {_pct(held, .5):.2f} ms, p95 {_pct(held, .95):.2f} ms"
    )
    return {
        f"{where}_{load}_mbps": sum(got),
        f"{where}_{load}_cores": cores,
        f"{where}_{load}_links_ok": sum(r >= 0.9 for r in ratios),
        f"{where}_{load}_p95_err_ms": _pct(held, 0.95) - probe.profile.delay_ms,
    }


def forty_links_tree(tmp: Path, load: str) -> dict:
    """40 links loaded from the server through the whole tree, each domain's gateway
    uplink wide enough for all its links (uplink_factor 5: by design the usual 2 x its
    fastest link is a bottleneck that busy nodes share, 394 of the 687 Mb/s here)."""
    profiles = _profiles(load)
    edge = build(profiles, domains=4, controller=None, run_dir=tmp / f"tree-{load}", uplink_factor=5.0)
    try:
        flows = [Flow(p, edge.server, edge.hosts[p.node_id]) for p in profiles]
        return _load_and_report("tree", flows, edge.shaper, load, tmp / f"tree-{load}.pcap")
    finally:
        edge.stop()


def forty_links_alone(tmp: Path, load: str) -> dict:
    """The same 40 links, shaped the same way (HTB both ways, loss rule, delay line), each
    a veth between two hosts with no switch between: what the shaping and the delay
    lines carry when the userspace switch is not in the path."""
    from mininet.link import TCLink
    from mininet.net import Mininet

    profiles = _profiles(load)
    net = Mininet(link=TCLink, controller=None, build=False)
    links = []
    for i, p in enumerate(profiles, 1):
        sender = net.addHost(f"x{i}", ip=f"10.{i}.0.1/24")
        node = net.addHost(f"y{i}", ip=f"10.{i}.0.2/24")
        links.append((p, sender, node, net.addLink(node, sender)))
    shaper = Shaper(choose_backend("auto"), tmp / f"alone-{load}")
    shaper.run_dir.mkdir(parents=True, exist_ok=True)
    try:
        net.build()
        net.start()
        for p, sender, node, link in links:
            for host in (sender, node):
                host.cmd(f"ethtool -K {host.defaultIntf()} tx off rx off")  # as in the tree
            shaper.apply(node, link.intf1, link.intf2, LinkShape.of(p))
        flows = [Flow(p, sender, node) for p, sender, node, _ in links]
        return _load_and_report("alone", flows, shaper, load, tmp / f"alone-{load}.pcap")
    finally:
        shaper.stop()
        net.stop()


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
        cmd = local_command(d, "--no-emulate-compute", nodes="2", epochs="3", policy="ar")
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
    print(
        f"edge client memory: RSS {rss:.0f} MiB, USS {uss:.0f} MiB -> 100 clients ~ {100 * uss / 1024:.1f} GiB unique "
        f"(+ shared libraries once); this machine has 24 GiB"
    )


def live_clients(tmp: Path, nodes: int) -> None:
    """n edge hosts with live clients (forked from one pre-loaded parent) in one real run."""
    import threading

    import psutil

    from experiments.runners.mininet_sweep import run_one

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
    row = run_one({}, nodes, 3, 0, "ar", 1, tmp / f"live{nodes}", 1800)
    stop.set()
    thread.join()
    per = peak["pss"] / max(peak["clients"], 1) / 2**20
    print(
        f"{nodes} edge hosts with live clients (fork pool, Setup 3, 1 AR epoch): "
        f"run ok in {time.perf_counter() - t0:.0f} s, "
        f"final loss {row['final_val_loss']:.3f}; clients' total PSS {peak['pss'] / 2**30:.1f} GiB = "
        f"{per:.0f} MiB per client"
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--skip-build-100", action="store_true")
    p.add_argument("--delay-lines", default="c,python", help="delay lines to measure, in order (c, python)")
    p.add_argument("--links-only", action="store_true", help="only the delay-line figures")
    p.add_argument(
        "--live-clients", type=int, default=100, help="edge hosts with live clients for the memory target (0: skip)"
    )
    a = p.parse_args()
    from mininet.log import setLogLevel

    setLogLevel("error")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        seen = {}
        for impl in a.delay_lines.split(","):
            os.environ["EDGEFT_DELAY_LINE"] = impl
            print(f"== delay line: {impl}")
            seen[impl] = one_link(tmp / impl)
            for load in ("tcp", "udp"):
                seen[impl].update(forty_links_alone(tmp / impl, load))
                seen[impl].update(forty_links_tree(tmp / impl, load))
        if {"c", "python"} <= set(seen):
            c, py = seen["c"], seen["python"]
            ratio = {k: c[k] / max(py[k], 1e-9) for k in c if k.endswith("_mbps")}
            print("C / Python, same run, throughput: " + ", ".join(f"{k[:-5]} x{v:.2f}" for k, v in ratio.items()))
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
