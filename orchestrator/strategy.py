"""One run's strategy: which nodes train, the scores that decided it, and how their
updates are combined. Pure: a SelectionContext in, a Decision out; no I/O.

Modelled on Flower's Strategy (configure_train / aggregate_train): the epoch loop
only drives (configure -> run the round -> aggregate -> record) and writes exactly
the scores the strategy used. A policy (orchestrator/policies/) is the part that
differs between NE, AR and the baselines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from orchestrator.aggregation import GuardSettings, RoundOutcome, Stepper, Tensors, combine, guarded_round
from orchestrator.config import UpdateGuardConfig
from orchestrator.policies import SelectionContext, SelectionPolicy, make_policy


@dataclass(frozen=True)
class Decision:
    """What the strategy decided after an epoch."""

    chosen: frozenset[str] | None  # who trains next epoch; None after the last epoch
    scores: dict[str, float]  # utopia-point scores of the nodes that trained, as the policy saw them


class Strategy:
    """Selection (a policy over utopia-point scores) plus aggregation (the config's
    `updates`: the weighted mean by default, behind the norm bound and the finiteness check
    of orchestrator/aggregation.py)."""

    def __init__(self, policy: SelectionPolicy, guard: GuardSettings | None = None) -> None:
        self.policy = policy
        self.guard = guard or UpdateGuardConfig()

    @classmethod
    def named(
        cls, name: str, total_nodes: int, epochs: int, options=None, guard: GuardSettings | None = None
    ) -> "Strategy":
        """The strategy of policy `name` (orchestrator/policies: registry in make_policy)."""
        return cls(make_policy(name, total_nodes, epochs, options), guard)

    def configure_train(self, ctx: SelectionContext, last_epoch: bool = False) -> Decision:
        """Scores of the epoch's trained nodes and, unless it was the last epoch, who trains next."""
        chosen = None if last_epoch else frozenset(self.policy.select(ctx))
        if chosen is not None and not chosen:
            raise ValueError(f"policy '{self.policy.name}' chose no node for epoch {ctx.epoch + 1}")
        return Decision(chosen, dict(ctx.active_scores))

    def aggregate_train(self, updates: Sequence[Tensors], weights: Sequence[float]) -> Tensors:
        """The combined update by the configured rule (weights: what each node was handed out),
        without the guard; `aggregate_round` is what the engines use."""
        return combine(updates, weights, self.guard.aggregation, self.guard.trim_ratio)

    def aggregate_round(
        self,
        updates: Sequence[Tensors],
        weights: Sequence[float],
        stepper: Stepper,
        evaluate: Callable[[Tensors], float] | None = None,
    ) -> RoundOutcome:
        """One round's updates screened, combined, applied with `stepper` and checked (rolled
        back if not finite): the one path of both engines (orchestrator/aggregation.py)."""
        return guarded_round(updates, weights, self.guard, stepper, evaluate)
