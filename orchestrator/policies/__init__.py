"""Node-selection policies behind one interface (policies/base.py): the paper's NE,
the AR baseline, and the client-selection methods federated learning already uses."""

from __future__ import annotations

from orchestrator.policies.base import (
    POLICY_NAMES,
    SCHEDULED_POLICIES,
    Candidate,
    SelectionContext,
    SelectionPolicy,
    Truth,
    elimination_count,
    rank_ascending,
)
from orchestrator.policies.baselines import Oracle, OracleScore, RandomSelection, SingleMetric
from orchestrator.policies.deadline import DeadlineSelection
from orchestrator.policies.elimination import AllResources, NodeElimination, NodeEliminationReadmit
from orchestrator.policies.pace import PaceSelection
from orchestrator.policies.tiers import TierSelection
from orchestrator.policies.utility import UtilitySelection

__all__ = [
    "Candidate",
    "SelectionContext",
    "SelectionPolicy",
    "Truth",
    "POLICY_NAMES",
    "SCHEDULED_POLICIES",
    "make_policy",
    "elimination_count",
    "rank_ascending",
    "NodeElimination",
    "AllResources",
]


def make_policy(name: str, total_nodes: int, epochs: int, options=None) -> SelectionPolicy:
    """The policy called `name`; `options` is the orchestrator's PolicyOptions (or None for defaults)."""
    o = options
    makers = {
        "ne": lambda: NodeElimination(total_nodes, epochs),
        "ar": AllResources,
        "ne_plus": lambda: NodeEliminationReadmit(
            total_nodes, epochs, *((o.readmit_margin, o.readmit_patience) if o else ())
        ),
        "random": RandomSelection,
        "bandwidth": lambda: SingleMetric("bandwidth"),
        "compute": lambda: SingleMetric("compute"),
        "oracle": Oracle,
        "oracle_score": OracleScore,
        "fedcs": lambda: DeadlineSelection(o.deadline_s if o else None),
        "oort": lambda: UtilitySelection(*((o.oort_alpha, o.oort_epsilon, o.preferred_round_s) if o else ())),
        "tifl": lambda: TierSelection(epochs, o.tiers if o else 3),
        "pace": lambda: PaceSelection(
            *((o.pace_floor, o.pace_margin, o.pace_floor_end, o.pace_setup_floor) if o else ())
        ),
    }
    if name not in makers:
        raise ValueError(f"unknown policy '{name}': use one of {', '.join(POLICY_NAMES)}")
    if name in SCHEDULED_POLICIES:
        elimination_count(total_nodes, epochs)  # fails early, with the fix, when nodes <= epochs
    return makers[name]()
