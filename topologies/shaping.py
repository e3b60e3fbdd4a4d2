"""One link-shaping API, two back ends chosen automatically.

What a shape means (both back ends): `rate_mbps` caps the node's access link in
both directions (HTB); `delay_ms` and `loss_pct` act on the orchestrator -> node
direction, so a ping from the orchestrator sees RTT + delay_ms and loss_pct
loss, and the controller's one-way orchestrator -> node estimate sees delay_ms.

- netem (where the kernel has sch_netem): TCLink-style HTB + netem on the
  switch-side interface of the access link.
- fallback (no sch_netem, e.g. this project's machines, WSL2, many containers):
  HTB for rate; in the node's namespace an iptables `statistic` rule for loss and
  an NFQUEUE delay line on the mangle PREROUTING hook (ingress) for delay.
Everything the fallback adds lives in the node's network namespace, so it
disappears with the namespace: nothing is left in the root namespace.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edgeft.clock import Clock
from edgeft.link_figures import LinkFigures
from edgeft.signals import die_with_parent

log = logging.getLogger(__name__)
Backend = Literal["netem", "fallback"]


@dataclass(frozen=True)
class LinkShape:
    rate_mbps: float
    delay_ms: float = 0.0
    loss_pct: float = 0.0

    def __post_init__(self) -> None:
        if self.rate_mbps <= 0 or self.delay_ms < 0 or not 0 <= self.loss_pct < 100:
            raise ValueError(f"invalid link shape {self}: rate > 0, delay >= 0, 0 <= loss < 100")

    @classmethod
    def of(cls, figures) -> "LinkShape":
        """The shape that realises a node's drawn link figures (edgeft/link_figures.py:
        a NodeProfile, LinkFigures, or a mapping with the three keys)."""
        link = LinkFigures.of(figures)
        return cls(link.bandwidth_mbps, link.delay_ms, link.loss_pct)

    def on_wall(self, clock: Clock) -> "LinkShape":
        """The shape that realises this one on the wall of a run whose clock is `clock` (the
        clock dilates rate and delay; loss is a ratio and stays)."""
        return LinkShape(clock.wall_rate_mbps(self.rate_mbps), clock.wall_delay_ms(self.delay_ms), self.loss_pct)


def netem_available() -> bool:
    """Try a netem qdisc in a throwaway namespace (the only reliable test)."""
    ns = f"edgeft-probe-{uuid.uuid4().hex[:8]}"
    try:
        if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
            return False
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], capture_output=True)
        rc = subprocess.run(
            ["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
            capture_output=True,
        ).returncode
        return rc == 0
    except FileNotFoundError:
        return False
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def choose_backend(force: str = "auto") -> Backend:
    if force in ("netem", "fallback"):
        return force  # type: ignore[return-value]
    if force != "auto":
        raise ValueError(f"shaping must be auto, netem or fallback (got {force!r})")
    backend: Backend = "netem" if netem_available() else "fallback"
    log.info(
        "link shaping back end: %s",
        backend if backend == "netem" else "fallback (HTB + iptables statistic + NFQUEUE delay line; no sch_netem)",
    )
    return backend


def loss_match(intf: str, loss_pct: float) -> str:
    """iptables match + target that drops loss_pct % of the packets arriving on intf."""
    return f"-i {intf} -m statistic --mode random --probability {loss_pct / 100:.6f} -j DROP"


QUEUE_S = 0.1  # buffer behind a shaped link: ~100 ms at its rate


def queue_packets(rate_mbps: float) -> int:
    """A bounded buffer: ~QUEUE_S seconds of full-size packets, at least 10. The kernel's
    default (1000 packets) would queue 16 s at 0.75 Mb/s and starve every other flow."""
    return max(10, int(rate_mbps * 1e6 * QUEUE_S / (1500 * 8)))


def _config(intf, **params) -> None:
    # Mininet's TCIntf.config turns checksum offload back on unless told not to; the
    # userspace datapath needs it off for TCP to work.
    intf.config(txo=False, rxo=False, **params)
    if params.get("bw") and not params.get("delay"):  # netem carries its own limit
        intf.cmd(f"tc qdisc add dev {intf} parent 5:1 handle 10: pfifo limit {queue_packets(params['bw'])}")


C_DELAY_LINE = Path(sys.executable).parent / "edgeft-delay-line"  # built by scripts/install.sh


def delay_line_command(choice: str | None = None) -> list[str]:
    """The delay line to run: the C one (topologies/delay_line.c: metadata-only copies,
    batched verdicts) where it is built, else the Python one. EDGEFT_DELAY_LINE=c|python
    forces either."""
    choice = choice or os.environ.get("EDGEFT_DELAY_LINE", "auto")
    if choice not in ("auto", "c", "python"):
        raise ValueError(f"EDGEFT_DELAY_LINE={choice!r}: use auto, c or python")
    if choice == "c" and not C_DELAY_LINE.exists():
        raise ValueError(f"EDGEFT_DELAY_LINE=c but {C_DELAY_LINE} is not built: run `sudo bash scripts/install.sh`")
    if choice != "python" and C_DELAY_LINE.exists():
        log.info("delay line: %s (C)", C_DELAY_LINE)
        return [str(C_DELAY_LINE)]
    log.info("delay line: topologies/delay_line.py (Python)")
    return [sys.executable, "-m", "topologies.delay_line"]


class Shaper:
    """Applies and changes shapes on access links (host side + switch side interface)."""

    def __init__(self, backend: Backend, run_dir: Path) -> None:
        self.backend = backend
        self.run_dir = run_dir
        self.delay_lines: dict[str, object] = {}  # host name -> Popen
        self.shapes: dict[str, LinkShape] = {}
        self.delay_line = delay_line_command() if backend == "fallback" else []

    def apply(self, host, host_intf, switch_intf, shape: LinkShape) -> None:
        _config(host_intf, bw=shape.rate_mbps)
        if self.backend == "netem":
            _config(switch_intf, bw=shape.rate_mbps, delay=f"{shape.delay_ms}ms", loss=shape.loss_pct or None)
        else:
            _config(switch_intf, bw=shape.rate_mbps)
            self._fallback_rules(host, host_intf.name, shape)
        self.shapes[host.name] = shape

    def update(self, host, host_intf, switch_intf, shape: LinkShape) -> None:
        """Change rate, delay and loss of a running link."""
        if self.backend == "netem":
            self.apply(host, host_intf, switch_intf, shape)
            return
        old = self.shapes[host.name]
        if shape.rate_mbps != old.rate_mbps:
            _config(host_intf, bw=shape.rate_mbps)
            _config(switch_intf, bw=shape.rate_mbps)
        if shape.loss_pct != old.loss_pct:
            if old.loss_pct > 0:
                host.cmd("iptables -t mangle -D PREROUTING 1")
            if shape.loss_pct > 0:
                host.cmd(f"iptables -t mangle -I PREROUTING 1 {loss_match(host_intf.name, shape.loss_pct)}")
        if shape.delay_ms != old.delay_ms:
            self._control(host).write_text(f"{shape.delay_ms}\n")
        self.shapes[host.name] = shape

    def _control(self, host) -> Path:
        return self.run_dir / f"{host.name}.delay"

    def _fallback_rules(self, host, intf: str, shape: LinkShape) -> None:
        if shape.loss_pct > 0:
            host.cmd(f"iptables -t mangle -A PREROUTING {loss_match(intf, shape.loss_pct)}")
        control = self._control(host)
        control.write_text(f"{shape.delay_ms}\n")
        # The delay line always runs so that a later update can add delay to a link that had none.
        args = ["--queue", "0", "--delay-ms", str(shape.delay_ms), "--control", str(control)]
        self.delay_lines[host.name] = host.popen(
            self.delay_line + args, cwd=str(Path(__file__).resolve().parent.parent), preexec_fn=die_with_parent
        )
        host.cmd(f"iptables -t mangle -A PREROUTING -i {intf} -j NFQUEUE --queue-num 0 --queue-bypass")

    def stop(self) -> None:
        for proc in self.delay_lines.values():
            proc.terminate()
        for proc in self.delay_lines.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.delay_lines.clear()
