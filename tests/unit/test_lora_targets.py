"""LoRA targets default to `auto`: every attention projection of a Llama-style model,
else peft's default for the architecture; a user's model folder is checked before
anything starts, and a mismatch is one line naming the fix. Tiny models are written
by save_pretrained here (no model hub)."""

import pytest
import torch

from edgeft import corpora
from experiments.cli import main
from edgeft.datasets import train_bpe
from edgeft.modeling import BuiltinArch, LoraSettings, builtin_config, check_model_folder, resolve_targets, with_lora


def _gpt2(folder):
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = train_bpe(corpora.synthetic(5_000, seed=1), 300, folder)
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=len(tok), n_positions=64)).save_pretrained(
        folder
    )
    return folder


def _neox(folder):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tok = train_bpe(corpora.synthetic(5_000, seed=1), 300, folder)
    GPTNeoXForCausalLM(
        GPTNeoXConfig(
            num_hidden_layers=1,
            hidden_size=32,
            num_attention_heads=2,
            intermediate_size=64,
            vocab_size=len(tok),
            max_position_embeddings=64,
        )
    ).save_pretrained(folder)
    return folder


def test_auto_targets_per_architecture(tmp_path):
    from transformers import LlamaForCausalLM

    llama = LlamaForCausalLM(builtin_config(BuiltinArch(layers=1, hidden=32, heads=2, intermediate=64), 300))
    assert resolve_targets(llama, LoraSettings()) == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert check_model_folder(str(_gpt2(tmp_path / "gpt2")), LoraSettings()) == ["c_attn"]
    assert check_model_folder(str(_neox(tmp_path / "neox")), LoraSettings()) == ["query_key_value"]


def test_lora_on_gpt2_trains_only_the_adapter(tmp_path):
    from transformers import AutoModelForCausalLM

    model = with_lora(AutoModelForCausalLM.from_pretrained(_gpt2(tmp_path / "g")), LoraSettings(), seed=0)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "c_attn" in n for n in trainable)
    before = {n: p.clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(0, 300, (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= set(trainable)


def test_wrong_targets_and_bad_folders_are_one_line_before_anything_starts(tmp_path, capsys):
    folder = _gpt2(tmp_path / "g2")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {lora: {target_modules: [q_proj, v_proj]}}\n")
    out = tmp_path / "out"
    capsys.readouterr()  # what writing the model printed
    assert main(["local", "--model-path", str(folder), "--config", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "lora.target_modules ['q_proj', 'v_proj'] are not linear layers" in err[0]
        and "auto" in err[0]
    )
    assert not out.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="not a model folder with a tokenizer"):
        check_model_folder(str(empty), LoraSettings())
