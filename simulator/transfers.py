"""Epochs of the federated protocol on a SimGrid platform: every transfer a communication, every wait a sleep.

One driver actor on the server runs the epochs one after another. In each epoch, every live node
(active or benched) downloads the parameters; active nodes then make their protocol round trips,
compute for their window and upload; the epoch's round ends when the last active upload has
arrived (the barrier), then the server works for `server_s` (aggregation, validation) before the
next epoch starts. A benched node's download is not waited for: it may run on into the next epoch,
and the node's next epoch starts when it is done (a node does one thing at a time). A plan with
`wait_for_downloads` (the set-up) waits for every node to finish its steps. What each node does is
simulator/phases.py's step list. The driver posts the server's side of every download (rate-capped
where loss caps it); a node's actor takes its steps in order, its last upload a host-to-host
communication that the driver waits for at the barrier.

The epochs come from a planner: `simulate(topology, planner)` asks `planner(index, done)` for epoch
`index` once the epochs before it (`done`, their simulated times) are over, so a selection policy can
choose the next epoch's nodes from what the last one measured (simulator/driver.py); None ends the
run. A list of plans is the planner that returns them in turn.

Cost: SimGrid's Python actors are threads, and every blocking call is two thread switches, so a node
has one actor for the whole run (started at its first epoch, woken for each later one by a
semaphore, at no simulated cost), its consecutive waits are one sleep, and the server does not
post a receive per upload. The server's side of a download is detached, not kept: SimGrid 3.32 keeps every
communication an actor starts and never waits for in that actor's list of activities (a std::list),
and each communication the driver later waits for (every last upload, at the barrier) is removed from
it by a linear scan, so that list, growing by N downloads an epoch, cost O(N^2 x epochs^2): a quarter
of the CPU of 1 000 nodes x 10 epochs. The node's receive still ends exactly when the transfer does
(every node-epoch must report done, so a lost download would still be caught). What is left is
SimGrid's max-min solver: every flow event (a flow's latency paid, a flow done) re-solves the sharing
of all the flows on the server's link, one saturation round per flow that its own access link bounds,
each round a scan of every active link: O(N^2) per event, O(N^3) per epoch (experiments/bench_simulate.py).

SimGrid 3.32 pitfalls handled here: an exception escaping an actor aborts the process (every actor
catches everything and records it); a deadlock only logs and run() returns (every node-epoch and
the driver must report done, or simulate() raises); a second Engine in one process keeps the first
one's clock (run one simulate() per process: simulator/run_epoch.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from simulator import phases, platform
from simulator.phases import NodeEpoch, Step
from simulator.topology import AccessLink, Topology


class SimulationError(RuntimeError):
    """The simulation did not finish every communication, or an actor failed."""


@dataclass(frozen=True)
class EpochPlan:
    """One epoch: its live nodes (absent: not live, e.g. crashed) and the server's own work after the
    barrier. `wait_for_downloads`: the barrier also waits for every node that does not train to finish
    its steps (the set-up: downloads, then its acknowledgement and warm-up). `links`: a scenario's
    link changes, in force from this epoch on (a transfer still running takes the new rate)."""

    nodes: tuple[NodeEpoch, ...]
    server_s: float = 0.0
    wait_for_downloads: bool = False
    links: tuple[AccessLink, ...] = ()  # access links that change as this epoch starts (a scenario), and stay
    dilation: float = 1.0  # the k whose wall clock TCP's timers run on (a replayed recording's: phases.node_steps)
    congestion_control: str = "reno"  # the hosts' TCP (phases.node_steps)


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


Planner = Callable[[int, Sequence[EpochTimes]], "EpochPlan | None"]


@dataclass
class _State:
    topology: Topology
    planner: Planner
    plans: list[EpochPlan] = field(default_factory=list)
    hosts: dict[str, Any] = field(default_factory=dict)
    server: Any = None
    access: dict[str, Any] = field(default_factory=dict)  # node id -> its SimGrid access link
    current: dict[str, Any] = field(default_factory=dict)  # node id -> its link figures now (scenarios)
    epochs: list[EpochTimes] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    jobs: dict[str, list] = field(default_factory=dict)  # node -> jobs posted, not yet taken (None: stop)
    wake: dict[str, Any] = field(default_factory=dict)  # node -> simgrid.Semaphore, one release per job
    keep: list[Any] = field(default_factory=list)  # every communication, alive until the end
    uploads: list[tuple[str, Any, float]] = field(default_factory=list)  # this epoch's last uploads
    pending: int = 0  # nodes the barrier still waits to hear from (module doc)
    barrier: Any = None  # simgrid.Semaphore: released when pending reaches 0
    driver_done: bool = False


def plan_list(plans: Sequence[EpochPlan]) -> Planner:
    """The planner that returns these plans in turn."""
    return lambda index, _done: plans[index] if index < len(plans) else None


def simulate(topology: Topology, plans: Sequence[EpochPlan] | Planner, resolution_s: float) -> list[EpochTimes]:
    """Run these epochs (a list, or a planner: module doc) on this topology; once per process
    (SimGrid keeps one Engine per process). `resolution_s`: SimGrid's time resolution (the caller's
    choice, usually platform.time_resolution_s for the topology's size, so it can record it)."""
    import simgrid as sg

    if not callable(plans):
        check_plans(topology, list(plans))
        plans = plan_list(list(plans))
    engine = sg.Engine(platform.engine_args(resolution_s))
    built = platform.build(topology)
    state = _State(topology, plans, hosts=built.hosts, server=built.server, access=built.access)
    sg.Actor.create("driver", built.server, _driver, state)
    engine.run()
    if state.errors:
        raise SimulationError(f"{len(state.errors)} actor(s) failed; first: {state.errors[0]}")
    if not state.driver_done:
        raise SimulationError("the simulation stopped before the last epoch's barrier (a deadlock)")
    missing = [
        (i, n.node_id) for i, p in enumerate(state.plans) for n in p.nodes if n.node_id not in state.epochs[i].nodes
    ]
    if missing:
        raise SimulationError(f"{len(missing)} node-epoch(s) never finished; first (epoch, node): {missing[0]}")
    return state.epochs


