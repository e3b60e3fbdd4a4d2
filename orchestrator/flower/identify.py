"""Who the SuperNodes are, and a Grid that answers sooner.

Flower gives each SuperNode a random id, new at every start, and no address; edgeft
knows nodes by name and IP (the controller's /v1/paths is keyed by IP). One
`query.identify` round maps one to the other from each node's --node-config."""

from __future__ import annotations

import logging
import time
from typing import Iterable

from flwr.app import ConfigRecord, Message, RecordDict
from flwr.serverapp import Grid

from edgeft import flower_contract as fc
from orchestrator.flower.node_book import FlowerNode

log = logging.getLogger(__name__)


def await_nodes(grid: Grid, expected: int, timeout_s: float) -> list[int]:
    """The ids of the connected SuperNodes once `expected` are there; a clear error after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        ids = list(grid.get_node_ids())
        if len(ids) >= expected:
            return ids
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {len(ids)} of {expected} SuperNodes connected within {timeout_s:.0f} s: start the missing "
                "flower-supernode processes, or lower the run's node count (run config 'nodes')"
            )
        time.sleep(0.5)


def identify(grid: Grid, expected: int, timeout_s: float = 120.0) -> list[FlowerNode]:
    """Ask every connected SuperNode who it is (`query.identify`)."""
    ids = await_nodes(grid, expected, timeout_s)
    msgs = [Message(RecordDict({fc.CONFIG: ConfigRecord({})}), dst_node_id=i, message_type=fc.IDENTIFY) for i in ids]
    nodes = []
    for reply in grid.send_and_receive(msgs, timeout=timeout_s):
        src = sender_of(grid, reply)
        if reply.has_error():
            log.warning("SuperNode %d did not identify itself (%s); it takes no part", src, reply.error.reason)
            continue
        about = reply.content.config_records.get(fc.NODE, ConfigRecord())
        figures = reply.content.metric_records.get(fc.NODE_FIGURES, {})
        if fc.NODE_ID not in about or fc.COMPUTE_POWER not in figures:
            log.warning(
                "SuperNode %d gave no %s/%s in its node config; it takes no part", src, fc.NODE_ID, fc.COMPUTE_POWER
            )
            continue
        ip = str(about.get(fc.NODE_IP, "")) or None
        nodes.append(FlowerNode(str(about[fc.NODE_ID]), src, ip, float(figures[fc.COMPUTE_POWER])))
    if not nodes:
        raise RuntimeError(
            "no SuperNode identified itself: is their ClientApp edgeft's (or does it answer query.identify)?"
        )
    log.info("identified %d SuperNodes: %s", len(nodes), ", ".join(sorted(n.node_id for n in nodes)))
    return nodes


def sender_of(grid: Grid, reply: Message) -> int:
    """The SuperNode a reply is about: the one its message went to (FastPollGrid knows), since a reply
    the SuperLink writes itself (the node went unavailable) comes from the SuperLink's own id."""
    sent_to = getattr(grid, "sent_to", {})
    return sent_to.get(reply.metadata.reply_to_message_id, reply.metadata.src_node_id)


class FastPollGrid:
    """A Grid whose send_and_receive polls for replies every `poll_s` instead of Flower's
    fixed 3 s, so a round ends when its last reply lands, not up to 3 s later. Everything
    else goes to the wrapped Grid. (The SuperNode's own 3 s idle poll is Flower's and stays.)"""

    def __init__(self, grid: Grid, poll_s: float = 0.2) -> None:
        self._grid, self._poll_s = grid, poll_s
        # message id -> the SuperNode it went to: a reply the SuperLink writes itself (the node
        # went offline) comes from node 1, and only this says whose it is.
        self.sent_to: dict[str, int] = {}
        # message id -> when its reply was pulled (wall clock): the end of the node's round trip as this
        # server saw it (the reply's own created_at is the node's clock)
        self.arrived_at: dict[str, float] = {}

    def __getattr__(self, name: str):
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> list[Message]:
        messages = list(messages)
        ids = list(self._grid.push_messages(messages))
        self.sent_to.update(zip(ids, (m.metadata.dst_node_id for m in messages)))
        pending = set(ids)
        end = time.monotonic() + timeout if timeout is not None else None
        replies: list[Message] = []
        while pending and (end is None or time.monotonic() < end):
            got = list(self._grid.pull_messages(pending))
            now = time.time()
            self.arrived_at.update((m.metadata.reply_to_message_id, now) for m in got)
            replies += got
            pending -= {m.metadata.reply_to_message_id for m in got}
            if pending:
                time.sleep(self._poll_s)
        return replies
