"""The epoch loop: seed paper Algorithm 1, with any selection policy.

Per epoch: every active node trains on the current adapter version; the
orchestrator waits for all of them (up to a deadline; a silent or invalid node
is marked failed and the run goes on), scores them, lets the policy choose who
trains next (NE: eliminate the weakest; others may bench and re-admit),
aggregates the received gradients, measures the validation loss and sends the
new parameters to ALL live nodes, benched ones included, so any can rejoin.

Aggregation is guarded (orchestrator/aggregation.py, the Flower strategy's path too):
an update over the round's norm bound is refused, a round whose parameters or
validation loss are not finite is rolled back, and the nodes responsible are failed
for the run and named in summary.json (`failed_nodes`, `refused_updates`). A round
that no subset of its updates makes finite blames nobody: the run is aborted with
that reason (RunAborted, exit 1), no node failed. The training time the scorer uses
is the one measured here (orchestrator/rounds.py).
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
from tqdm import tqdm

from edgeft.modeling import load_adapter_state
from edgeft.wire import TaskKind
from orchestrator import fairness
from orchestrator.aggregation import RoundDiverged, RoundOutcome, ServerOptimizer
from orchestrator.coordinator import Coordinator
from orchestrator.epoch_core import EpochCore, EpochRecord, NodeRoundResult, RoundInput
from orchestrator.network_view import MetricsSource, NetworkView
from orchestrator.policies import SCHEDULED_POLICIES
from orchestrator.registry import LIVE_STATUSES, Node, NodeStatus
from orchestrator.resume import live_nodes, restore_state, restore_statuses, save_checkpoint
from orchestrator.rounds import Round
from orchestrator.run_fidelity import summary_columns, write_fidelity
from orchestrator.run_state import RunState
from orchestrator.scenario import ScenarioMetrics
from orchestrator.workload import build_workload

log = logging.getLogger(__name__)


class RunAborted(RuntimeError):
    """The run cannot go on (no node left, none enrolled); the message says why."""


async def run(coord: Coordinator, metrics: MetricsSource, resume: dict | None = None) -> dict:
    """The whole run; `resume` is a checkpoint (orchestrator/resume.py) to continue from."""
    cfg = coord.cfg
    nodes = await _await_enrolment(coord, len(live_nodes(resume)) if resume else cfg.nodes, fresh=resume is None)
    total = resume["total_nodes"] if resume else len(nodes)
    try:
        workload = await asyncio.to_thread(build_workload, cfg, total)
    except (ValueError, OSError) as exc:  # bad dataset/model settings: say which, do not trace back
        raise RunAborted(f"cannot prepare model and data: {exc}") from None
    first_parts = {node.node_id: index for index, node in enumerate(nodes)}
    coord.hand_out(workload, resume["partition_of"] if resume else first_parts)
    nodes = [node for node in nodes if node.node_id in coord.partition_of]  # on resume, strangers have no data
    state = _new_state(coord, nodes, total, NetworkView(metrics))
    if resume:
        restore_state(coord, state, resume)
    coord.publish_adapter(state.opt.state())
    pad_nodes = len(nodes)  # the set-up padding's data share is the enrolled nodes', as before any choice
    if not resume:  # a resumed run's set is the checkpoint's (a node left out then is not in it)
        chosen = state.core.choose_setup(nodes, setup_download_bytes(coord, nodes[0], pad_nodes))
        nodes = [node for node in nodes if node.node_id in chosen]
    before_setup = coord.bytes_out  # a resumed run's counters already hold the bytes before the resume
    await _setup_nodes(coord, nodes, pad_nodes)
    state.setup_bytes_out = coord.bytes_out - before_setup
    if resume:
        restore_statuses(coord, resume)
    val_loss = resume["val_loss"] if resume else coord.workload.pre_training_loss
    start = resume["epoch"] + 1 if resume else 0
    bar = tqdm(range(start, cfg.training.epochs), desc=f"{cfg.policy.upper()} epochs", unit="epoch", disable=None)
    for epoch in bar:
        val_loss = await _epoch(coord, state, epoch)
        save_checkpoint(coord, state, epoch, val_loss)
        active = coord.registry.by_status(NodeStatus.ACTIVE)
        bar.set_postfix(
            active=len(active),
            eliminated=len(coord.registry.by_status(NodeStatus.ELIMINATED)),
            val_loss=f"{val_loss:.3f}",
        )
    completion = state.elapsed_s(coord.first_send, cfg.emulation.clock)
    missing = await _final_sync(coord)
    return _finish(coord, state, completion, val_loss, missing)


def _new_state(coord: Coordinator, nodes: list[Node], total: int, network: NetworkView) -> RunState:
    cfg, parts = coord.cfg, coord.workload.partitions
    opt = ServerOptimizer(coord.workload.adapter(), cfg.training.server_optimizer, cfg.training.server_lr)
    samples = {node.node_id: len(parts[coord.partition_of[node.node_id]]) for node in nodes}
    core = EpochCore(cfg, samples, network, sum(len(part) for part in parts), total)
    if cfg.scenario and cfg.metrics.source == "static":  # with a controller, the runner changes the real links
        core.network = NetworkView(ScenarioMetrics(network.source, core.scenario))
    return RunState(core, opt)


async def _await_enrolment(coord: Coordinator, expected: int, fresh: bool = True) -> list[Node]:
    cfg, registry = coord.cfg, coord.registry
    registry.expected = expected
    if len(registry.nodes) >= expected:
        registry.enrolled.set()
    try:
        await asyncio.wait_for(registry.enrolled.wait(), timeout=cfg.timeouts.enroll_s)
    except asyncio.TimeoutError:
        log.warning(
            "only %d of %d nodes enrolled within %.0f s; going on with them",
            len(registry.nodes),
            expected,
            cfg.timeouts.enroll_s,
        )
    nodes = sorted(registry.nodes.values(), key=lambda node: node.node_id)
    if not nodes:
        raise RunAborted(
            f"no edge node enrolled within timeouts.enroll_s={cfg.timeouts.enroll_s}; start clients with `edgeft edge`"
        )
    if fresh and cfg.policy in SCHEDULED_POLICIES and len(nodes) <= cfg.training.epochs:
        raise RunAborted(
            f"only {len(nodes)} nodes enrolled but policy '{cfg.policy}' needs more than epochs={cfg.training.epochs}"
        )
    return nodes


def setup_download_bytes(coord: Coordinator, node: Node, total: int) -> int:
    """What one node downloads in its set-up: the base bundle (distribution `transfer`), its partition,
    adapter v0 and the set-up padding (paper volumes): what a policy that chooses who is set up ranks by."""
    base = coord.workload.base_bundle
    adapter = coord.adapters[coord.version][0]
    return (len(base) if base else 0) + len(coord.partition_bytes(node)) + len(adapter) + coord.cfg.setup_pad(total)


async def _setup_nodes(coord: Coordinator, nodes: list[Node], pad_nodes: int) -> None:
    """Send base model, partition and adapter v0 to every node set up; wait for their acks. `pad_nodes`:
    the nodes the set-up padding's data share is split among (paper volumes)."""
    sent = {}
    for node in nodes:
        sent[node.node_id] = time.time()
        coord.registry.send(
            node,
            coord.task(
                kind=TaskKind.SETUP,
                version=coord.version,
                pad_down=coord.cfg.setup_pad(pad_nodes),
                batch_size=coord.cfg.training.batch_size,
            ),
        )  # the warm-up's batch
    ready = await _await_acks(coord, nodes, coord.version, coord.cfg.wall_timeouts().round_s)
    for node in nodes:
        if node.node_id in ready:
            node.status = NodeStatus.ACTIVE
            # measured, not configured: what the per-node set-up model (fidelity, simulator) is checked against
            node.setup_s = coord.cfg.emulation.clock.to_reported(node.acked_at[coord.version] - sent[node.node_id])
        else:
            _mark_failed(node, "did not finish set-up in time")
    if not ready:
        raise RunAborted("no node finished set-up (download of model and partition); see the client logs")


