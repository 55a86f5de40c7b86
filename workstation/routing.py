"""Choosing an expert for a case. Pure: plain data in, a decision with its reasons out.

Shaped like Request Tracker's automatic assignment: hard *filters* decide who is eligible, then a
*chooser* scores the eligible. A rule is one function in ``FILTERS`` or one weight in ``WEIGHTS``;
adding one touches nothing else. Facts an expert's profile does not state (``None``) do not
restrict: an expert with no listed jurisdictions is not filtered on jurisdiction.

Scarcity (opportunity cost). Routing one case at a time, a chooser that only looks at the case in
hand spends scarce experts -- the few who can take some rare kind of case (a foreign jurisdiction,
English, confidential, a right type in demand) or whose competence is worth most -- on cases
anyone could have taken, and the rare cases that come later find them full. ``scarcity(experts,
demand)`` prices each expert's capacity against a sample of the case mix (recent cases): the dual
price of their capacity in the assignment LP "give the cases that compete for the pool, drawn like
``demand``, the best total quality within capacities", i.e. the quality a slot of theirs is worth
to the case that would otherwise get it. ``choose_expert(..., prices=scarcity(...))`` subtracts
``WEIGHTS["scarcity"]`` x that price, so an expert is spent on a case only when the case gains more
from them than the cases they are kept for would. A slot is held for as long as the case lasts, so
a case pays the price x its service's typical days held / the mean (``SERVICE_DAYS``,
``holding``). Prices come from the pool, the recent case mix and the last week's arrival count
only (never the cases to come) and keep for a while (they change when the pool, the mix or the
rate does); without them the chooser scores as it always did. Prices never turn a case away: a case is
assigned on arrival whenever an eligible expert has room, which is what limits routing quality
when the pool is nearly full (see benchmarks/README.md).

A trainee is never the assignee; ``choose_shadow`` attaches one to a non-confidential case to
learn from it: a trainee of the assignee's, else one working in the case's technical field.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np

#: The four competences of a high-level IP professional, each 0-3 in an expert's profile.
DIMENSIONS = ("legal", "technical", "management", "commercialization")

#: How much each competence counts for each service (each row sums to 1).
SERVICE_COMPETENCE: dict[str, dict[str, float]] = {
    "infringement_judgment": {"legal": 0.5, "technical": 0.5},
    "compensation_estimate": {"legal": 0.5, "commercialization": 0.5},
    "litigation_advice": {"legal": 0.8, "management": 0.2},
    "consultation": {"legal": 0.6, "management": 0.2, "commercialization": 0.2},
    "risk_warning": {"management": 0.5, "commercialization": 0.5},
    # analysing an activity's IP (freedom to operate, clearance, title) and arguing its case
    "ip_analysis": {"legal": 0.4, "technical": 0.4, "commercialization": 0.2},
}

#: The chooser's weights: score = sum of weight x term.
#: - competence: the service's weighted competence levels / 3, in [0, 1]
#: - field: 1 if the expert works in the case's technical field, else 0
#: - balance: 1 - share of capacity in use, in [0, 1] (spreads the load)
#: - scarcity: minus the expert's opportunity cost from ``scarcity()``, in score units (0 to about
#:   the competence + field weights); 0 when the caller passes no prices. Its weight is below 1
#:   because the prices come from a sample of the case mix and the router must take every case it
#:   can (it cannot turn a case away to keep a slot, as the prices' LP may): priced in full, a
#:   noisy price pushes too many cases to weaker experts.
#: - balance_without_prices: the balance weight when the caller passes no prices. Balance then
#:   also stands in for them (room kept everywhere is, crudely, room kept for the rare cases); with
#:   prices doing that job, balance only spreads the load, and weighing it more costs quality.
#: The values were chosen with benchmarks/routing.py (the figures are in benchmarks/README.md).
#: Urgent cases weigh balance double: an expert with room starts sooner.
WEIGHTS: dict[str, float] = {
    "competence": 0.5,
    "field": 0.2,
    "balance": 0.1,
    "scarcity": 0.8,
    "balance_without_prices": 0.3,
}
URGENT_BALANCE_FACTOR = 2.0
#: ``scarcity()``: the softness T of the assignment the prices are fitted to, in score units (an
#: option T better than another gets e = 2.7 times its share of a case), and the rounds of fitting.
#: Softer converges in fewer rounds and splits ties between equal experts instead of leaving them
#: to chance (how these two were chosen: benchmarks/README.md).
SCARCITY_TEMPERATURE = 0.05
SCARCITY_ROUNDS = 50
#: Typical working days a case holds its expert, by service: a consultation days, a litigation
#: advice weeks (the opinion is due within 15 working days; litigation advice follows the
#: proceedings). A case spends its expert's slot for that long, so its opportunity cost is the
#: slot's price x its service's days / the mean (``holding``), and ``scarcity`` prices a slot
#: against the cases active at once, each kind worth its quality per day held.
SERVICE_DAYS: dict[str, float] = {
    "consultation": 4.0,
    "risk_warning": 8.0,
    "compensation_estimate": 12.0,
    "infringement_judgment": 15.0,
    "litigation_advice": 25.0,
    "ip_analysis": 10.0,
}
_MEAN_DAYS = sum(SERVICE_DAYS.values()) / len(SERVICE_DAYS)


@dataclass(frozen=True)
class Organisation:
    """Who someone is, for conflicts of interest: a credit code and/or names (aliases)."""

    names: frozenset[str] = frozenset()
    credit_code: str | None = None

    @classmethod
    def of(cls, name: str | None, credit_code: str | None) -> Organisation:
        """An organisation known by one name (or none) and a credit code (or none)."""
        return cls(frozenset({name}) if name else frozenset(), credit_code or None)


@dataclass(frozen=True)
class CaseFacts:
    right_type: str
    service: str
    declined_by: frozenset[int] = frozenset()
    jurisdiction: str = "CN"
    languages: frozenset[str] = frozenset({"zh"})
    technical_field: str = "other"
    confidential: bool = False
    urgency: str = "normal"
    applicant: Organisation = Organisation()
    #: respondents and other parties named in the case, and the counterparties of its activity
    #: (``activity_parties``): an expert tied to any of them has a conflict of interest
    parties: tuple[Organisation, ...] = ()
    #: the jurisdictions an activity (export, trade) targets: an expert must cover one of them
    target_markets: frozenset[str] = frozenset()
    #: an R&D project's technical field: counts in the score as the case's own field does
    activity_field: str | None = None
    #: right types a litigation matter concerns besides the case's own (``litigation_facts``): an
    #: expert must handle them too
    matter_right_types: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ExpertFacts:
    id: int
    right_types: frozenset[str]
    capacity: int
    active_cases: int
    available: bool = True
    services: frozenset[str] | None = None
    jurisdictions: frozenset[str] | None = None
    languages: frozenset[str] | None = None
    technical_fields: frozenset[str] = frozenset()
    competence: dict[str, int] = field(default_factory=dict)
    on_leave_until: date | None = None
    organisation: Organisation = Organisation()
    #: parties this expert has acted for in earlier cases (a later case against them is a conflict)
    acted_for: tuple[Organisation, ...] = ()
    confidential_ok: bool = True
    is_trainee: bool = False
    #: a trainee's supervisor (an expert's id): the first choice of assignee for them to shadow
    supervisor_id: int | None = None

    @classmethod
    def of_profile(cls, profile: Any, organisation: Organisation = Organisation()) -> ExpertFacts:
        """The facts of a stored expert profile: anything with the profile's attribute names
        (``user_id``, ``right_types``, ``services``...), an ORM row or a result row alike."""
        return cls(
            id=profile.user_id,
            right_types=frozenset(profile.right_types or ()),
            capacity=profile.capacity,
            active_cases=profile.active_cases,
            available=profile.available,
            services=_optional_set(profile.services),
            jurisdictions=_optional_set(profile.jurisdictions),
            languages=_optional_set(profile.languages),
            technical_fields=frozenset(profile.technical_fields or ()),
            competence=dict(profile.competence or {}),
            on_leave_until=profile.on_leave_until,
            organisation=organisation,
            confidential_ok=profile.confidential_ok,
            is_trainee=profile.is_trainee,
            supervisor_id=profile.supervisor_id,
        )


def activity_facts(activity: Mapping[str, Any] | None) -> dict[str, Any]:
    """What routing reads of a case's activity (``cases.activity``; a kind's fields are absent
    for the other kinds): its target markets and technical field, as keyword arguments of
    ``CaseFacts``. Its counterparties go into ``parties`` (``activity_parties``)."""
    if not activity:
        return {}
    return {
        "target_markets": frozenset(activity.get("target_markets") or ()),
        "activity_field": activity.get("technical_field"),
    }


def activity_parties(activity: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The companies a case's activity deals with (each with ``name`` and ``credit_code``): its
    target company, its transfer's counterparty and its other counterparties. They enter the
    conflict-of-interest check as the case's parties do: an expert who works for the company the
    enterprise is buying, or has acted for its licensor, is not the one to advise on it."""
    if not activity:
        return []
    single = [activity[name] for name in ("target_company", "counterparty") if activity.get(name)]
    return [*single, *(activity.get("counterparties") or ())]


