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
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from tqdm import tqdm

from edgeft.modeling import load_adapter_state
from edgeft.wire import TaskKind
from orchestrator.aggregation import RoundDiverged, RoundOutcome, ServerOptimizer
from orchestrator import fairness
from orchestrator.coordinator import Coordinator
from orchestrator.network_view import FIGURES, MetricsSource, NodeAddress, PathMetrics, settle_loss
from orchestrator.policies import SCHEDULED_POLICIES, SelectionContext
from orchestrator.registry import Node, NodeStatus
from orchestrator.rounds import Round
from orchestrator.run_fidelity import summary_columns, write_fidelity
from orchestrator.resume import live_nodes, restore_state, restore_statuses, save_checkpoint
from orchestrator.scenario import Scenario, ScenarioMetrics
from orchestrator.selection import LastSeen, apply_decision, build_context
from orchestrator.strategy import Decision, Strategy
from orchestrator.workload import build_workload

log = logging.getLogger(__name__)


class RunAborted(RuntimeError):
    """The run cannot go on (no node left, none enrolled); the message says why."""


@dataclass
class RunState:
    """What the loop carries from epoch to epoch besides the registry."""

    strategy: Strategy
    opt: ServerOptimizer
    history: dict[str, LastSeen]
    scenario: Scenario
    rng: np.random.Generator
    total_nodes: int
    samples_total: int
    coverage: list[float]
    bubbles: list[float]
    readmissions: int = 0
    elapsed_before: float = 0.0  # reported time of the run before a resume
    work_gflop: float = float("nan")  # a node-epoch's declared work, as the last results reported it
    setup_bytes_out: int = 0  # what the set-up sent (the base under transfer, partitions, first adapter)
    refused: list[dict] = field(default_factory=list)  # updates that did not count: epoch, node_id, reason
    rolled_back: list[int] = field(default_factory=list)  # epochs whose round was rolled back


async def run(coord: Coordinator, metrics: MetricsSource, resume: dict | None = None) -> dict:
    """The whole run; `resume` is a checkpoint (orchestrator/resume.py) to continue from."""
    cfg = coord.cfg
    nodes = await _await_enrolment(coord, len(live_nodes(resume)) if resume else cfg.nodes, fresh=resume is None)
    total = resume["total_nodes"] if resume else len(nodes)
    try:
        workload = await asyncio.to_thread(build_workload, cfg, total)
    except (ValueError, OSError) as exc:  # bad dataset/model settings: say which, do not trace back
        raise RunAborted(f"cannot prepare model and data: {exc}") from None
    coord.hand_out(workload, resume["partition_of"] if resume else {n.node_id: i for i, n in enumerate(nodes)})
    nodes = [n for n in nodes if n.node_id in coord.partition_of]  # on resume, strangers have no data
    st = _new_state(coord, nodes, total)
    if resume:
        restore_state(coord, st, resume)
    coord.publish_adapter(st.opt.state())
    before_setup = coord.bytes_out  # a resumed run's counters already hold the bytes before the resume
    await _setup_nodes(coord, nodes)
    st.setup_bytes_out = coord.bytes_out - before_setup
    if resume:
        restore_statuses(coord, resume)
    if cfg.scenario and cfg.metrics.source == "static":  # with a controller, the runner changes the real links
        metrics = ScenarioMetrics(metrics, st.scenario)
    val_loss = resume["val_loss"] if resume else coord.workload.pre_training_loss
    start = resume["epoch"] + 1 if resume else 0
    bar = tqdm(range(start, cfg.training.epochs), desc=f"{cfg.policy.upper()} epochs", unit="epoch", disable=None)
    for epoch in bar:
        val_loss = await _epoch(coord, metrics, st, epoch)
        save_checkpoint(coord, st, epoch, val_loss)
        active = coord.registry.by_status(NodeStatus.ACTIVE)
        bar.set_postfix(
            active=len(active),
            eliminated=len(coord.registry.by_status(NodeStatus.ELIMINATED)),
            val_loss=f"{val_loss:.3f}",
        )
    completion = st.elapsed_before + (time.time() - (coord.first_send or time.time())) / cfg.emulation.k
    missing = await _final_sync(coord)
    return _finish(coord, st, completion, val_loss, missing)


