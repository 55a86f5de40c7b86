"""The routing decision (pure): filters, then the least-loaded chooser."""

from __future__ import annotations

import pytest

from workstation.routing import CaseFacts, ExpertFacts, choose_expert

pytestmark = pytest.mark.pure

TRADEMARK = CaseFacts(right_type="trademark", service="infringement_judgment")


def expert(id: int, types=("trademark",), capacity: int = 5, active: int = 0, available: bool = True) -> ExpertFacts:  # noqa: A002, ANN001
    return ExpertFacts(id=id, right_types=frozenset(types), capacity=capacity, active_cases=active, available=available)


def test_least_loaded_eligible_expert_is_chosen_with_reasons() -> None:
    decision = choose_expert(TRADEMARK, [expert(1, active=3), expert(2, active=1), expert(3, types=("patent",))])
    assert decision.expert_id == 2
    assert any("least loaded" in r for r in decision.reasons)


def test_load_is_compared_as_a_share_of_capacity() -> None:
    assert choose_expert(TRADEMARK, [expert(1, capacity=2, active=1), expert(2, capacity=10, active=2)]).expert_id == 2


@pytest.mark.parametrize(
    "candidate",
    [expert(1, types=("patent",)), expert(1, available=False), expert(1, capacity=2, active=2)],
    ids=["wrong right type", "not available", "at capacity"],
)
def test_ineligible_experts_are_never_chosen(candidate: ExpertFacts) -> None:
    decision = choose_expert(TRADEMARK, [candidate])
    assert decision.expert_id is None
    assert decision.reasons


def test_an_expert_who_declined_is_not_chosen_again() -> None:
    case = CaseFacts("trademark", "consultation", declined_by=frozenset({1}))
    assert choose_expert(case, [expert(1), expert(2, active=4)]).expert_id == 2


def test_ties_break_by_id_so_the_choice_is_stable() -> None:
    assert choose_expert(TRADEMARK, [expert(7), expert(3), expert(5)]).expert_id == 3
