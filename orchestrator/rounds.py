"""One training round: which nodes owe a result, what arrived, who failed.

Late (previous epoch), duplicate and replayed uploads are refused here, so an
update can never be aggregated twice.
"""

from __future__ import annotations

import asyncio
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

    def pending(self) -> set[str]:
        return self.expected - set(self.results) - set(self.failures)

    def _maybe_done(self) -> None:
        if not self.pending():
            self.done.set()
