"""Loading shaped links and measuring what the delay line adds, for the topology benchmark.

`LinkLoad` runs one iperf3 flow per link (receiver in the node's host) and reports what
each receiver got. `held_delays` measures the delay line itself: tcpdump in the node's
host stamps each echo request as it arrives on the interface (before netfilter) and the
echo reply as it leaves, so the difference is the time the line held the request,
without the queue of a loaded link that a ping's round trip would also count.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from topologies.profiles import NodeProfile

UDP_HEADROOM = 0.95  # iperf3's -b counts payload; HTB counts whole frames
OMIT_S = 3  # TCP's slow start on a 170 ms path takes seconds: leave it out of the figure


@dataclass
class Flow:
    profile: NodeProfile
    sender: object  # Mininet host the iperf3 client runs in
    receiver: object  # the node's host


def expected_mbps(profile: NodeProfile, udp: bool) -> float:
    """What a link carrying its profile delivers: the offered rate less the drawn loss
    (UDP), or the link's rate (TCP, which the benchmark runs with loss off)."""
    if udp:
        return UDP_HEADROOM * profile.bandwidth_mbps * (1 - profile.loss_pct / 100)
    return profile.bandwidth_mbps


class LinkLoad:
    """One iperf3 flow per link, all at once: TCP, or UDP offered at 95 % of the rate."""

    def __init__(self, flows: list[Flow], udp: bool, seconds: int) -> None:
        self.flows, self.udp, self.seconds = flows, udp, seconds
        self.errors: list[str] = []  # iperf3's own words for each flow that failed
        self.servers = [f.receiver.popen(["iperf3", "-s", "-1"]) for f in flows]
        time.sleep(1.0)
        self.clients = [
            f.sender.popen(self._client_args(f), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for f in flows
        ]

    def _client_args(self, flow: Flow) -> list[str]:
        args = ["iperf3", "-c", flow.receiver.IP(), "-t", str(self.seconds), "-f", "m", "-J"]
        if self.udp:
            return args + ["-u", "-b", f"{UDP_HEADROOM * flow.profile.bandwidth_mbps:.3f}M", "-l", "1400"]
        return args + ["-O", str(OMIT_S)]

    def received_mbps(self) -> list[float]:
        """Waits for every flow to end; what each receiver counted (0 for a failed flow)."""
        results = [_result(c.communicate(timeout=self.seconds + 60)[0]) for c in self.clients]
        self.stop()
        self.errors = [err for _, err in results if err]
        return [mbps for mbps, _ in results]

    def cpu_seconds(self) -> float:
        """CPU the iperf3 processes (load generator) used so far."""
        return cpu_seconds(self.servers + self.clients)

    def stop(self) -> None:
        for proc in self.servers + self.clients:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def cpu_seconds(procs: list) -> float:
    """CPU seconds these processes and their children used so far (a process that
    `host.popen` started may be the shell that runs the program, or the program)."""
    import psutil

    total = 0.0
    for proc in procs:
        try:
            p = psutil.Process(proc.pid)
            for q in [p, *p.children(recursive=True)]:
                t = q.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _result(out: bytes) -> tuple[float, str]:
    """(Mb/s the receiver counted, error): a failed flow counts 0 and says why."""
    try:
        report = json.loads(out)
    except ValueError:
        return 0.0, "no report from iperf3"
    try:
        return report["end"]["sum_received"]["bits_per_second"] / 1e6, report.get("error", "")
    except (KeyError, TypeError):
        return 0.0, report.get("error", "no end-of-test summary")


def held_delays(sender, receiver, pcap: Path, count: int = 100, interval: float = 0.05) -> list[float]:
    """Milliseconds the receiver's delay line held each of `count` pings from sender."""
    intf = str(receiver.defaultIntf())
    cap = receiver.popen(
        ["tcpdump", "-i", intf, "-n", "-w", str(pcap), "--immediate-mode", "--time-stamp-precision=nano", "icmp"],
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(0.5)
        sender.cmd(f"ping -c {count} -i {interval} -W 2 {receiver.IP()}")
        time.sleep(0.3)
    finally:
        cap.terminate()
        cap.wait()
    text = subprocess.run(
        ["tcpdump", "-r", str(pcap), "-n", "-tt", "--time-stamp-precision=nano"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return pair_echoes(text)


ECHO = re.compile(r"^([\d.]+) IP .* ICMP echo (request|reply), id \d+, seq (\d+)")


def pair_echoes(tcpdump_text: str) -> list[float]:
    """Reply time minus request time, in ms, for each sequence number seen both ways."""
    seen: dict[str, dict[int, float]] = {"request": {}, "reply": {}}
    for line in tcpdump_text.splitlines():
        m = ECHO.match(line)
        if m:
            seen[m[2]][int(m[3])] = float(m[1])
    return [(seen["reply"][k] - t) * 1000 for k, t in sorted(seen["request"].items()) if k in seen["reply"]]
