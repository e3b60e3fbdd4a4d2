"""NFQUEUE delay line: holds every packet of one queue for a fixed delay.

Run inside the receiving host's network namespace, fed by an iptables rule on
the mangle PREROUTING hook (ingress). Holding packets on the sender's OUTPUT
hook throttles TCP through TCP small queues (2.5 Mb/s at 20 ms measured here);
on the receiver's ingress the same loop carried 2 Gb/s (ARCHITECTURE.md).

One loop: poll the queue's fd with a timeout equal to the time until the next
packet is due, read what arrived, release what is due. The delay can be
changed at run time by writing a number of milliseconds to the control file.

    python -m topologies.delay_line --queue 0 --delay-ms 20 --control /tmp/h1.delay
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import sys
import time
from collections import deque


def _read_control(path: str | None, current: float) -> float:
    if not path:
        return current
    try:
        with open(path) as fh:
            return max(float(fh.read().strip() or current), 0.0)
    except (OSError, ValueError):
        return current


def run(queue: int, delay_ms: float, control: str | None, max_len: int) -> None:
    from netfilterqueue import NetfilterQueue

    held: deque = deque()
    delay = delay_ms / 1000.0

    def on_packet(pkt) -> None:
        if len(held) >= max_len:
            pkt.drop()  # a full queue drops, as a real buffer would
            return
        held.append((time.monotonic() + delay, pkt))

    nfq = NetfilterQueue()
    nfq.bind(queue, on_packet, max_len=max_len)
    sock = socket.fromfd(nfq.get_fd(), socket.AF_UNIX, socket.SOCK_STREAM)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    control_mtime = 0.0
    next_control_check = 0.0
    try:
        while not stopping:
            now = time.monotonic()
            while held and held[0][0] <= now:
                held.popleft()[1].accept()
            if now >= next_control_check and control:
                next_control_check = now + 0.2
                mtime = os.path.getmtime(control) if os.path.exists(control) else 0.0
                if mtime != control_mtime:
                    control_mtime = mtime
                    delay = _read_control(control, delay * 1000) / 1000.0
            timeout_ms = 200 if not held else max(0, int((held[0][0] - time.monotonic()) * 1000))
            if poller.poll(timeout_ms):
                nfq.run(block=False)
    finally:
        for _, pkt in held:
            pkt.accept()
        nfq.unbind()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queue", type=int, default=0)
    p.add_argument("--delay-ms", type=float, required=True)
    p.add_argument("--control", default=None, help="file holding the delay in ms; re-read when it changes")
    p.add_argument("--max-len", type=int, default=20000)
    a = p.parse_args(argv)
    run(a.queue, a.delay_ms, a.control, a.max_len)
    return 0


if __name__ == "__main__":
    sys.exit(main())
