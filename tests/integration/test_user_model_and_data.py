"""A user's own model folder (save_pretrained) and own JSONL dataset go through
the same code as the built-in ones: real processes, real LoRA."""

import json
import subprocess

import pytest
import torch

from edgeft import corpora
from edgeft.datasets import train_bpe
from edgeft.modeling import BuiltinArch, builtin_config
from experiments.runners.local import local_command

pytestmark = pytest.mark.integration


def test_local_run_with_user_model_path_and_jsonl(tmp_path):
    from transformers import LlamaForCausalLM

    model_dir = tmp_path / "my-model"
    tok = train_bpe(corpora.synthetic(30_000, seed=3), 400, model_dir)
    torch.manual_seed(0)
    LlamaForCausalLM(
        builtin_config(BuiltinArch(layers=1, hidden=64, heads=2, intermediate=128), len(tok))
    ).save_pretrained(model_dir)
    data = tmp_path / "corpus.jsonl"
    with data.open("w") as fh:
        for g, text in corpora.telemetry(1500, seed=5):
            for line in text.splitlines():
                fh.write(json.dumps({"text": line + "\n", "group": g}) + "\n")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("data: {seq_len: 64, sequences_per_node: 8, val_sequences: 8, partition: dirichlet}\n")
    out = tmp_path / "run"
    cmd = local_command(
        str(out), config=cfg, nodes="3", epochs="2", policy="ar", model_path=model_dir, dataset=data, timeout="300"
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["final_val_loss"] < s["pre_training_loss"]
    meta = json.loads((out / "config.json").read_text())
    assert meta["config"]["model"]["base_model_path"] == str(model_dir)
    assert meta["config"]["data"]["dataset"] == str(data)
