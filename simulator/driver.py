"""A whole simulated run: set-up, then epochs whose nodes the policy chooses from what it would see.

The simulator is a third engine beside Mininet and loopback: the same policies, driven through one
adapter (simulator/strategy_adapter.py), fed by a measurement model (simulator/measurement.py), with
the epochs' times from SimGrid (simulator/transfers.py). One run is one child process (SimGrid keeps
one Engine per process): `run_in_child(spec)` sends a RunSpec as JSON to `python -m simulator.driver`
and reads the run back; `simulate_run(spec)` is what the child does.

What a run simulates (the orchestrator's protocol, orchestrator/epoch_loop.py and edge_client/agent.py):
- set-up: every node downloads the base model (distribution `transfer`), its partition, adapter v0
  and the set-up padding (paper volumes), makes the protocol's other requests (the task's delivery,
  the base's description, the LoRA settings, the acknowledgement: one round trip each) and warms
  up its trainer (`setup_s`, fitted); epoch 0 starts when every node is done. The completion clock starts with it.
- epoch e: every live node downloads the new parameters (not in epoch 0), active ones compute for
  their window T = W / (C x gflops_per_power) (edgeft/timemodel.py) and upload; the barrier is the
  last upload; then the server aggregates and validates (`server_wall_s` / k). Each transfer starts
  from the window its sender's end of the connection has then: the driver follows every node's
  connection through the run with the fidelity report's model over the simulated idle times
  (fidelity.NodeConnection: Mininet's hosts run Reno with slow start after idle, so a window is
  halved per RTO of idle down to 10 segments, and the orchestrator's keep-alive closes a connection
  idle 5 s, so an upload after a longer compute window pays a handshake from fresh windows).
- after epoch e, with `--training real`, the active nodes' updates are computed for real, aggregated
  and validated (simulator/training.py: a protocol the launch layer implements; here no time passes
  for it), so the loss columns are real; under `--training none` they stay empty.
- after epoch e the strategy gets each active node's T_i as the orchestrator measures it (its
  round less the transfer allowance the measured link figures grant: orchestrator/rounds.py) or,
  in replay, as the recording's scorer had it, and the figures of the measurement model.
What the model leaves out is fitted on named calibration runs (docs/simulator.md): the server's
per-epoch work (wall seconds of this machine: a replay divides them by its recording's k, as the
emulation's clock did), the set-up's excess over its transfers (reported seconds: it grows with k),
and the round trips a download and an upload phase take beyond the protocol model.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from edgeft.clock import Clock
from orchestrator import fairness, fidelity
from simulator import measurement, phases, platform, topology
from simulator.phases import NodeEpoch
from orchestrator.registry import NodeStatus
from simulator.strategy_adapter import DEFAULT_UTOPIA, DEFAULT_WEIGHTS, SimNode, SimResult, StrategyAdapter
from simulator.training import TRAINING_MODES, EpochTraining, NoTraining, Training
from simulator.transfers import EpochPlan, EpochTimes

REPO = Path(__file__).resolve().parent.parent
# The built-in model (tiny, LoRA r 8) and data (16 sequences of 128 tokens per node), as recorded.
ADAPTER_BYTES = 67_688  # one adapter version each way (epochs.csv bytes per node-epoch)
BASE_BYTES = 3_684_000  # the base bundle under distribution `transfer`
PARTITION_BYTES = 16_512  # one node's 16 x 128 token ids
WORK_GFLOP = 8.07823  # one node-epoch's declared work (node_epochs.csv work_gflop)
GFLOPS_PER_POWER = 0.25  # orchestrator/config.py EmulationConfig default
SETUP_TRIPS = 4  # set-up round trips besides its artifact GETs: task delivery, base info, LoRA settings, ack
SERVER_WALL_S = 0.35  # the server's aggregation + validation per epoch, wall s here (docs/simulator.md)
SETUP_S = 1.8  # the set-up beyond its modelled transfers, reported s (it grows with k: docs/simulator.md)
HEARTBEAT_TIMEOUT_S = 20.0  # orchestrator/config.py TimeoutConfig default: silence that fails a node


@dataclass
class RunSpec:
    """Everything one simulated run needs (JSON-able: it travels to the child process)."""

    profiles: list[dict]  # ground truth: node_id, bandwidth_mbps, delay_ms, loss_pct, compute_power
    policy: str
    epochs: int
    seed: int = 0
    setup: int = 0
    measurement: str = "truth"
    replay_dir: str = ""
    noise: dict = field(default_factory=dict)  # measurement.NoiseModel.as_dict()
    noise_draw: int = 0  # controller: which realisation of the noise (0: the run's own; validation draws more)
    domains: int | None = None
    adapter_bytes: int = ADAPTER_BYTES
    base_bytes: int = BASE_BYTES
    partition_bytes: int = PARTITION_BYTES
    model_pad: int = 0
    setup_pad: int = 0
    work_gflop: float = WORK_GFLOP
    gflops_per_power: float = GFLOPS_PER_POWER
    dilation: float = 1.0  # the recording's k (replay): host-side overheads are divided by it
    congestion_control: str = "reno"  # the hosts' TCP: the emulation's (topologies/edge_cloud.py), a replay's own
    server_wall_s: float = SERVER_WALL_S
    setup_s: float = SETUP_S
    first_epoch_wall_s: float = 0.0  # epoch 0's server work beyond server_wall_s (wall s here, fitted)
    weights: tuple[float, ...] = DEFAULT_WEIGHTS
    utopia: tuple[float, ...] = DEFAULT_UTOPIA
    paper_volumes: float = 0.0
    samples: int = 16
    scenario: list[dict] = field(default_factory=list)  # orchestrator/config.py ScenarioEvent fields
    extra_download_rtts: float = 0.0  # calibrated round trips a download takes beyond the protocol model
    extra_download_rtts_per_loss: float = 0.0  # and per loss it expects in slow start (phases.slow_start_losses)
    extra_upload_rtts: float = 0.0  # the same for an upload phase
    training: str = "none"  # none: time only; real: the losses trained for real (simulator/training.py)
    heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S  # reported s of silence after which a node is failed
    policy_options: dict = field(
        default_factory=dict
    )  # orchestrator/config.py PolicyOptions fields (not set: defaults)

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunSpec":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        spec = cls(**known)
        spec.weights, spec.utopia = tuple(spec.weights), tuple(spec.utopia)
        return spec

    def truth(self) -> dict[str, tuple[float, float, float]]:
        """The drawn links: {node_id: (bandwidth_mbps, delay_ms, loss_pct)}."""
        fields = ("bandwidth_mbps", "delay_ms", "loss_pct")
        return {p["node_id"]: tuple(float(p[f]) for f in fields) for p in self.profiles}

    def window_s(self, compute_power: float) -> float:
        """A node's compute window (edgeft/timemodel.py: T = W / (C x gflops_per_power))."""
        return self.work_gflop / (compute_power * self.gflops_per_power)

    def crashes(self) -> dict[str, int]:
        """Each crashing node's crash epoch (scenario events with `crash`: experiments/runners/crashes.py)."""
        return {e["node_id"]: e["epoch"] for e in sorted(self.scenario, key=lambda e: -e["epoch"]) if e.get("crash")}

    def at_epoch(self, epoch: int) -> dict[str, dict]:
        """Every node's profile with the scenario's changes in force at `epoch` (link and compute),
        as orchestrator/scenario.py applies them: later events win, `restore` goes back to the draw."""
        if not self.scenario:
            return {p["node_id"]: p for p in self.profiles}
        from orchestrator.config import ScenarioEvent
        from orchestrator.scenario import Scenario

        scenario = Scenario([ScenarioEvent(**event) for event in self.scenario])
        return {p["node_id"]: {**p, **scenario.state(p["node_id"], epoch)} for p in self.profiles}


