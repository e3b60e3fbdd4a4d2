"""NetworkAwareFedAvg: Flower's FedAvg (Message API, flwr 1.42) with edgeft's node
selection. Every round it asks edgeft's own policies (ne, ne_plus, ar, random,
fedcs, oort, tifl, ...; orchestrator/flower/node_book.py) which nodes train, sends
train messages only to them and the new parameters (`train.sync`) to the benched
ones, and combines the updates with edgeft's weighted mean. Network figures come
from the SDN controller's /v1/paths or a static file; compute power and training
time from the nodes (edgeft/flower_contract.py). Each round moves one message per
live node; after the last one every live node gets the final parameters
(`evaluate`) and reports their digest.

Updates are combined by the same guarded round as `edgeft orchestrator`'s
(orchestrator/aggregation.py, through NodeBook.aggregate): the norm bound, the config's
`updates.aggregation` rule, the rollback of a non-finite round; the nodes responsible
are failed and named in summary.json. The weights are the ones the ServerApp handed
out; without them a node's own token claim, capped at the round's lower-median claim
(`round_weights` in orchestrator/flower/node_book.py), so a claim buys no more weight
than a typical node's.

Usage, in a ServerApp (docs/flower.md "From Flower"):

    strategy = NetworkAwareFedAvg(policy="ne", controller_url="http://10.0.0.254:8080", rounds=10)
    result = strategy.start(grid=grid, initial_arrays=arrays, num_rounds=10)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from typing import Callable, Iterable

import torch
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, Result

from edgeft import flower_contract as fc
from edgeft.wire import state_digest
from orchestrator.aggregation import Replace, ServerOptimizer, Stepper
from orchestrator.config import OrchestratorConfig
from orchestrator.flower.identify import identify, sender_of
from orchestrator.flower.records import FlowerRecorder
from orchestrator.flower.node_book import FlowerNode, NodeBook, RoundSummary, round_weights
from orchestrator.network_view import build_metrics
from orchestrator.registry import NodeStatus

log = logging.getLogger(__name__)

Tensors = dict[str, torch.Tensor]


def strategy_config(
    base: OrchestratorConfig | None = None,
    policy: str | None = None,
    rounds: int | None = None,
    controller_url: str | None = None,
    metrics_file: str | None = None,
    orchestrator_ip: str | None = None,
) -> OrchestratorConfig:
    """The run's validated config: `base` (or the defaults) with the strategy's arguments on
    top; a bad value is a ValueError naming the field (pydantic)."""
    data = (base or OrchestratorConfig()).model_dump()
    if policy is not None:
        data["policy"] = policy
    if rounds is not None:
        data["training"]["epochs"] = rounds
    if controller_url:
        data["metrics"].update(source="controller", controller_url=controller_url)
    elif metrics_file:
        data["metrics"].update(source="static", static_file=metrics_file)
    if orchestrator_ip:
        data["metrics"]["orchestrator_ip"] = orchestrator_ip
    return OrchestratorConfig.model_validate(data)


class NetworkAwareFedAvg(FedAvg):
    """FedAvg whose train phase goes to the nodes edgeft's policy chooses (module docstring)."""

    def __init__(
        self,
        policy: str | None = None,
        *,
        rounds: int | None = None,
        controller_url: str | None = None,
        metrics_file: str | None = None,
        orchestrator_ip: str | None = None,
        config: OrchestratorConfig | None = None,
        nodes: list[FlowerNode] | None = None,
        weights: dict[str, int] | None = None,
        evaluate_loss: Callable[[Tensors], float] | None = None,
        out_dir: str | None = None,
        train_config: dict | None = None,
        expected_nodes: int | None = None,
    ) -> None:
        """`policy`: an edgeft policy name (default: the config's, NE); `nodes`: the run's
        nodes if the ServerApp already identified them (else the first round asks every
        connected SuperNode); `weights`: each node's aggregation weight as handed out
        (edgeft's own ClientApp), else the label tokens (or samples) a node reports, each
        capped at the round's lower-median claim;
        `evaluate_loss`: the server-side validation loss of a parameter set;
        `expected_nodes`: how many SuperNodes to wait for before the first round (default:
        the config's `nodes`)."""
        super().__init__(fraction_evaluate=0.0, min_available_nodes=1, min_train_nodes=1)
        self.cfg = strategy_config(config, policy, rounds, controller_url, metrics_file, orchestrator_ip)
        self.metrics = build_metrics(self.cfg)
        self.nodes, self.weights, self.evaluate_loss = nodes, weights or {}, evaluate_loss
        self.out_dir, self.train_config = out_dir or self.cfg.out_dir, dict(train_config or {})
        self.grid: Grid | None = None
        self.book: NodeBook | None = None
        self.recorder: FlowerRecorder | None = None
        self.optimizer: ServerOptimizer | None = None
        self.version, self.num_rounds = 0, self.cfg.training.epochs
        self.round_started, self.first_sent, self.last_round_end = 0.0, 0.0, 0.0
        self.expected_nodes = expected_nodes or self.cfg.nodes
        self.expected: list[str] = []
        self.final_digests: dict[str, str] = {}
        self.val_loss = math.nan
        self.current_digest = ""
        self.run_facts: dict = {}  # what the ServerApp knows about the run (pre-training loss, ...)
        self.summary_dict: dict = {}
        self.params: Tensors | None = None  # the global parameters after the last round

    # -- Flower's Strategy interface ---------------------------------------------------------

    def start(self, grid: Grid, initial_arrays: ArrayRecord, num_rounds: int = 3, **kwargs) -> Result:
        """Flower's loop, then the run's summary in the run folder."""
        if num_rounds != self.cfg.training.epochs:  # NE's elimination count depends on the number of rounds
            self.cfg = self.cfg.model_copy(
                update={"training": self.cfg.training.model_copy(update={"epochs": num_rounds})}
            )
        self.num_rounds = num_rounds
        self.grid = grid
        self._begin(grid, initial_arrays)
        result = super().start(grid, initial_arrays, num_rounds=num_rounds, **kwargs)
        self.summary_dict = self._finish()
        return result

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        epoch = server_round - 1
        trainers = self.book.by_status(NodeStatus.ACTIVE)
        benched = self.book.by_status(NodeStatus.ELIMINATED)
        self.expected = [n.node_id for n in trainers]
        cfg = ConfigRecord({**self.train_config, **dict(config), "server-round": server_round, "epoch": epoch})
        self.round_started = time.time()
        self.first_sent = self.first_sent or self.round_started
        out = [self._message(n, fc.TRAIN, arrays, cfg) for n in trainers]
        out += [self._message(n, fc.SYNC, arrays, ConfigRecord({"version": self.version})) for n in benched]
        log.info("round %d: %d train, %d take the parameters only", server_round, len(trainers), len(benched))
        return out

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """Aggregate through the epoch core, let it decide and record (orchestrator/epoch_core.py)."""
        self.last_round_end = time.time()
        epoch, round_s = server_round - 1, self.last_round_end - self.round_started
        reports, updates, failures = self._read_replies(list(replies))
        if not reports:
            raise RuntimeError(f"no node delivered a valid result in round {server_round}: {failures}")
        ids = sorted(reports)
        weights = round_weights(self.weights, {nid: reports[nid].tokens for nid in ids})  # claims capped
        outcome = self.book.aggregate(
            epoch, {nid: updates[nid][0] for nid in ids}, weights, self._stepper(updates[ids[0]][1]), self.evaluate_loss
        )
        for index, reason in outcome.failed().items():
            failures[ids[index]] = reason
            del reports[ids[index]]
        new, self.val_loss = outcome.params, outcome.val_loss
        self.params = new
        self.version += 1
        transfer = sum(tensor.numel() * tensor.element_size() for tensor in new.values())
        digest = state_digest(new)
        produced = RoundSummary(
            self.expected, failures, self.version, digest, self.val_loss, self.cfg.emulation.clock.to_reported(round_s)
        )
        choice = self.book.decide(epoch, reports, self.round_started, transfer, produced)
        self.recorder.epoch(choice)
        self.current_digest = digest
        return ArrayRecord(new), MetricRecord({"val-loss": self.val_loss, "active": len(self.expected)})

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        """Only after the last round: the final parameters to every live node."""
        if server_round < self.num_rounds:
            return []
        return [self._message(n, fc.FINAL, arrays, ConfigRecord({"version": self.version})) for n in self.book.live()]

    def aggregate_evaluate(self, server_round: int, replies: Iterable[Message]) -> MetricRecord | None:
        for msg in replies:
            node = self._sender(msg)
            if node is None or msg.has_error():
                continue
            self.final_digests[node.node_id] = self._held_digest(node, msg)
        return MetricRecord({"final-digests": len(self.final_digests)})

    def summary(self) -> None:
        log.info("NetworkAwareFedAvg: policy %s, %d nodes", self.cfg.policy, len(self.book.nodes) if self.book else 0)

    # -- edgeft's parts ----------------------------------------------------------------------

    def _begin(self, grid: Grid, arrays: ArrayRecord) -> None:
        nodes = self.nodes if self.nodes is not None else identify(grid, expected=self.expected_nodes)
        self.book = NodeBook(self.cfg, nodes, self.metrics)
        self.recorder = FlowerRecorder(self.out_dir, self.cfg, self.book)
        self.current_digest = state_digest(arrays.to_torch_state_dict())
        self.initial = arrays

    def _message(self, node: FlowerNode, kind: str, arrays: ArrayRecord, cfg: ConfigRecord) -> Message:
        content = RecordDict({fc.ARRAYS: arrays, fc.CONFIG: cfg})
        return Message(content=content, dst_node_id=node.flower_id, message_type=kind)

    def _read_replies(self, replies: list[Message]) -> tuple[dict, dict, dict[str, str]]:
        """Train reports and updates by node; a node that sent an error, nothing or nonsense
        has failed (it gets no more messages)."""
        reports, updates, failures = {}, {}, {}
        for msg in replies:
            node = self._sender(msg)
            if node is None:
                continue
            if msg.metadata.message_type == fc.SYNC:
                if not msg.has_error():
                    self.recorder.sync(node.node_id, self.version, self._held_digest(node, msg), self.current_digest)
                continue
            try:
                reports[node.node_id], updates[node.node_id] = self._read_train(msg)
            except (ValueError, KeyError) as exc:
                failures[node.node_id] = str(exc)[:300]
        for nid in self.expected:
            if nid not in reports and nid not in failures:
                failures[nid] = "no reply within the round timeout (crashed, cut off or too slow)"
        for nid, reason in failures.items():
            self.book.fail(nid, reason)
        return reports, updates, failures

    def _sender(self, msg: Message) -> FlowerNode | None:
        """The node a reply is about; the SuperLink answers for a node that went offline
        (source 1), and the message it answers says which node that was."""
        return self.book.by_flower_id(sender_of(self.grid, msg))

    def _read_train(self, msg: Message) -> tuple[fc.TrainReport, tuple[Tensors, str]]:
        if msg.has_error():
            raise ValueError(f"the ClientApp failed: {msg.error.reason}")
        content = msg.content
        kind = fc.UPDATE if fc.UPDATE in content.array_records else fc.ARRAYS
        if kind not in content.array_records:
            raise ValueError(f"train reply has no ArrayRecord '{fc.UPDATE}' or '{fc.ARRAYS}'")
        metrics = content.metric_records.get(fc.METRICS)
        if metrics is None:
            raise ValueError(f"train reply has no MetricRecord '{fc.METRICS}'")
        report = fc.TrainReport.parse(dict(metrics), msg.metadata.created_at)
        # When the reply was pulled, as this server saw it; the message's own stamp is the node's clock.
        pulled = getattr(self.grid, "arrived_at", {}).get(msg.metadata.reply_to_message_id)
        if pulled is not None:
            report = dataclasses.replace(report, finished_at=pulled)
        return report, (content.array_records[kind].to_torch_state_dict(), kind)

    def _stepper(self, kind: str) -> Stepper:
        """An update goes through the server optimizer (edgeft's rule); parameters (a plain
        ClientApp's reply) become the aggregate itself, as in FedAvg."""
        if kind != fc.UPDATE:
            return Replace(self._global())
        if self.optimizer is None:
            t = self.cfg.training
            self.optimizer = ServerOptimizer(self._global(), t.server_optimizer, t.server_lr)
        return self.optimizer

    def _global(self) -> Tensors:
        if self.optimizer:
            return self.optimizer.state()
        return self.params if self.params is not None else self.initial.to_torch_state_dict()

    def _held_digest(self, node: FlowerNode, msg: Message) -> str:
        held = msg.content.config_records.get(fc.HELD)
        return str(held[fc.DIGEST]) if held and fc.DIGEST in held else ""

    def _finish(self) -> dict:
        # As edgeft's: from the first round's messages to the last round's aggregate (the final
        # parameters' delivery after it is not part of the completion time).
        completion = self.cfg.emulation.clock.to_reported(self.last_round_end - self.first_sent)
        nodes = self.book.nodes.values()
        missing = {
            n.node_id: "no final digest"
            for n in self.book.live()
            if self.final_digests.get(n.node_id) != self.current_digest
        }
        summary = {
            "engine": "flower",
            "policy": self.cfg.policy,
            "nodes": len(self.book.nodes),
            "epochs": self.num_rounds,
            "seed": self.cfg.seed,
            "completion_time_s": completion,
            "final_val_loss": self.val_loss,
            "final_version": self.version,
            "final_adapter_digest": self.current_digest,
            "active_at_end": sum(n.status == NodeStatus.ACTIVE for n in nodes),
            "eliminated_at_end": sum(n.status == NodeStatus.ELIMINATED for n in nodes),
            "failed": sum(n.status == NodeStatus.FAILED for n in nodes),
            "metrics_source": self.cfg.metrics.source,
            "readmissions": self.book.readmissions,
            "final_sync_missing": missing,
            "failed_nodes": {n.node_id: n.fail_reason for n in nodes if n.status == NodeStatus.FAILED},
            "refused_updates": self.book.refused,
            "rolled_back_epochs": self.book.rolled_back,
            **self.run_facts,
        }
        return self.recorder.finish(summary, self.final_digests, self.current_digest)
