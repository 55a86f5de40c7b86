"""Choosing an expert for a case. Pure: plain data in, a decision with its reasons out.

Shaped like Request Tracker's automatic assignment: hard *filters* decide who is eligible, then a
*chooser* scores the eligible. A rule is one function in ``FILTERS`` or one weight in ``WEIGHTS``;
adding one touches nothing else. Facts an expert's profile does not state (``None``) do not
restrict: an expert with no listed jurisdictions is not filtered on jurisdiction.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

#: The four competences of a high-level IP professional, each 0-3 in an expert's profile.
DIMENSIONS = ("legal", "technical", "management", "commercialization")

#: How much each competence counts for each service (each row sums to 1).
SERVICE_COMPETENCE: dict[str, dict[str, float]] = {
    "infringement_judgment": {"legal": 0.5, "technical": 0.5},
    "compensation_estimate": {"legal": 0.5, "commercialization": 0.5},
    "litigation_advice": {"legal": 0.8, "management": 0.2},
    "consultation": {"legal": 0.6, "management": 0.2, "commercialization": 0.2},
    "risk_warning": {"management": 0.5, "commercialization": 0.5},
}

#: The chooser's weights: score = sum of weight x term, each term in [0, 1].
#: - competence: the service's weighted competence levels / 3
#: - field: 1 if the expert works in the case's technical field
#: - balance: 1 - share of capacity in use (spreads the load)
#: Urgent cases weigh balance double: an expert with room starts sooner.
WEIGHTS: dict[str, float] = {"competence": 0.5, "field": 0.2, "balance": 0.3}
URGENT_BALANCE_FACTOR = 2.0


@dataclass(frozen=True)
class Organisation:
    """Who someone is, for conflicts of interest: a credit code and/or names (aliases)."""

    names: frozenset[str] = frozenset()
    credit_code: str | None = None


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
    #: respondents and other parties named in the case
    parties: tuple[Organisation, ...] = ()


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
    return None if case.right_type in expert.right_types else "does not handle this right type"


def offers_service(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    return None if expert.services is None or case.service in expert.services else "does not offer this service"


def covers_jurisdiction(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    ok = expert.jurisdictions is None or case.jurisdiction in expert.jurisdictions
    return None if ok else "does not cover this jurisdiction"


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
    speaks_a_case_language,
    is_available,
    has_capacity,
    did_not_decline,
    cleared_for_confidential,
    no_conflict_of_interest,
)


def why_not(case: CaseFacts, expert: ExpertFacts, today: date) -> str | None:
    """The first rule ``expert`` fails for ``case``, or None if eligible."""
    for rule in FILTERS:
        reason = rule(case, expert, today)
        if reason is not None:
            return reason
    return None


# --- the chooser ------------------------------------------------------------------------------


def score_terms(case: CaseFacts, expert: ExpertFacts) -> dict[str, float]:
    weights = SERVICE_COMPETENCE.get(case.service, {"legal": 1.0})
    competence = sum(w * min(max(expert.competence.get(dim, 0), 0), 3) for dim, w in weights.items()) / 3
    return {
        "competence": competence,
        "field": 1.0 if case.technical_field in expert.technical_fields else 0.0,
        "balance": 1.0 - expert.active_cases / expert.capacity,
    }


def score(case: CaseFacts, expert: ExpertFacts) -> float:
    terms = score_terms(case, expert)
    weights = dict(WEIGHTS)
    if case.urgency == "high":
        weights["balance"] *= URGENT_BALANCE_FACTOR
    return sum(weights[k] * v for k, v in terms.items())


def choose_expert(case: CaseFacts, experts: Sequence[ExpertFacts], today: date | None = None) -> Decision:
    """The eligible expert with the best score (ties: less loaded, then lower id), with reasons."""
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
    best = min(eligible, key=lambda e: (-round(score(case, e), 9), e.active_cases / e.capacity, e.active_cases, e.id))
    terms = score_terms(case, best)
    return Decision(
        best.id,
        [
            f"eligible: {len(eligible)} of {len(experts)}",
            f"score {score(case, best):.2f} (competence {terms['competence']:.2f}, field {terms['field']:.0f}, "
            f"load {best.active_cases}/{best.capacity})",
        ],
    )
