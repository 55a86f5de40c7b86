"""The routing decision (pure): each hard filter, conflicts of interest, the scoring chooser,
scarcity prices, and the choice of a trainee to shadow a case."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workstation.routing import (
    FILTERS,
    SHADOW_FILTERS,
    CaseFacts,
    ExpertFacts,
    Organisation,
    activity_facts,
    activity_parties,
    choose_expert,
    choose_shadow,
    normalise_name,
    pile_order,
    same_organisation,
    scarcity,
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


SHAANXI = Organisation(frozenset({"Shaanxi Xinghe Technology Co., Ltd.", "陕西星河科技有限公司"}), "91610131MA6TXXXX15")


@pytest.mark.parametrize(
    "party",
    [
        Organisation(frozenset({"陕西星河科技有限公司"})),
        Organisation(frozenset({"SHAANXI XINGHE TECHNOLOGY CO LTD"})),
        Organisation(frozenset({"完全不同的名字"}), "91610131ma6txxxx15"),
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


# --- scarcity: opportunity cost ----------------------------------------------------------------

US_TRADEMARK = replace(TRADEMARK, jurisdiction="US")


def test_an_expert_rare_cases_need_is_kept_for_them() -> None:
    skills = {"legal": 2, "technical": 2}
    both = expert(1, jurisdictions=frozenset({"CN", "US"}), competence=skills)  # the only one for US cases
    cn_only = expert(2, jurisdictions=frozenset({"CN"}), competence=skills)
    prices = scarcity([both, cn_only], [TRADEMARK] * 4 + [US_TRADEMARK] * 6, TODAY, horizon=10)
    assert prices[1] > prices[2] >= 0
    assert chosen(TRADEMARK, both, cn_only) == 1  # without prices: a tie, broken by id
    assert choose_expert(TRADEMARK, [both, cn_only], TODAY, prices).expert_id == 2
    assert choose_expert(US_TRADEMARK, [both, cn_only], TODAY, prices).expert_id == 1  # prices never exclude
    assert "scarcity" in choose_expert(US_TRADEMARK, [both, cn_only], TODAY, prices).reasons[1]


def test_capacity_the_case_mix_does_not_contest_costs_nothing() -> None:
    pool = [expert(1), expert(2, competence={"legal": 3})]
    assert scarcity(pool, [TRADEMARK] * 10, TODAY, horizon=3) == {1: 0.0, 2: 0.0}
    assert scarcity(pool, [], TODAY, horizon=10) == {1: 0.0, 2: 0.0}
    assert scarcity(pool, [TRADEMARK] * 10, TODAY) == {1: 0.0, 2: 0.0}  # an empty pool: nothing competes


def test_by_default_the_cases_active_now_are_those_that_compete() -> None:
    pool = [expert(1, active=4), expert(2, competence={"legal": 3}, active=4), expert(3, is_trainee=True, active=3)]
    mix = [TRADEMARK] * 3 + [replace(TRADEMARK, service="consultation")]
    assert scarcity(pool, mix, TODAY) == scarcity(pool, mix, TODAY, horizon=8)
    assert scarcity(pool, mix, TODAY)[2] > 0


def test_experts_no_case_can_have_cost_nothing() -> None:
    pool = [expert(1, is_trainee=True), expert(2, on_leave_until=TODAY), expert(3, capacity=0), expert(4)]
    prices = scarcity(pool, [TRADEMARK] * 20, TODAY, horizon=20)
    assert prices[1] == prices[2] == prices[3] == 0.0 and prices[4] > 0


def test_the_more_a_slot_is_worth_the_higher_its_price() -> None:
    strong = expert(1, competence={"legal": 3, "technical": 3})
    weak = expert(2, competence={"legal": 1, "technical": 1})
    prices = scarcity([strong, weak], [TRADEMARK] * 10, TODAY, horizon=10)
    assert prices[1] > prices[2]


def test_prices_are_about_the_kind_of_case_not_its_parties() -> None:
    pool = [expert(1), expert(2, jurisdictions=frozenset({"CN"}))]
    mix = [TRADEMARK] * 4 + [US_TRADEMARK] * 4
    with_parties = [replace(c, parties=(SHAANXI,), declined_by=frozenset({1}), urgency="high") for c in mix]
    assert scarcity(pool, with_parties, TODAY, horizon=8) == scarcity(pool, mix, TODAY, horizon=8)


def test_with_cases_to_come_only_the_free_slots_are_priced() -> None:
    skills = {"legal": 2, "technical": 2}
    both = expert(1, jurisdictions=frozenset({"CN", "US"}), competence=skills)
    cn_only = expert(2, jurisdictions=frozenset({"CN"}), competence=skills)
    mix = [TRADEMARK] * 4 + [US_TRADEMARK] * 6
    # nothing taken yet: the free slots are every slot
    assert scarcity([both, cn_only], mix, TODAY, to_come=10) == scarcity([both, cn_only], mix, TODAY, horizon=10)
    # the same 4 cases to come are priced against what is left: a full expert costs nothing (no case
    # can have them), and fewer free slots with the same demand cost more
    full, half = replace(both, active_cases=5), replace(both, active_cases=3)
    assert scarcity([full, cn_only], mix, TODAY, to_come=4)[1] == 0.0
    assert scarcity([half, cn_only], mix, TODAY, to_come=4)[1] > scarcity([both, cn_only], mix, TODAY, to_come=4)[1]
    # every slot against the cases active at once (the steady state) does not look at the loads
    assert scarcity([half, cn_only], mix, TODAY, horizon=4) == scarcity([both, cn_only], mix, TODAY, horizon=4)


def test_cases_to_come_and_a_horizon_are_not_both_given() -> None:
    with pytest.raises(ValueError, match="not both"):
        scarcity([expert(1)], [TRADEMARK], TODAY, horizon=5, to_come=5)


def test_with_prices_balance_only_spreads_the_load_and_weighs_less() -> None:
    skilled_but_busy = expert(1, active=3, competence={"legal": 3, "technical": 3})
    free = expert(2, active=0, competence={"legal": 3, "technical": 2})
    assert chosen(TRADEMARK, skilled_but_busy, free) == 2  # without prices balance also keeps room
    assert choose_expert(TRADEMARK, [skilled_but_busy, free], TODAY, {1: 0.0, 2: 0.0}).expert_id == 1


def test_no_prices_and_empty_prices_choose_alike() -> None:
    pool = [expert(1, active=2), expert(2, competence={"legal": 2}), expert(3, types=("patent",))]
    assert choose_expert(TRADEMARK, pool, TODAY, {}) == choose_expert(TRADEMARK, pool, TODAY)


# --- trainees: shadowing -------------------------------------------------------------------------

CHIPS = replace(TRADEMARK, technical_field="electronics_ict")
SENIOR = expert(100, competence={"legal": 3})


def trainee(id: int, supervisor: int | None = None, fields=("electronics_ict",), **kw) -> ExpertFacts:  # noqa: A002, ANN001, ANN003
    return expert(id, is_trainee=True, supervisor_id=supervisor, technical_fields=frozenset(fields), **kw)


def shadow(case: CaseFacts, *experts: ExpertFacts, assignee: ExpertFacts = SENIOR) -> int | None:
    return choose_shadow(case, assignee, [assignee, *experts], TODAY)


def test_the_assignees_own_trainee_shadows_first_even_if_busier() -> None:
    assert shadow(CHIPS, trainee(1, active=3), trainee(2, supervisor=100, fields=(), active=4)) == 2


def test_else_a_trainee_of_the_cases_field() -> None:
    assert shadow(CHIPS, trainee(1, supervisor=55, fields=()), trainee(2, fields=("biomedicine",)), trainee(3)) == 3


def test_a_trainee_neither_of_the_assignee_nor_of_the_field_does_not_shadow() -> None:
    assert shadow(CHIPS, trainee(1, supervisor=55, fields=("biomedicine",))) is None


def test_only_trainees_shadow() -> None:
    colleague = expert(1, technical_fields=frozenset({"electronics_ict"}))
    assert shadow(CHIPS, colleague) is None


def test_no_shadow_on_a_confidential_case() -> None:
    assert shadow(replace(CHIPS, confidential=True), trainee(1, supervisor=100)) is None


def test_a_trainee_not_cleared_for_confidential_cases_may_shadow_others() -> None:
    assert shadow(CHIPS, trainee(1, confidential_ok=False)) == 1


def test_among_equals_the_least_loaded_then_the_lowest_id() -> None:
    assert shadow(CHIPS, trainee(3, capacity=4, active=2), trainee(2, capacity=10, active=2)) == 2
    assert shadow(CHIPS, trainee(7), trainee(3), trainee(5)) == 3
    assert shadow(CHIPS, trainee(3, active=1), trainee(5, supervisor=100, active=2), trainee(4, supervisor=100)) == 4


def test_the_assignee_never_shadows_their_own_case() -> None:
    odd = trainee(1, supervisor=1)  # a trainee given as assignee, as a worker bug might
    assert shadow(CHIPS, odd, assignee=odd) is None


def test_a_shadows_load_counts_the_cases_they_shadow() -> None:
    assert shadow(CHIPS, trainee(1, supervisor=100, capacity=3, active=3), trainee(2)) == 2


SHADOW_INELIGIBLE = {
    "right type": trainee(1, types=("patent",)),
    "service": trainee(1, services=frozenset({"consultation"})),
    "jurisdiction": trainee(1, jurisdictions=frozenset({"US", "EU"})),
    "language": trainee(1, languages=frozenset({"en"})),
    "inactive": trainee(1, available=False),
    "on leave": trainee(1, on_leave_until=TODAY),
    "at capacity": trainee(1, capacity=2, active=2),
    "declined before": trainee(9),
    "works for a party": trainee(1, organisation=SHAANXI),
    "acted for a party": trainee(1, acted_for=(SHAANXI,)),
}


@pytest.mark.parametrize("name", SHADOW_INELIGIBLE)
@pytest.mark.parametrize("supervised", [False, True], ids=["field", "supervised"])
def test_each_hard_filter_keeps_a_trainee_from_shadowing(name: str, supervised: bool) -> None:
    case = replace(CHIPS, declined_by=frozenset({9}), parties=(Organisation(frozenset({"陕西星河科技"})),))
    candidate = replace(SHADOW_INELIGIBLE[name], supervisor_id=100 if supervised else None)
    assert shadow(case, candidate) is None
    assert shadow(case, candidate, trainee(20, active=4)) == 20


# --- properties --------------------------------------------------------------------------------

RIGHTS = ("patent", "trademark", "copyright", "trade_secret")
SERVICES = ("infringement_judgment", "compensation_estimate", "risk_warning", "consultation")
FIELDS = ("electronics_ict", "biomedicine", "other")
ORGS = st.sampled_from(["甲公司", "乙公司", "丙有限公司", "Acme Co., Ltd.", "Acme"])


@st.composite
def organisations(draw) -> Organisation:  # noqa: ANN001
    return Organisation(frozenset(draw(st.sets(ORGS, max_size=2))), draw(st.sampled_from([None, "91610131MA6TXXXX15"])))


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
        technical_fields=frozenset(draw(st.sets(st.sampled_from(FIELDS), max_size=2))),
        competence={d: draw(st.integers(0, 3)) for d in ("legal", "technical", "management", "commercialization")},
        on_leave_until=draw(st.none() | st.dates(date(2026, 11, 1), date(2026, 12, 31))),
        organisation=draw(organisations()),
        acted_for=tuple(draw(st.lists(organisations(), max_size=1))),
        confidential_ok=draw(st.booleans()),
        is_trainee=draw(st.booleans()),
        supervisor_id=draw(st.none() | st.integers(1, 8)),
    )


@st.composite
def cases(draw) -> CaseFacts:  # noqa: ANN001
    return CaseFacts(
        right_type=draw(st.sampled_from(RIGHTS)),
        service=draw(st.sampled_from(SERVICES)),
        declined_by=frozenset(draw(st.sets(st.integers(1, 8), max_size=3))),
        jurisdiction=draw(st.sampled_from(["CN", "US", "EU"])),
        languages=frozenset(draw(st.sets(st.sampled_from(["zh", "en"]), min_size=1))),
        technical_field=draw(st.sampled_from(FIELDS)),
        confidential=draw(st.booleans()),
        urgency=draw(st.sampled_from(["low", "normal", "high"])),
        applicant=draw(organisations()),
        parties=tuple(draw(st.lists(organisations(), max_size=2))),
    )


POOLS = st.integers(0, 8).flatmap(lambda n: st.tuples(*[experts(i + 1) for i in range(n)]))
PRICES = st.none() | st.dictionaries(st.integers(1, 8), st.floats(0, 1))


@settings(max_examples=120, deadline=None)
@given(case=cases(), pool=POOLS, prices=PRICES)
def test_the_chosen_expert_never_violates_a_hard_filter(
    case: CaseFacts, pool: tuple[ExpertFacts, ...], prices: dict[int, float] | None
) -> None:
    decision = choose_expert(case, pool, TODAY, prices)
    eligible = [e for e in pool if all(rule(case, e, TODAY) is None for rule in FILTERS)]
    if decision.expert_id is None:
        assert eligible == []
    else:
        pick = next(e for e in pool if e.id == decision.expert_id)
        assert all(rule(case, pick, TODAY) is None for rule in FILTERS)
        assert not pick.is_trainee and pick.active_cases < pick.capacity


@settings(max_examples=120, deadline=None)
@given(case=cases(), pool=POOLS, data=st.data())
def test_the_shadow_never_violates_a_hard_filter_and_is_never_the_assignee(
    case: CaseFacts, pool: tuple[ExpertFacts, ...], data: st.DataObject
) -> None:
    assignee = data.draw(st.sampled_from(pool) if pool else experts(1))
    # the spec, stated apart from the code: every hard rule but the two that keep trainees from assigning
    rules = [rule for rule in FILTERS if rule.__name__ not in ("not_a_trainee", "cleared_for_confidential")]
    assert set(rules) == set(SHADOW_FILTERS)
    qualifying = [
        e
        for e in pool
        if e.is_trainee
        and e.id != assignee.id
        and (e.supervisor_id == assignee.id or case.technical_field in e.technical_fields)
        and all(rule(case, e, TODAY) is None for rule in rules)
    ]
    picked = choose_shadow(case, assignee, pool, TODAY)
    if picked is None:
        assert case.confidential or not qualifying
        return
    pick = next(e for e in pool if e.id == picked)
    assert pick.id != assignee.id and pick.is_trainee and not case.confidential
    assert all(rule(case, pick, TODAY) is None for rule in rules)
    assert pick in qualifying


@settings(max_examples=50, deadline=None)
@given(pool=POOLS, demand=st.lists(cases(), max_size=6))
def test_every_expert_gets_a_price_and_none_is_negative(pool: tuple[ExpertFacts, ...], demand: list[CaseFacts]) -> None:
    free_slots = scarcity(pool, demand, TODAY, to_come=len(demand))
    for prices in (scarcity(pool, demand, TODAY), free_slots):
        assert set(prices) == {e.id for e in pool}
        assert all(p >= 0 for p in prices.values())
    assert all(free_slots[e.id] == 0.0 for e in pool if e.active_cases >= e.capacity)  # no slot to price


# --- a risk warning's or an IP analysis's activity ------------------------------------------------

EXPORT = {"kind": "trade", "date": "2027-03-01", "target_markets": ["US", "DE"], "counterparties": []}
TRANSFER = {
    "kind": "technology_transfer",
    "date": "2027-03-01",
    "direction": "in",
    "counterparty": {"name": "陕西星河科技有限公司", "credit_code": None},
    "technology": "固态电解质",
    "counterparties": [{"name": "某某投资有限公司", "credit_code": "91610131MA6TXXXX15"}],
}


def activity_case(activity: dict, **kw) -> CaseFacts:  # noqa: ANN003
    """A risk warning about ``activity``, built as the routing worker builds it (``case_facts``)."""
    parties = tuple(Organisation.of(p["name"], p.get("credit_code")) for p in activity_parties(activity))
    return CaseFacts(right_type="patent", service="risk_warning", parties=parties, **activity_facts(activity), **kw)


def test_what_routing_reads_of_an_activity() -> None:
    assert activity_facts(None) == {}
    assert activity_facts(EXPORT) == {"target_markets": frozenset({"US", "DE"}), "activity_field": None}
    rd = {"kind": "rd", "date": "2027-03-01", "technical_field": "biomedicine", "key_technologies": ["x"]}
    assert activity_facts(rd) == {"target_markets": frozenset(), "activity_field": "biomedicine"}
    assert [p["name"] for p in activity_parties(TRANSFER)] == ["陕西星河科技有限公司", "某某投资有限公司"]
    assert activity_parties(None) == [] and activity_parties(EXPORT) == []


def test_an_export_needs_an_expert_covering_one_of_its_target_markets() -> None:
    case = activity_case(EXPORT)
    japan = expert(1, types=("patent",), jurisdictions=frozenset({"CN", "JP"}))
    decision = choose_expert(case, [japan], TODAY)
    assert decision.expert_id is None and "covers none of the activity's target markets" in decision.reasons[0]
    germany = expert(2, types=("patent",), jurisdictions=frozenset({"CN", "DE"}), active=4)
    assert chosen(case, japan, germany) == 2
    assert chosen(case, japan, expert(3, types=("patent",))) == 3  # no jurisdictions stated: no restriction
    # the case's own jurisdiction is still needed
    assert chosen(case, expert(4, types=("patent",), jurisdictions=frozenset({"US", "DE"}))) is None
    # without target markets the rule asks nothing
    assert chosen(replace(case, target_markets=frozenset()), japan) == 1


def test_an_rd_projects_technical_field_counts_like_the_cases_own() -> None:
    rd = {"kind": "rd", "date": "2027-03-01", "technical_field": "biomedicine", "key_technologies": ["载体"]}
    case = activity_case(rd, technical_field="other")
    pharma = expert(2, types=("patent",), technical_fields=frozenset({"biomedicine"}), active=1)
    assert chosen(case, expert(1, types=("patent",)), pharma) == 2
    assert chosen(replace(case, activity_field=None), expert(1, types=("patent",)), pharma) == 1


@pytest.mark.parametrize(
    "tie",
    [{"organisation": SHAANXI}, {"acted_for": (Organisation(frozenset({"某某投资公司"})),)}],
    ids=["works for the transfer's counterparty", "acted for another counterparty"],
)
def test_an_expert_tied_to_a_counterparty_of_the_activity_has_a_conflict(tie: dict) -> None:
    case = activity_case(TRANSFER)
    decision = choose_expert(case, [expert(1, types=("patent",), **tie)], TODAY)
    assert decision.expert_id is None and "conflict of interest" in decision.reasons[0]
    assert chosen(activity_case(EXPORT), expert(1, types=("patent",), **tie)) == 1


def test_the_pile_is_routed_best_served_first_and_nobody_eligible_is_held() -> None:
    """One slot frees up: it goes to the waiting case it serves best, not to the oldest; a case
    nobody eligible has room for stays last, oldest first among those."""
    freed = expert(1, types=("trademark", "patent"), capacity=1, competence={"legal": 3, "technical": 3})
    full = expert(2, types=("copyright",), capacity=1, active=1)
    poor = replace(TRADEMARK, service="risk_warning")  # the freed expert has no management or commerce
    good = TRADEMARK  # infringement judgment: legal and technical, their best
    stuck = replace(TRADEMARK, right_type="copyright")
    pile = [(stuck, [freed, full]), (poor, [freed, full]), (good, [freed, full])]
    assert pile_order(pile, TODAY) == [2, 1, 0]
    assert pile_order(pile[:2], TODAY) == [1, 0]  # alone, the poorly served case still gets the slot


def test_the_benchmark_routes_its_pile_in_the_order_of_the_scheduler_job() -> None:
    """``benchmarks/routing.py`` routes its waiting cases with the very ``pile_order`` the
    scheduler's ``route-the-pile`` job (``workers.routing.route_the_pile``) uses: at a tick with
    one freed slot and two cases waiting, the better served of the two gets it (the other the
    slot after, when that case closes)."""
    import importlib.util
    import sys
    from pathlib import Path

    import numpy as np

    import workers.routing as job
    from workstation import routing

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "routing.py"
    spec = importlib.util.spec_from_file_location("benchmark_routing_pile", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules["benchmark_routing_pile"] = bench
    try:
        spec.loader.exec_module(bench)
    finally:
        del sys.modules["benchmark_routing_pile"]
    assert bench.pile_order is job.pile_order is routing.pile_order
    freed = expert(1, types=("trademark",), capacity=1, competence={"legal": 3, "technical": 3})
    poor, good = replace(TRADEMARK, service="risk_warning"), TRADEMARK
    # the first case holds the expert until 100.05; the two others arrive while it does
    cases = [TRADEMARK, poor, good]
    arrive = np.array([100.0, 100.01, 100.02])
    stream = bench.Stream(cases, arrive, np.array([0.05, 1.0, 1.0]), bench.working_days())
    run = bench.simulate(stream, [freed], routing.PRICING_INTERVAL_S)
    assert [(i, first) for i, _, _, _, first in run.assigned] == [(0, True), (2, False), (1, False)]


def test_the_benchmark_routes_through_the_pricing_the_scheduler_job_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``benchmarks/routing.py`` measures what ships: its simulation routes with the worker's
    ``choose_expert`` and prices the pool through the very ``price_pool`` the scheduler's job
    (``workers.routing.price_the_pool``) calls, once per job interval, with what the job passes:
    every expert with their load at that moment, the cases arrived by then newest first (at most
    ``PRICING_SAMPLE``), the day and how many were submitted in the last week -- never a case
    still to come, nor the volume to come."""
    import importlib.util
    import sys
    from pathlib import Path

    import numpy as np

    import workers.routing as job
    from workstation import routing

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "routing.py"
    spec = importlib.util.spec_from_file_location("benchmark_routing_pure", path)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "benchmark_routing_pure", bench)
    spec.loader.exec_module(bench)
    assert bench.price_pool is job.price_pool is routing.price_pool
    assert bench.prices_as_read is job.prices_as_read and bench.choose_expert is job.choose_expert
    calls = []  # the arguments as they were at the call (the simulation updates its pool in place)

    def spy(experts: list[ExpertFacts], *rest: object, **kw: object) -> dict[int, float]:
        calls.append((list(experts), *rest, kw))
        return routing.price_pool(experts, *rest, **kw)

    monkeypatch.setattr(bench, "price_pool", spy)
    monkeypatch.setattr(bench, "PRICING_SAMPLE", 7)  # fewer than the cases: which ones are taken shows

    experts = [expert(i, types=("trademark", "patent"), capacity=2, competence={"legal": i % 4}) for i in range(1, 5)]
    days = bench.working_days()
    cases = [replace(TRADEMARK, right_type=("trademark", "patent")[k % 2], urgency=("normal", "high")[k % 3 == 0])
             for k in range(24)]  # fmt: skip
    arrive = np.array([100 + (k + 0.37) / 12.3 for k in range(len(cases))])  # two working days, about 12 a day
    stream = bench.Stream(cases, arrive, np.full(len(cases), 0.3137), days)
    step = routing.PRICING_INTERVAL_S / 3600 / bench.HOURS_A_DAY
    run = bench.simulate(stream, experts, routing.PRICING_INTERVAL_S)

    assert len(calls) == len(run.pricings_s) >= int((arrive[-1] - arrive[0]) / step)  # every ten minutes
    for k, (pool, recent, today, week, kw) in enumerate(calls):
        tick = arrive[0] + k * step
        assert kw == {} and today == stream.today(tick)
        arrived = int(np.searchsorted(arrive, tick, side="right"))
        assert list(recent) == cases[:arrived][::-1][:7]
        assert week == arrived  # submitted in the last week: all of them so far, none to come
        held = Counter(e for _, e, start, end, _ in run.assigned if start < tick < end)
        assert [(e.id, e.active_cases) for e in pool] == [(e.id, held[e.id]) for e in experts]
