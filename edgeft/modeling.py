"""The model factory both sides use: a user's HF causal LM from a local path,
or the small built-in Llama; LoRA via peft; adapter (de)composition."""

from __future__ import annotations

import logging
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)


class LoraSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    r: int = Field(default=8, ge=1, le=1024)
    alpha: float = Field(default=16.0, gt=0)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["auto"] = Field(
        default="auto",
        description=(
            "the modules LoRA adapts; auto: every attention projection of a Llama-style model (q/k/v/o_proj), else "
            "peft's default for the architecture (GPT-2 c_attn, GPT-NeoX query_key_value, ...)"
        ),
    )

    @field_validator("target_modules")
    @classmethod
    def _targets(cls, v):
        if isinstance(v, list) and not v:
            raise ValueError("give at least one module name, or 'auto'")
        return v


ATTENTION_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def resolve_targets(model, lora: LoraSettings) -> list[str]:
    """The module names LoRA adapts in `model`; ValueError naming the fix if none fit."""
    linear = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
    # GPT-2 keeps its projections in transformers' Conv1D, which peft adapts too
    conv1d = {name.rsplit(".", 1)[-1] for name, mod in model.named_modules() if type(mod).__name__ == "Conv1D"}
    if lora.target_modules != "auto":
        missing = [t for t in lora.target_modules if t not in linear | conv1d]
        if missing:
            raise ValueError(
                f"lora.target_modules {missing} are not linear layers of this model (it has "
                f"{sorted(linear | conv1d)[:12]}); "
                "set lora.target_modules: auto, or name some of those"
            )
        return list(lora.target_modules)
    if all(t in linear for t in ATTENTION_PROJECTIONS):
        return list(ATTENTION_PROJECTIONS)
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    model_type = getattr(getattr(model, "config", None), "model_type", None)
    found = [t for t in DEFAULTS.get(model_type, []) if t in linear | conv1d]
    if not found:
        raise ValueError(
            f"no LoRA targets known for model type '{model_type}': set lora.target_modules to some of its "
            f"linear layers ({sorted(linear | conv1d)[:12]})"
        )
    return found


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


def transfer_state(model) -> dict[str, torch.Tensor]:
    """The base weights a node needs: a weight tied to another (same storage, e.g. lm_head to the
    embeddings of SmolLM2) is sent once; `model_from_bundle` ties it again."""
    state = base_state(model)
    tied = _tied_names(model)
    others = {v.data_ptr() for k, v in state.items() if k not in tied}
    return {k: v for k, v in state.items() if not (k in tied and v.data_ptr() in others)}


def _tied_names(model) -> set[str]:
    tied = getattr(model, "_tied_weights_keys", None) or []
    return set(tied if isinstance(tied, (list, set, tuple)) else tied.keys())


def with_lora(base, lora: LoraSettings, seed: int):
    """Wrap a base model with a LoRA adapter; the seed fixes the adapter's initial A matrices."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    targets = resolve_targets(base, lora)
    cfg = LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets, task_type="CAUSAL_LM"
    )
    try:
        return get_peft_model(base, cfg)
    except ValueError as exc:
        raise ValueError(f"lora.target_modules={targets} do not fit this model ({exc})") from None


def check_model_folder(path: str, lora: LoraSettings) -> list[str]:
    """Before any client starts: the folder loads as a causal LM config and tokenizer, and
    LoRA targets fit it (the model is built without weights). Returns the targets;
    ValueError naming the fix otherwise."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(path)
        AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(
            f"model.base_model_path '{path}': not a model folder with a tokenizer "
            f"({' '.join(str(exc).split())[:160]}); give a folder written by save_pretrained() for the model "
            "and its tokenizer"
        ) from None
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    return resolve_targets(model, lora)


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
