"""The simulator's driver without SimGrid: its strategy adapter (simulator/strategy_adapter.py) makes the
policy's own choices from the same figures, its measured T_i follows orchestrator/rounds.py, and a bad
spec is refused. The recorded 4-node Mininet run is used for its figures and choices only (it was
recorded at k = 1 on a loaded host: its times are not validated against)."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import fidelity
from orchestrator.registry import NodeStatus
from simulator import driver, measurement
from simulator.strategy_adapter import SimNode, SimResult, StrategyAdapter
from simulator.transfers import EpochTimes, NodeTimes

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_folders" / "mininet-4n"


def _rows(path: Path) -> list[dict]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("policy", ["ne", "ar"])
def test_the_adapter_chooses_what_the_recorded_orchestrator_chose(policy):
    run = FIXTURE / f"n4-setup2-seed0-{policy}"
    truth = json.loads((run / "ground_truth.json").read_text())["nodes"]
    nodes = [SimNode(n["node_id"], n["compute_power"], 16) for n in truth]
    adapter = StrategyAdapter(policy, nodes, 3, 0)
    replay = measurement.ReplayModel.from_run(run)
    recorded = _rows(run / "epochs.csv")
    for row in recorded:
        epoch = int(row["epoch"])
        active = sorted(n.node_id for n in adapter.active())
        assert active == sorted(row["active_nodes"].split(";"))
        figures = replay.figures(epoch, [n.node_id for n in adapter.live()], 0.0)
        results = {i: SimResult(i, figures[i].train_time_s, 1.0, figures[i].train_time_s, 16) for i in active}
        record = adapter.close_epoch(epoch, results, figures, 1.0, 67_688)
        assert record.dropped == [x for x in row["eliminated"].split(";") if x]
        assert record.scores == pytest.approx(json.loads(row["scores"]), abs=1e-6)
    assert sum(n.status == NodeStatus.ACTIVE for n in adapter.nodes) == (2 if policy == "ne" else 4)


def test_measured_train_time_is_the_window_when_the_upload_took_what_the_link_allows():
    spec = driver.RunSpec([], "ar", 2)
    access = type("Access", (), {"figures": fidelity.Link(8.0, 40.0, 0.0)})()
    seen = measurement.Seen(8.0, 40.0, 0.0)
    alone = fidelity.predict_upload_s(spec.adapter_bytes, 0, access.figures, after_sync=True)
    assert driver.measured_train_time(3.0, alone, spec, seen, access) == pytest.approx(3.0, abs=0.05)
    # a shared bottleneck that doubles the upload shows up in T_i, as in the orchestrator's measurement
    assert driver.measured_train_time(3.0, 2 * alone, spec, seen, access) > 3.0 + 0.5 * alone - 0.05


def test_a_bad_spec_exits_2_with_one_line():
    spec = driver.RunSpec(
        [{"node_id": "a", "bandwidth_mbps": 1, "delay_ms": 1, "loss_pct": 0, "compute_power": 1}], "ar", 2
    )
    data = spec.as_dict() | {"measurement": "guess"}
    proc = subprocess.run(
        [sys.executable, "-m", "simulator.driver"],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        cwd=driver.REPO,
    )
    assert proc.returncode == 2
    assert "measurement must be one of truth, controller, replay" in json.loads(proc.stdout)["error"]


def test_each_transfer_starts_from_the_window_its_connection_holds():
    """The driver follows each node's connection (fidelity.NodeConnection) over the simulated idle times:
    a compute window longer than the keep-alive costs the upload a handshake, a download after an
    idle wait starts from a fresh window, and the round's last node gets its SYNC one round trip late."""
    profiles = [
        {"node_id": "fast", "bandwidth_mbps": 10.0, "delay_ms": 40.0, "loss_pct": 0.0, "compute_power": 16.0},
        {"node_id": "slow", "bandwidth_mbps": 10.0, "delay_ms": 100.0, "loss_pct": 0.0, "compute_power": 4.0},
    ]
    spec = driver.RunSpec(profiles, "ar", 3)
    assert spec.window_s(16.0) + 0.04 < fidelity.KEEP_ALIVE_S < spec.window_s(4.0)
    run = driver.prepare_run(spec)
    setup = EpochTimes(0.0, round_s=5.0, epoch_s=5.0)
    first = {p.node_id: p for p in driver.plan_epoch(run, 1, [setup]).nodes}
    assert first["fast"].upload_wait_s == 0.0  # kept connection: the protocol's own round trips only
    assert first["slow"].upload_wait_s == pytest.approx(0.1)  # closed by the keep-alive: a handshake
    assert first["fast"].upload_cwnd == first["slow"].upload_cwnd == fidelity.INIT_CWND
    # epoch 0 as simulated: the slow node's upload ended the round; the fast one waited for it
    times = {
        "fast": NodeTimes(compute_s=spec.window_s(16.0), upload_s=0.2, wait_s=6.0),
        "slow": NodeTimes(compute_s=spec.window_s(4.0), upload_s=0.5, wait_s=0.0),
    }
    epoch0 = EpochTimes(5.0, round_s=8.6, epoch_s=8.6, nodes=times)  # no server work: the last node polls late
    second = {p.node_id: p for p in driver.plan_epoch(run, 2, [setup, epoch0]).nodes}
    assert second["fast"].download_cwnd == second["slow"].download_cwnd == fidelity.INIT_CWND
    assert second["fast"].upload_wait_s == 0.0
    assert second["slow"].upload_wait_s == pytest.approx(0.1 + 0.1)  # its late poll, then a handshake