def litigation_facts(litigation: Mapping[str, Any] | None) -> dict[str, Any]:
    """What routing reads of a litigation advice's matter (``cases.litigation``), as keyword
    arguments of ``CaseFacts``: a squatted mark is a trademark, whatever right the enterprise
    relies on against it (a copyright in the logo, a trade name...), so the expert must handle
    trademarks (opposition and invalidation, Trademark Law arts. 33, 44-45). Its opponent goes into
    ``parties`` (``litigation_parties``)."""
    if litigation and litigation.get("abuse") == "squatting":
        return {"matter_right_types": frozenset({"trademark"})}
    return {}


def litigation_parties(litigation: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The opponent of a litigation matter (the squatter, the plaintiff, the sender of the warning,
    each with ``name`` and ``credit_code``): an expert tied to it may not advise against it."""
    return [litigation["opponent"]] if litigation and litigation.get("opponent") else []


def case_parties(case: Any) -> list[Mapping[str, Any]]:
    """Every company a stored case names that its expert must not be tied to: its parties, its
    activity's counterparties (``activity_parties``) and its litigation's opponent
    (``litigation_parties``). ``case``: anything with ``parties``, ``activity`` and ``litigation``."""
    return [*(case.parties or ()), *activity_parties(case.activity), *litigation_parties(case.litigation)]


def _optional_set(values: Iterable[str] | None) -> frozenset[str] | None:
    """None (not stated: no restriction) stays None; a stated list, even empty, is a set."""
    return None if values is None else frozenset(values)


@dataclass(frozen=True)
class Decision:
    expert_id: int | None
    reasons: list[str] = field(default_factory=list)


# --- conflicts of interest -------------------------------------------------------------------

_SUFFIXES = (
    "股份有限公司", "有限责任公司", "有限公司", "集团", "公司", "研究院", "研究所",
    "co., ltd.", "co.,ltd.", "co. ltd.", "co ltd", "company limited", "limited", "ltd", "inc",
    "corporation", "corp", "company", "co", "group", "llc", "gmbh",
)  # fmt: skip
_PUNCTUATION = re.compile(r"[\s\.,，。、()（）&\-_'\"·]+")


@functools.lru_cache(maxsize=65536)  # one decision compares the case's parties with every expert
def normalise_name(name: str) -> str:
    """An organisation's name reduced for comparison: width, case, punctuation, legal suffixes."""
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            stripped = text.removesuffix(suffix).rstrip(" .,，")
            if stripped != text and stripped:
                text, changed = stripped, True
    return _PUNCTUATION.sub("", text)


def same_organisation(a: Organisation, b: Organisation) -> bool:
    if a.credit_code and b.credit_code and a.credit_code.upper() == b.credit_code.upper():
        return True
    names_a = {normalise_name(n) for n in a.names} - {""}
    return bool(names_a & ({normalise_name(n) for n in b.names} - {""}))


def _any_same(org: Organisation, others: Iterable[Organisation]) -> bool:
    return any(same_organisation(org, other) for other in others)


# --- filters: each returns why the expert is not eligible, or None ----------------------------

Filter = Callable[[CaseFacts, ExpertFacts, date], str | None]


def not_a_trainee(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    return "trainees shadow, they are never the assignee" if expert.is_trainee else None


def handles_right_type(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    if case.right_type not in expert.right_types:
        return "does not handle this right type"
    return None if case.matter_right_types <= expert.right_types else "does not handle the matter's right type"


def offers_service(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    return None if expert.services is None or case.service in expert.services else "does not offer this service"


def covers_jurisdiction(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    ok = expert.jurisdictions is None or case.jurisdiction in expert.jurisdictions
    return None if ok else "does not cover this jurisdiction"


def covers_a_target_market(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    # One market is enough: an export to several seldom finds one expert for all of them, and the
    # opinion can say which markets it could not cover.
    ok = not case.target_markets or expert.jurisdictions is None or bool(case.target_markets & expert.jurisdictions)
    return None if ok else "covers none of the activity's target markets"


def speaks_a_case_language(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    ok = expert.languages is None or bool(case.languages & expert.languages)
    return None if ok else "speaks none of the case's languages"


def is_available(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    if not expert.available:
        return "not available"
    if expert.on_leave_until is not None and expert.on_leave_until >= today:
        return f"on leave until {expert.on_leave_until.isoformat()}"
    return None


def has_capacity(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    return None if expert.active_cases < expert.capacity else "at capacity"


def did_not_decline(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    return "declined this case before" if expert.id in case.declined_by else None


def cleared_for_confidential(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    return "not cleared for confidential cases" if case.confidential and not expert.confidential_ok else None


def no_conflict_of_interest(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    if _any_same(expert.organisation, (case.applicant, *case.parties)):
        return "conflict of interest: works for a party to the case"
    if any(_any_same(acted, case.parties) for acted in expert.acted_for):
        return "conflict of interest: has acted for a party to the case"
    return None


FILTERS: tuple[Filter, ...] = (
    not_a_trainee,
    handles_right_type,
    offers_service,
    covers_jurisdiction,
    covers_a_target_market,
    speaks_a_case_language,
    is_available,
    has_capacity,
    did_not_decline,
    cleared_for_confidential,
    no_conflict_of_interest,
)


#: The rules on who may hold a case at all, whoever picks the holder: routing (``why_not``) and a
#: coordinator reassigning by hand (``workstation.services.cases.reassign``), through
#: ``why_not_holder``. The other filters (fit, load, leave, declines, conflicts) are routing's to
#: weigh; a coordinator choosing by hand is trusted with those.
HOLDER_RULES: tuple[Filter, ...] = (not_a_trainee, cleared_for_confidential)
#: Of those, the one a coordinator may override, saying so explicitly (the override is audited):
#: a trainee never holds a case, not even by hand.
OVERRIDABLE_RULES: tuple[Filter, ...] = (cleared_for_confidential,)


#: The rules on what a case is (its right type, its service, whether it is confidential): when a
#: coordinator classifies a case anew, an expert holding it whom these rules no longer let hold it
#: is replaced (``workers.routing.route_classified``); the other rules were weighed when they got it.
KIND_RULES: tuple[Filter, ...] = (handles_right_type, offers_service, cleared_for_confidential)


#: The rules a further expert on a case's panel (``workstation.services.panels``) is held to: never
#: a trainee, cleared for a confidential case, speaking its language, available, and without a
#: conflict of interest. Their capacity is not a rule here: a seat takes a slot of it with the same
#: conditional update a case does (``services.cases``), so two coordinators cannot overfill anyone.
#: Fit (right type, service, jurisdiction) is the coordinator's to weigh: a panel is convened for
#: the expertise the lead expert lacks.
PANEL_RULES: tuple[Filter, ...] = (
    not_a_trainee,
    cleared_for_confidential,
    speaks_a_case_language,
    is_available,
    no_conflict_of_interest,
)


def why_not_panel_member(case: CaseFacts, expert: ExpertFacts, today: date | None = None) -> str | None:
    """The first of ``PANEL_RULES`` ``expert`` fails for a seat on ``case``'s panel, or None."""
    today = today or date.today()
    for rule in PANEL_RULES:
        reason = rule(case, expert, today)
        if reason is not None:
            return reason
    return None


def fits_kind(case: CaseFacts, expert: ExpertFacts, today: date | None = None) -> bool:
    """Whether ``expert`` passes ``KIND_RULES`` for ``case``."""
    today = today or date.today()
    return all(rule(case, expert, today) is None for rule in KIND_RULES)


def why_not_holder(
    case: CaseFacts, expert: ExpertFacts, today: date | None = None, override_clearance: bool = False
) -> str | None:
    """Why ``expert`` may not hold ``case`` at all (``HOLDER_RULES``), or None if they may.
    ``override_clearance``: a coordinator's explicit override of ``OVERRIDABLE_RULES``."""
    today = today or date.today()
    for rule in HOLDER_RULES:
        if override_clearance and rule in OVERRIDABLE_RULES:
            continue
        reason = rule(case, expert, today)
        if reason is not None:
            return reason
    return None


def why_not(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    """The first rule ``expert`` fails for ``case``, or None if eligible: who may hold a case at
    all (``why_not_holder``, the rules a coordinator is held to as well), then the rest."""
    reason = why_not_holder(case, expert, today)
    if reason is not None:
        return reason
    for rule in FILTERS:
        if rule in HOLDER_RULES:
            continue
        reason = rule(case, expert, today)
        if reason is not None:
            return reason
    return None


# --- the chooser ------------------------------------------------------------------------------


def _competence(case: CaseFacts, expert: ExpertFacts) -> float:
    weights = SERVICE_COMPETENCE.get(case.service, {"legal": 1.0})
    return sum(w * min(max(expert.competence.get(dim, 0), 0), 3) for dim, w in weights.items()) / 3


def _field(case: CaseFacts, expert: ExpertFacts) -> float:
    fields = {case.technical_field, case.activity_field}
    return 1.0 if not fields.isdisjoint(expert.technical_fields) else 0.0


def holding(case: CaseFacts) -> float:
    """How long ``case`` will hold its expert relative to the typical case (``SERVICE_DAYS``)."""
    return SERVICE_DAYS.get(case.service, _MEAN_DAYS) / _MEAN_DAYS


def score_terms(case: CaseFacts, expert: ExpertFacts, prices: Mapping[int, float] | None = None) -> dict[str, float]:
    return {
        "competence": _competence(case, expert),
        "field": _field(case, expert),
        "balance": 1.0 - expert.active_cases / expert.capacity,
        "scarcity": -prices.get(expert.id, 0.0) * holding(case) if prices else 0.0,
    }


def quality(case: CaseFacts, expert: ExpertFacts) -> float:
    """The load-independent part of the score: what the case gains from this expert."""
    return WEIGHTS["competence"] * _competence(case, expert) + WEIGHTS["field"] * _field(case, expert)


def score(case: CaseFacts, expert: ExpertFacts, prices: Mapping[int, float] | None = None) -> float:
    terms = score_terms(case, expert, prices)
    weights = dict(WEIGHTS)
    if not prices:
        weights["balance"] = weights["balance_without_prices"]
    if case.urgency == "high":
        weights["balance"] *= URGENT_BALANCE_FACTOR
    return sum(weights[k] * v for k, v in terms.items())


def choose_expert(
    case: CaseFacts,
    experts: Sequence[ExpertFacts],
    today: date | None = None,
    prices: Mapping[int, float] | None = None,
) -> Decision:
    """The eligible expert with the best score (ties: less loaded, then lower id), with reasons.

    ``prices``: each expert's opportunity cost, ``scarcity(pool, recent cases)`` (optional; an
    expert not in it costs nothing). Prices only rank the eligible: they never exclude anyone.
    Without prices (None or empty) balance weighs ``WEIGHTS["balance_without_prices"]``.
    """
    today = today or date.today()
    eligible, refused = [], {}
    for expert in experts:
        reason = why_not(case, expert, today)
        if reason is None:
            eligible.append(expert)
        else:
            refused[reason] = refused.get(reason, 0) + 1
    if not eligible:
        summary = "; ".join(f"{n} {reason}" for reason, n in sorted(refused.items(), key=lambda r: -r[1]))
        return Decision(None, [f"no eligible expert among {len(experts)}" + (f" ({summary})" if summary else "")])
    scores = {e.id: score(case, e, prices) for e in eligible}
    best = min(eligible, key=lambda e: (-round(scores[e.id], 9), e.active_cases / e.capacity, e.active_cases, e.id))
    terms = score_terms(case, best, prices)
    cost = f", scarcity {-terms['scarcity']:.2f}" if terms["scarcity"] else ""
    return Decision(
        best.id,
        [
            f"eligible: {len(eligible)} of {len(experts)}",
            f"score {scores[best.id]:.2f} (competence {terms['competence']:.2f}, field {terms['field']:.0f}, "
            f"load {best.active_cases}/{best.capacity}{cost})",
        ],
    )


# --- scarcity: each expert's opportunity cost ----------------------------------------------------

#: The rules that depend on the kind of case and on the expert's standing, not on one case's
#: parties or declines or on the expert's load at the moment: what the case mix can ask of whom.
PROFILE_FILTERS: tuple[Filter, ...] = tuple(
    rule for rule in FILTERS if rule not in (has_capacity, did_not_decline, no_conflict_of_interest)
)


@functools.lru_cache(maxsize=4 * 4096)  # the job reduces the same ~2000 recent cases at every run
def _profile(case: CaseFacts) -> CaseFacts:
    """``case`` as a kind of case: without what only this case has (parties, declines, urgency)."""
    return replace(case, declined_by=frozenset(), urgency="normal", applicant=Organisation(), parties=())


def scarcity(
    experts: Sequence[ExpertFacts],
    demand: Iterable[CaseFacts],
    today: date | None = None,
    horizon: float | None = None,
    *,
    to_come: float | None = None,
) -> dict[int, float]:
    """Each expert's opportunity cost for the case mix ``demand`` (e.g. the last 2000 cases), in
    score units: 0 for an expert whose capacity the mix does not contest, up to about the best
    quality a case can get (the competence + field weights) for one whose slots cases fight over.

    ``horizon``: how many cases compete for the pool's capacity -- those that arrive while one is
    being worked on. In a steady state that is the number active at any time (Little's law:
    arrivals per day x days a case stays active), the default: the active cases of the experts who
    are not trainees (so an empty pool prices nothing). A caller that knows the coming volume (a
    backlog, a campaign) passes it. Overstating it overprices: cases go to weaker experts to keep
    room that nobody will need.

    ``to_come`` (instead of ``horizon``): how many cases are still to come while none of the active
    ones closes -- a backlog or a campaign routed into the pool, or the benchmark's run, in which no
    case closes. Then only the slots free now (capacity - active cases) are priced, against that
    many cases of the mix: re-priced as the pool fills, the prices follow what is actually left
    rather than what the mix would have left. (With ``horizon``, every slot is priced against the
    cases active at once: the steady state, in which slots free up as fast as cases arrive.)

    The prices are the LP's dual prices, fitted by dual descent on the softened
    (entropy-regularised) problem: each round, every kind of case splits between its eligible
    experts (and going unassigned, worth 0) in proportion to exp((quality - price) / T), and each
    expert's price moves by T x log(expected cases / capacity), clipped at 0. It costs about
    (kinds of case x experts) filter checks, then (eligible pairs x ``SCARCITY_ROUNDS``)
    arithmetic (NumPy): about 1 s for 500 experts and 2000 cases the first time, then about 0.06 s
    when the pool is unchanged and the mix has changed by a few cases (the eligible experts of each
    kind of case are kept between calls, ``_kind_options``), so callers keep the prices for a while
    rather than compute them per case. With ``horizon`` they depend on capacities, not current
    loads (the balance term sees those), so they stay valid while the pool and the case mix stay
    alike; with ``to_come`` they are re-fitted as the free slots run down.
    """
    today = today or date.today()
    kinds = Counter(_profile(case) for case in demand)
    if to_come is not None:
        if horizon is not None:
            raise ValueError("pass horizon (every slot) or to_come (the free slots), not both")
        slots = {e.id: max(e.capacity - e.active_cases, 0) for e in experts}
        horizon = to_come
    else:
        slots = {e.id: e.capacity for e in experts}
    pool = [e for e in experts if slots[e.id] > 0]
    if horizon is None:
        horizon = sum(e.active_cases for e in experts if not e.is_trainee)
    if not kinds or not pool or horizon <= 0:
        return {e.id: 0.0 for e in experts}
    # each kind of case: as many active at once as arrive x how long they hold (Little's law),
    # each worth its quality per (typical) day held, so that a price is a slot's worth per day
    active = {kind: n * holding(kind) for kind, n in kinds.items()}
    scale = horizon / sum(active.values())
    options = _kind_options(kinds, pool, today)
    rows = [
        (active[kind] * scale, (options[kind][0], options[kind][1] / holding(kind)))
        for kind in kinds
        if options[kind][0].size
    ]
    prices = _fit_prices(rows, np.array([float(slots[e.id]) for e in pool]))
    found = {e.id: round(float(p), 6) for e, p in zip(pool, prices, strict=True)}
    return {e.id: found.get(e.id, 0.0) for e in experts}


def _fit_prices(rows: list[tuple[float, tuple[Any, Any]]], capacity: Any) -> Any:
    """Dual descent on the softened assignment LP (see ``scarcity``), all kinds of case at once:
    ``rows`` holds per kind its expected cases and its eligible experts' columns and qualities."""
    prices = np.zeros(len(capacity))
    if not rows:
        return prices
    columns = np.concatenate([c for _, (c, _) in rows])
    values = np.concatenate([v for _, (_, v) in rows])
    sizes = np.array([c.size for _, (c, _) in rows])
    row_of = np.repeat(np.arange(len(rows)), sizes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    weights = np.array([w for w, _ in rows])
    t = SCARCITY_TEMPERATURE
    for _ in range(SCARCITY_ROUNDS):
        gains = values - prices[columns]
        top = np.maximum(np.maximum.reduceat(gains, starts), 0.0)  # going unassigned is worth 0
        shares = np.exp((gains - top[row_of]) / t)
        unit = weights / (np.exp(-top / t) + np.add.reduceat(shares, starts))
        load = np.bincount(columns, weights=unit[row_of] * shares, minlength=len(capacity))
        with np.errstate(divide="ignore"):
            prices = np.where(load > 0, np.maximum(0.0, prices + t * np.log(load / capacity)), 0.0)
    return prices


#: ``_kind_options``' memory: for the pool it was last asked about (and the day), each kind of case
#: of the last mix with its eligible experts (columns of the pool) and their quality. The job prices
#: every few minutes a mix that changed by a few cases and a pool that did not change: only the new
#: kinds go through the filters.
_OPTIONS: dict[str, Any] = {"pool": None, "kinds": {}}


def _kind_options(kinds: Iterable[CaseFacts], pool: Sequence[ExpertFacts], today: date) -> dict[CaseFacts, Any]:
    key = (today, tuple(_standing(e) for e in pool))
    known = _OPTIONS["kinds"] if _OPTIONS["pool"] == key else {}
    options = {}
    for kind in kinds:
        found = known.get(kind)
        if found is None:
            pairs = [(j, quality(kind, e)) for j, e in enumerate(pool) if _passes(kind, e, today)]
            found = (np.array([j for j, _ in pairs], dtype=np.intp), np.array([q for _, q in pairs], dtype=float))
        options[kind] = found
    _OPTIONS["pool"], _OPTIONS["kinds"] = key, options
    return options


def _standing(expert: ExpertFacts) -> tuple[Any, ...]:
    """Everything about an expert but their load, hashable: what the profile filters and the
    quality of a pair can read."""
    return tuple(
        tuple(sorted(value.items())) if isinstance(value, dict) else value
        for name, value in vars(expert).items()
        if name != "active_cases"
    )


def _passes(case: CaseFacts, expert: ExpertFacts, today: date, rules: Sequence[Filter] = PROFILE_FILTERS) -> bool:
    return all(rule(case, expert, today) is None for rule in rules)


# --- the scheduler's pricing job, its pure part ---------------------------------------------------

#: The recent cases the pool is priced against (``price_pool``).
PRICING_SAMPLE = 2000
#: How often the scheduler's ``price-the-pool`` job re-prices the pool, in seconds.
PRICING_INTERVAL_S = 600
#: The arrival rate the pool is priced for is counted over the last week: its working days.
WORKING_DAYS_A_WEEK = 5


def price_pool(
    experts: Sequence[ExpertFacts],
    recent: Sequence[CaseFacts],
    today: date,
    submitted_last_week: int | None = None,
) -> dict[int, float]:
    """What the scheduler's ``price-the-pool`` job (``workers.routing.price_the_pool``) computes,
    from what it reads: every active expert as they are now (with their loads), the facts of the
    latest cases, newest first (any status; the first ``PRICING_SAMPLE`` count), the day, and how
    many cases were submitted in the last week. Every slot is priced against the cases that will be
    active at once at the current arrival rate (Little's law: cases a working day x the days the
    recent mix holds an expert, ``SERVICE_DAYS``): when a surge starts, that is more than are
    active yet, and the slots are priced for the surge before it has filled them. Without the
    count, against the cases active now (the steady state). ``benchmarks/routing.py`` calls it the
    same way on its stream's own history.

    Why the last week's rate and not a forecast of the weeks to come (last year's same weeks, a
    trade fair that recurs): told the *true* rate of the next 5, 10 or 20 working days, the router
    lost 0.1, 0.6 and 1.0 point against the bound on the tuning seeds, and pricing each day ahead
    for its own expected load lost too: prices raised before a surge send the quiet weeks' cases to
    weaker experts for more than they keep (benchmarks/README.md, the fourth pass)."""
    sample = recent[:PRICING_SAMPLE]
    horizon = None
    if submitted_last_week and sample:
        held = sum(SERVICE_DAYS.get(case.service, _MEAN_DAYS) for case in sample) / len(sample)
        horizon = submitted_last_week / WORKING_DAYS_A_WEEK * held
    return scarcity(experts, sample, today, horizon)


def pile_order(
    pile: Sequence[tuple[CaseFacts, Sequence[ExpertFacts]]],
    today: date,
    prices: Mapping[int, float] | None = None,
) -> list[int]:
    """The order in which the scheduler's ``route-the-pile`` job (``workers.routing.route_the_pile``)
    routes again the cases waiting for an expert (``awaiting_expert``): ``pile`` holds each waiting
    case, oldest first, with the experts as they are for it (its conflicts: ``with_history``).

    Best served first: by the score of the expert ``choose_expert`` picks for each now. When a few
    slots free up in a surge, oldest first gives them to whichever waiting case is oldest, however
    poorly it fits them; best served first gives each freed slot to the case it serves best, and
    the cases it fits worse take the next ones or another expert's. Nobody is held: every case
    is still routed in the same pass, and only those no eligible expert has room for stay (last,
    oldest first). ``benchmarks/routing.py`` routes its pile the same way (seeds 1-10: 94.4 ->
    94.6 % of the bound, the worst 91.2 -> 92.6 %; benchmarks/README.md)."""
    scores: dict[int, float] = {}
    for k, (case, experts) in enumerate(pile):
        chosen = choose_expert(case, experts, today, prices).expert_id
        if chosen is not None:
            scores[k] = score(case, next(e for e in experts if e.id == chosen), prices)
    served = sorted(scores, key=lambda k: (-round(scores[k], 9), k))
    return served + [k for k in range(len(pile)) if k not in scores]


def prices_as_read(stored: Mapping[int, float]) -> dict[int, float] | None:
    """Prices as the routing worker reads them back from the pool: the positive ones, or None."""
    return {i: p for i, p in stored.items() if p > 0} or None


# --- trainees: shadowing -----------------------------------------------------------------------

#: A shadow must be able to follow the case as an assignee could: every hard rule but the two that
#: keep trainees from being assignees (``choose_shadow`` never shadows a confidential case).
SHADOW_FILTERS: tuple[Filter, ...] = tuple(
    rule for rule in FILTERS if rule not in (not_a_trainee, cleared_for_confidential)
)


def choose_shadow(
    case: CaseFacts, assignee: ExpertFacts, experts: Sequence[ExpertFacts], today: date | None = None
) -> int | None:
    """The trainee to attach to ``case`` as a shadow of ``assignee``, or None.

    Never on a confidential case. A candidate is a trainee (not the assignee) who passes
    ``SHADOW_FILTERS`` -- their ``active_cases`` counts the cases they shadow -- and is either the
    assignee's trainee (``supervisor_id``), preferred, or works in the case's technical field.
    Among equals: the least loaded (share of capacity), then the lowest id.
    """
    if case.confidential:
        return None
    today = today or date.today()
    best: tuple[int, float, int] | None = None
    for expert in experts:
        if not expert.is_trainee or expert.id == assignee.id:
            continue
        supervised = expert.supervisor_id is not None and expert.supervisor_id == assignee.id
        if not supervised and not _field(case, expert):
            continue
        if not _passes(case, expert, today, SHADOW_FILTERS):
            continue
        key = (0 if supervised else 1, expert.active_cases / expert.capacity, expert.id)
        if best is None or key < best:
            best = key
    return None if best is None else best[2]
