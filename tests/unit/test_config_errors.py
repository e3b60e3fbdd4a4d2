import json

import pytest

from experiments.cli import main
from edgeft.config_files import ConfigError, build
from orchestrator.config import OrchestratorConfig


def _err(data: dict) -> str:
    with pytest.raises(ConfigError) as exc:
        build(OrchestratorConfig, data, {})
    return str(exc.value)


def test_defaults_follow_the_paper():
    cfg = OrchestratorConfig()
    assert cfg.training.epochs == 10 and cfg.nodes == 12 and cfg.policy == "ne"
    assert cfg.scoring.weight_vector() == [0.2] * 5 and cfg.scoring.utopia_vector() == [1.0] * 5
    assert cfg.model.lora.target_modules == "auto"  # the built-in Llama: every attention projection (test_lora_targets)


@pytest.mark.parametrize(
    "data,fragment",
    [
        (
            {"scoring": {"weights": {"compute": 0.5, "bandwidth": 0.5, "delay": 0.5, "loss": 0, "train_time": 0}}},
            "scoring.weights': weights must sum to 1",
        ),
        (
            {"scoring": {"utopia": {"compute": 2, "bandwidth": 1, "delay": 1, "loss": 1, "train_time": 1}}},
            "utopia coordinate must lie in [0, 1]",
        ),
        ({"nodes": 10, "training": {"epochs": 10}}, "needs nodes > epochs"),
        ({"training": {"server_lr": -1}}, "training.server_lr"),
        ({"trainig": {}}, "unknown config key 'trainig'"),
        ({"model": {"base_model_path": "/nonexistent/model"}}, "model.base_model_path"),
        (
            {"data": {"dataset": "/nonexistent/corpus.jsonl"}},
            "data.dataset': '/nonexistent/corpus.jsonl' is neither a built-in dataset",
        ),
    ],
)
def test_bad_config_names_the_field_and_the_fix(data, fragment):
    assert fragment in _err(data)


def test_ar_allows_few_nodes():
    assert build(OrchestratorConfig, {"nodes": 2, "policy": "ar"}, {}).nodes == 2


def test_cli_exits_2_with_one_line_and_starts_nothing(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"nodes": 4, "training": {"epochs": 10}}))
    out = tmp_path / "out"
    rc = main(["orchestrator", "--config", str(cfg), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "nodes > epochs" in err[0]
    assert not out.exists()


def test_cli_flag_override_and_bad_file(tmp_path, capsys):
    assert main(["local", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["local", "--policy", "best"]) == 2
    assert "policy" in capsys.readouterr().err