def test_a_replay_scores_with_the_recorded_loss_not_settled_again():
    """A recording settles each node's probe loss among every live node, benched ones too (whose figures
    the run folder does not hold). Settled again among the active ones alone, two nodes at 1.33 % and
    three at 0.33-0.83 % on 600 probes were all tied at 0.35 % and NE dropped another node than the
    recording did (12 nodes, Setup 3, seed 0, epoch 7); the replay takes the recorded scored loss as final."""
    recorded = {  # node: (raw loss %, scored loss %) as the recording's node_epochs.csv has them, 600 probes
        "node-03": (0.333, 0.0412186),
        "node-04": (1.333, 1.33154),
        "node-08": (0.833, 0.0412186),
        "node-10": (0.667, 0.0412186),
        "node-12": (1.333, 1.33154),
    }
    seen = {i: measurement.Seen(8.0, 20.0, scored, raw, 600, settled=True) for i, (raw, scored) in recorded.items()}
    nodes = [SimNode(i, 30.0, 16) for i in recorded]
    adapter = StrategyAdapter("ne", nodes, 3, 0)
    results = {i: SimResult(i, 1.0, 2.0, 1.0, 16) for i in recorded}
    record = adapter.close_epoch(0, results, seen, 2.0, 67_688)
    scored = {r["node_id"]: float(r["loss_scored_pct"]) for r in record.node_rows}
    assert scored == pytest.approx({i: s for i, (_, s) in recorded.items()})


def test_a_silent_node_without_a_connection_does_not_break_the_planner():
    """A crashed node holds its round (its times carry a wait) without ever opening a connection that
    epoch, e.g. one benched the epoch before and chosen again as it crashed: the planner carries only
    connections that exist (this raised KeyError before)."""
    profiles = [
        {"node_id": f"n{i}", "bandwidth_mbps": 10.0, "delay_ms": 40.0, "loss_pct": 0.0, "compute_power": 16.0}
        for i in range(3)
    ]
    spec = driver.RunSpec(profiles, "ar", 3)
    run = driver.prepare_run(spec)
    setup = EpochTimes(0.0, round_s=5.0, epoch_s=5.0)
    driver.plan_epoch(run, 1, [setup])
    del run.connections["n2"]  # as for a node benched, then chosen in the epoch its client crashed
    times = {i: NodeTimes(compute_s=2.0, upload_s=0.2, wait_s=0.5) for i in ("n0", "n1", "n2")}
    plan = driver.plan_epoch(run, 2, [setup, EpochTimes(5.0, round_s=3.0, epoch_s=3.0, nodes=times)])
    assert {p.node_id for p in plan.nodes} == {"n0", "n1", "n2"}
    assert plan.nodes[0].download_cwnd == fidelity.INIT_CWND