def measurement_model(spec: RunSpec) -> measurement.MeasurementModel:
    """The spec's measurement model (simulator/measurement.py)."""
    if spec.measurement == "truth":
        return measurement.TruthModel(spec.truth())
    if spec.measurement == "controller":
        noise = measurement.NoiseModel.from_dict(spec.noise)
        return measurement.ControllerModel(spec.truth(), noise, spec.seed, spec.noise_draw)
    if spec.measurement == "replay":
        return measurement.ReplayModel.from_run(spec.replay_dir)
    raise ValueError(f"measurement must be one of {', '.join(measurement.MEASUREMENTS)} (got {spec.measurement!r})")


@dataclass
class _Run:
    """The driver's state between the planner's calls."""

    spec: RunSpec
    topo: topology.Topology
    adapter: StrategyAdapter
    model: measurement.MeasurementModel
    epoch_rows: list[dict] = field(default_factory=list)
    node_rows: list[dict] = field(default_factory=list)
    clock_s: float = 0.0  # completion clock: set-up + epochs so far
    links: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # node -> its link now
    training: Training = field(default_factory=NoTraining)
    val_loss: float = math.nan  # the last epoch's validation loss (NaN: none yet, or no training)
    failed: dict[str, str] = field(default_factory=dict)  # node -> why its update did not count
    connections: dict[str, fidelity.NodeConnection] = field(default_factory=dict)  # node -> its TCP connection


