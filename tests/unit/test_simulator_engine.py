"""The SimGrid side of the simulator (platform.py, transfers.py), each simulation in a child process
(simulator/run_epoch.py: SimGrid keeps one Engine per process).

- A lone flow's simulated phase equals orchestrator/fidelity.py's prediction within 1 %.
- Flows share a bottleneck by LV08's weights: rate ~ 1 / (route latency + sum of S / bandwidth),
  S = 20537 bytes: equal round trips share equally; 5 MB of payload each (5.23 MB on the wire) over a
  shared 10 Mb/s link from 6 ms and 101 ms paths finish at 4.98 s and 8.37 s, as the weights predict.
- A compute window is exact; the barrier waits for the active nodes' uploads, not a benched download.
"""

import json
import math
import subprocess
import sys

import pytest

from orchestrator import fidelity
from simulator import phases, run_epoch, topology
from simulator.phases import NodeEpoch
from simulator.topology import AccessLink, Gateway, Topology
from simulator.transfers import EpochPlan

pytest.importorskip("simgrid", reason="SimGrid (python3-simgrid) is installed by scripts/install.sh")

WEIGHT_S = 20537.0  # LV08's network/weight-S, kept (simulator/platform.py)

LONE = [  # one node per gateway: each flow alone on its own access link (the bottleneck)
    {"node_id": "clean", "bandwidth_mbps": 7.5, "delay_ms": 78.5, "loss_pct": 0.0},
    {"node_id": "few-losses", "bandwidth_mbps": 16.0, "delay_ms": 58.0, "loss_pct": 0.05},
    {"node_id": "slow", "bandwidth_mbps": 0.75, "delay_ms": 52.4, "loss_pct": 1.0},
    {"node_id": "mathis", "bandwidth_mbps": 84.0, "delay_ms": 19.0, "loss_pct": 2.5},
]


def test_a_lone_flow_takes_what_the_fidelity_report_predicts():
    """Each phase from the window the fidelity report's connection model holds then
    (fidelity.NodeConnection): SimGrid's lone flow takes what that model predicts, within 1 %."""
    topo = topology.build(LONE, domains=len(LONE))
    ids = [n["node_id"] for n in LONE]
    # (download bytes, padding, the orchestrator's window, the node's window): epoch 0 has no download;
    # after a compute window every window is fresh; a round's last node may keep a grown one
    epochs = [(0, 0, 10.0, 10.0), (64_000, 0, 10.0, 10.0), (64_000, 3_000_000, 40.0, 10.0), (64_000, 0, 80.0, 25.0)]
    plans, expected = [], []
    for down, pad, server_cwnd, node_cwnd in epochs:
        plans.append(
            EpochPlan(
                tuple(
                    NodeEpoch(i, True, down, pad, 5.0, 64_000, pad, upload_cwnd=node_cwnd, download_cwnd=server_cwnd)
                    for i in ids
                )
            )
        )
        predicted = {}
        for node_id in ids:
            link = topo.node(node_id).figures
            conn = fidelity.NodeConnection(server_cwnd=server_cwnd, node_cwnd=node_cwnd)
            down_s = conn.download_s(down, pad, link) if down else None
            conn.node_cwnd = node_cwnd  # as planned: the phase model takes the window the driver hands it
            up_s = conn.upload_s(64_000, pad, link, after_sync=bool(down), compute_s=0.0)
            predicted[node_id] = (down_s, up_s)
        expected.append(predicted)
    answer = run_epoch.run(topo, plans)
    checked = 0
    for index, predicted in enumerate(expected):
        for node_id, (down_s, up_s) in predicted.items():
            got = answer["epochs"][index]["nodes"][node_id]
            assert got["upload_s"] == pytest.approx(up_s, rel=0.01), (index, node_id)
            if down_s is not None:
                assert got["download_s"] == pytest.approx(down_s, rel=0.01), (index, node_id)
                checked += 1
            checked += 1
    assert checked == 28  # 4 nodes x 4 uploads + 3 downloads


