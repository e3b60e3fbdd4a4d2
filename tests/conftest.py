import pytest
import torch

from edgeft.modeling import BuiltinArch, LoraSettings, builtin_config

TINY = BuiltinArch(layers=1, hidden=32, heads=2, intermediate=64, max_positions=64)


@pytest.fixture(scope="session")
def tiny_base():
    """A tiny random Llama (byte vocabulary): its config dict and weights, as the orchestrator sends them."""
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(builtin_config(TINY, 256))
    return model.config.to_dict(), {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture
def no_dropout_lora():
    return LoraSettings(r=4, alpha=8, dropout=0.0)
