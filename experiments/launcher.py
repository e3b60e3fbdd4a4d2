"""Start and stop the system's processes, on this machine or inside Mininet
hosts (the orchestrator in the server host, one edge client per edge host),
each logging to its own file. Part of the launch layer (docs/architecture.md): the
runners and the benchmarks start every process through it.

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

from edgeft.signals import die_with_parent

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parent.parent
EDGEFT_COMMAND = [sys.executable, "-m", "experiments.cli"]  # `edgeft`, whichever venv runs this


class ProcessGroup:
    """The processes one run started, by name, each in a session of its own and logging to <log_dir>/<name>.log."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(
        self, name: str, args: list[str], host=None, program: list[str] | None = None, env: dict | None = None
    ) -> subprocess.Popen:
        """Start `edgeft <args>` (or `program <args>`, e.g. a Flower daemon) in its own session:
        in `host`'s network namespace when a Mininet host is given, else on this machine."""
        cmd = [*(program or EDGEFT_COMMAND), *args]
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
        """The exit code of process `name`, or None if it still runs after `timeout` seconds."""
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
