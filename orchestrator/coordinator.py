"""The run state the HTTP API and the epoch loop share: registry, artifacts,
the current round and traffic counters. It validates uploads; it does not
decide anything (that is epoch_loop's job).

Who changes what (read freely; change only through these methods):
- the epoch loop: `hand_out` (workload, partitions, aggregation weights),
  `open_round`, `advance` (the next adapter version), `finish`;
- resume: `restore_counters`, the same path a fresh run's state takes;
- the API: `accept_result` (an upload, handed to the open round's `accept`),
  `record_ack`, `note_transfer` (a timed in-task transfer), `count_in` / `count_out`;
- the epoch loop's network view: `note_links` (the figures the scorer has per node),
  which the measured training time's transfer allowance is predicted from.
Node status belongs to the registry, changed by the loop and the heartbeat."""

from __future__ import annotations

import logging
import time

from pydantic import ValidationError

from edgeft.wire import (
    Ack,
    Task,
    ResultMeta,
    WireError,
    bytes_to_tensors,
    check_tensors,
    decode_meta,
    sha256_hex,
    tensors_to_bytes,
)
from edgeft.link_figures import LinkFigures
from orchestrator.config import OrchestratorConfig
from orchestrator.registry import Node, Registry
from orchestrator.results import Recorder, wall_stamp
from orchestrator.rounds import (
    NodeResult,
    Round,
    RoundReject,
    Transfer,
    measured_train_time,
    train_time_flagged,
    transfer_allowance,
)
from orchestrator.workload import Workload, adapter_bytes

log = logging.getLogger(__name__)


