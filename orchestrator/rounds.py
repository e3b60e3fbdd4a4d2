"""One training round: which nodes owe a result, what arrived, who failed.

Late (previous epoch), duplicate and replayed uploads are refused here, so an
update can never be aggregated twice.

The training time the scorer uses is measured here, not taken from the node
(`measured_train_time`): from the moment the node fetched its train task to the
moment its result's body was complete, less the transfers inside that window
(`transfer_allowance`), in reported units (the run's Clock, edgeft/clock.py).

What is subtracted is only what the node cannot inflate: each transfer's timed
duration, capped by what the node's link figures predict for its bytes
(orchestrator/fidelity.py), plus the link's round trips the protocol needs (the
task's delivery, the padding's answer, an in-task sync's requests). At most one
padding upload (of at most the expected pad size), one adapter fetch and one
padding download count per task. Without link figures for the node, at most
NO_LINK_ALLOWANCE_S is subtracted (loopback: the transfers take milliseconds).
What the node can still hide: compute done while a counted transfer is on the
wire, at most the predicted transfer of the expected bytes (docs/faults.md).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

import torch

from edgeft.clock import Clock
from edgeft.link_figures import LinkFigures
from edgeft.wire import ResultMeta
from orchestrator.fidelity import transfer_s

# Seconds subtracted at most for a node's transfers when the scorer has no usable link figure
# for it: enough for a small adapter on loopback, too little to hide any real training time.
NO_LINK_ALLOWANCE_S = 0.05
TRANSFER_KINDS = ("pad_up", "adapter", "pad_down")  # in-task transfers the API times (one of each counts)


class RoundReject(Exception):
    """An upload the round will not take: HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Transfer:
    """One transfer the API timed: its bytes and wall seconds (request start to body complete)."""

    nbytes: int
    seconds: float


@dataclass
class NodeResult:
    meta: ResultMeta
    update: dict[str, torch.Tensor]
    received_at: float
    upload_bytes: int
    train_time_s: float = math.nan  # measured by the orchestrator (reported units); meta.train_time_s is the claim
    train_time_flagged: bool = False  # the claim is further from the measurement than the tolerance
    upload: Transfer | None = None  # the result's own upload as timed (measured again when link figures come)


def measured_train_time(handed_out: float, body_done: float, allowance_s: float, clock: Clock) -> float:
    """T_i as the orchestrator saw it: task hand-out to the result's body complete, less the
    transfer allowance (wall seconds), in reported units through the run's clock (never negative)."""
    return clock.to_reported(max(body_done - handed_out - allowance_s, 0.0))


def usable_link(link: LinkFigures | None) -> bool:
    """True when `link` can predict a transfer: a positive bandwidth and a known delay."""
    return link is not None and link.bandwidth_mbps > 0 and not math.isnan(link.delay_ms) and link.delay_ms >= 0


def transfer_allowance(
    result: Transfer, in_task: dict[str, Transfer], link: LinkFigures | None, count_trips: bool = True
) -> float:
    """Wall seconds of (hand-out, body complete) that were the node's transfers, not its training:
    each timed transfer capped by its prediction on `link` (wall figures, already dilated), plus
    the round trips the protocol needs when `count_trips` (the figures describe the real path).
    Without a usable link: the timed transfers, at most NO_LINK_ALLOWANCE_S."""
    if not usable_link(link):
        return min(result.seconds + sum(t.seconds for t in in_task.values()), NO_LINK_ALLOWANCE_S)
    rtt = link.delay_ms / 1000 if count_trips else 0.0
    # the task's delivery and the result's first bytes; slow start assumed (the window may have gone idle)
    allow = rtt + min(result.seconds, transfer_s(result.nbytes, link, fresh=True))
    if "pad_up" in in_task:  # its answer returns before the result is sent
        pad = in_task["pad_up"]
        allow += rtt + min(pad.seconds, transfer_s(pad.nbytes, link, fresh=True))
    downloads = [in_task[k] for k in ("adapter", "pad_down") if k in in_task]
    for down in downloads:  # the orchestrator -> node direction drops packets (fidelity.py)
        allow += rtt + min(down.seconds, transfer_s(down.nbytes, link, lossy=True))
    return allow + (rtt if downloads else 0.0)  # the sync's ack


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
    transfers: dict[str, dict[str, Transfer]] = field(default_factory=dict)  # node -> kind -> the one that counts
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

    def note_transfer(self, node_id: str, kind: str, nbytes: int, seconds: float, max_bytes: int) -> bool:
        """A transfer (`kind` of TRANSFER_KINDS) of a node that is computing this round, timed by
        the orchestrator; True if it counts: the first of its kind in the task, of at most
        `max_bytes` (the size the task asks for). Later ones, and parallel ones, count nothing."""
        if node_id not in self.expected or node_id not in self.delivered_at or node_id in self.results:
            return False
        held = self.transfers.setdefault(node_id, {})
        if kind in held or kind not in TRANSFER_KINDS:
            return False
        held[kind] = Transfer(min(max(nbytes, 0), max_bytes), max(seconds, 0.0))
        return True

    def in_task(self, node_id: str) -> dict[str, Transfer]:
        """The transfers that count inside the node's task (note_transfer)."""
        return self.transfers.get(node_id, {})

    def pending(self) -> set[str]:
        return self.expected - set(self.results) - set(self.failures)

    def _maybe_done(self) -> None:
        if not self.pending():
            self.done.set()