def test_a_node_left_out_of_the_setup_moves_nothing_and_is_never_in_a_round():
    """PACE's set-up choice in the simulator: the node on the slow link is not set up (no set-up
    download, no epoch plan, no node_epochs row) and the summary names it; AR's plan is unchanged."""
    profiles = [
        {"node_id": f"n{i}", "bandwidth_mbps": bw, "delay_ms": 20.0, "loss_pct": 0.0, "compute_power": 16.0}
        for i, bw in enumerate((20.0, 20.0, 20.0, 0.5))
    ]
    plans = {}
    for policy, options in (("ar", None), ("pace", {"pace_setup_floor": 0.75})):
        spec = driver.RunSpec(profiles, policy, 3, measurement="truth", policy_options=options)
        run = driver.prepare_run(spec)
        plans[policy] = driver.plan_epoch(run, 0, [])
        if policy == "pace":
            assert run.adapter.not_set_up == ["n3"]
            assert {n.node_id for n in run.adapter.live()} == {"n0", "n1", "n2"}
            first = driver.plan_epoch(run, 1, [EpochTimes(0.0, round_s=5.0, epoch_s=5.0)])
            assert {p.node_id for p in first.nodes} == {"n0", "n1", "n2"}
    assert [p.node_id for p in plans["ar"].nodes] == ["n0", "n1", "n2", "n3"]
    assert [p.node_id for p in plans["pace"].nodes] == ["n0", "n1", "n2"]
    assert plans["pace"].nodes[0] == plans["ar"].nodes[0]


ORACLE_RUN_THEN_EXIT_LIKE_A_POOL_WORKER = """
import json, os, sys
import simulator.strategy_adapter as adapter
from simulator import driver

made = []
write = adapter._truth_file
adapter._truth_file = lambda truth: made.append(write(truth)) or made[-1]
profiles = [
    {"node_id": f"n{i}", "bandwidth_mbps": 5.0 + i, "delay_ms": 10.0, "loss_pct": 0.0, "compute_power": 4.0 + i}
    for i in range(3)
]
answer = driver.simulate_run(driver.RunSpec(profiles, "oracle", 2))
print(json.dumps({"made": made, "left_after_run": [p for p in made if os.path.exists(p)],
                  "epochs": len(answer["epochs"])}))
sys.stdout.flush()
os._exit(0)  # as a ProcessPoolExecutor worker on the forkserver leaves: atexit hooks never run
"""


def test_an_oracle_run_leaves_no_truth_file_behind_even_when_its_process_skips_atexit(tmp_path):
    # scale_grid's workers exit by os._exit: 253 oracle truth files had piled up in /tmp on this machine.
    proc = subprocess.run(
        [sys.executable, "-c", ORACLE_RUN_THEN_EXIT_LIKE_A_POOL_WORKER],
        capture_output=True,
        text=True,
        cwd=driver.REPO,
        env={**__import__("os").environ, "TMPDIR": str(tmp_path)},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert answer["epochs"] == 2 and len(answer["made"]) == 1  # the oracle ran, on a truth file of its own
    assert answer["left_after_run"] == []
    assert list(tmp_path.glob("*-ground_truth.json")) == []


def test_an_oracle_adapter_that_fails_to_start_removes_its_truth_file(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    nodes = [SimNode(name, 4.0, 10) for name in "abc"]
    truth = {name: (5.0, 10.0, 0.0) for name in "abc"}
    with pytest.raises(ValueError):  # no such policy: the core refuses after the truth file was written
        StrategyAdapter("oracle_of_nothing", nodes, 2, 0, truth=truth)
    assert list(tmp_path.glob("*-ground_truth.json")) == []
    StrategyAdapter("oracle", nodes, 2, 0, truth=truth).close()
    assert list(tmp_path.glob("*-ground_truth.json")) == []