def _new_state(coord: Coordinator, nodes: list[Node], total: int) -> RunState:
    cfg, parts = coord.cfg, coord.workload.partitions
    opt = ServerOptimizer(coord.workload.adapter(), cfg.training.server_optimizer, cfg.training.server_lr)
    return RunState(
        Strategy.named(cfg.policy, total, cfg.training.epochs, cfg.policy_options, cfg.updates),
        opt,
        {n.node_id: LastSeen(samples=len(parts[coord.partition_of[n.node_id]])) for n in nodes},
        Scenario(cfg.scenario),
        np.random.default_rng([cfg.seed, 7]),
        total,
        sum(len(p) for p in parts),
        [],
        [],
    )


async def _await_enrolment(coord: Coordinator, expected: int, fresh: bool = True) -> list[Node]:
    cfg, reg = coord.cfg, coord.registry
    reg.expected = expected
    if len(reg.nodes) >= expected:
        reg.enrolled.set()
    try:
        await asyncio.wait_for(reg.enrolled.wait(), timeout=cfg.timeouts.enroll_s)
    except asyncio.TimeoutError:
        log.warning(
            "only %d of %d nodes enrolled within %.0f s; going on with them",
            len(reg.nodes),
            expected,
            cfg.timeouts.enroll_s,
        )
    nodes = sorted(reg.nodes.values(), key=lambda n: n.node_id)
    if not nodes:
        raise RunAborted(
            f"no edge node enrolled within timeouts.enroll_s={cfg.timeouts.enroll_s}; start clients with `edgeft edge`"
        )
    if fresh and cfg.policy in SCHEDULED_POLICIES and len(nodes) <= cfg.training.epochs:
        raise RunAborted(
            f"only {len(nodes)} nodes enrolled but policy '{cfg.policy}' needs more than epochs={cfg.training.epochs}"
        )
    return nodes


async def _setup_nodes(coord: Coordinator, nodes: list[Node]) -> None:
    """Send base model, partition and adapter v0 to every node; wait for their acks."""
    for n in nodes:
        coord.registry.send(
            n,
            coord.task(
                kind=TaskKind.SETUP,
                version=coord.version,
                pad_down=coord.cfg.setup_pad(len(nodes)),
                batch_size=coord.cfg.training.batch_size,
            ),
        )  # the warm-up's batch
    ok = await _await_acks(coord, nodes, coord.version, coord.cfg.wall_timeouts().round_s)
    for n in nodes:
        if n.node_id in ok:
            n.status = NodeStatus.ACTIVE
        else:
            _mark_failed(n, "did not finish set-up in time")
    if not ok:
        raise RunAborted("no node finished set-up (download of model and partition); see the client logs")


async def _await_acks(coord: Coordinator, nodes: list[Node], version: int, timeout: float) -> set[str]:
    deadline = time.monotonic() + timeout
    hb = coord.cfg.wall_timeouts().heartbeat_timeout_s
    waiting = {n.node_id: n for n in nodes}
    while True:
        done = {k for k, n in waiting.items() if version in n.synced}
        silent = {k for k, n in waiting.items() if k not in done and coord.registry.silent_since(n) > hb}
        if len(done) + len(silent) == len(waiting) or time.monotonic() > deadline:
            return done
        await asyncio.sleep(0.05)


