"""What the orchestrator's epoch loop carries from epoch to epoch besides the registry:
the engine-independent epoch core (orchestrator/epoch_core.py) and the parts only this
engine has. Its own module so that the loop (orchestrator/epoch_loop.py) and the
checkpoint code (orchestrator/resume.py) both import it and not each other."""

from __future__ import annotations

import time
from dataclasses import dataclass

from edgeft.clock import Clock
from orchestrator.aggregation import ServerOptimizer
from orchestrator.epoch_core import EpochCore


@dataclass
class RunState:
    """The epoch core plus the server optimizer and the tallies only this engine keeps."""

    core: EpochCore
    opt: ServerOptimizer
    elapsed_before: float = 0.0  # reported time of the run before a resume
    setup_bytes_out: int = 0  # what the set-up sent (the base under transfer, partitions, first adapter)

    def elapsed_s(self, first_send: float | None, clock: Clock) -> float:
        """Reported seconds of the run so far: before a resume, plus since the first task went out."""
        return self.elapsed_before + clock.since(first_send or time.time())