async def _await_acks(coord: Coordinator, nodes: list[Node], version: int, timeout: float) -> set[str]:
    deadline = time.monotonic() + timeout
    silence_limit = coord.cfg.wall_timeouts().heartbeat_timeout_s
    waiting = {node.node_id: node for node in nodes}
    while True:
        done = {nid for nid, node in waiting.items() if version in node.synced}
        silent = {
            nid
            for nid, node in waiting.items()
            if nid not in done and coord.registry.silent_since(node) > silence_limit
        }
        if len(done) + len(silent) == len(waiting) or time.monotonic() > deadline:
            return done
        await asyncio.sleep(0.05)


async def _epoch(coord: Coordinator, state: RunState, epoch: int) -> float:
    """One round over HTTP, then the epoch core decides and records; returns the validation loss."""
    cfg, registry = coord.cfg, coord.registry
    active = registry.by_status(NodeStatus.ACTIVE)
    if not active:
        raise RunAborted(f"no active node left at epoch {epoch}: every node failed; see nodes.csv")
    if isinstance(state.core.network.source, ScenarioMetrics):
        state.core.network.source.epoch = epoch
    round_ = Round(epoch, coord.version, {node.node_id for node in active})
    coord.open_round(round_)
    _send_train_tasks(coord, state, round_, active)
    await _await_round(coord, round_)
    for nid, reason in round_.failures.items():
        _mark_failed(registry.nodes[nid], reason, may_return=nid in round_.silent)
    if not round_.results:
        raise RunAborted(f"no node delivered a valid result in epoch {epoch}: {round_.failures}")
    round_done = time.time()
    outcome = await _aggregate(coord, state, round_)
    transfer = len(coord.adapters[coord.version][0]) + cfg.model_pad()  # what the next epoch moves each way
    digest = coord.advance(outcome.params)
    nodes = sorted(registry.nodes.values(), key=lambda node: node.node_id)
    figures = state.core.snapshot(nodes)
    coord.note_links({nid: path.link for nid, path in figures.items()})  # T_i measured again with them
    clock = cfg.emulation.clock
    round_input = RoundInput(
        epoch,
        sorted(round_.expected),
        node_results(coord, round_, round_done),
        dict(round_.failures),
        coord.version,
        digest,
        outcome.val_loss,
        clock.since(round_.started_at),
        transfer,
        round_span_s=clock.to_reported(round_done - round_.started_at),
    )
    try:
        record = state.core.close_epoch(round_input, nodes, figures)
    except ValueError as exc:  # e.g. a policy that chose nobody
        raise RunAborted(str(exc)) from None
    for node in registry.by_status(*LIVE_STATUSES):
        registry.send(node, coord.task(kind=TaskKind.SYNC, version=coord.version, pad_down=cfg.model_pad()))
    _write_epoch(coord, record)
    return outcome.val_loss


