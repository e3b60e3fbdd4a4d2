"""Enrolled nodes: identity, per-node credentials, status and task mailboxes.

A node's token is drawn at random when it first enrols (never derived from the run token,
which every node holds). Who may enrol as a given id is decided here too (`admit`): with a
provisioned list (orchestrator/credentials.py) only the holder of that id's secret; without
one (a local trial), the first party to enrol an id binds it, and only the holder of its
current node token may enrol it again."""

from __future__ import annotations

import asyncio
import hmac
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from edgeft.wire import Task, TaskKind
from orchestrator.credentials import Credentials


class NodeStatus(str, Enum):
    ENROLLED = "enrolled"
    ACTIVE = "active"
    ELIMINATED = "eliminated"
    FAILED = "failed"


# A node in the run: set up and not failed, whether it trains (ACTIVE) or is benched (ELIMINATED). Every engine
# sends these nodes the parameters, and a checkpoint's saved status ("active"/"eliminated": str values compare
# equal) is read against the same tuple.
LIVE_STATUSES = (NodeStatus.ACTIVE, NodeStatus.ELIMINATED)


@dataclass
class Node:
    node_id: str
    token: str
    compute_power: float
    device: str
    ip: str | None  # what its network figures are looked up by: its connection's or its provisioned address
    status: NodeStatus = NodeStatus.ENROLLED
    last_seen: float = field(default_factory=time.monotonic)
    mailbox: deque = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    synced: dict[int, str] = field(default_factory=dict)  # version -> digest the node reported
    acked_at: dict[int, float] = field(default_factory=dict)  # version -> wall time its acknowledgement arrived
    # the run's set-up (a resumed run's: its re-set-up; a rejoin is not timed), task queued to acknowledgement,
    # reported seconds; None: not set up
    setup_s: float | None = None
    epochs_trained: int = 0
    fail_reason: str = ""
    may_return: bool = False  # failed by silence (crash, cut link), not by sending something invalid
    declared_ip: str | None = None  # what the node said its IP was: recorded, never used to look anything up


class EnrolRefused(Exception):
    """An enrolment the registry will not take: `status` is the HTTP status, `message` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Registry:
    """All nodes of a run. Lives on the server's event loop; tasks are queued
    with `send` and handed out by the long-poll endpoint.

    `run_secret` is no longer used (node tokens are random, not derived from it); it is kept
    so that callers that pass it still work. `credentials`: the provisioned list, or None (a
    trial: ids are bound to their first holder). `capacity`: the most distinct ids that may
    enrol (nodes + spares; 0: no cap)."""

    def __init__(self, run_secret: str = "", credentials: Credentials | None = None, capacity: int = 0) -> None:
        self.credentials = credentials
        self.capacity = capacity
        self.nodes: dict[str, Node] = {}
        self.enrolled = asyncio.Event()
        self.expected = 0

    def admit(self, node_id: str, node_token: str | None) -> None:
        """Raise EnrolRefused unless `node_id` may be enrolled now by a caller that already
        passed the enrolment credential check. Without a provisioned list, a taken id needs
        its current node token (`node_token`, the client's X-Node-Token)."""
        node = self.nodes.get(node_id)
        if node is None:
            if self.capacity and len(self.nodes) >= self.capacity:
                raise EnrolRefused(
                    403, f"this run takes at most {self.capacity} nodes (nodes + enrolment.spares); all are enrolled"
                )
            return
        if node.status == NodeStatus.FAILED and not node.may_return:
            why = node.fail_reason or "an invalid upload"
            raise EnrolRefused(403, f"node '{node_id}' was failed for this run ({why}); it may not rejoin")
        if self.credentials is None and not hmac.compare_digest(node.token.encode(), _raw(node_token or "")):
            raise EnrolRefused(
                409,
                f"node id '{node_id}' is taken: only its holder may enrol it again (with its node token); "
                "pick another --node-id",
            )

    def enroll(
        self, node_id: str, compute_power: float, device: str, ip: str | None, declared_ip: str | None = None
    ) -> Node:
        """(Re-)enrol a node (call `admit` first). A node that comes back keeps its token and its
        status; the route re-admits one that had failed by silence."""
        node = self.nodes.get(node_id)
        if node is None:
            node = Node(node_id, secrets.token_hex(32), compute_power, device, ip, declared_ip=declared_ip)
            self.nodes[node_id] = node
        else:
            node.compute_power, node.device, node.ip, node.declared_ip = compute_power, device, ip, declared_ip
            node.mailbox.clear()
        node.last_seen = time.monotonic()
        if self.expected and len(self.nodes) >= self.expected:
            self.enrolled.set()
        return node

    def authenticate(self, node_id: str, token: str) -> Node | None:
        node = self.nodes.get(node_id)
        if node is None or not hmac.compare_digest(node.token.encode(), _raw(token)):
            return None
        node.last_seen = time.monotonic()
        return node

    def send(self, node: Node, task: Task) -> None:
        """Queue a task. The silence clock starts now at the latest: an idle node parked
        in a long poll sends no heartbeats, and a slow start (the first run pre-trains the
        base model for ~30 s) must not count as silence once work is handed out."""
        node.last_seen = max(node.last_seen, time.monotonic())
        if task.kind == TaskKind.SYNC:  # a node that is behind goes straight to the newest parameters
            stale = [t for t in node.mailbox if t.kind == TaskKind.SYNC]
            for t in stale:
                node.mailbox.remove(t)
        node.mailbox.append(task)
        node.wakeup.set()

    def by_status(self, *statuses: NodeStatus) -> list[Node]:
        return [n for n in sorted(self.nodes.values(), key=lambda n: n.node_id) if n.status in statuses]

    def silent_since(self, node: Node) -> float:
        return time.monotonic() - node.last_seen


def _raw(secret: str) -> bytes:
    """A presented secret as bytes: compare_digest refuses str with non-ASCII characters (a
    TypeError, i.e. a 500), and a header may carry any Latin-1 text."""
    return secret.encode("utf-8", "surrogateescape")
