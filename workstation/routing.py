"""Choosing an expert for a case. Pure: plain data in, a decision with its reasons out.

Shaped as hard filters (who is eligible) followed by a chooser (who of the eligible), so that a
rule can be added without touching the others. For now the chooser takes the least-loaded
eligible expert; the routing issue adds competence scoring and conflicts of interest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CaseFacts:
    right_type: str
    service: str
    declined_by: frozenset[int] = frozenset()


@dataclass(frozen=True)
class ExpertFacts:
    id: int
    right_types: frozenset[str]
    capacity: int
    active_cases: int
    available: bool = True


@dataclass(frozen=True)
class Decision:
    expert_id: int | None
    reasons: list[str] = field(default_factory=list)


Filter = Callable[[CaseFacts, ExpertFacts], str | None]


def handles_right_type(case: CaseFacts, expert: ExpertFacts) -> str | None:
    return None if case.right_type in expert.right_types else "does not handle this right type"


def is_available(case: CaseFacts, expert: ExpertFacts) -> str | None:
    return None if expert.available else "not available"


def has_capacity(case: CaseFacts, expert: ExpertFacts) -> str | None:
    return None if expert.active_cases < expert.capacity else "at capacity"


def did_not_decline(case: CaseFacts, expert: ExpertFacts) -> str | None:
    return "declined this case before" if expert.id in case.declined_by else None


FILTERS: tuple[Filter, ...] = (handles_right_type, is_available, has_capacity, did_not_decline)


def eligible_experts(case: CaseFacts, experts: Sequence[ExpertFacts]) -> list[ExpertFacts]:
    return [e for e in experts if all(rule(case, e) is None for rule in FILTERS)]


def choose_expert(case: CaseFacts, experts: Sequence[ExpertFacts]) -> Decision:
    """The least-loaded eligible expert (by share of capacity used, then count, then id)."""
    eligible = eligible_experts(case, experts)
    if not eligible:
        return Decision(None, [f"no eligible expert among {len(experts)} for {case.right_type}"])
    best = min(eligible, key=lambda e: (e.active_cases / e.capacity, e.active_cases, e.id))
    return Decision(
        best.id,
        [
            f"handles {case.right_type}",
            f"least loaded of {len(eligible)} eligible ({best.active_cases}/{best.capacity} active)",
        ],
    )