async def _epoch(coord: Coordinator, metrics: MetricsSource, st: RunState, epoch: int) -> float:
    cfg, reg = coord.cfg, coord.registry
    active = reg.by_status(NodeStatus.ACTIVE)
    if not active:
        raise RunAborted(f"no active node left at epoch {epoch}: every node failed; see nodes.csv")
    if isinstance(metrics, ScenarioMetrics):
        metrics.epoch = epoch
    rnd = Round(epoch, coord.version, {n.node_id for n in active})
    coord.open_round(rnd)
    tr = cfg.training
    for n in active:
        reg.send(
            n,
            coord.task(
                kind=TaskKind.TRAIN,
                epoch=epoch,
                version=coord.version,
                local_steps=tr.local_steps,
                local_lr=tr.local_lr,
                batch_size=tr.batch_size,
                seed=cfg.seed * 100_003 + epoch,
                pad_up=cfg.model_pad(),
                emulated_compute=st.scenario.compute_power(n.node_id, epoch),
            ),
        )
    await _await_round(coord, rnd)
    for nid, reason in rnd.failures.items():
        _mark_failed(reg.nodes[nid], reason, may_return=nid in rnd.silent)
    if not rnd.results:
        raise RunAborted(f"no node delivered a valid result in epoch {epoch}: {rnd.failures}")
    round_done = time.time()
    outcome = await _aggregate(coord, st, rnd)
    ids = sorted(rnd.results)
    live = reg.by_status(NodeStatus.ACTIVE, NodeStatus.ELIMINATED)
    snap = settle_loss(metrics.snapshot([NodeAddress(n.node_id, n.ip) for n in live]))
    coord.note_links({nid: m.link for nid, m in snap.items()})  # the measured T_i's transfer allowance
    _remember(st.history, rnd, epoch, cfg.emulation.k)
    st.work_gflop = max((r.meta.work_gflop for r in rnd.results.values()), default=st.work_gflop)
    try:
        decision = st.strategy.configure_train(
            _context(coord, st, epoch, live, snap), last_epoch=epoch >= tr.epochs - 1
        )
    except ValueError as exc:  # e.g. a policy that chose nobody
        raise RunAborted(str(exc)) from None
    dropped, readmitted = _apply(st, epoch, live, decision)
    results = [rnd.results[i] for i in ids]
    digest, val_loss = coord.advance(outcome.params), outcome.val_loss
    for n in reg.by_status(NodeStatus.ACTIVE, NodeStatus.ELIMINATED):
        reg.send(n, coord.task(kind=TaskKind.SYNC, version=coord.version, pad_down=cfg.model_pad()))
    st.coverage.append(fairness.coverage(sum(r.meta.samples for r in results), st.samples_total))
    k = cfg.emulation.k
    st.bubbles.append(
        fairness.bubble_time((round_done - rnd.started_at) / k, [(r.received_at - rnd.started_at) / k for r in results])
    )
    _record_epoch(
        coord, st, EpochOutcome(rnd, decision.scores, snap, dropped, readmitted, val_loss, digest, round_done)
    )
    return val_loss


async def _aggregate(coord: Coordinator, st: RunState, rnd: Round) -> RoundOutcome:
    """The round's updates through the strategy's guarded aggregation (orchestrator/aggregation.py);
    a refused update, or one that made the round non-finite, fails its node for the run. A
    non-finite round with no one to blame aborts the run (RunAborted naming the epoch)."""
    ids = sorted(rnd.results)

    def evaluate(params: dict) -> float:
        load_adapter_state(coord.workload.model, params)
        return coord.workload.val_loss()

    try:
        outcome = await asyncio.to_thread(
            st.strategy.aggregate_round,
            [rnd.results[i].update for i in ids],
            [coord.weight(i) for i in ids],  # handed out, not claimed
            st.opt,
            evaluate,
        )
    except RoundDiverged as exc:  # no node to blame: stop with the reason rather than fail honest nodes
        st.rolled_back.append(rnd.epoch)
        raise RunAborted(f"epoch {rnd.epoch}: {exc}") from None
    if outcome.rolled_back:
        st.rolled_back.append(rnd.epoch)
        log.error("epoch %d: the aggregate was not finite; rolled back to the previous parameters", rnd.epoch)
    for index, reason in sorted(outcome.failed().items()):
        nid = ids[index]
        rnd.refuse(nid, reason)
        node = coord.registry.nodes[nid]
        node.epochs_trained -= 1  # its update did not count
        _mark_failed(node, reason, may_return=False)
        st.refused.append({"epoch": rnd.epoch, "node_id": nid, "reason": reason})
    return outcome


def _remember(history: dict[str, LastSeen], rnd: Round, epoch: int, dilation: float) -> None:
    for nid, r in rnd.results.items():
        h = history[nid]
        h.train_time_s, h.round_time_s, h.train_loss = (
            r.train_time_s,  # measured here, not the node's claim (orchestrator/rounds.py)
            (r.received_at - rnd.started_at) / dilation,
            r.meta.loss,
        )
        h.samples, h.last_epoch = r.meta.samples, epoch


def _context(
    coord: Coordinator, st: RunState, epoch: int, live: list[Node], snap: dict[str, PathMetrics]
) -> SelectionContext:
    """What the strategy sees after `epoch`: every live node with its latest figures."""
    was_active = {n.node_id for n in live if n.status == NodeStatus.ACTIVE}
    transfer = len(coord.adapters[coord.version][0]) + coord.cfg.model_pad()
    ctx = build_context(
        coord.cfg, epoch, st.total_nodes, live, was_active, st.history, snap, st.rng, transfer, st.scenario
    )
    ctx.work_gflop, ctx.gflops_per_power = st.work_gflop, coord.cfg.emulation.gflops_per_power
    return ctx


