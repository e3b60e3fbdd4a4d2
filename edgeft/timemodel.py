"""The emulated world's clock: how long a node's compute takes, and how the whole
world is slowed down (dilated) so that this host can live through it.

Compute time is declared, not measured. One node-epoch of training does
W = 6 x N x tokens floating-point operations (the usual forward + backward
estimate; N = weights of the model's linear layers, the LM head included;
tokens = what the node actually trained on). A node of compute power C computes
at C x `gflops_per_power` GFLOP/s, so its compute window is

    T_i = W / (C x gflops_per_power x 1e9)      (emulated seconds)

It depends on the node's power and its work only: never on how many clients
share this host's cores. The real training still runs inside the window, so the
loss is real; the window is then lived through in wall time.

Time dilation (Gupta et al., NSDI 2006): with a factor k >= 1 the whole world
runs k times slower: compute windows x k, link rates / k, delays x k, timeouts
x k; every time a run reports is wall time / k. Min-max scoring is unchanged
when a column is scaled by a constant, so selection does not see k.
"""

from __future__ import annotations

import math

FLOPS_PER_PARAM_TOKEN = 6.0
# Training runs below the emulated network (ovs-vswitchd and the delay lines run at 0):
# a busy CPU must not stretch the links. Weights of Linux's CFS fall ~1.25x per nice step,
# so a nice of BASE + log_1.25(TOP / C) gives each client a CPU share proportional to its
# power: all nodes then progress through their windows at the same pace.
NICE_BASE, NICE_MAX, NICE_TOP_POWER, NICE_STEP = 5, 19, 60.0, 1.25
# A compute phase overran its window when it lasted more than this (reported units).
OVERRUN_RATIO, OVERRUN_SLACK_S = 1.05, 0.05


def epoch_flops(linear_params: int, tokens: int) -> float:
    """Work of one node-epoch: 6 x N x tokens."""
    if linear_params <= 0 or tokens < 0:
        raise ValueError("linear_params must be > 0 and tokens >= 0")
    return FLOPS_PER_PARAM_TOKEN * linear_params * tokens


def compute_window_s(flops: float, compute_power: float, gflops_per_power: float) -> float:
    """Emulated seconds a node of this power needs for `flops` of work."""
    if compute_power <= 0 or gflops_per_power <= 0:
        raise ValueError("compute power and gflops_per_power must be positive")
    return flops / (compute_power * gflops_per_power * 1e9)


def training_nice(compute_power: float) -> int:
    """Nice level of a node's training thread: proportional CPU share to its power,
    always below the emulated network's priority."""
    steps = math.log(NICE_TOP_POWER / max(compute_power, 1e-9)) / math.log(NICE_STEP)
    return int(min(NICE_MAX, max(NICE_BASE, NICE_BASE + round(steps))))


def overran(window_s: float, compute_wall_s: float) -> bool:
    """The fidelity rule: the compute phase lasted more than 1.05 x its window + 50 ms."""
    return compute_wall_s > OVERRUN_RATIO * window_s + OVERRUN_SLACK_S


def parse_dilation(text: str) -> float | str:
    """A --dilation value: 'auto' or a number (range-checked by the config)."""
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--dilation: expected 'auto' or a number >= 1, got {text!r}") from None


def linear_params(model) -> int:
    """Weights of every nn.Linear of the base model (LoRA layers' frozen base counts, the
    LoRA factors do not: they add < 1 % here and would make W depend on r)."""
    import torch

    total = 0
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and "lora_" not in name:
            total += mod.weight.numel()
    return total
