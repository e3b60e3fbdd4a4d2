"""Time to a target loss, on the completion-time clock, and loss curves against time.

The field compares selectors by time to accuracy (Oort, PyramidFL, FedBalancer), not by
the final loss after a fixed number of epochs. A run folder says when each epoch ended
only as durations: epochs.csv's `epoch_time_s` runs from a round's start to its
validation loss, and summary.json's `completion_time_s` runs from the first model send
to the final loss. What lies between is the set-up (base model, partitions, first
adapter) before epoch 0 plus a checkpoint write between epochs; it is counted before
epoch 0 here, so the last epoch ends exactly at the completion time and every epoch end
is at most its true time plus the (milliseconds of) checkpoint writes before it.

The default target is AR's final loss in the same (nodes, setup, seed): "how soon does
a policy reach what keeping every node reaches". `--target-loss X` replaces it.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Mapping, Sequence

# epochs.csv keeps 6 significant digits; summary.json the full float. A loss equal to the
# target up to that rounding has reached it (else AR would never reach its own final loss).
CSV_REL_TOL = 1e-6


@dataclass(frozen=True)
class TimedCurve:
    """A run's validation loss at the end of each epoch, on the completion-time clock."""

    pre_training_loss: float
    ends_s: tuple[float, ...]  # end of epoch 0, 1, ... (seconds since the first send)
    losses: tuple[float, ...]

    def points(self) -> tuple[list[float], list[float]]:
        """(times, losses) starting at (0, pre-training loss)."""
        return [0.0, *self.ends_s], [self.pre_training_loss, *self.losses]


def epoch_end_times(completion_time_s: float | None, epoch_times_s: Sequence[float]) -> list[float]:
    """When each epoch ended on the completion-time clock: the time outside the epochs
    (set-up, checkpoint writes) is put before epoch 0, so the last end is the completion
    time. Without a completion time (a run cut short) the epochs start at 0."""
    total = sum(epoch_times_s)
    lead = 0.0 if completion_time_s is None else max(float(completion_time_s) - total, 0.0)
    return list(accumulate(epoch_times_s, initial=lead))[1:]


def time_to_target(ends_s: Sequence[float], losses: Sequence[float], target: float | None) -> float | None:
    """The end of the first epoch whose validation loss is at or below `target` (None: never
    reached, or no target)."""
    if target is None or (isinstance(target, float) and math.isnan(target)):
        return None
    bound = target + abs(target) * CSV_REL_TOL
    return next((t for t, loss in zip(ends_s, losses) if loss <= bound), None)


def read_curve(run_dir: Path) -> TimedCurve | None:
    """The timed loss curve of a run folder (None where summary.json or epochs.csv is missing)."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        with (run_dir / "epochs.csv").open() as fh:
            epochs = list(csv.DictReader(fh))
    except (OSError, json.JSONDecodeError):
        return None
    return curve_of(summary, epochs)


def curve_of(summary: dict, epochs: list[dict]) -> TimedCurve:
    """The timed loss curve from a summary and its epochs.csv rows."""
    rows = [r for r in epochs if r.get("val_loss") not in (None, "")]
    ends = epoch_end_times(summary.get("completion_time_s"), [float(r["epoch_time_s"] or 0.0) for r in rows])
    return TimedCurve(float(summary["pre_training_loss"]), tuple(ends), tuple(float(r["val_loss"]) for r in rows))


def _key(row: Mapping) -> tuple[str, str, str]:
    return (str(row.get("nodes", "")), str(row.get("setup", "")), str(row.get("seed", "")))


def default_targets(rows: Sequence[Mapping]) -> dict[tuple[str, str, str], float]:
    """AR's final loss per (nodes, setup, seed): the target of every policy of that comparison."""
    return {_key(r): float(r["final_val_loss"]) for r in rows if r.get("policy") == "ar"}


def with_time_to_target(
    rows: Sequence[dict], curves: Mapping[str, TimedCurve | None], target_loss: float | None = None
) -> list[dict]:
    """The rows with `target_loss` and `time_to_target_s` (None: never reached, or no target:
    no AR run in that comparison and no `target_loss`). `curves` is keyed by run_dir; a
    row without a curve keeps what it had."""
    defaults = default_targets(rows)
    out = []
    for r in rows:
        target = target_loss if target_loss is not None else defaults.get(_key(r))
        curve = curves.get(str(r.get("run_dir", "")))
        if curve is None:
            out.append({"target_loss": target, "time_to_target_s": r.get("time_to_target_s"), **r})
            continue
        out.append({**r, "target_loss": target, "time_to_target_s": time_to_target(curve.ends_s, curve.losses, target)})
    return out


def loss_at(curve: TimedCurve, times: Sequence[float]) -> list[float]:
    """The validation loss of the model in hand at each time: the global model changes only
    when an epoch ends, so the loss holds from one epoch's end to the next (a step, not a
    line: the pre-training loss until epoch 0 ends)."""
    import numpy as np

    xs, ys = curve.points()
    idx = np.searchsorted(np.asarray(xs), np.asarray(times, dtype=float), side="right") - 1
    return [ys[max(i, 0)] for i in idx]


def band(curves: Sequence[TimedCurve], points: int = 200) -> tuple[list[float], list[float], list[float], list[float]]:
    """Seeds on a common time grid: (grid, mean, min, max) of the loss (loss_at), over the
    span every curve covers (from 0 to the earliest completion)."""
    import numpy as np

    spans = [c.ends_s[-1] for c in curves if c.ends_s]
    if not spans:
        return [], [], [], []
    grid = np.linspace(0.0, min(spans), points)
    ys = np.array([loss_at(c, grid) for c in curves if c.ends_s])
    return grid.tolist(), ys.mean(axis=0).tolist(), ys.min(axis=0).tolist(), ys.max(axis=0).tolist()
