"""The epoch core (orchestrator/epoch_core.py) driven as an engine drives it, with no server:
results in, decision and rows out; and the Flower engine's rows are the core's rows."""

import json
import math
from dataclasses import dataclass

import pytest

from edgeft.flower_contract import TrainReport
from edgeft.paths_api import PathFigures
from orchestrator.config import OrchestratorConfig
from orchestrator.epoch_core import EpochCore, NodeRoundResult, RoundInput
from orchestrator.flower.node_book import FlowerNode, NodeBook, RoundSummary
from orchestrator.network_view import NetworkView, NodeAddress, StaticMetrics
from orchestrator.registry import NodeStatus

POWER = {"n0": 40.0, "n1": 25.0, "n2": 30.0, "n3": 35.0, "n4": 20.0, "n5": 30.0}
LINKS = {
    nid: {"bandwidth_mbps": 10.0 + 10 * i, "delay_ms": 50.0 - 5 * i, "loss_pct": 0.5 * i}
    for i, nid in enumerate(sorted(POWER))
}


@dataclass
class SimNode:
    """A node as a driver without HTTP or Flower keeps it (the simulator's shape)."""

    node_id: str
    compute_power: float
    ip: str | None = None
    status: NodeStatus = NodeStatus.ACTIVE


def _cfg(policy: str = "ne", epochs: int = 3) -> OrchestratorConfig:
    return OrchestratorConfig(policy=policy, nodes=len(POWER), seed=5, training={"epochs": epochs})


def _result(nid: str, epoch: int, started: float = 100.0) -> tuple[TrainReport, NodeRoundResult]:
    """One node's round as the Flower engine reports it and as any driver hands it to the core."""
    train_s = 300.0 / POWER[nid]
    report = TrainReport(train_s, train_s, 3.0 - 0.1 * epoch, 16, 2000, 1.0, started + train_s + 0.5)
    result = NodeRoundResult(
        nid,
        report.loss,
        report.samples,
        report.tokens,
        report.work_gflop,
        train_s,
        report.finished_at - started,  # the round trip as the server saw it
        report.tokens,
        declared_train_time_s=train_s,
        train_time_flagged=False,
        compute_wall_s=report.compute_wall_s,
    )
    return report, result


def test_a_driver_without_a_server_runs_every_epoch_through_the_core():
    cfg = _cfg()
    nodes = [SimNode(nid, POWER[nid]) for nid in sorted(POWER)]
    core = EpochCore(cfg, {nid: 16 for nid in POWER}, StaticMetrics(LINKS), samples_total=6 * 16)
    rows = []
    for epoch in range(cfg.training.epochs):
        active = [node.node_id for node in nodes if node.status == NodeStatus.ACTIVE]
        results = {nid: _result(nid, epoch)[1] for nid in active}
        round_input = RoundInput(epoch, active, results, {}, epoch + 1, f"d{epoch}", 2.0, 16.0, 4096, 15.5)
        record = core.close_epoch(round_input, nodes)
        rows.append(record.epoch_row)
        assert [row["node_id"] for row in record.node_rows] == sorted(active)
        assert all(row["bandwidth_mbps"] == LINKS[row["node_id"]]["bandwidth_mbps"] for row in record.node_rows)
    # NE drops floor((6 - 1) / (3 - 1)) = 2 nodes after each epoch but the last
    assert [row["active"] for row in rows] == [6, 4, 2]
    assert [len(row["eliminated"].split(";")) for row in rows[:2]] == [2, 2] and rows[2]["eliminated"] == ""
    # the round took 15.5 s (the slowest node's trip): the others sat idle for the rest of it
    assert rows[0]["coverage"] == 1.0
    assert rows[0]["bubble_s"] == pytest.approx(sum(15.5 - (300.0 / p + 0.5) for p in POWER.values()))
    assert core.history["n0"].last_epoch == 2 and core.history["n0"].train_time_s == pytest.approx(300.0 / 40)
    assert sum(node.status == NodeStatus.ACTIVE for node in nodes) == 2


def test_the_flower_engine_records_exactly_the_rows_of_the_core():
    """The Flower driver (NodeBook) and a bare driver of the core, given the same round, produce
    the same decision, the same epochs.csv row and the same node_epochs.csv rows."""
    cfg = _cfg("ne")
    book = NodeBook(
        cfg, [FlowerNode(nid, 1000 + i, None, POWER[nid]) for i, nid in enumerate(POWER)], StaticMetrics(LINKS)
    )
    core = EpochCore(cfg, {nid: 0 for nid in POWER}, StaticMetrics(LINKS))
    nodes = [SimNode(nid, POWER[nid]) for nid in sorted(POWER)]
    for epoch in range(2):
        active = [node.node_id for node in nodes if node.status == NodeStatus.ACTIVE]
        pairs = {nid: _result(nid, epoch) for nid in active}
        produced = RoundSummary(active, {}, epoch + 1, f"d{epoch}", 2.5 - epoch, 9.0)
        flower = book.decide(epoch, {nid: pair[0] for nid, pair in pairs.items()}, 100.0, 4096, produced)
        plain = core.close_epoch(
            RoundInput(
                epoch,
                active,
                {nid: pair[1] for nid, pair in pairs.items()},
                {},
                epoch + 1,
                f"d{epoch}",
                2.5 - epoch,
                9.0,
                4096,
            ),
            nodes,
        )
        assert flower.record.decision == plain.decision
        assert flower.record.epoch_row == plain.epoch_row
        assert repr(flower.record.node_rows) == repr(plain.node_rows)  # NaN figures compare as equal text
        assert [node.node_id for node in book.by_status(NodeStatus.ACTIVE)] == [
            node.node_id for node in nodes if node.status == NodeStatus.ACTIVE
        ]