def _send_train_tasks(coord: Coordinator, state: RunState, round_: Round, active: list[Node]) -> None:
    cfg, training = coord.cfg, coord.cfg.training
    for node in active:
        coord.registry.send(
            node,
            coord.task(
                kind=TaskKind.TRAIN,
                epoch=round_.epoch,
                version=coord.version,
                local_steps=training.local_steps,
                local_lr=training.local_lr,
                batch_size=training.batch_size,
                seed=cfg.seed * 100_003 + round_.epoch,
                pad_up=cfg.model_pad(),
                emulated_compute=state.core.scenario.compute_power(node.node_id, round_.epoch),
            ),
        )


def node_results(coord: Coordinator, round_: Round, round_done: float) -> dict[str, NodeRoundResult]:
    """The round's results that counted, as the epoch core takes them (reported seconds);
    `round_done`: the wall clock when the last result arrived."""
    clock, out = coord.cfg.emulation.clock, {}
    for nid in sorted(round_.results):
        result = round_.results[nid]
        meta, trip = result.meta, clock.to_reported(result.received_at - round_.started_at)
        out[nid] = NodeRoundResult(
            nid,
            meta.loss,
            meta.samples,
            meta.tokens,
            meta.work_gflop,
            result.train_time_s,  # measured here, not the node's claim (orchestrator/rounds.py)
            trip,
            coord.weight(nid),  # handed out, not claimed
            declared_train_time_s=meta.train_time_s,
            train_time_flagged=result.train_time_flagged,
            compute_wall_s=meta.compute_wall_s,
            timing={
                "download_s": meta.download_s,
                "upload_s": max(trip - meta.download_s - meta.compute_wall_s, 0.0),
                "waiting_s": clock.to_reported(max(round_done - result.received_at, 0.0)),
            },
        )
    return out


