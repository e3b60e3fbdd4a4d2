"""Compute heterogeneity on one machine: stretch a node's measured work to what
a node of compute power C_i would take.

Calibration: this machine's single-threaded process is taken as a node of
`reference_power` (default 30, the mean of the paper's N(30, 15)), so a node of
power C needs cpu_seconds * reference_power / C. The measure is the process's
CPU time, not wall time, so many clients sharing the cores do not leak their
contention into T_i; real work is still done and the loss is real.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


def emulated_seconds(cpu_seconds: float, compute_power: float, reference_power: float) -> float:
    if compute_power <= 0 or reference_power <= 0:
        raise ValueError("compute powers must be positive")
    return cpu_seconds * reference_power / compute_power


@dataclass
class Stopwatch:
    wall0: float = 0.0
    cpu0: float = 0.0

    def start(self) -> "Stopwatch":
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    def cpu(self) -> float:
        return time.process_time() - self.cpu0


def finish_training_time(watch: Stopwatch, emulate: bool, power: float, reference: float) -> tuple[float, float]:
    """Return (T_i to report, wall seconds spent). With emulation on, sleep until
    the emulated time has passed so that the node is really that slow."""
    wall = watch.wall()
    if not emulate:
        return wall, wall
    target = emulated_seconds(watch.cpu(), power, reference)
    if wall < target:
        time.sleep(target - wall)
    elif wall > 1.1 * target + 0.05:
        log.warning("wall time %.2f s overran the emulated %.2f s: the machine is oversubscribed, T_i is the emulated value", wall, target)
    return target, watch.wall()
