"""Compute heterogeneity on one machine: a node's compute phase lasts its declared
window (edgeft/timemodel.py), lived through in wall time.

The real training runs first, in a thread at a nice level that gives the node a
CPU share proportional to its power (and keeps it below the emulated network); then the
node waits out the rest of its window x k (k: the run's time dilation). If the
real work took longer than the window, the window is not pretended: the node
reports what really passed (compute_wall_s) next to the declared T_i, and the
run's fidelity report counts it as an overrun.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from edgeft.clock import Clock
from edgeft.timemodel import compute_window_s, epoch_flops, overran, training_nice

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComputeTiming:
    """One compute phase, in the run's reported units (wall seconds / k)."""

    train_time_s: float  # T_i: the declared window (or the real time, without emulation)
    compute_wall_s: float  # what the compute phase really lasted


def set_nice(level: int) -> bool:
    """Set the calling thread's nice level (Linux: per thread; threads started later
    inherit it); False where not allowed (raising priority needs root)."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, level)
        return True
    except OSError as exc:
        log.debug("cannot set nice %d: %s", level, exc)
        return False


def run_niced(level: int | None, work: Callable[[], T]) -> T:
    """Run `work` in a thread of its own at nice `level` (None: as is) and return its
    result. Linux keeps nice per thread, so the caller's priority never changes and
    nothing needs restoring (lowering a nice level back needs root)."""
    box: dict[str, object] = {}

    def body() -> None:
        if level is not None:
            set_nice(level)
        try:
            box["result"] = work()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=body, name="compute", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def priority_for(emulate: bool, compute_power: float) -> int | None:
    return training_nice(compute_power) if emulate else None


def finish_compute(
    started: float,
    emulate: bool,
    linear_params: int,
    tokens: int,
    power: float,
    gflops_per_power: float,
    dilation: float,
) -> ComputeTiming:
    """Wait out the node's window (emulation on) and return its timing in reported
    units. `started` is the perf_counter() reading when the compute phase began."""
    clock = Clock(dilation)
    wall = time.perf_counter() - started
    if not emulate:
        return ComputeTiming(clock.to_reported(wall), clock.to_reported(wall))
    window = compute_window_s(epoch_flops(linear_params, tokens), power, gflops_per_power)
    target = clock.to_wall(window)
    if wall < target:
        time.sleep(target - wall)
    elif overran(window, clock.to_reported(wall)):
        log.warning(
            "compute overran its window: %.2f s of wall time for a %.2f s window (x%.2g dilation); "
            "the host cannot keep up, and the run's fidelity report counts it",
            wall,
            target,
            dilation,
        )
    return ComputeTiming(window, clock.since(started, time.perf_counter()))


def emulated_phase(
    work: Callable[[], T],
    tokens_of: Callable[[T], int],
    emulate: bool,
    power: float,
    linear_params: int,
    gflops_per_power: float,
    dilation: float,
) -> tuple[T, ComputeTiming]:
    """One compute phase: `work` at the node's priority, then the rest of its window
    (emulation on); `tokens_of(result)` is the work the window is declared for. The edge
    agent and the Flower ClientApp both train through this."""
    started = time.perf_counter()
    out = run_niced(priority_for(emulate, power), work)
    timing = finish_compute(started, emulate, linear_params, tokens_of(out), power, gflops_per_power, dilation)
    return out, timing
