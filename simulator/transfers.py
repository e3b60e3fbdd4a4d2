"""Epochs of the federated protocol on a SimGrid platform: every transfer a communication, every wait a sleep.

One driver actor on the server runs the epochs one after another. In each epoch, every live node
(active or benched) downloads the parameters; active nodes then make their protocol round trips,
compute for their window and upload; the epoch's round ends when the last active upload has
arrived (the barrier), then the server works for `server_s` (aggregation, validation) before the
next epoch starts. A benched node's download is not waited for: it may run on into the next epoch,
and the node's next epoch starts when it is done (a node does one thing at a time). What each node
does is simulator/phases.py's step list. The driver posts the server's side of every download
(rate-capped where loss caps it); a node's actor takes its steps in order, its last upload a
host-to-host communication that the driver waits for at the barrier.

Cost: SimGrid's Python actors are threads, and every blocking call is two thread switches, so a node
has one actor for the whole run (started at its first epoch, woken by its next epoch's first
download, which carries its job), its consecutive waits are one sleep, and the server does not
post a receive per upload. What is left grows with flow events x the flows that share the
server's link (experiments/bench_simulate.py prints it).

SimGrid 3.32 pitfalls handled here: an exception escaping an actor aborts the process (every actor
catches everything and records it); a deadlock only logs and run() returns (every node-epoch and
the driver must report done, or simulate() raises); a second Engine in one process keeps the first
one's clock (run one simulate() per process: simulator/run_epoch.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from simulator import phases, platform
from simulator.phases import NodeEpoch, Step
from simulator.topology import Topology


class SimulationError(RuntimeError):
    """The simulation did not finish every communication, or an actor failed."""


@dataclass(frozen=True)
class EpochPlan:
    """One epoch: its live nodes (absent: not live, e.g. crashed) and the server's own work after the
    barrier. `wait_for_downloads`: the barrier also waits for every download (a set-up phase)."""

    nodes: tuple[NodeEpoch, ...]
    server_s: float = 0.0
    wait_for_downloads: bool = False


@dataclass
class NodeTimes:
    """One node-epoch's simulated phases (seconds). `delayed_s`: waiting for its previous epoch's
    download before starting; `wait_s`: from its upload's arrival to the barrier (active only)."""

    download_s: float = 0.0
    compute_s: float = 0.0
    upload_s: float = 0.0
    delayed_s: float = 0.0
    wait_s: float | None = None
    done_at: float = math.nan  # absolute simulated time