def simulate_run(spec: RunSpec, training: Training | None = None) -> dict[str, Any]:
    """The whole run in this process (once per process): its rows and summary. `training`: the
    losses' source under `--training real` (simulator/training.py; the launch layer's), required then."""
    from simulator.transfers import simulate

    run = prepare_run(spec, training)
    started = time.process_time()
    try:
        resolution_s = platform.time_resolution_s(len(run.topo.nodes))
        times = simulate(run.topo, lambda index, done: plan_epoch(run, index, done), resolution_s)
        return {
            "epochs": run.epoch_rows,
            "node_epochs": run.node_rows,
            "summary": {**_summary(run, times), "time_resolution_s": resolution_s},  # SimGrid's (platform.py)
            "cpu_s": time.process_time() - started,
        }
    finally:
        run.adapter.close()


def prepare_run(spec: RunSpec, training: Training | None = None) -> _Run:
    """A run's state before its set-up: nodes, strategy, tree, measurement model and training."""
    check_training(spec, training)
    nodes = [SimNode(p["node_id"], float(p["compute_power"]), spec.samples) for p in spec.profiles]
    options = None
    if spec.policy_options:
        from orchestrator.config import PolicyOptions

        options = PolicyOptions(**spec.policy_options)
    tree, model = topology.build(spec.profiles, domains=spec.domains), measurement_model(spec)
    # the adapter last: it may write the oracles' truth file, which simulate_run removes once it has a run
    adapter = StrategyAdapter(
        spec.policy, nodes, spec.epochs, spec.seed, spec.weights, spec.utopia, spec.truth(), options
    )
    run = _Run(spec, tree, adapter, model)
    run.training = training if training is not None else NoTraining()
    run.links = {n.node_id: (n.rate_mbps, n.delay_ms, n.loss_pct) for n in run.topo.nodes}  # as drawn
    return run


def check_training(spec: RunSpec, training: Training | None) -> None:
    """ValueError unless the spec's training mode and the training given agree."""
    if spec.training not in TRAINING_MODES:
        raise ValueError(f"training must be one of {', '.join(TRAINING_MODES)} (got {spec.training!r})")
    if spec.training == "real" and training is None:
        raise ValueError("training real needs its trainer, wired in by the launch layer (edgeft simulate)")


def plan_epoch(run: _Run, index: int, done: Sequence[EpochTimes]) -> EpochPlan | None:
    """Plan 0 is the set-up, plan e + 1 training epoch e; before each, the last epoch is closed."""
    spec = run.spec
    if index == 0:
        return _setup_plan(run)
    run.clock_s += done[-1].epoch_s
    if index >= 2:
        chosen = _close(run, index - 2, done[-1])
        if chosen is None:
            return None
    epoch = index - 1
    first = epoch == 0
    now = spec.at_epoch(epoch)
    active = {a.node_id for a in run.adapter.active()}
    dead = _dead(spec, epoch)
    _close_connections(run, done[-1] if index >= 2 else None, now)
    nodes = tuple(
        _node_epoch(run, n.node_id, n.node_id in active, first, now[n.node_id])
        for n in run.adapter.live()
        if n.node_id not in dead
    )
    # A crashed node moves nothing. Handed work, it holds the round until the orchestrator fails it for
    # its silence (its client died as the epoch started); benched, nobody waits for it.
    silent = tuple(NodeEpoch(i, True, compute_s=spec.heartbeat_timeout_s) for i in sorted(dead & active))
    plans = tuple(ne if ne.active else _benched(ne) for ne in nodes) + silent
    server_wall = spec.server_wall_s + (spec.first_epoch_wall_s if first else 0.0)
    server_s = Clock(spec.dilation).to_reported(server_wall)
    return EpochPlan(
        plans,
        server_s=server_s,
        links=_changed_links(run, now),
        dilation=spec.dilation,
        congestion_control=spec.congestion_control,
    )


def profile_link(profile: dict) -> fidelity.Link:
    """A profile's (ground truth's) link figures as the fidelity model takes them."""
    return fidelity.Link(float(profile["bandwidth_mbps"]), float(profile["delay_ms"]), float(profile["loss_pct"]))


