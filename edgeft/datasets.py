"""Tokenisation into fixed-length training sequences, the validation split and
the partitioning of the training set across nodes (IID or Dirichlet non-IID)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from edgeft.corpora import Document


class ByteTokenizer:
    """UTF-8 bytes as token ids: no files, no training; for fast tests."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))


def train_bpe(docs: list[Document], vocab_size: int, out_dir: Path):
    """Train a byte-level BPE tokenizer and save it so `AutoTokenizer` reloads it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tok.train_from_iterator((text[i : i + 100_000] for _, text in docs for i in range(0, len(text), 100_000)), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    fast.save_pretrained(str(out_dir))
    return fast


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of `text` for either a HF tokenizer or ByteTokenizer."""
    if isinstance(tokenizer, ByteTokenizer):
        return tokenizer.encode(text)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@dataclass
class Sequences:
    """Fixed-length token sequences and the group each came from."""

    ids: torch.Tensor  # int64 [n, seq_len]
    groups: list[str]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def subset(self, index: np.ndarray | list[int]) -> "Sequences":
        idx = list(map(int, index))
        return Sequences(self.ids[idx], [self.groups[i] for i in idx])


def chunk(docs: list[Document], tokenizer, seq_len: int, max_sequences: int | None = None) -> Sequences:
    """Pack each document's tokens into non-overlapping sequences of `seq_len`
    (no padding, so every label counts; a document's tail shorter than one
    sequence is dropped)."""
    rows: list[torch.Tensor] = []
    groups: list[str] = []
    for group, text in docs:
        ids = torch.tensor(encode(tokenizer, text), dtype=torch.long)
        n = len(ids) // seq_len
        if n:
            rows.append(ids[: n * seq_len].view(n, seq_len))
            groups.extend([group] * n)
    if not rows:
        raise ValueError(f"corpus too small: no document reaches seq_len={seq_len} tokens; lower seq_len or add text")
    seqs = Sequences(torch.cat(rows), groups)
    if max_sequences is not None and len(seqs) > max_sequences:
        keep = np.random.default_rng(0).choice(len(seqs), size=max_sequences, replace=False)
        seqs = seqs.subset(np.sort(keep))
    return seqs


def split_validation(seqs: Sequences, val_sequences: int, seed: int) -> tuple[Sequences, Sequences]:
    """A fixed (seeded) validation set and the training rest."""
    if val_sequences >= len(seqs):
        raise ValueError(f"val_sequences={val_sequences} leaves no training data ({len(seqs)} sequences in all)")
    perm = np.random.default_rng(seed).permutation(len(seqs))
    return seqs.subset(np.sort(perm[val_sequences:])), seqs.subset(np.sort(perm[:val_sequences]))


def partition_iid(n_samples: int, n_nodes: int, seed: int) -> list[np.ndarray]:
    """Shuffle and deal out; shard sizes differ by at most one, every sample used once."""
    if n_samples < n_nodes:
        raise ValueError(f"{n_samples} training sequences cannot feed {n_nodes} nodes; add data or lower nodes")
    perm = np.random.default_rng(seed).permutation(n_samples)
    return [np.sort(part) for part in np.array_split(perm, n_nodes)]


def partition_dirichlet(groups: list[str], n_nodes: int, alpha: float, seed: int) -> list[np.ndarray]:
    """Label-skew split: each group's samples go to nodes in Dirichlet(alpha)
    proportions (small alpha = more skew). Every node gets at least one sample."""
    if len(groups) < n_nodes:
        raise ValueError(f"{len(groups)} training sequences cannot feed {n_nodes} nodes")
    rng = np.random.default_rng(seed)
    owners = np.empty(len(groups), dtype=np.int64)
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_group.setdefault(g, []).append(i)
    for g in sorted(by_group):
        idx = rng.permutation(by_group[g])
        share = rng.dirichlet([alpha] * n_nodes)
        owners[idx] = rng.choice(n_nodes, size=len(idx), p=share)
    _give_every_node_one(owners, n_nodes, rng)
    return [np.flatnonzero(owners == k) for k in range(n_nodes)]


def _give_every_node_one(owners: np.ndarray, n_nodes: int, rng: np.random.Generator) -> None:
    for k in range(n_nodes):
        if not (owners == k).any():
            counts = np.bincount(owners, minlength=n_nodes)
            donor = int(np.argmax(counts))
            owners[rng.choice(np.flatnonzero(owners == donor))] = k
