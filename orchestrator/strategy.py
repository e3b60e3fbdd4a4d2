"""One run's strategy: which nodes train, the scores that decided it, and how their
updates are combined. Pure: a SelectionContext in, a Decision out; no I/O.

Modelled on Flower's Strategy (configure_train / aggregate_train): the epoch loop
only drives (configure -> run the round -> aggregate -> record) and writes exactly
the scores the strategy used. A policy (orchestrator/policies/) is the part that
differs between NE, AR and the baselines.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Sequence

from orchestrator.aggregation import (
    HISTORY_ROUNDS,
    GuardSettings,
    RoundOutcome,
    Stepper,
    Tensors,
    combine,
    guarded_round,
)
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
    of orchestrator/aggregation.py). It keeps the norms accepted in the last HISTORY_ROUNDS
    rounds that set their own reference: the reference of a round with fewer than three
    updates (which adds nothing to them)."""

    def __init__(self, policy: SelectionPolicy, guard: GuardSettings | None = None) -> None:
        self.policy = policy
        self.guard = guard or UpdateGuardConfig()
        self.accepted_norms: deque[list[float]] = deque(maxlen=HISTORY_ROUNDS)  # one list per round

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

    @property
    def chooses_setup(self) -> bool:
        """Whether the policy chooses who is set up (policies/base.py SetupSelection); else everyone is."""
        return callable(getattr(self.policy, "select_setup", None))

    def configure_setup(self, ctx: SelectionContext) -> frozenset[str]:
        """Who is set up (and so takes part): the policy's choice where it makes one, else every candidate."""
        if not self.chooses_setup:
            return frozenset(c.node_id for c in ctx.candidates)
        chosen = frozenset(self.policy.select_setup(ctx))  # type: ignore[attr-defined]
        if not chosen:
            raise ValueError(f"policy '{self.policy.name}' chose no node to set up")
        unknown = chosen - {c.node_id for c in ctx.candidates}
        if unknown:
            raise ValueError(
                f"policy '{self.policy.name}' chose nodes to set up that are not enrolled: {sorted(unknown)}"
            )
        return chosen

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
        back if not finite): the one path of both engines (orchestrator/aggregation.py). The
        round's accepted norms join the history unless it was judged by it; a rolled-back
        round adds none. Raises
        RoundDiverged when no update can be blamed for a non-finite round."""
        past = [v for round_norms in self.accepted_norms for v in round_norms]
        outcome = guarded_round(updates, weights, self.guard, stepper, evaluate, past)
        if outcome.remember:
            self.accepted_norms.append(list(outcome.remember))
        return outcome

    def norm_history(self) -> list[list[float]]:
        """The accepted norms of the last rounds, oldest first, for a checkpoint (plain floats)."""
        return [list(round_norms) for round_norms in self.accepted_norms]

    def restore_norm_history(self, saved: Sequence[Sequence[float]]) -> None:
        """Back to a checkpoint's norm history (an older checkpoint has none: pass [])."""
        self.accepted_norms = deque(([float(v) for v in r] for r in saved), maxlen=HISTORY_ROUNDS)