def _close_connections(run: _Run, last: EpochTimes | None, now: dict[str, dict]) -> None:
    """Carry each connection over the end of the last epoch, as fidelity.transfer_pairs does over a
    recording's rows: an active node's orchestrator idles from the node's download to its result's
    answer, then both ends through its wait for the barrier and the server's work. A node that did not
    upload in the last epoch (benched, new) starts from fresh windows: its last send was an epoch ago,
    far beyond the retransmission timeout, and its long poll kept the connection open."""
    # A crashed node's silence holds the round (wait_s set) but opened no connection: nothing to carry.
    uploaded = {} if last is None else {i: t for i, t in last.nodes.items() if t.wait_s is not None}
    uploaded = {i: t for i, t in uploaded.items() if i in run.connections}
    server_s = 0.0 if last is None else last.epoch_s - last.round_s
    for node_id in list(run.connections):
        if node_id not in uploaded:
            del run.connections[node_id]
    for node_id, times in uploaded.items():
        conn, link = run.connections[node_id], profile_link(now[node_id])
        conn.idle(times.compute_s + times.upload_s, link, node=False)
        conn.round_end(times.wait_s or 0.0, link, server_s)


def _node_epoch(run: _Run, node_id: str, active: bool, first: bool, profile: dict) -> NodeEpoch:
    """One live node's plan for this epoch, each transfer from the window its connection holds then
    (fidelity.NodeConnection, advanced here by the lone-flow model: the windows are what the
    simulation needs from it, not its times). Its upload pays a new connection's handshake when its
    compute window outlasted the keep-alive, and the round's last node's late poll."""
    spec, link = run.spec, profile_link(profile)
    conn = run.connections.setdefault(node_id, fidelity.NodeConnection(spec.dilation, spec.congestion_control))
    rtt = link.delay_ms / 1000
    down_bytes, down_pad = (0, 0) if first else (spec.adapter_bytes, spec.model_pad)
    down_cwnd = conn.server_cwnd
    if not first:
        conn.idle(conn.download_s(down_bytes, down_pad, link), link, server=False)  # the node acks, then polls
    compute = spec.window_s(float(profile["compute_power"]))
    upload_wait = spec.extra_upload_rtts * rtt
    up_cwnd = conn.node_cwnd
    if active:
        upload_wait += (0.0 if first else conn.poll_late_s) + conn.resume_after(compute, link)
        up_cwnd = conn.node_cwnd
        conn.send_upload(spec.adapter_bytes, spec.model_pad, link)
    return NodeEpoch(
        node_id,
        active,
        down_bytes,
        down_pad,
        compute,
        spec.adapter_bytes,
        spec.model_pad,
        upload_cwnd=up_cwnd,
        download_wait_s=download_extra_rtts(spec, link) * rtt,
        upload_wait_s=upload_wait,
        download_cwnd=down_cwnd,
    )


def download_losses(spec: RunSpec, link: fidelity.Link) -> float:
    """The losses one epoch's download (adapter and padding) expects in slow start on this link."""
    return phases.slow_start_losses(spec.adapter_bytes + spec.model_pad, link, spec.dilation, spec.congestion_control)


def download_extra_rtts(spec: RunSpec, link: fidelity.Link) -> float:
    """The calibrated round trips one epoch's download takes beyond the protocol model: a flat part
    plus a price per loss it expects in slow start (module doc of simulator/validation.py)."""
    return spec.extra_download_rtts + spec.extra_download_rtts_per_loss * download_losses(spec, link)


def _dead(spec: RunSpec, epoch: int) -> set[str]:
    """The nodes whose client has crashed by `epoch` (it crashed as its crash epoch started)."""
    return {node for node, at in spec.crashes().items() if at <= epoch}


def _changed_links(run: _Run, now: dict[str, dict]) -> tuple[topology.AccessLink, ...]:
    """The access links a scenario changes as this epoch starts (compared with the last epoch)."""
    changed = []
    for node_id, profile in now.items():
        figures = tuple(float(profile[k]) for k in ("bandwidth_mbps", "delay_ms", "loss_pct"))
        if run.links.get(node_id, figures) != figures:
            changed.append(topology.AccessLink(node_id, *figures))
        run.links[node_id] = figures
    return tuple(changed)


def _benched(plan: NodeEpoch) -> NodeEpoch:
    return NodeEpoch(
        plan.node_id,
        False,
        plan.download_bytes,
        plan.download_pad,
        download_wait_s=plan.download_wait_s,
        download_cwnd=plan.download_cwnd,
    )


