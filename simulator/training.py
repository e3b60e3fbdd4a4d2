"""What the simulator asks of training: after each simulated epoch, the active nodes' updates and the
new global model's validation loss (`edgeft simulate --training real`), or nothing (`--training none`).

The simulator decides who trains and how long it takes; the losses come from elsewhere. Real training
needs the edge trainer (edge_client/trainer.py), which the simulator must not import (.importlinter:
simulator sits below the launch layer), so the driver takes any object with this protocol and the
launch layer wires the real one in (experiments/runners/sim_training.py). Training runs one node
after another in the simulation's own process, outside simulated time: the compute windows come from
the time model (edgeft/timemodel.py), never from how long the real update took here.

The losses depend only on the run's model, data and training settings, its seed, its nodes and the
sequence of active sets: never on the network, the setup, the measurement model or the policy that
chose the sets. That is what lets an implementation reuse an epoch trained once (a cache keyed by
those) across setups, regimes and policies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Protocol, Sequence

TRAINING_MODES = ("none", "real")


@dataclass(frozen=True)
class EpochTraining:
    """One epoch's training outcome, as the orchestrator's epoch loop would have it after aggregating.

    `node_loss`: each active node's local training loss (node_epochs.csv `loss`); `node_weight`: its
    aggregation weight (the label tokens of its partition, orchestrator/coordinator.py `weight`),
    which epochs.csv's `train_loss` is the weighted mean by; `val_loss`: the validation loss of the
    aggregated adapter; `digest`: that adapter's digest (epochs.csv `adapter_digest`); `refused`:
    nodes whose update did not count (norm bound, non-finite round: orchestrator/aggregation.py),
    with the reason: the orchestrator fails them for the run, and so does the simulator."""

    node_loss: Mapping[str, float]
    val_loss: float
    node_weight: Mapping[str, float] = field(default_factory=dict)
    digest: str = ""
    refused: Mapping[str, str] = field(default_factory=dict)


class Training(Protocol):
    """What the driver asks of training (module doc)."""

    def pre_training_loss(self) -> float | None:
        """The validation loss before any epoch (summary.json `pre_training_loss`); None: no training."""
        ...

    def train_epoch(self, epoch: int, active: Sequence[str]) -> EpochTraining:
        """Epoch `epoch`'s round: every node of `active` trains on the current global adapter, the
        updates are aggregated and the server optimiser steps; the outcome. Called once per epoch, in
        order, with the nodes that trained in it."""
        ...

    def stats(self) -> dict:
        """What it cost (e.g. epochs trained and epochs reused from a cache), for summary.json."""
        ...


class NoTraining:
    """`--training none`: time only, every loss column empty (NaN in the rows, None in the summary)."""

    def pre_training_loss(self) -> float | None:
        return None

    def train_epoch(self, epoch: int, active: Sequence[str]) -> EpochTraining:
        return EpochTraining({}, math.nan)

    def stats(self) -> dict:
        return {}
