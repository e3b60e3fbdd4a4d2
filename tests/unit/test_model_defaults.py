"""A packaged model brings its own defaults; what the user sets wins; the distribution
follows the model unless given."""

from orchestrator.config import OrchestratorConfig


def test_smollm2_brings_its_defaults_and_preinstalled_bases():
    cfg = OrchestratorConfig.model_validate({"model": {"name": "smollm2-135m"}})
    assert (cfg.training.batch_size, cfg.training.local_steps, cfg.data.seq_len, cfg.data.val_sequences) == (
        2,
        2,
        64,
        8,
    )
    assert (cfg.model.lora.r, cfg.model.lora.target_modules) == (8, ["q_proj", "v_proj"])
    assert cfg.emulation.gflops_per_power == 1.5
    assert cfg.model.distribution == "preinstalled"


def test_a_value_the_user_sets_is_kept():
    cfg = OrchestratorConfig.model_validate(
        {
            "model": {"name": "smollm2-135m", "distribution": "transfer"},
            "training": {"batch_size": 3},
            "emulation": {"gflops_per_power": 0.5},
        }
    )
    assert (cfg.training.batch_size, cfg.emulation.gflops_per_power, cfg.model.distribution) == (3, 0.5, "transfer")
    assert cfg.training.local_steps == 2  # the model's, as the user left it unset


def test_a_users_lora_choice_is_kept():
    cfg = OrchestratorConfig.model_validate({"model": {"name": "smollm2-135m", "lora": {"r": 4}}})
    assert (cfg.model.lora.r, cfg.model.lora.target_modules) == (
        4,
        ["q_proj", "v_proj"],
    )  # r theirs, targets the model's
    other = OrchestratorConfig.model_validate({"model": {"name": "smollm2-135m"}})
    other.model.lora.target_modules.append("o_proj")
    assert OrchestratorConfig.model_validate({"model": {"name": "smollm2-135m"}}).model.lora.target_modules == [
        "q_proj",
        "v_proj",
    ]


def test_the_builtin_and_a_users_folder_keep_todays_defaults(tmp_path):
    tiny = OrchestratorConfig.model_validate({})
    users = OrchestratorConfig.model_validate({"model": {"base_model_path": str(tmp_path)}})
    for cfg in (tiny, users):
        assert (cfg.training.batch_size, cfg.data.seq_len, cfg.model.distribution) == (8, 128, "transfer")
        assert cfg.emulation.gflops_per_power == 0.25


def test_the_resolved_choice_survives_a_round_trip_through_config_json():
    cfg = OrchestratorConfig.model_validate({"model": {"name": "smollm2-135m"}})
    again = OrchestratorConfig.model_validate_json(cfg.model_dump_json())
    assert again == cfg


def test_a_users_folder_survives_the_round_trip_too(tmp_path):
    cfg = OrchestratorConfig.model_validate({"model": {"base_model_path": str(tmp_path)}})
    assert OrchestratorConfig.model_validate_json(cfg.model_dump_json()) == cfg
