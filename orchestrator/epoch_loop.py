"""The epoch loop: seed paper Algorithm 1, with NE or AR as the policy.

Per epoch: every active node trains on the current adapter version; the
orchestrator waits for all of them (up to a deadline; a silent or invalid node
is marked failed and the run goes on), scores them, eliminates the weakest
(policy), aggregates the received gradients, measures the validation loss and
sends the new parameters to ALL nodes, eliminated ones included.
"""
from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
from tqdm import tqdm

from edgeft.modeling import load_adapter_state
from edgeft.wire import Task, TaskKind
from orchestrator.aggregation import ServerOptimizer, weighted_mean
from orchestrator.coordinator import Coordinator
from orchestrator.network_view import MetricsSource, NodeAddress, PathMetrics
from orchestrator.policies import make_policy
from orchestrator.registry import Node, NodeStatus
from orchestrator.rounds import Round
from orchestrator.scoring import perf_scores
from orchestrator.workload import build_workload

log = logging.getLogger(__name__)


class RunAborted(RuntimeError):
    """The run cannot go on (no node left, none enrolled); the message says why."""


async def run(coord: Coordinator, metrics: MetricsSource) -> dict:
    cfg = coord.cfg
    nodes = await _await_enrolment(coord)
    try:
        coord.workload = await asyncio.to_thread(build_workload, cfg, len(nodes))
    except (ValueError, OSError) as exc:  # bad dataset/model settings: say which, do not trace back
        raise RunAborted(f"cannot prepare model and data: {exc}") from None
    coord.partition_of = {n.node_id: i for i, n in enumerate(nodes)}
    opt = ServerOptimizer(coord.workload.adapter(), cfg.training.server_optimizer, cfg.training.server_lr)
    coord.publish_adapter(opt.state())
    await _setup_nodes(coord, nodes)
    policy = make_policy(cfg.policy, len(nodes), cfg.training.epochs)
    val_loss = coord.workload.pre_training_loss
    bar = tqdm(range(cfg.training.epochs), desc=f"{cfg.policy.upper()} epochs", unit="epoch", disable=None)
    for epoch in bar:
        val_loss = await _epoch(coord, metrics, policy, opt, epoch)
        active = coord.registry.by_status(NodeStatus.ACTIVE)
        bar.set_postfix(active=len(active), eliminated=len(coord.registry.by_status(NodeStatus.ELIMINATED)), val_loss=f"{val_loss:.3f}")
    completion = time.time() - (coord.first_send or time.time())
    await _final_sync(coord)
    return _finish(coord, completion, val_loss)


async def _await_enrolment(coord: Coordinator) -> list[Node]:
    cfg, reg = coord.cfg, coord.registry
    reg.expected = cfg.nodes
    if len(reg.nodes) >= cfg.nodes:
        reg.enrolled.set()
    try:
        await asyncio.wait_for(reg.enrolled.wait(), timeout=cfg.timeouts.enroll_s)
    except asyncio.TimeoutError:
        log.warning("only %d of %d nodes enrolled within %.0f s; going on with them", len(reg.nodes), cfg.nodes, cfg.timeouts.enroll_s)
    nodes = sorted(reg.nodes.values(), key=lambda n: n.node_id)
    if not nodes:
        raise RunAborted(f"no edge node enrolled within timeouts.enroll_s={cfg.timeouts.enroll_s}; start clients with `edgeft edge`")
    if cfg.policy == "ne" and len(nodes) <= cfg.training.epochs:
        raise RunAborted(f"only {len(nodes)} nodes enrolled but NE needs more than epochs={cfg.training.epochs}")
    return nodes


async def _setup_nodes(coord: Coordinator, nodes: list[Node]) -> None:
    """Send base model, partition and adapter v0 to every node; wait for their acks."""
    for n in nodes:
        coord.registry.send(n, Task(kind=TaskKind.SETUP, version=coord.version, pad_down=coord.cfg.setup_pad(len(nodes))))
    ok = await _await_acks(coord, nodes, coord.version, coord.cfg.timeouts.round_s)
    for n in nodes:
        if n.node_id in ok:
            n.status = NodeStatus.ACTIVE
        else:
            _mark_failed(n, "did not finish set-up in time")
    if not ok:
        raise RunAborted("no node finished set-up (download of model and partition); see the client logs")