async def _aggregate(coord: Coordinator, state: RunState, round_: Round) -> RoundOutcome:
    """The round's updates through the core's guarded aggregation (orchestrator/aggregation.py);
    a refused update, or one that made the round non-finite, fails its node for the run. A
    non-finite round with no one to blame aborts the run (RunAborted naming the epoch)."""
    ids = sorted(round_.results)

    def evaluate(params: dict) -> float:
        load_adapter_state(coord.workload.model, params)
        return coord.workload.val_loss()

    try:
        outcome, failed = await asyncio.to_thread(
            state.core.aggregate,
            round_.epoch,
            {nid: round_.results[nid].update for nid in ids},
            {nid: coord.weight(nid) for nid in ids},  # handed out, not claimed
            state.opt,
            evaluate,
        )
    except RoundDiverged as exc:  # no node to blame: stop with the reason rather than fail honest nodes
        raise RunAborted(f"epoch {round_.epoch}: {exc}") from None
    if outcome.rolled_back:
        log.error("epoch %d: the aggregate was not finite; rolled back to the previous parameters", round_.epoch)
    for nid, reason in failed.items():
        round_.refuse(nid, reason)
        node = coord.registry.nodes[nid]
        node.epochs_trained -= 1  # its update did not count
        _mark_failed(node, reason, may_return=False)
    return outcome


async def _await_round(coord: Coordinator, round_: Round) -> None:
    """Wait for every expected result, failing nodes that go silent or miss the deadline."""
    limits = coord.cfg.wall_timeouts()
    deadline = time.monotonic() + limits.round_s
    while not round_.done.is_set():
        try:
            await asyncio.wait_for(round_.done.wait(), timeout=0.25)
        except asyncio.TimeoutError:
            pass
        for nid in list(round_.pending()):
            if coord.registry.silent_since(coord.registry.nodes[nid]) > limits.heartbeat_timeout_s:
                round_.fail(
                    nid,
                    f"no heartbeat for {limits.heartbeat_timeout_s:.0f} s of wall time (crashed or cut off)",
                    silent=True,
                )
            elif time.monotonic() > deadline:
                round_.fail(nid, f"missed the round deadline of {limits.round_s:.0f} s of wall time", silent=True)


def _mark_failed(node: Node, reason: str, may_return: bool = False) -> None:
    node.status = NodeStatus.FAILED
    node.fail_reason, node.may_return = reason, may_return
    log.warning("node %s failed: %s", node.node_id, reason)


def _write_epoch(coord: Coordinator, record: EpochRecord) -> None:
    """The epoch's rows, with the byte counters only this engine has, as they stand now."""
    coord.recorder.epochs.write({**record.epoch_row, "bytes_in": coord.bytes_in, "bytes_out": coord.bytes_out})
    for row in record.node_rows:
        coord.recorder.node_epochs.write(row)