def setup_bytes(spec: RunSpec) -> int:
    """What one node downloads in its set-up: base (under `transfer`), partition, adapter v0, padding."""
    return spec.base_bytes + spec.partition_bytes + spec.adapter_bytes + spec.setup_pad


def _setup_plan(run: _Run) -> EpochPlan:
    spec = run.spec
    gets = 2 + (spec.base_bytes > 0)  # partition, adapter v0, the base under `transfer`
    chosen = {p["node_id"] for p in spec.profiles}
    if run.adapter.chooses_setup:
        # What the controller shows as the set-up starts: the model's epoch-0 figures, from the probes it
        # holds before the run's clock starts (asked only by a policy that chooses, so that the draws of
        # every other policy's run stay as they were).
        seen = run.model.figures(0, sorted(chosen), 0.0)
        chosen = run.adapter.choose_setup(seen, setup_bytes(spec))
    nodes = []
    for p in spec.profiles:
        if p["node_id"] not in chosen:  # left out by the policy: never set up, never in a round
            continue
        rtt = float(p["delay_ms"]) / 1000
        after = (SETUP_TRIPS + gets - 1) * rtt + spec.setup_s
        nodes.append(
            NodeEpoch(
                p["node_id"],
                False,
                spec.base_bytes + spec.partition_bytes + spec.adapter_bytes,
                spec.setup_pad,
                after_s=after,
                download_cwnd=fidelity.INIT_CWND,  # the connection has carried only small answers yet
            )
        )
    return EpochPlan(
        tuple(nodes), wait_for_downloads=True, dilation=spec.dilation, congestion_control=spec.congestion_control
    )


def _close(run: _Run, epoch: int, times: EpochTimes) -> frozenset[str] | None:
    """Epoch `epoch` is over: its training, results and figures to the strategy; who trains next."""
    spec = run.spec
    crashed = {}
    for node in run.adapter.active():
        if node.node_id in _dead(spec, epoch):  # no result: failed for its silence, as the orchestrator does
            node.status = NodeStatus.FAILED
            crashed[node.node_id] = f"no heartbeat for {spec.heartbeat_timeout_s:.0f} s (crashed or cut off)"
            run.failed[node.node_id] = crashed[node.node_id]
    trained = _train(run, epoch)
    active = [n.node_id for n in run.adapter.active()]
    if isinstance(run.model, (measurement.TruthModel, measurement.ControllerModel)):
        now = spec.at_epoch(epoch)  # what the controller measures after the epoch: the link during it
        run.model.truth = {
            i: tuple(float(p[k]) for k in ("bandwidth_mbps", "delay_ms", "loss_pct")) for i, p in now.items()
        }
    figures = run.model.figures(
        epoch, [n.node_id for n in run.adapter.live()], Clock(spec.dilation).to_wall(run.clock_s)
    )
    results = {}
    for node_id in active:
        nt = times.nodes[node_id]
        trip = nt.delayed_s + nt.download_s + nt.compute_s + nt.upload_s
        access = topology.AccessLink(node_id, *run.links[node_id])
        train = measured_train_time(nt.compute_s, nt.upload_s, spec, figures.get(node_id), access)
        if spec.measurement == "replay" and figures.get(node_id) and math.isfinite(figures[node_id].train_time_s):
            train = figures[node_id].train_time_s  # what the recording's scorer had
        results[node_id] = SimResult(
            node_id,
            train,
            trip,
            nt.compute_s,
            spec.samples,
            spec.work_gflop,
            loss=trained.node_loss.get(node_id, math.nan),
            timing={"download_s": nt.download_s, "upload_s": nt.upload_s, "waiting_s": nt.wait_s or 0.0},
            weight=trained.node_weight.get(node_id, math.nan),
        )
    record = run.adapter.close_epoch(
        epoch,
        results,
        figures,
        times.epoch_s,
        spec.adapter_bytes + spec.model_pad,
        val_loss=trained.val_loss,
        digest=trained.digest,
        failures={**trained.refused, **crashed},
    )
    trips = [r.round_trip_s for r in results.values()]
    record.epoch_row.update(
        bubble_s=fairness.bubble_time(times.round_s, trips),
        coverage=fairness.coverage(len(results) * spec.samples, len(spec.profiles) * spec.samples),
        bytes_out=spec.adapter_bytes + spec.model_pad,
    )
    run.epoch_rows.append(record.epoch_row)
    run.node_rows.extend(record.node_rows)
    return record.chosen