async def _await_acks(coord: Coordinator, nodes: list[Node], version: int, timeout: float) -> set[str]:
    deadline = time.monotonic() + timeout
    hb = coord.cfg.timeouts.heartbeat_timeout_s
    waiting = {n.node_id: n for n in nodes}
    while True:
        done = {k for k, n in waiting.items() if version in n.synced}
        silent = {k for k, n in waiting.items() if k not in done and coord.registry.silent_since(n) > hb}
        if len(done) + len(silent) == len(waiting) or time.monotonic() > deadline:
            return done
        await asyncio.sleep(0.05)


async def _epoch(coord: Coordinator, metrics: MetricsSource, policy, opt: ServerOptimizer, epoch: int) -> float:
    cfg, reg = coord.cfg, coord.registry
    active = reg.by_status(NodeStatus.ACTIVE)
    if not active:
        raise RunAborted(f"no active node left at epoch {epoch}: every node failed; see nodes.csv")
    rnd = Round(epoch, coord.version, {n.node_id for n in active})
    coord.round = rnd
    tr = cfg.training
    for n in active:
        reg.send(n, Task(kind=TaskKind.TRAIN, epoch=epoch, version=coord.version, local_steps=tr.local_steps,
                         local_lr=tr.local_lr, batch_size=tr.batch_size, seed=cfg.seed * 100_003 + epoch, pad_up=cfg.model_pad()))
    await _await_round(coord, rnd)
    for nid, reason in rnd.failures.items():
        _mark_failed(reg.nodes[nid], reason)
    if not rnd.results:
        raise RunAborted(f"no node delivered a valid result in epoch {epoch}: {rnd.failures}")
    round_done = time.time()
    ids = sorted(rnd.results)
    snap = metrics.snapshot([NodeAddress(i, reg.nodes[i].ip) for i in ids])
    scores = _score(coord, ids, snap, rnd)
    dropped = policy.eliminate(ids, scores, epoch)
    for nid in dropped:
        reg.nodes[nid].status = NodeStatus.ELIMINATED
    results = [rnd.results[i] for i in ids]
    update = weighted_mean([r.update for r in results], [r.meta.tokens for r in results])
    new_state = await asyncio.to_thread(opt.step, update)
    load_adapter_state(coord.workload.model, new_state)
    coord.version += 1
    digest = coord.publish_adapter(new_state)
    val_loss = await asyncio.to_thread(coord.workload.val_loss)
    for n in reg.by_status(NodeStatus.ACTIVE, NodeStatus.ELIMINATED):
        reg.send(n, Task(kind=TaskKind.SYNC, version=coord.version, pad_down=cfg.model_pad()))
    _record_epoch(coord, rnd, ids, scores, snap, dropped, results, val_loss, digest, round_done)
    return val_loss


async def _await_round(coord: Coordinator, rnd: Round) -> None:
    """Wait for every expected result, failing nodes that go silent or miss the deadline."""
    t = coord.cfg.timeouts
    deadline = time.monotonic() + t.round_s
    while not rnd.done.is_set():
        try:
            await asyncio.wait_for(rnd.done.wait(), timeout=0.25)
        except asyncio.TimeoutError:
            pass
        for nid in list(rnd.pending()):
            if coord.registry.silent_since(coord.registry.nodes[nid]) > t.heartbeat_timeout_s:
                rnd.fail(nid, f"no heartbeat for {t.heartbeat_timeout_s:.0f} s (crashed or cut off)")
            elif time.monotonic() > deadline:
                rnd.fail(nid, f"missed the round deadline of {t.round_s:.0f} s")


def _mark_failed(node: Node, reason: str) -> None:
    node.status = NodeStatus.FAILED
    node.fail_reason = reason
    log.warning("node %s failed: %s", node.node_id, reason)


def _score(coord: Coordinator, ids: list[str], snap: dict[str, PathMetrics], rnd: Round) -> np.ndarray:
    rows = []
    for nid in ids:
        m = snap.get(nid)
        net = [m.bandwidth_mbps, m.delay_ms, m.loss_pct] if m else [np.nan] * 3
        rows.append([coord.registry.nodes[nid].compute_power, *net, rnd.results[nid].meta.train_time_s])
    sc = coord.cfg.scoring
    return perf_scores(np.array(rows, dtype=float), np.array(sc.weight_vector()), np.array(sc.utopia_vector()))


