"""The time model: a node's compute window depends on its power and its work only;
the calibration's choice of k; dilation of links and timeouts."""

import os
import time

import pytest

from edge_client.compute_emulation import finish_compute, run_niced
from edgeft.clock import Clock
from edgeft.timemodel import compute_window_s, epoch_flops, linear_params, training_nice
from experiments.runners.calibration import choose_dilation
from orchestrator.config import OrchestratorConfig
from topologies.shaping import LinkShape


def test_window_is_work_over_power_and_nothing_else():
    w = epoch_flops(1_000_000, 2048)
    assert w == 6 * 1_000_000 * 2048
    t30 = compute_window_s(w, 30.0, 0.25)
    assert t30 == pytest.approx(w / 7.5e9)
    assert compute_window_s(w, 15.0, 0.25) == pytest.approx(2 * t30)  # half the power: twice the time
    assert compute_window_s(2 * w, 30.0, 0.25) == pytest.approx(2 * t30)  # twice the work: twice the time
    with pytest.raises(ValueError):
        compute_window_s(w, 0.0, 0.25)


def test_linear_params_count_the_base_weights_not_the_lora_factors():
    import torch
    from peft import LoraConfig, get_peft_model

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.q_proj = torch.nn.Linear(4, 4, bias=False)
            self.head = torch.nn.Linear(4, 10, bias=False)

    base = Tiny()
    assert linear_params(base) == 16 + 40  # the embedding lookup is no matmul
    lora = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"]))
    assert linear_params(lora) == 56


def test_compute_phase_lasts_the_dilated_window_and_reports_it_divided_by_k():
    w = epoch_flops(1_000_000, 1000)  # 6 GFLOP
    window = compute_window_s(w, 60.0, 0.5)  # 0.2 s
    t0 = time.perf_counter()
    timing = finish_compute(t0, True, 1_000_000, 1000, 60.0, 0.5, dilation=2.0)
    assert 0.4 <= time.perf_counter() - t0 < 0.55  # lived through: window x k
    assert timing.train_time_s == pytest.approx(window)
    assert timing.compute_wall_s == pytest.approx(window, rel=0.15)  # reported units: wall / k


def test_without_emulation_the_compute_phase_is_what_really_passed():
    t0 = time.perf_counter() - 0.3
    timing = finish_compute(t0, False, 1_000_000, 1000, 60.0, 0.5, dilation=3.0)
    assert timing.train_time_s == pytest.approx(0.1, abs=0.02) == timing.compute_wall_s  # 0.3 s of wall / k


def test_an_overrun_is_reported_not_hidden():
    t0 = time.perf_counter() - 1.0  # the real work already took 1 s
    timing = finish_compute(t0, True, 1_000_000, 1000, 60.0, 0.5, dilation=1.0)
    assert timing.train_time_s == pytest.approx(0.2)
    assert timing.compute_wall_s >= 1.0  # what really passed, not the window


def test_training_priority_follows_power_and_stays_below_the_network():
    assert training_nice(60) == 5 and training_nice(1000) == 5
    assert training_nice(30) == 5 + 3  # half the power: ~1.25^3 = 2x less CPU weight
    assert training_nice(15) == 5 + 6
    assert training_nice(0.5) == 19


def test_training_runs_niced_in_its_own_thread_and_the_caller_keeps_its_priority():
    before = os.getpriority(os.PRIO_PROCESS, 0)
    inside = run_niced(before + 3, lambda: os.getpriority(os.PRIO_PROCESS, 0))
    assert inside == before + 3  # Linux: nice is per thread
    assert os.getpriority(os.PRIO_PROCESS, 0) == before  # nothing to restore, even without root
    assert run_niced(None, lambda: os.getpriority(os.PRIO_PROCESS, 0)) == before
    with pytest.raises(ZeroDivisionError):
        run_niced(before + 1, lambda: 1 / 0)  # the work's error reaches the caller


def test_calibration_picks_k_from_demand_over_usable_cores():
    flops = 8e9
    powers = [30.0] * 12  # each window: 8e9 / 7.5e9 = 1.067 s
    plan = choose_dilation(0.15, flops, powers, 0.25, cores=2, reserve=0.6, cap=8)
    demand = 12 * 0.15 / (8e9 / 7.5e9)
    assert plan.demand_cores == pytest.approx(demand)
    assert plan.usable_cores == pytest.approx((2 - 0.6) * 0.6)
    assert plan.k == pytest.approx(demand / plan.usable_cores, abs=0.1) and plan.k >= demand / plan.usable_cores
    assert plan.keeps_up
    light = choose_dilation(0.01, flops, powers, 0.25, cores=2, reserve=0.6, cap=8)
    assert light.k == 1.0  # never faster than real time
    heavy = choose_dilation(3.0, flops, powers, 0.25, cores=2, reserve=0.6, cap=8)
    assert heavy.k == 8 and heavy.k_needed > 8 and not heavy.keeps_up  # capped, and it says so
    twice = choose_dilation(0.15, flops, powers * 2, 0.25, cores=2, reserve=0.6, cap=100)
    assert twice.k == pytest.approx(2 * plan.k, abs=0.2)  # twice the nodes: twice the demand


def test_links_and_timeouts_dilate_with_k():
    assert LinkShape(10.0, 50.0, 1.0).on_wall(Clock(4)) == LinkShape(2.5, 200.0, 1.0)
    cfg = OrchestratorConfig.model_validate(
        {"emulation": {"dilation": 3}, "timeouts": {"round_s": 100, "heartbeat_timeout_s": 20}}
    )
    t = cfg.wall_timeouts()
    assert (t.round_s, t.heartbeat_timeout_s, t.sync_s, t.enroll_s) == (300, 60, 180, 120)
    assert OrchestratorConfig().emulation.k == 1.0  # 'auto' unresolved: real time
    with pytest.raises(ValueError, match="dilation"):
        OrchestratorConfig.model_validate({"emulation": {"dilation": 0.5}})


def test_every_task_carries_a_resolved_dilation(tmp_path):
    from orchestrator.coordinator import Coordinator
    from orchestrator.registry import Registry
    from orchestrator.results import Recorder
    from edgeft.wire import TaskKind

    cfg = OrchestratorConfig(out_dir=str(tmp_path))  # dilation 'auto', never resolved: real time
    coord = Coordinator(cfg, Registry("s"), Recorder(tmp_path, {}, 0), "t")
    assert coord.task(kind=TaskKind.SYNC, version=1).dilation == 1.0
    cfg3 = OrchestratorConfig.model_validate(
        {"out_dir": str(tmp_path), "emulation": {"dilation": 3, "gflops_per_power": 0.5}}
    )
    t = Coordinator(cfg3, Registry("s"), Recorder(tmp_path, {}, 0), "t").task(kind=TaskKind.TRAIN, version=1)
    assert (t.dilation, t.gflops_per_power) == (3.0, 0.5)


def test_controller_figures_come_back_in_emulated_units():
    from edgeft.paths_api import PathFigures as PathMetrics
    from orchestrator.network_view import ControllerMetrics

    m = ControllerMetrics("http://127.0.0.1:1", "10.0.0.1", stale_after_s=10, dilation=4)
    back = m._undilate(PathMetrics(2.5, 200.0, 1.0, 0.0))  # what the controller measures on a k = 4 link
    assert (back.bandwidth_mbps, back.delay_ms, back.loss_pct) == (10.0, 50.0, 1.0)
    assert m.stale_after_s == 40  # 10 emulated seconds, lived through x 4
