"""The built-in base model: a short full-parameter pre-training on a corpus other
than the fine-tuning one, cached on disk with `save_pretrained`.

No pretrained causal LM ships in any package reachable here, and LoRA on a
random base barely learns, so the base is made once and reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from edgeft import corpora
from edgeft.datasets import ByteTokenizer, chunk, train_bpe
from edgeft.modeling import BuiltinArch, builtin_config, load_pretrained

log = logging.getLogger(__name__)
RECIPE_VERSION = 1


class BaseRecipe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tokenizer: Literal["bpe", "byte"] = "bpe"
    vocab_size: int = Field(default=2048, ge=260, le=65536)
    arch: BuiltinArch = Field(default_factory=BuiltinArch)
    corpus: Literal["plays", "synthetic"] = "plays"
    steps: int = Field(default=400, ge=0, le=1_000_000)
    batch_size: int = Field(default=16, ge=1)
    seq_len: int = Field(default=128, ge=8)
    lr: float = Field(default=3e-3, gt=0)
    seed: int = 0

    def key(self) -> str:
        blob = json.dumps({"v": RECIPE_VERSION, **self.model_dump()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    return Path(os.environ.get("EDGEFT_CACHE", Path.home() / ".cache" / "edgeft"))


def load_tokenizer(recipe: BaseRecipe, directory: Path | None):
    if recipe.tokenizer == "byte":
        return ByteTokenizer()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(directory))


def prepare_base(recipe: BaseRecipe, cache_dir: Path | None = None):
    """Return (model, tokenizer, path) for the built-in base, pre-training it on first use."""
    root = (cache_dir or default_cache_dir()) / f"base-{recipe.key()}"
    if not (root / "done").exists():
        _build(recipe, root)
    model = load_pretrained(str(root / "model"))
    return model, load_tokenizer(recipe, root / "tokenizer"), root


def _build(recipe: BaseRecipe, root: Path) -> None:
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    docs = corpora.plays() if recipe.corpus == "plays" else corpora.synthetic(200_000, seed=recipe.seed + 99)
    if recipe.tokenizer == "bpe":
        tokenizer = train_bpe(docs, recipe.vocab_size, tmp / "tokenizer")
        vocab = len(tokenizer)
    else:
        tokenizer, vocab = ByteTokenizer(), ByteTokenizer.vocab_size
    from transformers import LlamaForCausalLM

    torch.manual_seed(recipe.seed)
    model = LlamaForCausalLM(builtin_config(recipe.arch, vocab))
    loss = _pretrain(model, chunk(docs, tokenizer, recipe.seq_len).ids, recipe)
    model.save_pretrained(str(tmp / "model"))
    (tmp / "recipe.json").write_text(json.dumps({**recipe.model_dump(), "final_pretrain_loss": loss}, indent=2))
    (tmp / "done").write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))
    if root.exists():  # another process finished first; keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        return
    tmp.rename(root)


def _pretrain(model, ids: torch.Tensor, recipe: BaseRecipe) -> float:
    log.info("pre-training the built-in base: %d steps on %d sequences (%s)", recipe.steps, len(ids), recipe.corpus)
    gen = torch.Generator().manual_seed(recipe.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr)
    model.train()
    loss = float("nan")
    for _ in tqdm(range(recipe.steps), desc="pre-train base", unit="step", leave=False, disable=None):
        batch = ids[torch.randint(0, len(ids), (recipe.batch_size,), generator=gen)]
        out = model(input_ids=batch, labels=batch)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss = out.loss.item()
    log.info("pre-training done, last batch loss %.3f", loss)
    return loss
