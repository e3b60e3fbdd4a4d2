"""Node-selection policies behind one small interface.

NE (the paper's Node Elimination) drops the n lowest-scoring nodes after every
epoch but the last, n = floor((|N| - 1) / (T - 1)); AR keeps everyone.
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np


class SelectionPolicy(Protocol):
    name: str

    def eliminate(self, node_ids: Sequence[str], scores: np.ndarray, epoch: int) -> list[str]:
        """Node ids to drop after `epoch` (0-based), given the active nodes' scores."""
        ...


def elimination_count(total_nodes: int, epochs: int) -> int:
    """Eq. 1: floor((|N| - 1) / (T - 1)); requires |N| > T."""
    if total_nodes <= epochs:
        raise ValueError(
            f"node elimination needs more nodes than epochs (nodes={total_nodes}, epochs={epochs}): "
            "add nodes, lower epochs, or use policy 'ar'"
        )
    return 0 if epochs <= 1 else (total_nodes - 1) // (epochs - 1)


def rank_ascending(node_ids: Sequence[str], scores: np.ndarray) -> list[str]:
    """Weakest first; ties broken by node id so that runs are reproducible."""
    ids = np.asarray(node_ids, dtype=str)
    order = np.lexsort((ids, np.asarray(scores, dtype=float)))
    return ids[order].tolist()


class NodeElimination:
    name = "ne"

    def __init__(self, total_nodes: int, epochs: int) -> None:
        self.epochs = epochs
        self.per_epoch = elimination_count(total_nodes, epochs)

    def eliminate(self, node_ids: Sequence[str], scores: np.ndarray, epoch: int) -> list[str]:
        if epoch >= self.epochs - 1:
            return []
        n = min(self.per_epoch, len(node_ids) - 1)  # never leave fewer than one active node
        return rank_ascending(node_ids, scores)[:n] if n > 0 else []


class AllResources:
    name = "ar"

    def eliminate(self, node_ids: Sequence[str], scores: np.ndarray, epoch: int) -> list[str]:
        return []


def make_policy(name: str, total_nodes: int, epochs: int) -> SelectionPolicy:
    if name == "ne":
        return NodeElimination(total_nodes, epochs)
    if name == "ar":
        return AllResources()
    raise ValueError(f"unknown policy '{name}': use 'ne' or 'ar'")
