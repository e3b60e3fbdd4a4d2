"""The model factory both sides use: a user's HF causal LM from a local path,
or the small built-in Llama; LoRA via peft; adapter (de)composition."""
from __future__ import annotations

import logging
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    r: int = Field(default=8, ge=1, le=1024)
    alpha: float = Field(default=16.0, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"], min_length=1)


class BuiltinArch(BaseModel):
    """The built-in Llama: small enough for 2 CPU cores (2 layers x 128 wide ~ 0.9 M params)."""

    model_config = ConfigDict(extra="forbid")
    layers: int = Field(default=2, ge=1, le=64)
    hidden: int = Field(default=128, ge=16, le=8192)
    heads: int = Field(default=4, ge=1, le=128)
    intermediate: int = Field(default=344, ge=16)
    max_positions: int = Field(default=512, ge=16)


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device '{preference}' requested but CUDA is not available; use --device cpu or auto")
    return torch.device(preference)


def builtin_config(arch: BuiltinArch, vocab_size: int):
    from transformers import LlamaConfig

    if arch.hidden % arch.heads:
        raise ValueError(f"builtin hidden={arch.hidden} must be a multiple of heads={arch.heads}")
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=arch.hidden,
        intermediate_size=arch.intermediate,
        num_hidden_layers=arch.layers,
        num_attention_heads=arch.heads,
        num_key_value_heads=arch.heads,
        max_position_embeddings=arch.max_positions,
        tie_word_embeddings=False,
    )


def load_pretrained(path: str):
    """Any HF causal LM saved with `save_pretrained` at a local path."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)


def model_from_bundle(config: dict[str, Any], state: dict[str, torch.Tensor]):
    """Rebuild a base model from its config dict and weights (what the orchestrator sends)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(**config)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(state, strict=False)
    real_missing = [k for k in missing if k not in _tied_names(model)]
    if real_missing or unexpected:
        raise ValueError(f"base weights do not fit the config: missing={real_missing[:3]} unexpected={unexpected[:3]}")
    return model


def _tied_names(model) -> set[str]:
    tied = getattr(model, "_tied_weights_keys", None) or []
    return set(tied if isinstance(tied, (list, set, tuple)) else tied.keys())


def with_lora(base, lora: LoraSettings, seed: int):
    """Wrap a base model with a LoRA adapter; the seed fixes the adapter's initial A matrices."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    cfg = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(base, cfg)
    except ValueError as exc:
        raise ValueError(f"lora.target_modules={lora.target_modules} do not fit this model ({exc})") from None


def adapter_state(model) -> dict[str, torch.Tensor]:
    """The trainable (LoRA) parameters as float32 CPU copies."""
    return {n: p.detach().to("cpu", torch.float32).clone() for n, p in model.named_parameters() if p.requires_grad}


def load_adapter_state(model, state: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].device, params[name].dtype))


def base_state(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items()}


@torch.no_grad()
def evaluate_loss(model, ids: torch.Tensor, batch_size: int = 16) -> float:
    """Mean next-token cross-entropy over all label tokens of `ids`."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for start in range(0, len(ids), batch_size):
        batch = ids[start : start + batch_size].to(device)
        n = batch.numel() - batch.shape[0]
        total += model(input_ids=batch, labels=batch).loss.item() * n
        count += n
    model.train(was_training)
    return total / max(count, 1)