async def _final_sync(coord: Coordinator) -> dict[str, str]:
    """Let every live node (eliminated ones too) fetch the final parameters so all hold the
    same model; returns the nodes that did not acknowledge them, and why."""
    nodes = coord.registry.by_status(*LIVE_STATUSES)
    limits = coord.cfg.wall_timeouts()
    done = await _await_acks(coord, nodes, coord.version, limits.sync_s)
    missing = {
        node.node_id: (
            "silent for more than the heartbeat timeout"
            if coord.registry.silent_since(node) > limits.heartbeat_timeout_s
            else f"no acknowledgement of v{coord.version} within {limits.sync_s:.0f} s of wall time"
        )
        for node in nodes
        if node.node_id not in done
    }
    if missing:
        log.warning("run ends without the final parameters on %d node(s): %s", len(missing), missing)
    for node in coord.registry.nodes.values():
        coord.registry.send(node, coord.task(kind=TaskKind.STOP, version=coord.version))
    return missing


def _finish(coord: Coordinator, state: RunState, completion: float, final_loss: float, missing: dict[str, str]) -> dict:
    registry, digest, core = coord.registry, coord.current_digest(), state.core
    nodes = sorted(registry.nodes.values(), key=lambda node: node.node_id)
    coord.recorder.write_nodes(
        [
            {
                "node_id": node.node_id,
                "compute_power": node.compute_power,
                "device": node.device,
                "ip": node.ip,
                "final_status": node.status.value,
                "epochs_trained": node.epochs_trained,
                "fail_reason": node.fail_reason,
                "final_digest_matches": node.synced.get(coord.version) == digest,
                "setup_s": node.setup_s if node.setup_s is not None else "",
            }
            for node in nodes
        ]
    )
    cfg = coord.cfg
    summary = {
        "policy": cfg.policy,
        "nodes": len(registry.nodes),
        "epochs": cfg.training.epochs,
        "seed": cfg.seed,
        "completion_time_s": completion,
        "pre_training_loss": coord.workload.pre_training_loss,
        "final_val_loss": final_loss,
        "final_version": coord.version,
        "final_adapter_digest": digest,
        "active_at_end": len(registry.by_status(NodeStatus.ACTIVE)),
        "eliminated_at_end": len(registry.by_status(NodeStatus.ELIMINATED)),
        "failed": len(registry.by_status(NodeStatus.FAILED)),
        "bytes_in": coord.bytes_in,
        "bytes_out": coord.bytes_out,
        "base_distribution": cfg.model.distribution,
        "setup_bytes_out": state.setup_bytes_out,
        "metrics_source": cfg.metrics.source,
        "paper_volumes": cfg.paper_volumes,
        "final_sync_missing": missing,
        "failed_nodes": {node.node_id: node.fail_reason for node in registry.by_status(NodeStatus.FAILED)},
        "not_set_up": list(core.not_set_up),  # left out of the set-up by the policy (PACE's rule 4)
        "refused_updates": core.refused,
        "rolled_back_epochs": core.rolled_back,
        **_fairness_summary(coord, core),
        **summary_columns(write_fidelity(coord, core.scenario), cfg.emulation.k),
    }
    coord.recorder.write_summary(summary)
    coord.finish()
    log.info("run finished: %s", summary)
    return summary


def _fairness_summary(coord: Coordinator, core: EpochCore) -> dict:
    """Participation fairness over every node that started, data coverage and idle time."""
    # sorted by id: enrolment order would change the float sums
    nodes = sorted(coord.registry.nodes.values(), key=lambda node: node.node_id)
    share = fairness.participation([node.epochs_trained for node in nodes], coord.cfg.training.epochs)
    return {
        "jain_index": fairness.jain_index(share),
        "jain_normalised": fairness.jain_normalised(share),
        "mean_coverage": float(np.mean(core.coverage)) if core.coverage else 0.0,
        "mean_bubble_s": float(np.mean(core.bubbles)) if core.bubbles else 0.0,
        "readmissions": core.readmissions,
    }
