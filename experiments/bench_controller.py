"""Controller benchmark (as root). For 12, 40 and 100 edge nodes (Setup 2
profiles, links idle), prints the mean absolute error of /v1/paths against the
configured ground truth for bandwidth, delay and loss, the time until a changed
link (+50 ms delay on one node) shows, the controller's CPU share and the probe
traffic per second.

    sudo .venv/bin/python experiments/bench_controller.py [--sizes 12,40,100] [--probe-hz 5] [--settle 40]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
import requests  # noqa: E402

from experiments.local import free_port  # noqa: E402
from topologies.edge_cloud import SERVER_IP, build  # noqa: E402
from topologies.launcher import ProcessGroup  # noqa: E402
from topologies.profiles import draw_profiles  # noqa: E402
from topologies.shaping import LinkShape  # noqa: E402

PROBE_BYTES = 2 * 60  # request + reply on the wire (54 B each, padded to the 60 B Ethernet minimum)


def _paths(url: str) -> dict[str, dict]:
    return {p["ip"]: p for p in requests.get(url + "/v1/paths", params={"src": SERVER_IP}, timeout=5).json()["paths"]}


def bench(n: int, probe_hz: float, settle: float, tmp: Path) -> None:
    ofp, rest = free_port(), free_port()
    procs = ProcessGroup(tmp / f"logs{n}")
    ctl = procs.start("controller", ["controller", "--ofp-port", str(ofp), "--rest-port", str(rest), "--probe-hz", str(probe_hz),
                                     "--loss-window", "100000"])
    url = f"http://127.0.0.1:{rest}"
    profiles = draw_profiles(n, 2, 0)
    edge = build(profiles, controller=("127.0.0.1", ofp), run_dir=tmp / f"net{n}")
    try:
        for host in edge.hosts.values():
            host.cmd(f"ping -c 1 -W 1 {SERVER_IP}")
        edge.register_capacities(url)
        deadline = time.monotonic() + 60
        while len(_paths(url)) < n and time.monotonic() < deadline:  # the first query also starts the probes from SERVER_IP
            time.sleep(0.5)
        time.sleep(settle)
        cpu = psutil.Process(ctl.pid).cpu_percent(interval=5.0)
        got = _paths(url)
        ip = {p.node_id: edge.hosts[p.node_id].IP() for p in profiles}
        bw = [abs(got[ip[p.node_id]]["bandwidth_mbps"] - p.bandwidth_mbps) / p.bandwidth_mbps for p in profiles]
        dl = [abs(got[ip[p.node_id]]["delay_ms"] - p.delay_ms) for p in profiles]
        ls = [abs(got[ip[p.node_id]]["loss_pct"] - p.loss_pct) for p in profiles]
        samples = statistics.median(got[ip[p.node_id]]["samples"] for p in profiles)
        first = profiles[0]
        edge.set_shape(first.node_id, LinkShape(first.bandwidth_mbps, first.delay_ms + 50, first.loss_pct))
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60 and abs(_paths(url)[ip[first.node_id]]["delay_ms"] - (first.delay_ms + 50)) > 0.1 * (first.delay_ms + 50):
            time.sleep(0.2)
        seen = time.monotonic() - t0
        print(f"{n:>4} nodes: bandwidth error mean {100 * statistics.mean(bw):.1f} % (max {100 * max(bw):.1f} %), "
              f"delay error mean {statistics.mean(dl):.2f} ms (max {max(dl):.2f}), loss error mean {statistics.mean(ls):.2f} pp "
              f"(max {max(ls):.2f}, {samples:.0f} probes each); +50 ms seen after {seen:.1f} s; controller CPU {cpu:.0f} % of one core; "
              f"probe traffic {n * probe_hz * PROBE_BYTES / 1000:.1f} kB/s")
    finally:
        edge.stop()
        procs.stop_all()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="12,40,100")
    p.add_argument("--probe-hz", type=float, default=5.0)
    p.add_argument("--settle", type=float, default=40.0, help="seconds of probing before reading the figures")
    a = p.parse_args()
    from mininet.log import setLogLevel

    setLogLevel("error")
    with tempfile.TemporaryDirectory() as d:
        for n in (int(x) for x in a.sizes.split(",")):
            bench(n, a.probe_hz, a.settle, Path(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