def test_the_network_view_hands_out_the_measured_and_the_adjusted_loss_under_two_names():
    table = {
        "a": {"bandwidth_mbps": 5, "delay_ms": 10, "loss_pct": 0.0, "samples": 75},
        "b": {"bandwidth_mbps": 5, "delay_ms": 10, "loss_pct": 1.3333, "samples": 75},
    }
    figures = NetworkView(StaticMetrics(table)).snapshot([NodeAddress("a", None), NodeAddress("b", None)])
    assert isinstance(figures["b"], PathFigures)
    assert figures["b"].loss_pct == 1.3333  # measured, kept
    assert figures["a"].scored_loss_pct == figures["b"].scored_loss_pct  # 0 vs 1 of 75 probes: tied
    core = EpochCore(_cfg("ar"), {"a": 1, "b": 1}, StaticMetrics(table), total_nodes=2)
    nodes = [SimNode("a", 10.0), SimNode("b", 10.0)]
    results = {nid: NodeRoundResult(nid, 1.0, 1, 10, math.nan, 1.0, 2.0, 10) for nid in ("a", "b")}
    record = core.close_epoch(RoundInput(0, ["a", "b"], results, {}, 1, "", 1.0, 2.0, 0), nodes)
    rows = {row["node_id"]: row for row in record.node_rows}
    assert rows["b"]["loss_pct"] == 1.3333 and rows["b"]["loss_scored_pct"] == figures["b"].scored_loss_pct


def test_the_oracles_truth_follows_the_scenario(tmp_path):
    """load_truth: a scenario event overrides the drawn figure it names (the oracle sees the
    collapsed link), the others stay as drawn."""
    from orchestrator.config import ScenarioEvent
    from orchestrator.scenario import Scenario
    from orchestrator.selection_context import load_truth

    truth_file = tmp_path / "ground_truth.json"
    drawn = {"node_id": "n1", "compute_power": 30.0, "bandwidth_mbps": 50.0, "delay_ms": 10.0, "loss_pct": 0.1}
    truth_file.write_text(json.dumps({"nodes": [drawn]}))
    scenario = Scenario([ScenarioEvent(epoch=1, node_id="n1", bandwidth_mbps=0.3, loss_pct=9.0)])
    assert load_truth(str(truth_file), scenario, 0)["n1"].bandwidth_mbps == 50.0
    after = load_truth(str(truth_file), scenario, 1)["n1"]
    assert (after.bandwidth_mbps, after.delay_ms, after.loss_pct, after.compute_power) == (0.3, 10.0, 9.0, 30.0)


def test_the_core_sets_up_every_node_unless_the_policy_chooses_and_then_never_scores_those_left_out():
    """EpochCore.choose_setup (every engine's one path): NE sets up all six and asks for no figures;
    PACE with setup_floor 0.5 keeps the three fastest set-up downloads (loss-free links here, so the
    widest: n3-n5), leaves the others ENROLLED, never live: no epoch's context, row or choice holds them."""
    links = {nid: {**figures, "loss_pct": 0.0} for nid, figures in LINKS.items()}

    class Counting(StaticMetrics):
        asked = 0

        def snapshot(self, nodes):
            Counting.asked += 1
            return super().snapshot(nodes)

    nodes = [SimNode(nid, POWER[nid], status=NodeStatus.ENROLLED) for nid in sorted(POWER)]
    ne = EpochCore(_cfg("ne"), {nid: 16 for nid in POWER}, Counting(links))
    assert ne.choose_setup(nodes, 4_000_000) == frozenset(POWER) and Counting.asked == 0 and ne.not_set_up == []
    cfg = OrchestratorConfig(
        policy="pace", nodes=len(POWER), seed=5, training={"epochs": 3}, policy_options={"pace_setup_floor": 0.5}
    )
    core = EpochCore(cfg, {nid: 16 for nid in POWER}, StaticMetrics(links))
    chosen = core.choose_setup(nodes, 4_000_000)
    assert chosen == {"n3", "n4", "n5"} and core.not_set_up == ["n0", "n1", "n2"]
    assert [node.status for node in nodes[:3]] == [NodeStatus.ENROLLED] * 3
    for node in nodes[3:]:
        node.status = NodeStatus.ACTIVE  # the driver, after their set-up
    results = {nid: _result(nid, 0)[1] for nid in sorted(chosen)}
    record = core.close_epoch(RoundInput(0, sorted(chosen), results, {}, 1, "d0", 2.0, 16.0, 4096), nodes)
    assert record.decision.chosen <= chosen and set(record.figures) == chosen
    assert [node.status for node in nodes[:3]] == [NodeStatus.ENROLLED] * 3
