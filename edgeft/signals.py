"""What a terminating signal does to an edgeft process and to the processes it starts.

Every command that starts something (a run's processes, a Mininet network, a worker)
must tear it down when it is stopped: SIGINT, SIGTERM and SIGHUP become an exception, so
every `finally` that stops processes and networks runs, and a watchdog ends the process
with 128 + the signal if a busy thread keeps it alive past a grace period. The children
such a command starts get SIGTERM when it dies (`die_with_parent`), so a killed run
leaves nothing behind holding a host's namespace open.

This lives in the shared layer because the launch layer (experiments/cli.py), the
topology script (topologies/edge_cloud.py) and the shaping helpers all need it, and
none of them may import another's layer for it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

STOP_GRACE_S = 8.0  # a signalled command tears down within this, then exits whatever its threads are doing
MININET_GRACE_S = 90.0  # commands that stop a Mininet network (compare): net.stop() of 40 hosts takes tens of seconds
_PR_SET_PDEATHSIG = 1
_signals: list[int] = []  # the terminating signals this process received, in order

log = logging.getLogger(__name__)


def signal_exit_code() -> int:
    """128 + the first terminating signal received (130 for a Ctrl-C that came as KeyboardInterrupt)."""
    return 128 + _signals[0] if _signals else 128 + signal.SIGINT


def signalled() -> bool:
    """Whether this process has received a terminating signal (not a plain KeyboardInterrupt)."""
    return bool(_signals)


def hard_exit(code: int) -> None:
    """The last resort after the grace period: a worker thread (training, a workload being built)
    cannot be interrupted and would keep the process alive at interpreter exit."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def teardown_on_signals(raise_as: type[BaseException] = KeyboardInterrupt, grace_s: float = STOP_GRACE_S) -> None:
    """SIGINT, SIGTERM and SIGHUP tear down what this command started: they become
    KeyboardInterrupt, so every `finally` that stops processes and networks runs (a
    default SIGTERM ends the process on the spot and leaves them behind). The first one
    also arms a watchdog that ends the process with 128 + the signal after `grace_s`,
    threads or not; a command that tears down a Mininet network passes a longer grace
    (MININET_GRACE_S), since cutting `net.stop()` short leaves bridges and namespaces behind.
    A later signal is only recorded: raising again inside a `finally` would cut the teardown
    short. Servers that install their own handlers (uvicorn) restore these and re-raise the
    signal when they have stopped."""

    def _interrupt(signum, _frame):
        first = not _signals
        _signals.append(signum)
        if not first:
            log.warning("signal %d again: still tearing down (at most %g s)", signum, grace_s)
            return
        watchdog = threading.Timer(grace_s, hard_exit, args=(128 + signum,))
        watchdog.daemon = True
        watchdog.start()
        raise raise_as(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)


def die_with_parent() -> None:
    """Popen preexec_fn: the child gets SIGTERM when the process that started it dies, so a
    killed run leaves no clients or delay lines behind holding a host's namespace open.
    (Linux keeps this across exec; mnexec execs without forking for a non-leader.)"""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
