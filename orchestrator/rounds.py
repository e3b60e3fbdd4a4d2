"""One training round: which nodes owe a result, what arrived, who failed.

Late (previous epoch), duplicate and replayed uploads are refused here, so an
update can never be aggregated twice.

The training time the scorer uses is measured here, not taken from the node
(`measured_train_time`): from the moment the node fetched its train task to the
moment its result upload began, less the transfers the orchestrator timed in
between (`note_transfer`), in reported units (wall seconds / the dilation k).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

import torch

from edgeft.wire import ResultMeta


class RoundReject(Exception):
    """An upload the round will not take: HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class NodeResult:
    meta: ResultMeta
    update: dict[str, torch.Tensor]
    received_at: float
    upload_bytes: int
    train_time_s: float = math.nan  # measured by the orchestrator (reported units); meta.train_time_s is the claim
    train_time_flagged: bool = False  # the claim is further from the measurement than the tolerance


def measured_train_time(handed_out: float, upload_started: float, transfers_s: float, dilation: float) -> float:
    """T_i as the orchestrator saw it: task hand-out to the start of the result's upload, less
    the transfers it timed in between, in reported units (never negative)."""
    return max(upload_started - handed_out - transfers_s, 0.0) / dilation


def train_time_flagged(declared: float, measured: float, tolerance: float, slack_s: float) -> bool:
    """True when a node's declared T_i is further from the measured one than
    tolerance x measured + slack_s (enrolment.train_time_tolerance / train_time_slack_s)."""
    return abs(declared - measured) > tolerance * measured + slack_s


@dataclass
class Round:
    epoch: int
    version: int
    expected: set[str]
    started_at: float = field(default_factory=time.time)
    delivered_at: dict[str, float] = field(default_factory=dict)
    results: dict[str, NodeResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)  # failed by silence: they may come back
    transfers_s: dict[str, float] = field(default_factory=dict)  # wall seconds of timed transfers inside a node's task
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def check_upload(self, node_id: str, epoch: int, version: int) -> None:
        """Refuse an upload that does not belong to this round, before its body is parsed."""
        if epoch != self.epoch or version != self.version:
            raise RoundReject(
                409,
                f"result for epoch {epoch} v{version} is late or early: "
                f"the round is epoch {self.epoch} v{self.version}",
            )
        if node_id not in self.expected:
            raise RoundReject(409, f"node '{node_id}' is not training in epoch {self.epoch}")
        if node_id in self.results:
            raise RoundReject(409, f"duplicate result from '{node_id}' for epoch {self.epoch}: already accepted")
        if node_id in self.failures:
            raise RoundReject(
                409, f"node '{node_id}' was already marked failed in epoch {self.epoch}: {self.failures[node_id]}"
            )

    def accept(self, node_id: str, result: NodeResult) -> None:
        self.check_upload(node_id, result.meta.epoch, result.meta.version)
        self.results[node_id] = result
        self._maybe_done()

    def fail(self, node_id: str, reason: str, silent: bool = False) -> None:
        """Fail a node for this round; `silent`: it went quiet (crash, cut link), as opposed
        to sending something invalid, so it may come back."""
        if node_id in self.expected and node_id not in self.results and node_id not in self.failures:
            self.failures[node_id] = reason
            if silent:
                self.silent.add(node_id)
            self._maybe_done()

    def refuse(self, node_id: str, reason: str) -> NodeResult | None:
        """An accepted result that must not count after all (orchestrator/aggregation.py: over the
        norm bound, or it made the round non-finite): it becomes the node's failure."""
        result = self.results.pop(node_id, None)
        if result is not None:
            self.failures[node_id] = reason
        return result

    def handed_out(self, node_id: str) -> float:
        """When the node fetched its train task (the round's start if it was never fetched)."""
        return self.delivered_at.get(node_id, self.started_at)

    def note_transfer(self, node_id: str, seconds: float) -> None:
        """A transfer of a node that is computing this round, timed by the orchestrator: not
        part of its training time."""
        if node_id in self.expected and node_id in self.delivered_at and node_id not in self.results:
            self.transfers_s[node_id] = self.transfers_s.get(node_id, 0.0) + max(seconds, 0.0)

    def pending(self) -> set[str]:
        return self.expected - set(self.results) - set(self.failures)

    def _maybe_done(self) -> None:
        if not self.pending():
            self.done.set()