def _apply(st: RunState, epoch: int, live: list[Node], decision: Decision) -> tuple[list[str], list[str]]:
    """Give the nodes the statuses the strategy chose; returns (benched, re-admitted)."""
    dropped, readmitted = apply_decision(live, decision, st.history, epoch)
    st.readmissions += len(readmitted)
    return dropped, readmitted


async def _await_round(coord: Coordinator, rnd: Round) -> None:
    """Wait for every expected result, failing nodes that go silent or miss the deadline."""
    t = coord.cfg.wall_timeouts()
    deadline = time.monotonic() + t.round_s
    while not rnd.done.is_set():
        try:
            await asyncio.wait_for(rnd.done.wait(), timeout=0.25)
        except asyncio.TimeoutError:
            pass
        for nid in list(rnd.pending()):
            if coord.registry.silent_since(coord.registry.nodes[nid]) > t.heartbeat_timeout_s:
                rnd.fail(
                    nid,
                    f"no heartbeat for {t.heartbeat_timeout_s:.0f} s of wall time (crashed or cut off)",
                    silent=True,
                )
            elif time.monotonic() > deadline:
                rnd.fail(nid, f"missed the round deadline of {t.round_s:.0f} s of wall time", silent=True)


def _mark_failed(node: Node, reason: str, may_return: bool = False) -> None:
    node.status = NodeStatus.FAILED
    node.fail_reason, node.may_return = reason, may_return
    log.warning("node %s failed: %s", node.node_id, reason)


@dataclass(frozen=True)
class EpochOutcome:
    """What one epoch produced, for its rows in epochs.csv and node_epochs.csv."""

    rnd: Round
    scores: dict[str, float]  # what the strategy used
    snap: dict[str, PathMetrics]
    dropped: list[str]
    readmitted: list[str]
    val_loss: float
    digest: str
    round_done: float  # wall clock when the last result arrived


def _record_epoch(coord: Coordinator, st: RunState, out: EpochOutcome) -> None:
    rnd, scores = out.rnd, out.scores
    dropped, readmitted, val_loss, digest = out.dropped, out.readmitted, out.val_loss, out.digest
    ids = sorted(rnd.results)
    results = [rnd.results[i] for i in ids]
    n_tokens = sum(coord.weight(i) for i in ids)
    train_loss = sum(r.meta.loss * coord.weight(i) for i, r in zip(ids, results)) / n_tokens if ids else math.nan
    k = coord.cfg.emulation.k
    epoch_time = (time.time() - rnd.started_at) / k
    coord.recorder.epochs.write(
        {
            "epoch": rnd.epoch,
            "version": coord.version,
            "active": len(rnd.expected),
            "active_nodes": ";".join(sorted(rnd.expected)),
            "eliminated": ";".join(dropped),
            "readmitted": ";".join(readmitted),
            "failed": ";".join(sorted(rnd.failures)),
            "scores": {i: round(s, 6) for i, s in scores.items()},
            "train_loss": train_loss,
            "val_loss": val_loss,
            "epoch_time_s": epoch_time,
            "bytes_in": coord.bytes_in,
            "bytes_out": coord.bytes_out,
            "adapter_digest": digest,
            "bubble_s": st.bubbles[-1],
            "coverage": st.coverage[-1],
        }
    )
    for nid in sorted(rnd.expected):
        coord.recorder.node_epochs.write(_node_row(coord, out, nid))


def _node_row(coord: Coordinator, out: EpochOutcome, nid: str) -> dict:
    """One node's row of node_epochs.csv for the epoch `out` recorded."""
    rnd, k = out.rnd, coord.cfg.emulation.k
    r, m, node = rnd.results.get(nid), out.snap.get(nid), coord.registry.nodes[nid]
    row = {
        "epoch": rnd.epoch,
        "node_id": nid,
        "status": "failed" if nid in rnd.failures else ("eliminated" if nid in out.dropped else "active"),
        "score": float(out.scores[nid]) if nid in out.scores else "",
        "compute_power": node.compute_power,
    }
    row["missing_figures"] = ";".join(m.missing if m else FIGURES)  # scored as neutral (orchestrator/scoring.py)
    if m:
        row.update(
            **asdict(m.link),
            metrics_stale=m.stale,
            loss_scored_pct=m.loss_for_scoring,
            loss_samples=m.loss_samples,
            capacity_mbps=m.capacity_mbps,
            capacity_source=m.capacity_source,
        )
    if r:
        trip = (r.received_at - rnd.started_at) / k
        row.update(
            train_time_s=r.train_time_s,  # measured by the orchestrator (orchestrator/rounds.py)
            train_time_declared_s=r.meta.train_time_s,
            train_time_flagged=r.train_time_flagged,
            compute_wall_s=r.meta.compute_wall_s,
            download_s=r.meta.download_s,
            upload_s=max(trip - r.meta.download_s - r.meta.compute_wall_s, 0.0),
            waiting_s=max(out.round_done - r.received_at, 0.0) / k,
            round_trip_s=trip,
            loss=r.meta.loss,
            samples=r.meta.samples,
            tokens=r.meta.tokens,
            work_gflop=r.meta.work_gflop,
        )
    return row


