"""What the orchestrator distributes: the base model, the data partitions and
the global LoRA adapter, plus the validation set it measures the loss on."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from edgeft import corpora
from edgeft.datasets import Sequences, chunk, partition_dirichlet, partition_iid, split_validation
from edgeft.modeling import (
    adapter_state,
    base_state,
    transfer_state,
    evaluate_loss,
    load_pretrained,
    pick_device,
    with_lora,
)
from edgeft.pretrain import prepare_base
from edgeft.model_zoo import PACKAGED, materialize
from edgeft.wire import BaseInfo, state_digest, tensors_to_bytes
from orchestrator.config import DataConfig, ModelConfig, OrchestratorConfig

log = logging.getLogger(__name__)


@dataclass
class Workload:
    model: torch.nn.Module  # base + LoRA, on `device`
    base_bundle: bytes | None  # safetensors of the base weights, config in its metadata (None: preinstalled)
    lora_json: str
    partitions: list[Sequences]
    val_ids: torch.Tensor
    pre_training_loss: float
    device: torch.device
    base_info: BaseInfo | None = None  # how nodes get the base (GET /v1/artifacts/base-info)
    tokenizer: object = None

    def adapter(self) -> dict[str, torch.Tensor]:
        return adapter_state(self.model)

    def val_loss(self) -> float:
        return evaluate_loss(self.model, self.val_ids)


def load_documents(data: DataConfig, seed: int) -> list[corpora.Document]:
    if data.dataset == "telemetry":
        return corpora.telemetry(data.telemetry_lines, seed=seed)
    if data.dataset == "sonnets":
        return corpora.sonnets()
    if data.dataset == "synthetic":
        return corpora.synthetic(200_000, seed=seed)
    return corpora.from_file(data.dataset)


def split_data(seqs: Sequences, cfg: OrchestratorConfig, n_nodes: int) -> tuple[list[Sequences], torch.Tensor]:
    data = cfg.data
    train, val = split_validation(seqs, data.val_sequences, cfg.seed)
    train = train.subset(range(min(len(train), n_nodes * data.sequences_per_node)))
    if data.partition == "iid":
        parts = partition_iid(len(train), n_nodes, cfg.seed)
    else:
        parts = partition_dirichlet(train.groups, n_nodes, data.dirichlet_alpha, cfg.seed)
    return [train.subset(p) for p in parts], val.ids


def base_folder(model: ModelConfig) -> Path:
    """The `save_pretrained` folder of this run's base: the user's, a packaged model's cache,
    or the built-in model's (pre-trained on first use). Nodes that hold the base
    (distribution `preinstalled`) on this machine load the same folder."""
    if model.base_model_path:
        return Path(model.base_model_path)
    if model.name in PACKAGED:
        return materialize(model.name, model.cache_dir)
    return prepare_base(model.recipe, Path(model.cache_dir) if model.cache_dir else None)[2] / "model"


def load_base(model: ModelConfig):
    """This run's base model and its tokenizer (the workload's, without LoRA)."""
    from transformers import AutoTokenizer

    if model.base_model_path or model.name in PACKAGED:
        folder = str(base_folder(model))
        return load_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    base, tokenizer, _ = prepare_base(model.recipe, Path(model.cache_dir) if model.cache_dir else None)
    return base, tokenizer


VOLATILE_CONFIG_KEYS = ("_name_or_path", "transformers_version")  # where and by what, not what


def base_identity(model: ModelConfig) -> dict:
    """What this run's base is, not where it lives: the state_digest of its weights (the BaseInfo
    digest nodes check), its architecture config and its tokenizer's vocabulary. The built-in base is
    pre-trained on first use on each machine, and its floats follow the CPU's kernels: two machines can
    hold different bases under one recipe, so anything cached from a base is keyed by this, not by the
    recipe or the folder."""
    base, tokenizer = load_base(model)
    config = {k: v for k, v in base.config.to_dict().items() if k not in VOLATILE_CONFIG_KEYS}
    vocabulary = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    return {
        "weights": state_digest(base_state(base)),
        "config": hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest(),
        "tokenizer": hashlib.sha256(json.dumps(sorted(vocabulary.items())).encode()).hexdigest(),
    }


def build_workload(cfg: OrchestratorConfig, n_nodes: int) -> Workload:
    """Build (or load from cache) the base model, tokenise the data and split it."""
    mc = cfg.model
    base, tokenizer = load_base(mc)
    seqs = chunk(load_documents(cfg.data, cfg.seed), tokenizer, cfg.data.seq_len)
    partitions, val_ids = split_data(seqs, cfg, n_nodes)
    sent = transfer_state(base)
    bundle = None
    if mc.distribution == "transfer":
        bundle = tensors_to_bytes(sent, metadata={"config": json.dumps(base.config.to_dict())})
    info = BaseInfo(
        distribution=mc.distribution,
        model=mc.name if mc.name in PACKAGED and not mc.base_model_path else None,
        digest=state_digest(base_state(base)),
        nbytes=len(bundle) if bundle else sum(t.numel() * t.element_size() for t in sent.values()),
    )
    device = pick_device(cfg.device)
    model = with_lora(base, mc.lora, cfg.seed).to(device)
    pre_loss = evaluate_loss(model, val_ids)
    log.info(
        "workload: %d train sequences over %d nodes, %d validation; base %s (%.1f MB, %s); pre-training loss %.4f",
        sum(len(p) for p in partitions),
        n_nodes,
        len(val_ids),
        mc.name if not mc.base_model_path else mc.base_model_path,
        info.nbytes / 1e6,
        info.distribution,
        pre_loss,
    )
    return Workload(model, bundle, mc.lora.model_dump_json(), partitions, val_ids, pre_loss, device, info, tokenizer)


def adapter_bytes(adapter: dict[str, torch.Tensor]) -> tuple[bytes, str]:
    return tensors_to_bytes(adapter), state_digest(adapter)