def _two_flows(delays_ms: tuple[float, float]) -> Topology:
    """Two nodes behind one gateway whose 10 Mb/s uplink is their shared bottleneck."""
    nodes = tuple(AccessLink(f"n{i}", 1000.0, d, 0.0) for i, d in enumerate(delays_ms))
    return Topology(1000.0, 1000.0, ("a1",), (Gateway("g1", 0, 10.0, ("n0", "n1")),), nodes)


def _download_together(topo: Topology, nbytes: int) -> list[float]:
    plan = EpochPlan(tuple(NodeEpoch(n.node_id, False, nbytes) for n in topo.nodes), wait_for_downloads=True)
    answer = run_epoch.run(topo, [plan])
    return [answer["epochs"][0]["nodes"][n.node_id]["done_at"] for n in topo.nodes]


def _lv08_finish_times(delays_s: tuple[float, float], size: int, capacity: float, route_bw: list[float]) -> list[float]:
    """Weighted max-min over one shared link: flow i starts after its latency, then gets capacity x
    (1 / p_i) / sum(1 / p_j), p_i = latency_i + sum over its links of S / bandwidth; alone, all of it."""
    weights = [1 / (d + sum(WEIGHT_S / bw for bw in route_bw)) for d in delays_s]
    first, second = sorted(range(2), key=lambda i: delays_s[i])
    left = [float(size), float(size)]
    left[first] -= capacity * (delays_s[second] - delays_s[first])  # alone until the other starts
    t = delays_s[second]
    rates = [capacity * w / sum(weights) for w in weights]
    ends = [left[i] / rates[i] for i in range(2)]
    done = min(range(2), key=lambda i: ends[i])
    other = 1 - done
    finish = [0.0, 0.0]
    finish[done] = t + ends[done]
    finish[other] = finish[done] + (left[other] - rates[other] * ends[done]) / capacity
    return finish


def test_equal_round_trips_share_a_bottleneck_equally():
    size = phases.wire_bytes(5_000_000)
    done = _download_together(_two_flows((6.0, 6.0)), 5_000_000)
    assert done[0] == pytest.approx(done[1], rel=1e-9)
    assert done[0] == pytest.approx(0.006 + 2 * size / 1.25e6, rel=0.01)


def test_unequal_round_trips_follow_the_lv08_weights():
    """5 MB each over a shared 10 Mb/s link, 6 ms and 101 ms paths: 4.98 s and 8.37 s (with pure
    1 / RTT weights, weight-S 0, the short one would finish at 4.43 s)."""
    size = phases.wire_bytes(5_000_000)
    done = _download_together(_two_flows((6.0, 101.0)), 5_000_000)
    route = [1000e6 / 8, 1000e6 / 8, 10e6 / 8, 1000e6 / 8]  # server-core, aggregation-core, uplink, access
    expected = _lv08_finish_times((0.006, 0.101), size, 10e6 / 8, route)
    assert done == pytest.approx(expected, rel=0.01)
    assert done[0] == pytest.approx(4.98, abs=0.01) and done[1] == pytest.approx(8.37, abs=0.01)


def test_compute_window_is_exact_and_the_barrier_waits_for_uploads_only():
    topo = topology.from_setup(6, 2, 3)
    ids = [n.node_id for n in topo.nodes]
    window = 123.456789
    epoch = EpochPlan(
        tuple(NodeEpoch(i, i != ids[-1], 64_000 if i != ids[-1] else 500_000_000, 0, window, 64_000) for i in ids),
        server_s=2.5,
    )
    answer = run_epoch.run(topo, [epoch, epoch])
    first, second = answer["epochs"]
    for i in ids[:-1]:
        node = first["nodes"][i]
        assert node["compute_s"] == pytest.approx(window, abs=1e-9)
        assert node["download_s"] + node["compute_s"] + node["upload_s"] + node["wait_s"] == pytest.approx(
            first["round_s"], abs=1e-6
        )
    assert min(first["nodes"][i]["wait_s"] for i in ids[:-1]) >= 0
    assert min(first["nodes"][i]["wait_s"] for i in ids[:-1]) == pytest.approx(0.0, abs=1e-9)  # the slowest
    assert first["epoch_s"] == pytest.approx(first["round_s"] + 2.5, abs=1e-9)
    benched = first["nodes"][ids[-1]]  # 500 MB over its link takes longer than the round
    assert benched["wait_s"] is None and benched["upload_s"] == 0.0
    assert benched["download_s"] > first["epoch_s"]
    assert second["nodes"][ids[-1]]["delayed_s"] == pytest.approx(benched["download_s"] - first["epoch_s"], rel=1e-6)
    assert second["start_s"] == pytest.approx(first["epoch_s"], abs=1e-9)


