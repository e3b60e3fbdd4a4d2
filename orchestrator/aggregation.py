"""Gradient aggregation and the server optimiser, pure torch (no I/O)."""

from __future__ import annotations

from typing import Literal, Sequence

import torch

Tensors = dict[str, torch.Tensor]


def weighted_mean(updates: Sequence[Tensors], weights: Sequence[float]) -> Tensors:
    """sum_i w_i u_i / sum_i w_i, per tensor.

    With w_i = the node's count of non-ignored labels and u_i its mean
    gradient, this is exactly the full-batch gradient over the union of the
    shards; with equal shards it is (1/|active|) sum_i g_i, the paper's rule.
    """
    if not updates:
        raise ValueError("no updates to aggregate")
    if len(updates) != len(weights):
        raise ValueError("one weight per update is required")
    total = float(sum(weights))
    if total <= 0:
        raise ValueError("aggregation weights must sum to a positive number")
    out: Tensors = {}
    for name in updates[0]:
        acc = torch.zeros_like(updates[0][name])
        for u, w in zip(updates, weights):
            acc.add_(u[name], alpha=float(w) / total)
        out[name] = acc
    return out


class ServerOptimizer:
    """Applies an aggregated update to the global adapter: SGD (the paper's
    calculated_sgd -= lr * update) or Adam."""

    def __init__(self, params: Tensors, kind: Literal["sgd", "adam"], lr: float) -> None:
        self.params = {k: torch.nn.Parameter(v.clone().float()) for k, v in params.items()}
        plist = [self.params[k] for k in sorted(self.params)]
        self.opt = torch.optim.SGD(plist, lr=lr) if kind == "sgd" else torch.optim.Adam(plist, lr=lr)

    def step(self, update: Tensors) -> Tensors:
        for name, p in self.params.items():
            p.grad = update[name].to(p.dtype).clone()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return self.state()

    def state(self) -> Tensors:
        return {k: v.detach().clone() for k, v in self.params.items()}

    def state_dict(self) -> dict:
        return self.opt.state_dict()

    def load(self, params: Tensors, opt_state: dict) -> None:
        """Back to a checkpointed adapter and optimizer state."""
        with torch.no_grad():
            for k, p in self.params.items():
                p.copy_(params[k])
        self.opt.load_state_dict(opt_state)
