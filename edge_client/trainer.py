"""Local LoRA training on a node's partition: the gradient (K = 1, exactly the
paper's FedSGD) or the pseudo-gradient theta_0 - theta_K after K local steps."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import torch

from edgeft.modeling import LoraSettings, adapter_state, load_adapter_state, model_from_bundle, with_lora
from edgeft.timemodel import linear_params


@dataclass
class LocalUpdate:
    tensors: dict[str, torch.Tensor]
    loss: float
    samples: int
    tokens: int  # label tokens of the partition (aggregation weight)
    work_tokens: int  # tokens trained on in this update (the time model's work)


class LocalTrainer:
    """Holds the node's model (base + LoRA) and its data partition."""

    def __init__(
        self,
        base_config: dict,
        base_weights: dict[str, torch.Tensor],
        lora: LoraSettings,
        partition: torch.Tensor,
        device: torch.device,
    ) -> None:
        self._attach(model_from_bundle(base_config, base_weights), lora, partition, device)

    @classmethod
    def on_base(
        cls, base: torch.nn.Module, lora: LoraSettings, partition: torch.Tensor, device: torch.device
    ) -> "LocalTrainer":
        """A trainer around a base model already in memory (a preinstalled copy); LoRA wraps it in place."""
        trainer = cls.__new__(cls)
        trainer._attach(base, lora, partition, device)
        return trainer

    def _attach(self, base: torch.nn.Module, lora: LoraSettings, partition: torch.Tensor, device: torch.device) -> None:
        self.linear_params = linear_params(base)
        self.model = with_lora(base, lora, seed=0).to(device)
        self.device = device
        self.data = partition.long()

    def load_adapter(self, state: dict[str, torch.Tensor]) -> None:
        load_adapter_state(self.model, state)

    def adapter(self) -> dict[str, torch.Tensor]:
        return adapter_state(self.model)

    def warm_up(self, batch_size: int = 8) -> None:
        """One untimed local step through the real optimizer path (the adapter is restored
        after it), so that allocator, kernel and optimizer set-up do not fall into the
        first compute window."""
        self._local_steps(1, 0.0, batch_size)

    def compute_update(
        self, local_steps: int, local_lr: float, batch_size: int, seed: int, node_id: str
    ) -> LocalUpdate:
        torch.manual_seed(seed ^ zlib.crc32(node_id.encode()))
        self.model.train()
        if local_steps == 1:
            return self._gradient(batch_size)
        return self._local_steps(local_steps, local_lr, batch_size)

    def _params(self) -> dict[str, torch.nn.Parameter]:
        return {n: p for n, p in self.model.named_parameters() if p.requires_grad}

    def _gradient(self, batch_size: int) -> LocalUpdate:
        """Mean gradient over every label token of the partition (micro-batched)."""
        params = self._params()
        self.model.zero_grad(set_to_none=True)
        total = self.data.numel() - len(self.data)
        loss_sum = 0.0
        for start in range(0, len(self.data), batch_size):
            batch = self.data[start : start + batch_size].to(self.device)
            n = batch.numel() - batch.shape[0]
            loss = self.model(input_ids=batch, labels=batch).loss
            (loss * (n / total)).backward()
            loss_sum += loss.item() * n
        grads = {k: p.grad.detach().to("cpu", torch.float32).clone() for k, p in params.items()}
        self.model.zero_grad(set_to_none=True)
        return LocalUpdate(grads, loss_sum / total, len(self.data), total, self.data.numel())

    def _local_steps(self, steps: int, lr: float, batch_size: int) -> LocalUpdate:
        params = self._params()
        start_state = self.adapter()
        opt = torch.optim.Adam(params.values(), lr=lr)
        losses, seen = [], 0
        for step in range(steps):
            first = (step * batch_size) % len(self.data)
            batch = self.data[first : first + batch_size].to(self.device)
            seen += batch.numel()
            loss = self.model(input_ids=batch, labels=batch).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
        delta = {k: start_state[k] - p.detach().to("cpu", torch.float32) for k, p in params.items()}
        self.load_adapter(start_state)  # the node keeps the global model until the next sync
        return LocalUpdate(delta, sum(losses) / len(losses), len(self.data), self.data.numel() - len(self.data), seen)