def _run_child(request: dict) -> subprocess.CompletedProcess:
    """simulator.run_epoch as a child, this request on its stdin."""
    return subprocess.run(
        [sys.executable, "-m", "simulator.run_epoch"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=run_epoch.REPO,
    )


def test_bad_request_exits_2_with_one_line():
    topo = topology.from_setup(2, 1, 0)
    request = run_epoch.request(topo, [EpochPlan((NodeEpoch("node-01", True, 0, 0, 1.0, 10),))])
    request["epochs"][0]["nodes"][0]["upload_bytes"] = 10.5
    proc = _run_child(request)
    assert proc.returncode == 2
    assert "upload_bytes must be an int" in json.loads(proc.stdout)["error"]


def test_a_node_that_downloads_nothing_starts_its_epoch_at_once():
    """Waking a node for its next epoch costs no simulated time (a semaphore, not a message): a node
    with nothing to download computes from the epoch's start."""
    topo = topology.from_setup(2, 1, 0)
    plan = EpochPlan((NodeEpoch("node-01", True, 0, 0, 1.0, 10),))
    answer = run_epoch.run(topo, [plan, plan])
    second = answer["epochs"][1]
    assert second["nodes"]["node-01"]["delayed_s"] == 0.0
    assert second["nodes"]["node-01"]["download_s"] == 0.0
    assert second["start_s"] == pytest.approx(answer["epochs"][0]["epoch_s"], abs=1e-12)


def test_a_set_up_plan_waits_for_every_node_and_its_after_wait():
    topo = topology.from_setup(3, 2, 0)
    ids = [n.node_id for n in topo.nodes]
    setup = EpochPlan(tuple(NodeEpoch(i, False, 1_000_000, after_s=2.0) for i in ids), wait_for_downloads=True)
    answer = run_epoch.run(topo, [setup])
    first = answer["epochs"][0]
    slowest = max(first["nodes"][i]["download_s"] for i in ids)
    assert first["round_s"] == pytest.approx(slowest, rel=1e-9)
    for i in ids:
        lone = fidelity.predict_download_s(1_000_000, 0, topo.node(i).figures) + 2.0
        assert first["nodes"][i]["download_s"] == pytest.approx(lone, rel=0.01)


def test_answer_is_finite_and_complete_at_200_nodes():
    topo = topology.from_setup(200, 3, 1)
    plans = [
        EpochPlan(
            tuple(
                NodeEpoch(
                    n.node_id, True, 64_000 if e else 0, 0, 10.0, 64_000, upload_cwnd=10.0 if e == 0 else math.inf
                )
                for n in topo.nodes
            )
        )
        for e in range(2)
    ]
    answer = run_epoch.run(topo, plans)
    for epoch in answer["epochs"]:
        assert len(epoch["nodes"]) == 200
        assert all(math.isfinite(v["done_at"]) and v["wait_s"] >= 0 for v in epoch["nodes"].values())
        assert (
            epoch["round_s"]
            >= max(v["download_s"] + v["compute_s"] + v["upload_s"] for v in epoch["nodes"].values()) - 1e-9
        )


def test_a_scenario_changes_a_link_from_its_epoch_on():
    """A link degraded as epoch 1 starts carries epoch 1's download at its new figures; restored at
    epoch 2, at the drawn ones again (the change Mininet's set_shape makes)."""
    from simulator.topology import AccessLink

    topo = topology.build(LONE[:1], domains=1)
    drawn = topo.node("clean")
    bad = AccessLink("clean", 0.5, 300.0, 0.0)

    def epoch(links=()):
        return EpochPlan((NodeEpoch("clean", True, 64_000, 0, 1.0, 64_000),), links=links)

    answer = run_epoch.run(topo, [epoch(), epoch((bad,)), epoch((drawn,))])
    downloads = [e["nodes"]["clean"]["download_s"] for e in answer["epochs"]]
    assert downloads[0] == pytest.approx(fidelity.predict_download_s(64_000, 0, drawn.figures), rel=0.01)
    assert downloads[1] == pytest.approx(fidelity.predict_download_s(64_000, 0, bad.figures), rel=0.01)
    assert downloads[2] == pytest.approx(downloads[0], rel=1e-9)


def test_the_set_up_fit_predicts_what_the_driver_plans_for_a_lone_node():
    """validation.predicted_setup_s (what `validate_simulation --calibrate` fits Mathis's constant with)
    is the simulator's own set-up: the driver's set-up plan, run in SimGrid, takes it for each lone node,
    clean, lossy and loss-bound alike, within 1 %."""
    from simulator import driver, validation

    profiles = [{**node, "compute_power": 30.0} for node in LONE]
    spec = driver.RunSpec(profiles, "ar", 1, setup_s=0.3, dilation=8.0, domains=len(LONE))
    run = driver.prepare_run(spec)
    answer = run_epoch.run(run.topo, [driver.plan_epoch(run, 0, [])])
    took = answer["epochs"][0]["nodes"]
    nbytes = spec.base_bytes + spec.partition_bytes + spec.adapter_bytes
    for node in LONE:
        sample = validation.SetupSample(driver.profile_link(node), nbytes, 8.0, 0.0)
        predicted = validation.predicted_setup_s(sample, fidelity.RENO_MATHIS_C, 0.3)
        assert took[node["node_id"]]["download_s"] == pytest.approx(predicted, rel=0.01), node


def test_time_resolution_is_simgrids_up_to_1000_nodes_and_1_ms_above():
    """The grid's and the validation's sizes keep SimGrid's own resolution (simulator/platform.py)."""
    from simulator import platform

    assert platform.time_resolution_s(12) == platform.time_resolution_s(1000) == 1e-9
    assert platform.time_resolution_s(1001) == platform.time_resolution_s(10_000) == 1e-3
    assert "surf/precision:0.001" in platform.engine_config(1e-3)
    with pytest.raises(ValueError, match="time resolution must be > 0"):
        platform.engine_config(0.0)


def test_a_bad_time_resolution_exits_2_with_one_line():
    topo = topology.from_setup(2, 1, 0)
    request = run_epoch.request(topo, [EpochPlan((NodeEpoch("node-01", True, 0, 0, 1.0, 10),))], resolution_s=-1)
    proc = _run_child(request)
    assert proc.returncode == 2
    assert "time resolution must be > 0" in json.loads(proc.stdout)["error"]


def test_1_ms_resolution_above_1000_nodes_moves_no_finish_by_more_than_a_few_ms():
    """Above 1 000 nodes SimGrid handles events within 1 ms of one another as one (the cost of 10 000
    nodes: simulator/platform.py). A mid-run epoch of 1 001 nodes, all downloading at once through the
    server's link, simulated at that and at SimGrid's default resolution: the answer says which it used,
    and every node's phases agree within 20 ms (of an epoch of minutes; measured: a few ms)."""
    topo = topology.from_setup(1001, 2, 0)
    plan = EpochPlan(
        tuple(NodeEpoch(n.node_id, True, 64_000, 0, 30.0 + index % 97, 64_000) for index, n in enumerate(topo.nodes))
    )
    coarse = run_epoch.run(topo, [plan])
    fine = run_epoch.run(topo, [plan], resolution_s=1e-9)
    assert coarse["time_resolution_s"] == 1e-3 and fine["time_resolution_s"] == 1e-9
    got, want = coarse["epochs"][0], fine["epochs"][0]
    assert got["round_s"] == pytest.approx(want["round_s"], abs=0.02)
    assert len(got["nodes"]) == len(want["nodes"]) == 1001
    for node_id, times in want["nodes"].items():
        for phase in ("download_s", "compute_s", "upload_s", "done_at"):
            assert got["nodes"][node_id][phase] == pytest.approx(times[phase], abs=0.02), (node_id, phase)
