"""Enrolled nodes: identity, per-node credentials, status and task mailboxes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from edgeft.wire import Task, TaskKind


class NodeStatus(str, Enum):
    ENROLLED = "enrolled"
    ACTIVE = "active"
    ELIMINATED = "eliminated"
    FAILED = "failed"


@dataclass
class Node:
    node_id: str
    token: str
    compute_power: float
    device: str
    ip: str | None
    status: NodeStatus = NodeStatus.ENROLLED
    last_seen: float = field(default_factory=time.monotonic)
    mailbox: deque = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    synced: dict[int, str] = field(default_factory=dict)  # version -> digest the node reported
    epochs_trained: int = 0
    fail_reason: str = ""
    may_return: bool = False  # failed by silence (crash, cut link), not by sending something invalid


class Registry:
    """All nodes of a run. Lives on the server's event loop; tasks are queued
    with `send` and handed out by the long-poll endpoint."""

    def __init__(self, run_secret: str) -> None:
        self._secret = run_secret.encode()
        self.nodes: dict[str, Node] = {}
        self.enrolled = asyncio.Event()
        self.expected = 0

    def node_token(self, node_id: str) -> str:
        return hmac.new(self._secret, node_id.encode(), hashlib.sha256).hexdigest()

    def enroll(self, node_id: str, compute_power: float, device: str, ip: str | None) -> Node:
        """(Re-)enrol a node. A node that comes back keeps its status unless it had failed,
        in which case it re-syncs and becomes eligible again."""
        node = self.nodes.get(node_id)
        if node is None:
            node = Node(node_id, self.node_token(node_id), compute_power, device, ip)
            self.nodes[node_id] = node
        else:
            node.compute_power, node.device, node.ip = compute_power, device, ip
            node.mailbox.clear()
        node.last_seen = time.monotonic()
        if self.expected and len(self.nodes) >= self.expected:
            self.enrolled.set()
        return node

    def authenticate(self, node_id: str, token: str) -> Node | None:
        node = self.nodes.get(node_id)
        if node is None or not hmac.compare_digest(node.token, token):
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