def check_plans(topology: Topology, plans: Sequence[EpochPlan]) -> None:
    """ValueError naming the first epoch whose plan does not fit the topology."""
    for i, plan in enumerate(plans):
        check_plan(topology, plan, i)


def check_plan(topology: Topology, plan: EpochPlan, index: int) -> None:
    """ValueError naming what in epoch `index`'s plan does not fit the topology."""
    ids = [n.node_id for n in plan.nodes]
    unknown = sorted(set(ids) - {n.node_id for n in topology.nodes})
    if unknown:
        raise ValueError(f"epoch {index}: node {unknown[0]} is not in the topology")
    if len(set(ids)) != len(ids):
        raise ValueError(f"epoch {index}: a node appears twice")
    if not (math.isfinite(plan.server_s) and plan.server_s >= 0):
        raise ValueError(f"epoch {index}: server_s must be a finite number >= 0 (got {plan.server_s})")
    if not (math.isfinite(plan.dilation) and plan.dilation >= 1):
        raise ValueError(f"epoch {index}: dilation must be a finite number >= 1 (got {plan.dilation})")
    strangers = sorted({link.node_id for link in plan.links} - {n.node_id for n in topology.nodes})
    if strangers:
        raise ValueError(f"epoch {index}: a link change names node {strangers[0]}, which is not in the topology")


def _driver(state: _State) -> None:
    """The server: per epoch, asks the planner for the plan, posts its side of every download,
    hands each live node its job (starting its actor at its first epoch), keeps the barrier."""
    import simgrid as sg

    try:
        state.barrier = sg.Semaphore(0)
        index = 0
        while (plan := state.planner(index, state.epochs)) is not None:
            check_plan(state.topology, plan, index)
            state.plans.append(plan)
            _run_epoch(state, index, plan)
            index += 1
        for node_id in state.wake:  # after any download still running: stop
            state.jobs[node_id].append(None)
            state.wake[node_id].release()
        sg.Comm.wait_all(state.keep)
        state.driver_done = True
    except BaseException as exc:  # an exception escaping an actor aborts the process
        state.errors.append(f"driver: {exc!r}")


