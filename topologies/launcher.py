"""Start and stop the system's processes, on this machine or inside Mininet
hosts (the orchestrator in the server host, one edge client per edge host),
each logging to its own file.

Every process leads its own session (Mininet starts host processes through
`mnexec -d`), so `stop_all` signals exactly the process groups this run started.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Popen preexec_fn: the child gets SIGTERM when the process that started it dies, so a
    killed run leaves no clients or delay lines behind holding a host's namespace open.
    (Linux keeps this across exec; mnexec execs without forking for a non-leader.)"""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ProcessGroup:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(
        self, name: str, args: list[str], host=None, program: list[str] | None = None, env: dict | None = None
    ) -> subprocess.Popen:
        """Start `edgeft <args>` (or `program <args>`, e.g. a Flower daemon) in its own session:
        in `host`'s network namespace when a Mininet host is given, else on this machine."""
        cmd = [*(program or [sys.executable, "-m", "edgeft.cli"]), *args]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with (self.log_dir / f"{name}.log").open("ab") as out:
            kw = dict(
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(REPO),
                env=env,
                preexec_fn=die_with_parent,
            )
            proc = host.popen(cmd, **kw) if host is not None else subprocess.Popen(cmd, start_new_session=True, **kw)
        self.procs[name] = proc
        return proc

    def wait(self, name: str, timeout: float) -> int | None:
        try:
            return self.procs[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_all(self, timeout: float) -> None:
        """Give every process up to `timeout` seconds in all to exit by itself."""
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                pass

    def stop(self, name: str, grace: float = 5.0) -> None:
        """SIGTERM one process group, SIGKILL it after `grace` seconds."""
        _terminate([self.procs[name]], grace)

    def stop_all(self, grace: float = 5.0) -> None:
        """SIGTERM every process group, SIGKILL what is left after `grace` seconds."""
        _terminate(list(self.procs.values()), grace)


def _terminate(procs: list, grace: float) -> None:
    """SIGTERM the process groups, SIGKILL what is left after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        alive = [p for p in procs if p.poll() is None]
        for p in alive:
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + wait
        for p in alive:
            try:
                p.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                pass
