"""The routing decision (pure): each hard filter, conflicts of interest, the scoring chooser."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workstation.routing import (
    FILTERS,
    CaseFacts,
    ExpertFacts,
    Organisation,
    choose_expert,
    normalise_name,
    same_organisation,
)

pytestmark = pytest.mark.pure

TODAY = date(2026, 11, 24)
TRADEMARK = CaseFacts(right_type="trademark", service="infringement_judgment")


def expert(id: int, types=("trademark",), capacity: int = 5, active: int = 0, **kw) -> ExpertFacts:  # noqa: A002, ANN001, ANN003
    return ExpertFacts(id=id, right_types=frozenset(types), capacity=capacity, active_cases=active, **kw)


def chosen(case: CaseFacts, *experts: ExpertFacts) -> int | None:
    return choose_expert(case, experts, TODAY).expert_id


def test_with_equal_competence_the_least_loaded_expert_is_chosen_with_reasons() -> None:
    decision = choose_expert(TRADEMARK, [expert(1, active=3), expert(2, active=1), expert(3, types=("patent",))], TODAY)
    assert decision.expert_id == 2
    assert decision.reasons[0] == "eligible: 2 of 3" and "score" in decision.reasons[1]


def test_load_is_compared_as_a_share_of_capacity() -> None:
    assert chosen(TRADEMARK, expert(1, capacity=2, active=1), expert(2, capacity=10, active=2)) == 2


def test_ties_break_by_id_so_the_choice_is_stable() -> None:
    assert chosen(TRADEMARK, expert(7), expert(3), expert(5)) == 3


def test_competence_for_the_service_counts() -> None:
    lawyer = expert(1, competence={"legal": 3, "technical": 0})
    engineer_lawyer = expert(2, competence={"legal": 3, "technical": 3})
    business = expert(3, competence={"management": 3, "commercialization": 3})
    assert chosen(TRADEMARK, lawyer, engineer_lawyer, business) == 2  # judgment: legal + technical
    risk = replace(TRADEMARK, service="risk_warning")
    assert chosen(risk, lawyer, engineer_lawyer, business) == 3  # risk warning: management + commercialization


def test_a_technical_field_match_counts() -> None:
    case = replace(TRADEMARK, technical_field="biomedicine")
    assert chosen(case, expert(1), expert(2, technical_fields=frozenset({"biomedicine"}))) == 2


def test_urgent_cases_lean_harder_towards_experts_with_room() -> None:
    skilled_but_busy = expert(1, active=3, competence={"legal": 3, "technical": 3})
    free = expert(2, active=0, competence={"legal": 2, "technical": 1})
    assert chosen(TRADEMARK, skilled_but_busy, free) == 1
    assert chosen(replace(TRADEMARK, urgency="high"), skilled_but_busy, free) == 2


INELIGIBLE = {
    "trainee": expert(1, is_trainee=True),
    "right type": expert(1, types=("patent",)),
    "service": expert(1, services=frozenset({"consultation"})),
    "jurisdiction": expert(1, jurisdictions=frozenset({"US", "EU"})),
    "language": expert(1, languages=frozenset({"en"})),
    "inactive": expert(1, available=False),
    "on leave": expert(1, on_leave_until=TODAY),
    "at capacity": expert(1, capacity=2, active=2),
    "declined before": expert(9),
    "confidential": expert(1, confidential_ok=False),
}


@pytest.mark.parametrize("name", INELIGIBLE)
def test_each_hard_filter_excludes(name: str) -> None:
    case = replace(TRADEMARK, declined_by=frozenset({9}), confidential=name == "confidential")
    decision = choose_expert(case, [INELIGIBLE[name]], TODAY)
    assert decision.expert_id is None
    assert "no eligible expert among 1 (1 " in decision.reasons[0]


def test_leave_that_ended_yesterday_does_not_exclude() -> None:
    assert chosen(TRADEMARK, expert(1, on_leave_until=date(2026, 11, 23))) == 1


def test_unstated_profile_facts_do_not_restrict() -> None:
    case = replace(TRADEMARK, jurisdiction="JP", languages=frozenset({"en"}))
    assert chosen(case, expert(1)) == 1


SHAANXI = Organisation(frozenset({"Shaanxi Xinghe Technology Co., Ltd.", "陕西星河科技有限公司"}), "91610131MA6TXXXX1X")


@pytest.mark.parametrize(
    "party",
    [
        Organisation(frozenset({"陕西星河科技有限公司"})),
        Organisation(frozenset({"SHAANXI XINGHE TECHNOLOGY CO LTD"})),
        Organisation(frozenset({"完全不同的名字"}), "91610131ma6txxxx1x"),
    ],
    ids=["chinese name", "english name, other spelling", "credit code"],
)
def test_an_expert_working_for_a_respondent_has_a_conflict(party: Organisation) -> None:
    case = replace(TRADEMARK, parties=(party,))
    decision = choose_expert(case, [expert(1, organisation=SHAANXI)], TODAY)
    assert decision.expert_id is None and "conflict of interest" in decision.reasons[0]


def test_an_expert_working_for_the_applicant_has_a_conflict() -> None:
    case = replace(TRADEMARK, applicant=Organisation(frozenset({"陕西星河科技"}), None))
    assert chosen(case, expert(1, organisation=SHAANXI)) is None


def test_an_expert_who_acted_for_the_respondent_before_has_a_conflict() -> None:
    case = replace(TRADEMARK, parties=(Organisation(frozenset({"某某贸易有限公司"})),))
    assert chosen(case, expert(1, acted_for=(Organisation(frozenset({"某某贸易公司"})),)), expert(2, active=3)) == 2


def test_a_shared_generic_word_is_no_conflict() -> None:
    assert not same_organisation(
        Organisation(frozenset({"星河科技有限公司"})), Organisation(frozenset({"银河科技有限公司"}))
    )
    assert normalise_name("  Xinghe Group Co., Ltd. ") == normalise_name("xinghe")


# --- properties --------------------------------------------------------------------------------

RIGHTS = ("patent", "trademark", "copyright", "trade_secret")
SERVICES = ("infringement_judgment", "compensation_estimate", "risk_warning", "consultation")
ORGS = st.sampled_from(["甲公司", "乙公司", "丙有限公司", "Acme Co., Ltd.", "Acme"])


@st.composite
def organisations(draw) -> Organisation:  # noqa: ANN001
    return Organisation(frozenset(draw(st.sets(ORGS, max_size=2))), draw(st.sampled_from([None, "91610131MA6TXXXX1X"])))


@st.composite
def experts(draw, id: int) -> ExpertFacts:  # noqa: A002, ANN001
    capacity = draw(st.integers(1, 5))
    return ExpertFacts(
        id=id,
        right_types=frozenset(draw(st.sets(st.sampled_from(RIGHTS), min_size=1))),
        capacity=capacity,
        active_cases=draw(st.integers(0, capacity)),
        available=draw(st.booleans()),
        services=draw(st.none() | st.sets(st.sampled_from(SERVICES)).map(frozenset)),
        jurisdictions=draw(st.none() | st.sets(st.sampled_from(["CN", "US", "EU"])).map(frozenset)),
        languages=draw(st.none() | st.sets(st.sampled_from(["zh", "en"])).map(frozenset)),
        competence={d: draw(st.integers(0, 3)) for d in ("legal", "technical", "management", "commercialization")},
        on_leave_until=draw(st.none() | st.dates(date(2026, 11, 1), date(2026, 12, 31))),
        organisation=draw(organisations()),
        acted_for=tuple(draw(st.lists(organisations(), max_size=1))),
        confidential_ok=draw(st.booleans()),
        is_trainee=draw(st.booleans()),
    )


@st.composite
def cases(draw) -> CaseFacts:  # noqa: ANN001
    return CaseFacts(
        right_type=draw(st.sampled_from(RIGHTS)),
        service=draw(st.sampled_from(SERVICES)),
        declined_by=frozenset(draw(st.sets(st.integers(1, 8), max_size=3))),
        jurisdiction=draw(st.sampled_from(["CN", "US", "EU"])),
        languages=frozenset(draw(st.sets(st.sampled_from(["zh", "en"]), min_size=1))),
        confidential=draw(st.booleans()),
        urgency=draw(st.sampled_from(["low", "normal", "high"])),
        applicant=draw(organisations()),
        parties=tuple(draw(st.lists(organisations(), max_size=2))),
    )


@settings(max_examples=300, deadline=None)
@given(case=cases(), pool=st.integers(0, 8).flatmap(lambda n: st.tuples(*[experts(i + 1) for i in range(n)])))
def test_the_chosen_expert_never_violates_a_hard_filter(case: CaseFacts, pool: tuple[ExpertFacts, ...]) -> None:
    decision = choose_expert(case, pool, TODAY)
    eligible = [e for e in pool if all(rule(case, e, TODAY) is None for rule in FILTERS)]
    if decision.expert_id is None:
        assert eligible == []
    else:
        pick = next(e for e in pool if e.id == decision.expert_id)
        assert all(rule(case, pick, TODAY) is None for rule in FILTERS)
        assert not pick.is_trainee and pick.active_cases < pick.capacity
