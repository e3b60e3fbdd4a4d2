"""The one type for (bandwidth, delay, loss), and the one parser of a /v1/paths record."""

import math

import pytest

from edgeft.clock import Clock
from edgeft.link_figures import LinkFigures
from edgeft.paths_api import parse_record
from orchestrator.network_view import StaticMetrics, NodeAddress
from orchestrator.policies import Candidate, Truth
from topologies.profiles import draw_profiles
from topologies.shaping import LinkShape


def test_every_type_that_carries_the_figures_hands_out_the_same_link():
    p = draw_profiles(3, 2, 0)[0]
    link = LinkFigures(p.bandwidth_mbps, p.delay_ms, p.loss_pct)
    truth = Truth(p.node_id, p.compute_power, p.bandwidth_mbps, p.delay_ms, p.loss_pct)
    cand = Candidate(p.node_id, True, p.compute_power, p.bandwidth_mbps, p.delay_ms, p.loss_pct)
    measured = StaticMetrics(
        {p.node_id: {"bandwidth_mbps": p.bandwidth_mbps, "delay_ms": p.delay_ms, "loss_pct": p.loss_pct}}
    ).snapshot([NodeAddress(p.node_id, None)])[p.node_id]
    assert p.link == truth.link == cand.link == measured.link == link == LinkFigures.of(link.__dict__)
    shape = LinkShape.of(p)
    assert (shape.rate_mbps, shape.delay_ms, shape.loss_pct) == (p.bandwidth_mbps, p.delay_ms, p.loss_pct)


def test_dilation_round_trips_and_keeps_loss():
    link = LinkFigures(8.0, 40.0, 1.5)
    assert Clock(4).to_wall_figures(link) == LinkFigures(2.0, 160.0, 1.5)
    assert Clock(4).reported(Clock(4).to_wall_figures(link)) == link


def test_a_record_with_nulls_is_missing_figures_and_a_bad_one_names_its_field():
    r = parse_record({"ip": "10.1.0.2", "bandwidth_mbps": 3.5, "delay_ms": None, "samples": 40, "updated_at": 12.0})
    assert r.ip == "10.1.0.2" and r.link.bandwidth_mbps == 3.5 and r.link.missing == ["delay_ms", "loss_pct"]
    assert r.loss_samples == 40 and r.updated_at == 12.0 and math.isnan(r.capacity_mbps)
    with pytest.raises(TypeError, match="'delay_ms' must be finite and >= 0"):
        parse_record({"ip": "10.1.0.2", "bandwidth_mbps": 1.0, "delay_ms": -3, "loss_pct": 0})
    with pytest.raises(TypeError, match="'loss_pct'"):
        parse_record({"bandwidth_mbps": 1.0, "delay_ms": 3, "loss_pct": float("inf")})


def test_the_controller_answer_has_one_schema_on_both_sides():
    from controller_app.openapi import DOCUMENT
    from controller_app.path_monitor import MonitorSettings, PathMonitor
    from edgeft.paths_api import PathAnswer, parse_answer

    sent = PathMonitor(MonitorSettings(loss_window=10)).path_figures("10.1.0.2", [(1, 1), (2, 3)])
    assert parse_answer(sent).ip == "10.1.0.2" and parse_answer(sent).link.missing == list(LinkFigures.FIELDS)
    assert DOCUMENT["components"]["schemas"]["PathFigures"] == PathAnswer.model_json_schema()
    with pytest.raises(ValueError, match="delay_ms"):
        parse_answer({**sent, "delay_ms": -4.0})
    with pytest.raises(ValueError, match="surprise"):
        parse_answer({**sent, "surprise": 1})
    # the answer's time stamps are checked once, here (the second check went with the re-validation: review)
    for stamp in ("updated_at", "capacity_updated_at"):
        with pytest.raises(ValueError, match=stamp):
            parse_answer({**sent, stamp: float("inf")})