async def _final_sync(coord: Coordinator) -> dict[str, str]:
    """Let every live node (eliminated ones too) fetch the final parameters so all hold the
    same model; returns the nodes that did not acknowledge them, and why."""
    nodes = coord.registry.by_status(NodeStatus.ACTIVE, NodeStatus.ELIMINATED)
    t = coord.cfg.wall_timeouts()
    done = await _await_acks(coord, nodes, coord.version, t.sync_s)
    missing = {
        n.node_id: (
            "silent for more than the heartbeat timeout"
            if coord.registry.silent_since(n) > t.heartbeat_timeout_s
            else f"no acknowledgement of v{coord.version} within {t.sync_s:.0f} s of wall time"
        )
        for n in nodes
        if n.node_id not in done
    }
    if missing:
        log.warning("run ends without the final parameters on %d node(s): %s", len(missing), missing)
    for n in coord.registry.nodes.values():
        coord.registry.send(n, coord.task(kind=TaskKind.STOP, version=coord.version))
    return missing


def _finish(coord: Coordinator, st: RunState, completion: float, final_loss: float, missing: dict[str, str]) -> dict:
    reg, digest = coord.registry, coord.current_digest()
    coord.recorder.write_nodes(
        [
            {
                "node_id": n.node_id,
                "compute_power": n.compute_power,
                "device": n.device,
                "ip": n.ip,
                "final_status": n.status.value,
                "epochs_trained": n.epochs_trained,
                "fail_reason": n.fail_reason,
                "final_digest_matches": n.synced.get(coord.version) == digest,
            }
            for n in sorted(reg.nodes.values(), key=lambda n: n.node_id)
        ]
    )
    cfg = coord.cfg
    summary = {
        "policy": cfg.policy,
        "nodes": len(reg.nodes),
        "epochs": cfg.training.epochs,
        "seed": cfg.seed,
        "completion_time_s": completion,
        "pre_training_loss": coord.workload.pre_training_loss,
        "final_val_loss": final_loss,
        "final_version": coord.version,
        "final_adapter_digest": digest,
        "active_at_end": len(reg.by_status(NodeStatus.ACTIVE)),
        "eliminated_at_end": len(reg.by_status(NodeStatus.ELIMINATED)),
        "failed": len(reg.by_status(NodeStatus.FAILED)),
        "bytes_in": coord.bytes_in,
        "bytes_out": coord.bytes_out,
        "base_distribution": cfg.model.distribution,
        "setup_bytes_out": st.setup_bytes_out,
        "metrics_source": cfg.metrics.source,
        "paper_volumes": cfg.paper_volumes,
        "final_sync_missing": missing,
        "failed_nodes": {n.node_id: n.fail_reason for n in reg.by_status(NodeStatus.FAILED)},
        "refused_updates": st.refused,
        "rolled_back_epochs": st.rolled_back,
        **_fairness_summary(coord, st),
        **summary_columns(write_fidelity(coord, st.scenario), cfg.emulation.k),
    }
    coord.recorder.write_summary(summary)
    coord.finish()
    log.info("run finished: %s", summary)
    return summary


def _fairness_summary(coord: Coordinator, st: RunState) -> dict:
    """Participation fairness over every node that started, data coverage and idle time."""
    nodes = sorted(
        coord.registry.nodes.values(), key=lambda n: n.node_id
    )  # enrolment order would change the float sums
    share = fairness.participation([n.epochs_trained for n in nodes], coord.cfg.training.epochs)
    return {
        "jain_index": fairness.jain_index(share),
        "jain_normalised": fairness.jain_normalised(share),
        "mean_coverage": float(np.mean(st.coverage)) if st.coverage else 0.0,
        "mean_bubble_s": float(np.mean(st.bubbles)) if st.bubbles else 0.0,
        "readmissions": st.readmissions,
    }