def _train(run: _Run, epoch: int) -> EpochTraining:
    """The epoch's training (simulator/training.py) over the nodes that trained in it; the nodes whose
    update did not count are failed for the run, as orchestrator/epoch_loop.py does."""
    trained = run.training.train_epoch(epoch, sorted(n.node_id for n in run.adapter.active()))
    for node in run.adapter.nodes:
        if node.node_id in trained.refused:
            node.status = NodeStatus.FAILED
            run.failed[node.node_id] = trained.refused[node.node_id]
    run.val_loss = trained.val_loss
    return trained


def measured_train_time(compute_s: float, upload_s: float, spec: RunSpec, seen: Any, access: Any) -> float:
    """T_i as orchestrator/rounds.py measures it: the compute window plus whatever of the upload
    the transfer allowance of the node's measured link does not cover (a shared bottleneck)."""
    true_link = access.figures
    trips = (fidelity.UPLOAD_RTTS_AFTER_SYNC - 1) * true_link.delay_ms / 1000
    link = true_link
    if seen is not None and seen.bandwidth_mbps > 0 and math.isfinite(seen.delay_ms):
        link = fidelity.Link(seen.bandwidth_mbps, seen.delay_ms, 0.0)
    rtt = link.delay_ms / 1000
    allowance = rtt + fidelity.transfer_s(spec.adapter_bytes, link, fresh=True)
    if spec.model_pad:
        allowance += rtt + fidelity.transfer_s(spec.model_pad, link, fresh=True)
    return compute_s + max(upload_s - trips - allowance, 0.0)


def _summary(run: _Run, times: Sequence[EpochTimes]) -> dict[str, Any]:
    spec, adapter = run.spec, run.adapter
    trained: dict[str, int] = {n.node_id: 0 for n in adapter.nodes}
    for row in run.node_rows:
        trained[row["node_id"]] += row["status"] != "failed"  # a refused update did not count
    share = fairness.participation([trained[i] for i in sorted(trained)], spec.epochs)
    pre_loss = run.training.pre_training_loss()
    return {
        "engine": "simulate",
        "measurement": spec.measurement,
        "policy": spec.policy,
        "nodes": len(spec.profiles),
        "epochs": spec.epochs,
        "seed": spec.seed,
        "setup": spec.setup,
        "completion_time_s": sum(t.epoch_s for t in times[1:]) + times[0].round_s,
        "setup_time_s": times[0].round_s,
        "not_set_up": adapter.not_set_up,
        "pre_training_loss": pre_loss,
        "final_val_loss": run.val_loss if pre_loss is not None else None,
        "active_at_end": len(adapter.active()),
        "eliminated_at_end": len(adapter.live()) - len(adapter.active()),
        "failed": len(run.failed),
        "failed_nodes": dict(run.failed),
        "training": spec.training,
        "training_stats": run.training.stats(),
        "paper_volumes": spec.paper_volumes,
        "jain_index": fairness.jain_index(share),
        "jain_normalised": fairness.jain_normalised(share),
        "mean_coverage": sum(r["coverage"] for r in run.epoch_rows) / max(len(run.epoch_rows), 1),
        "mean_bubble_s": sum(r["bubble_s"] for r in run.epoch_rows) / max(len(run.epoch_rows), 1),
        "readmissions": adapter.readmissions,
        "dilation": 1.0,  # a simulated run's clock is the identity (edgeft/clock.py)
        "replayed_dilation": spec.dilation if spec.measurement == "replay" else None,
    }


def run_in_child(spec: RunSpec, timeout_s: float | None = None) -> dict[str, Any]:
    """simulate_run in a fresh child process; RuntimeError naming the cause when it fails."""
    from simulator.run_epoch import in_child

    return in_child("simulator.driver", spec.as_dict(), "summary", timeout_s)


def main() -> int:
    """The child: a RunSpec (JSON) on stdin, the run (JSON) on stdout; exit 2 for a bad spec."""
    from simulator.transfers import SimulationError

    try:
        spec = RunSpec.from_dict(json.load(sys.stdin))
        measurement_model(spec)
        check_training(spec, None)  # this door has no trainer: real training goes through edgeft simulate
    except (ValueError, TypeError, KeyError, OSError) as exc:
        print(json.dumps({"error": f"bad simulation spec: {exc}"}))
        return 2
    try:
        answer = simulate_run(spec)
    except (SimulationError, ValueError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(answer, default=_jsonable))
    return 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


if __name__ == "__main__":
    sys.exit(main())
