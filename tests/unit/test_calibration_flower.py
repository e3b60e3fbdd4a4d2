"""The Flower path's calibration counts the per-message ClientApp process (issue 26, item 3):
flwr 1.42's SuperNode starts one for every message, and on loopback 31 % of the Flower
path's node-epochs overran their windows when k was planned from the training alone."""

import math

import pytest

from edgeft.config_files import ConfigError
from edgeft.timemodel import compute_window_s
from experiments.runners import calibration
from experiments.runners.calibration import choose_dilation, measure_message_cpu_s, plan_for_run
from experiments.runners.flower import FLOWER_VENV
from orchestrator.config import OrchestratorConfig
from topologies.profiles import draw_profiles

FLOPS = 8.08e9  # the built-in model's node-epoch at the defaults (docs/time-model.md)
POWERS = [p.compute_power for p in draw_profiles(12, 2, 0)]  # `edgeft flower --nodes 12`'s draw
needs_flower = pytest.mark.skipif(not (FLOWER_VENV / "bin" / "python").exists(), reason="no .venv-flower")


def test_demand_counts_each_nodes_message_process_with_its_training():
    windows = [compute_window_s(FLOPS, p, 0.25) for p in POWERS]
    plan = choose_dilation(0.167, FLOPS, POWERS, 0.25, cores=2, reserve=0.25, cap=100, message_cpu_s=1.6)
    assert plan.demand_cores == pytest.approx(sum((0.167 + 1.6) / w for w in windows))
    assert plan.usable_cores == pytest.approx(1.75 * 0.6)
    assert plan.k_needed == pytest.approx(math.ceil(10 * plan.demand_cores / plan.usable_cores) / 10)
    assert plan.message_cpu_s == 1.6 and plan.keeps_up


def test_the_figures_of_the_31_percent_run_ask_for_a_k_ten_times_larger():
    """0.167 CPU s of training and 1.6 CPU s of process start per node and round, 12 nodes
    (what the loopback run measured): k = 2.1 from the training alone, about 21 with the starts."""
    alone = choose_dilation(0.167, FLOPS, POWERS, 0.25, cores=2, reserve=0.25, cap=8)
    counted = choose_dilation(0.167, FLOPS, POWERS, 0.25, cores=2, reserve=0.25, cap=8, message_cpu_s=1.6)
    assert counted.demand_cores == pytest.approx(alone.demand_cores * (0.167 + 1.6) / 0.167)
    assert alone.k_needed == 2.1 and counted.k_needed == 21.6
    assert counted.k == 8 and not counted.keeps_up  # the cap holds; plan_for_run refuses for Flower


def test_edgeft_engine_plan_is_unchanged_by_the_message_term():
    old = choose_dilation(0.15, FLOPS, POWERS, 0.25, cores=2, reserve=0.6, cap=8)
    assert old.message_cpu_s == 0.0
    assert old == choose_dilation(0.15, FLOPS, POWERS, 0.25, cores=2, reserve=0.6, cap=8, message_cpu_s=0.0)


def test_edgeft_engine_spends_nothing_per_message():
    assert measure_message_cpu_s("edgeft") == 0.0


@needs_flower
def test_message_process_start_is_measured_in_the_flower_venv():
    cpu_s = measure_message_cpu_s("flower")
    assert 0.2 < cpu_s < 30  # Python + flwr's client runtime + the ClientApp module: about 1.5 CPU s here
    assert calibration._message_measured["flower"] == cpu_s  # once per process: every run planned alike


def _cfg(max_dilation: float, dilation="auto") -> OrchestratorConfig:
    return OrchestratorConfig.model_validate(
        {"nodes": 12, "emulation": {"max_dilation": max_dilation, "dilation": dilation}}
    )


@needs_flower
def test_flower_refuses_an_automatic_k_above_the_cap_naming_the_k_that_works():
    with pytest.raises(ConfigError, match=r"--max-dilation 1: .* need k = [\d.]+ .* give --max-dilation \d+") as err:
        plan_for_run(_cfg(1.0), POWERS, "local", engine="flower")
    needed = float(str(err.value).split("need k = ")[1].split()[0])
    plan = plan_for_run(_cfg(math.ceil(needed)), POWERS, "local", engine="flower")  # the k it named runs
    assert plan.keeps_up and plan.k == pytest.approx(needed) and plan.message_cpu_s > 0


@needs_flower
def test_edgeft_engine_and_a_given_k_still_warn_and_go_on(caplog):
    edgeft = plan_for_run(_cfg(1.0), POWERS, "local", engine="edgeft")
    assert edgeft.k == 1.0 and edgeft.message_cpu_s == 0.0
    given = plan_for_run(_cfg(8.0, dilation=2.0), POWERS, "local", engine="flower")
    assert given.k == 2.0 and not given.keeps_up
    assert "FIDELITY: this host cannot keep up" in caplog.text


@needs_flower
def test_edgeft_flower_refuses_in_one_line_before_anything_is_written(tmp_path, capsys):
    from experiments.cli import main

    out = tmp_path / "run"
    rc = main(["flower", "--nodes", "12", "--epochs", "3", "--max-dilation", "1", "--out", str(out)])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("edgeft: error")]  # beside transformers' bars
    assert rc == 2 and len(errors) == 1, err
    assert "--max-dilation 1:" in errors[0] and "give --max-dilation" in errors[0]
    assert not out.exists()