class Coordinator:
    def __init__(self, cfg: OrchestratorConfig, registry: Registry, recorder: Recorder, run_token: str) -> None:
        self.cfg = cfg
        self.registry = registry
        self.recorder = recorder
        self.run_token = run_token
        self.workload: Workload | None = None
        self.partition_of: dict[str, int] = {}
        self.shares: dict[
            str, tuple[int, int]
        ] = {}  # node -> (samples, label tokens) handed out: the aggregation weights
        self.adapters: dict[int, tuple[bytes, str]] = {}
        self.adapter_ref: dict = {}
        self.version = 0
        self.round: Round | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.first_send: float | None = None
        self.finished = False
        self.max_upload = int(cfg.max_upload_mb * 2**20)
        self.links: dict[str, LinkFigures] = {}  # node -> the figures the scorer has (emulated units)

    # -- owned by the epoch loop ---------------------------------------------------
    def hand_out(self, workload: Workload, partition_of: dict[str, int]) -> None:
        """The run's model and data, and which node holds which partition; each node's
        share (samples, label tokens) is what it is weighed by, whatever it claims."""
        self.workload, self.partition_of = workload, dict(partition_of)
        parts = workload.partitions
        self.shares = {
            nid: (len(parts[i]), parts[i].ids.numel() - len(parts[i])) for nid, i in self.partition_of.items()
        }

    def open_round(self, rnd: Round) -> None:
        """From now on uploads go to `rnd` (and are refused for any other epoch or version)."""
        self.round = rnd

    def advance(self, adapter: dict) -> str:
        """The aggregated adapter becomes the next version; returns its digest."""
        self.version += 1
        return self.publish_adapter(adapter)

    def finish(self) -> None:
        self.finished = True

    def restore_counters(self, version: int, bytes_in: int, bytes_out: int) -> None:
        """A resumed run's version and traffic so far (orchestrator/resume.py)."""
        self.version, self.bytes_in, self.bytes_out = version, bytes_in, bytes_out

    def task(self, **fields) -> Task:
        """A task carrying the run's time model, so that every node keeps the same clock."""
        emulation = self.cfg.emulation
        return Task(dilation=emulation.k, gflops_per_power=emulation.gflops_per_power, **fields)

    # -- artifacts -----------------------------------------------------------------
    def publish_adapter(self, adapter: dict) -> str:
        """Make `adapter` downloadable as the next version; keep only recent versions."""
        data, digest = adapter_bytes(adapter)
        self.adapters[self.version] = (data, digest)
        self.adapter_ref = adapter
        for old in [v for v in self.adapters if v < self.version - 2]:
            del self.adapters[old]
        return digest

    def current_digest(self) -> str:
        return self.adapters[self.version][1]

    def partition_bytes(self, node: Node) -> bytes:
        assert self.workload is not None
        if node.node_id not in self.partition_of:
            raise RoundReject(409, f"node '{node.node_id}' has no data partition in this run")
        part = self.workload.partitions[self.partition_of[node.node_id]]
        return tensors_to_bytes({"input_ids": part.ids})

    def count_in(self, nbytes: int) -> None:
        self.bytes_in += nbytes

    def count_out(self, nbytes: int) -> None:
        self.bytes_out += nbytes
        if self.first_send is None:
            self.first_send = time.time()

    # -- uploads -------------------------------------------------------------------
    def accept_result(
        self,
        node: Node,
        meta_header: str | None,
        digest_header: str | None,
        body: bytes,
        arrived_at: float | None = None,
        upload_started: float | None = None,
    ) -> NodeResult:
        """Validate an uploaded gradient; raise RoundReject naming the problem. `arrived_at`: when
        its body was complete (the end of the node's measured window); `upload_started`: when the
        request began, which times the upload (capped by the link's prediction, never trusted)."""
        self.count_in(len(body))
        if self.round is None:
            raise RoundReject(409, "no training round is open")
        try:
            meta = ResultMeta.model_validate(decode_meta(meta_header))
        except (WireError, ValidationError) as exc:
            raise RoundReject(400, f"bad result metadata: {_short(exc)}") from None
        if meta.node_id != node.node_id:
            raise RoundReject(403, f"node '{node.node_id}' may only post its own results (meta says '{meta.node_id}')")
        self.round.check_upload(node.node_id, meta.epoch, meta.version)
        self._check_share(node.node_id, meta.samples, meta.tokens)
        try:
            if not digest_header or sha256_hex(body) != digest_header.lower():
                raise WireError("SHA-256 digest missing or does not match the body (corrupted or truncated upload)")
            update = bytes_to_tensors(body)
            check_tensors(update, self.adapter_ref)
        except WireError as exc:
            self.round.fail(node.node_id, f"invalid upload: {exc}")
            log.warning("rejected upload from %s: %s", node.node_id, exc)
            raise RoundReject(400, str(exc)) from None
        # The round trip ends when the body arrived, not after it was validated: validation is
        # the orchestrator's CPU, queued behind other uploads, and no part of the node's link.
        result = NodeResult(meta, update, arrived_at or time.time(), len(body))
        upload = Transfer(len(body), max(result.received_at - (upload_started or result.received_at), 0.0))
        self._measure(node.node_id, result, upload)
        self.round.accept(node.node_id, result)
        node.epochs_trained += 1
        return result

    def _measure(self, node_id: str, result: NodeResult, upload: Transfer, rnd: Round | None = None) -> None:
        """The node's training time as measured here (orchestrator/rounds.py), from task hand-out to
        the result's body complete less the transfer allowance its link figures give; flagged when
        its claim is off by more than the configured tolerance."""
        rnd, limits, clock = rnd or self.round, self.cfg.enrolment, self.cfg.emulation.clock
        result.upload = upload
        link = self.links.get(node_id)
        # the figures are emulated units; the wall clock runs slower (the run's Clock). Their round trips are
        # the real path's only when the links are shaped to them (Mininet) or measured (controller)
        real = self.cfg.emulation.emulated_links or self.cfg.metrics.source == "controller"
        wall = clock.to_wall_figures(link) if link is not None else None
        allowance = transfer_allowance(upload, rnd.in_task(node_id), wall, count_trips=real)
        result.train_time_s = measured_train_time(rnd.handed_out(node_id), result.received_at, allowance, clock)
        result.train_time_flagged = train_time_flagged(
            result.meta.train_time_s, result.train_time_s, limits.train_time_tolerance, limits.train_time_slack_s
        )
        if result.train_time_flagged:
            log.warning(
                "node %s declared a training time of %.3f s; measured %.3f s",
                node_id,
                result.meta.train_time_s,
                result.train_time_s,
            )

    def note_transfer(self, node: Node, kind: str, nbytes: int, seconds: float) -> bool:
        """A transfer the API timed (wall seconds, request start to body complete): inside a train
        task, the first of each kind (orchestrator/rounds.py TRANSFER_KINDS), of at most the bytes
        the task asks for, is allowed for in the node's measured training time. True if it counts."""
        if self.round is None:
            return False
        limit = self.cfg.model_pad()
        if kind == "adapter":
            limit = len(self.adapters.get(self.round.version, (b"",))[0])
        return self.round.note_transfer(node.node_id, kind, nbytes, seconds, limit)

    def note_links(self, links: dict[str, LinkFigures]) -> None:
        """The link figures the scorer has per node (the network view's snapshot, emulated units);
        the open round's results are measured again with them (the epoch loop calls this before
        it hands the measured times to the scorer)."""
        self.links.update(links)
        rnd = self.round
        if rnd is None:
            return
        for node_id, result in rnd.results.items():
            if node_id in links and result.upload is not None:
                self._measure(node_id, result, result.upload, rnd)

    def _check_share(self, node_id: str, samples: int, tokens: int) -> None:
        """A node reports the size of its share; the orchestrator knows what it handed out.
        A disagreement fails the node for the round: its weight is never what it claims."""
        if node_id not in self.shares:
            raise RoundReject(409, f"node '{node_id}' has no data partition in this run")
        want = self.shares[node_id]
        if (samples, tokens) != want:
            reason = f"result claims {samples} samples / {tokens} tokens; its partition has {want[0]} / {want[1]}"
            self.round.fail(node_id, f"invalid upload: {reason}")
            log.warning("rejected upload from %s: %s", node_id, reason)
            raise RoundReject(400, reason)

    def weight(self, node_id: str) -> int:
        """Aggregation weight: the label tokens of the partition handed out to the node."""
        return self.shares[node_id][1]

    def record_ack(self, node: Node, ack: Ack) -> bool:
        """A node holds `ack.version`; True if its digest is the orchestrator's. At most one syncs.csv
        row per (node, version), the first: a repeat adds nothing, another digest for a version
        already acknowledged is logged as a warning, not recorded (nor does it replace the first)."""
        if ack.node_id != node.node_id:
            raise RoundReject(403, f"node '{node.node_id}' may only acknowledge for itself")
        expected = self.adapters.get(ack.version, (b"", None))[1]
        if expected is None:
            raise RoundReject(409, f"version {ack.version} is not known (current {self.version})")
        match = ack.digest == expected
        held = node.synced.get(ack.version)
        if held is not None:  # one row per (node, version): the first claim stands
            if held != ack.digest:
                log.warning(
                    "node %s acknowledged v%d again with another digest (%s, first %s): not recorded",
                    node.node_id,
                    ack.version,
                    ack.digest[:12],
                    held[:12],
                )
            return match
        node.synced[ack.version] = ack.digest
        node.acked_at[ack.version] = now = time.time()
        if not match:
            log.error("node %s holds a different adapter for v%d", node.node_id, ack.version)
        row = (node.node_id, ack.version)
        if row in self.recorder.synced_rows:  # a resumed run's set-up acks its version again: already a row
            return match
        self.recorder.synced_rows.add(row)
        self.recorder.syncs.write(
            {
                "node_id": node.node_id,
                "version": ack.version,
                "digest": ack.digest,
                "matches_orchestrator": match,
                "at": wall_stamp(now),
            }
        )
        return match


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        return f"field '{'.'.join(map(str, e['loc']))}': {e['msg']}"
    return str(exc)