def _run_epoch(state: _State, index: int, plan: EpochPlan) -> None:
    """One epoch, from its start to the end of the server's work after the barrier."""
    import simgrid as sg

    start = sg.Engine.clock
    times = EpochTimes(start)
    state.epochs.append(times)
    _start_epoch(state, index, plan)
    if state.pending > 0:
        state.barrier.acquire()  # every node the barrier waits for has started its last upload or is done
    sg.Comm.wait_all([comm for _, comm, _ in state.uploads])
    for node_id, comm, began in state.uploads:  # the last upload's time, now that it is known
        nt = times.nodes[node_id]
        nt.upload_s += comm.finish_time - began
        nt.done_at = comm.finish_time
    times.round_s = sg.Engine.clock - start
    barrier = start + times.round_s
    for ne in plan.nodes:
        if ne.active:
            times.nodes[ne.node_id].wait_s = max(0.0, barrier - times.nodes[ne.node_id].done_at)
    if plan.server_s > 0:
        sg.this_actor.sleep_for(plan.server_s)
    times.epoch_s = sg.Engine.clock - start


def _start_epoch(state: _State, index: int, plan: EpochPlan) -> None:
    """Post the server's side of this epoch's downloads and hand each live node its job."""
    import simgrid as sg

    for link in plan.links:
        platform.set_access(state.access[link.node_id], link.figures)
        state.current[link.node_id] = link.figures
    state.uploads = []
    state.pending = sum(1 for ne in plan.nodes if ne.active or plan.wait_for_downloads)
    for ne in plan.nodes:
        figures = state.current.get(ne.node_id) or state.topology.node(ne.node_id).figures
        groups = _merge_waits(phases.node_steps(ne, figures, plan.dilation, plan.congestion_control))
        down = sg.Mailbox.by_name(f"d:{ne.node_id}")
        for group in groups:
            step = group[0]
            if step.is_transfer and step.phase == "download":
                comm = down.put_init(None, step.wire_bytes)
                if step.rate_cap is not None:
                    comm.set_rate(step.rate_cap)
                comm.detach()  # module doc (Cost): the node's receive is what is waited for
        job = (index, groups, ne.active or plan.wait_for_downloads)
        if ne.node_id not in state.wake:
            state.wake[ne.node_id], state.jobs[ne.node_id] = sg.Semaphore(0), []
            sg.Actor.create(f"node-{ne.node_id}", state.hosts[ne.node_id], _node, state, ne.node_id)
        state.jobs[ne.node_id].append(job)
        state.wake[ne.node_id].release()


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


def _node(state: _State, node_id: str) -> None:
    """A node for the whole run: take each job's steps when it is handed one (a job posted while the
    node is still busy waits: `delayed_s`); None ends the run."""
    import simgrid as sg

    try:
        down = sg.Mailbox.by_name(f"d:{node_id}")
        while True:
            state.wake[node_id].acquire()
            job = state.jobs[node_id].pop(0)
            if job is None:
                return
            index, groups, counted = job
            epoch_start = state.epochs[index].start_s
            times = NodeTimes(delayed_s=max(0.0, sg.Engine.clock - epoch_start))
            state.epochs[index].nodes[node_id] = times  # before any step: the driver may read it at the barrier
            for position, group in enumerate(groups):
                _take(state, node_id, group, times, down, last=counted and position == len(groups) - 1)
            if math.isnan(times.done_at):  # no upload left running: the node is done now
                times.done_at = sg.Engine.clock
                if counted:  # a set-up node, or an upload that ended with a wait (all of it in slow start)
                    _release(state)
    except BaseException as exc:  # an exception escaping an actor aborts the process
        state.errors.append(f"node {node_id}: {exc!r}")


def _take(state: _State, node_id: str, group: list[Step], times: NodeTimes, down: Any, last: bool) -> None:
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
        _release(state)
        return
    _add(times, step.phase, sg.Engine.clock - began)


def _release(state: _State) -> None:
    """One more node the barrier waits for has started its last upload (or is done); the last one
    lets the driver on to the barrier."""
    state.pending -= 1
    if state.pending == 0:
        state.barrier.release()


def _add(times: NodeTimes, phase: str, seconds: float) -> None:
    setattr(times, f"{phase}_s", getattr(times, f"{phase}_s") + seconds)