def _record_epoch(coord, rnd: Round, ids, scores, snap, dropped, results, val_loss, digest, round_done) -> None:
    reg = coord.registry
    n_tokens = sum(r.meta.tokens for r in results)
    train_loss = sum(r.meta.loss * r.meta.tokens for r in results) / n_tokens
    epoch_time = time.time() - rnd.started_at
    coord.recorder.epochs.write({
        "epoch": rnd.epoch, "version": coord.version, "active": len(rnd.expected),
        "active_nodes": ";".join(sorted(rnd.expected)), "eliminated": ";".join(dropped),
        "failed": ";".join(sorted(rnd.failures)), "scores": {i: round(float(s), 6) for i, s in zip(ids, scores)},
        "train_loss": train_loss, "val_loss": val_loss, "epoch_time_s": epoch_time,
        "bytes_in": coord.bytes_in, "bytes_out": coord.bytes_out, "adapter_digest": digest,
    })
    score_of = dict(zip(ids, scores))
    for nid in sorted(rnd.expected):
        r, m, node = rnd.results.get(nid), snap.get(nid), reg.nodes[nid]
        row = {"epoch": rnd.epoch, "node_id": nid, "status": "failed" if nid in rnd.failures else ("eliminated" if nid in dropped else "active"),
               "score": float(score_of[nid]) if nid in score_of else "", "compute_power": node.compute_power}
        if m:
            row.update(bandwidth_mbps=m.bandwidth_mbps, delay_ms=m.delay_ms, loss_pct=m.loss_pct, metrics_stale=m.stale)
        if r:
            trip = r.received_at - rnd.started_at
            row.update(train_time_s=r.meta.train_time_s, compute_wall_s=r.meta.compute_wall_s, download_s=r.meta.download_s,
                       upload_s=max(trip - r.meta.download_s - r.meta.compute_wall_s, 0.0), waiting_s=max(round_done - r.received_at, 0.0),
                       round_trip_s=trip, loss=r.meta.loss, samples=r.meta.samples, tokens=r.meta.tokens)
        coord.recorder.node_epochs.write(row)


async def _final_sync(coord: Coordinator) -> None:
    """Let every live node fetch the final parameters so all hold the same model."""
    nodes = coord.registry.by_status(NodeStatus.ACTIVE, NodeStatus.ELIMINATED)
    await _await_acks(coord, nodes, coord.version, coord.cfg.timeouts.sync_s)
    for n in coord.registry.nodes.values():
        coord.registry.send(n, Task(kind=TaskKind.STOP, version=coord.version))


def _finish(coord: Coordinator, completion: float, final_loss: float) -> dict:
    reg, digest = coord.registry, coord.current_digest()
    coord.recorder.write_nodes([
        {"node_id": n.node_id, "compute_power": n.compute_power, "device": n.device, "ip": n.ip,
         "final_status": n.status.value, "epochs_trained": n.epochs_trained, "fail_reason": n.fail_reason,
         "final_digest_matches": n.synced.get(coord.version) == digest}
        for n in sorted(reg.nodes.values(), key=lambda n: n.node_id)
    ])
    cfg = coord.cfg
    summary = {
        "policy": cfg.policy, "nodes": len(reg.nodes), "epochs": cfg.training.epochs, "seed": cfg.seed,
        "completion_time_s": completion, "pre_training_loss": coord.workload.pre_training_loss,
        "final_val_loss": final_loss, "final_version": coord.version, "final_adapter_digest": digest,
        "active_at_end": len(reg.by_status(NodeStatus.ACTIVE)), "eliminated_at_end": len(reg.by_status(NodeStatus.ELIMINATED)),
        "failed": len(reg.by_status(NodeStatus.FAILED)), "bytes_in": coord.bytes_in, "bytes_out": coord.bytes_out,
        "metrics_source": cfg.metrics.source, "paper_volumes": cfg.paper_volumes,
    }
    coord.recorder.write_summary(summary)
    coord.finished = True
    log.info("run finished: %s", summary)
    return summary
