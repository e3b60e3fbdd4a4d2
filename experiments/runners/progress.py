"""Following a run from outside: the live per-epoch view and polling helpers."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Callable

import requests
from tqdm import tqdm


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as fh:
        return list(csv.DictReader(fh))


def follow(
    procs, epochs_csv: Path, label: str, epochs: int, timeout: float, on_epoch: Callable[[int], None] | None = None
) -> int | None:
    """Wait for the orchestrator process, showing progress per epoch (active and
    eliminated nodes, validation loss) read from its epochs.csv; None on timeout.
    `on_epoch(k)` is called once epoch k-1 is recorded, i.e. as epoch k starts."""
    bar = tqdm(total=epochs, desc=label, unit="epoch")
    deadline, seen = time.monotonic() + timeout, 0
    try:
        while time.monotonic() < deadline:
            rc = procs.wait("orchestrator", 1.0)
            rows = read_rows(epochs_csv)
            if len(rows) > seen:
                last = rows[-1]
                bar.update(len(rows) - seen)
                bar.set_postfix(active=last["active"], eliminated=last["eliminated"] or "-", val_loss=last["val_loss"])
                for k in range(seen + 1, len(rows) + 1):
                    if on_epoch:
                        on_epoch(k)
                seen = len(rows)
            if rc is not None:
                return rc
        return None
    finally:
        bar.close()


def wait_until(cond: Callable[[], bool], timeout: float, what: str, poll: float = 0.5) -> None:
    """Poll `cond` every `poll` s (HTTP errors count as not yet) until true; raise after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return
        except requests.RequestException:
            pass
        time.sleep(poll)
    raise RuntimeError(f"timed out waiting for {what}")