@dataclass
class EpochTimes:
    """One epoch: absolute start, the round (start to barrier) and the epoch (to the next start)."""

    start_s: float
    round_s: float = math.nan
    epoch_s: float = math.nan
    nodes: dict[str, NodeTimes] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _State:
    topology: Topology
    plans: list[EpochPlan]
    hosts: dict[str, Any] = field(default_factory=dict)
    server: Any = None
    epochs: list[EpochTimes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: set[str] = field(default_factory=set)  # nodes whose actor runs
    keep: list[Any] = field(default_factory=list)  # every communication, alive until the end
    uploads: list[tuple[str, Any, float]] = field(default_factory=list)  # this epoch's last uploads
    to_upload: int = 0  # active nodes of this epoch that have not started their last upload
    barrier: Any = None  # simgrid.Semaphore: released when to_upload reaches 0
    driver_done: bool = False


def simulate(topology: Topology, plans: list[EpochPlan]) -> list[EpochTimes]:
    """Run these epochs on this topology; once per process (SimGrid keeps one Engine per process)."""
    import simgrid as sg

    check_plans(topology, plans)
    engine = sg.Engine(platform.engine_args())
    built = platform.build(topology)
    state = _State(topology, plans, hosts=built.hosts, server=built.server)
    sg.Actor.create("driver", built.server, _driver, state)
    engine.run()
    if state.errors:
        raise SimulationError(f"{len(state.errors)} actor(s) failed; first: {state.errors[0]}")
    if not state.driver_done:
        raise SimulationError("the simulation stopped before the last epoch's barrier (a deadlock)")
    missing = [(i, n.node_id) for i, p in enumerate(plans) for n in p.nodes if n.node_id not in state.epochs[i].nodes]
    if missing:
        raise SimulationError(f"{len(missing)} node-epoch(s) never finished; first (epoch, node): {missing[0]}")
    for plan, times in zip(plans, state.epochs):
        barrier = times.start_s + times.round_s
        for ne in plan.nodes:
            if ne.active:
                times.nodes[ne.node_id].wait_s = max(0.0, barrier - times.nodes[ne.node_id].done_at)
    return state.epochs


def check_plans(topology: Topology, plans: list[EpochPlan]) -> None:
    """ValueError naming the first epoch whose plan does not fit the topology."""
    known, seen = {n.node_id for n in topology.nodes}, set()
    for i, plan in enumerate(plans):
        ids = [n.node_id for n in plan.nodes]
        unknown = sorted(set(ids) - known)
        if unknown:
            raise ValueError(f"epoch {i}: node {unknown[0]} is not in the topology")
        if len(set(ids)) != len(ids):
            raise ValueError(f"epoch {i}: a node appears twice")
        if not (math.isfinite(plan.server_s) and plan.server_s >= 0):
            raise ValueError(f"epoch {i}: server_s must be a finite number >= 0 (got {plan.server_s})")
        late = [n.node_id for n in plan.nodes if n.node_id in seen and not n.downloads]
        if late:  # its download is what wakes a node after its first epoch
            raise ValueError(
                f"epoch {i}: node {late[0]} downloads nothing; after its first epoch a live node "
                "downloads the parameters every epoch"
            )
        seen.update(ids)


def _driver(state: _State) -> None:
    """The server: per epoch, posts its side of every download (the first one carries the node's
    job and wakes it), starts a node's actor at its first epoch, and keeps the barrier."""
    import simgrid as sg

    try:
        state.barrier = sg.Semaphore(0)
        for index, plan in enumerate(state.plans):
            start = sg.Engine.clock
            times = EpochTimes(start)
            state.epochs.append(times)
            waits = _start_epoch(state, index, plan)
            if state.to_upload > 0:
                state.barrier.acquire()  # every active node has started its last upload
            sg.Comm.wait_all(waits + [comm for _, comm, _ in state.uploads])
            for node_id, comm, began in state.uploads:  # the last upload's time, now that it is known
                nt = times.nodes[node_id]
                nt.upload_s += comm.finish_time - began
                nt.done_at = comm.finish_time
            times.round_s = sg.Engine.clock - start
            if plan.server_s > 0:
                sg.this_actor.sleep_for(plan.server_s)
            times.epoch_s = sg.Engine.clock - start
        for node_id in state.started:  # after any download still running: stop
            comm = sg.Mailbox.by_name(f"d:{node_id}").put_init(None, 1).start()  # SimGrid mistimes empty messages
            state.keep.append(comm)
        sg.Comm.wait_all(state.keep)
        state.driver_done = True
    except BaseException as exc:  # an exception escaping an actor aborts the process
        state.errors.append(f"driver: {exc!r}")


def _start_epoch(state: _State, index: int, plan: EpochPlan) -> list:
    """Post the server's side of this epoch's downloads and wake or start each live node; returns
    the downloads the barrier waits for (none unless plan.wait_for_downloads)."""
    import simgrid as sg

    waits: list = []
    state.uploads, state.to_upload = [], sum(1 for ne in plan.nodes if ne.active)
    for ne in plan.nodes:
        job = (index, _merge_waits(phases.node_steps(ne, state.topology.node(ne.node_id).figures)), ne.active)
        down, payload = sg.Mailbox.by_name(f"d:{ne.node_id}"), job
        for group in job[1]:
            step = group[0]
            if step.is_transfer and step.phase == "download":
                comm = down.put_init(payload, step.wire_bytes)
                payload = None  # only the first download of the epoch carries the job
                if step.rate_cap is not None:
                    comm.set_rate(step.rate_cap)
                state.keep.append(comm.start())
                if plan.wait_for_downloads:
                    waits.append(comm)
        if ne.node_id not in state.started:
            state.started.add(ne.node_id)
            sg.Actor.create(f"node-{ne.node_id}", state.hosts[ne.node_id], _node, state, ne.node_id, job)
    return waits


def _merge_waits(steps: list[Step]) -> list[list[Step]]:
    """Group each run of consecutive waits into one sleep (every sleep is a thread switch);
    a transfer stays a group of its own."""
    groups: list[list[Step]] = []
    for step in steps:
        if groups and not step.is_transfer and not groups[-1][0].is_transfer:
            groups[-1].append(step)
        else:
            groups.append([step])
    return groups


def _node(state: _State, node_id: str, job: tuple) -> None:
    """A node from its first epoch on: take the epoch's steps, then wait on its download mailbox,
    where the next epoch's first download brings the next job (None: the run is over)."""
    import simgrid as sg

    try:
        down = sg.Mailbox.by_name(f"d:{node_id}")
        first_done = False  # the job came as an argument: its first download is still to receive
        idle_since = 0.0
        while job is not None:
            index, groups, active = job
            epoch_start = state.epochs[index].start_s
            times = NodeTimes(delayed_s=max(0.0, (idle_since if first_done else epoch_start) - epoch_start))
            state.epochs[index].nodes[node_id] = times  # before any step: the driver may read it at the barrier
            for position, group in enumerate(groups):
                if first_done and position == 0:  # received while waiting for this job
                    _add(times, "download", sg.Engine.clock - max(epoch_start, idle_since))
                    continue
                _take(state, node_id, index, group, times, down, last=position == len(groups) - 1)
            if math.isnan(times.done_at):  # no upload left running: the node is done now
                times.done_at = sg.Engine.clock
                if active:  # its upload ended with a wait (all of it went in slow start)
                    _uploaded(state)
            idle_since = sg.Engine.clock
            job, first_done = down.get(), True
    except BaseException as exc:  # an exception escaping an actor aborts the process
        state.errors.append(f"node {node_id}: {exc!r}")


def _take(state: _State, node_id: str, index: int, group: list[Step], times: NodeTimes, down: Any, last: bool) -> None:
    """One transfer, or one sleep for a run of waits (each wait counted in its own phase). The
    epoch's last upload is left running: the driver reads its end at the barrier."""
    import simgrid as sg

    step, began = group[0], sg.Engine.clock
    if not step.is_transfer:
        total = sum(w.seconds for w in group)
        if total > 0:
            sg.this_actor.sleep_for(total)
        for wait in group:  # a wait lasts exactly its seconds: the split is known
            _add(times, wait.phase, wait.seconds)
        return
    if step.phase == "download":
        down.get()
    elif not last:
        sg.Comm.sendto(state.hosts[node_id], state.server, step.wire_bytes)
    else:
        comm = sg.Comm.sendto_async(state.hosts[node_id], state.server, step.wire_bytes)
        state.keep.append(comm)
        state.uploads.append((node_id, comm, began))
        times.done_at = math.inf  # set by the driver at the barrier
        _uploaded(state)
        return
    _add(times, step.phase, sg.Engine.clock - began)


def _uploaded(state: _State) -> None:
    """One more active node has started its last upload; the last one lets the driver to the barrier."""
    state.to_upload -= 1
    if state.to_upload == 0:
        state.barrier.release()


def _add(times: NodeTimes, phase: str, seconds: float) -> None:
    setattr(times, f"{phase}_s", getattr(times, f"{phase}_s") + seconds)
