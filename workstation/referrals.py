"""Referrals to partner bodies: the kinds of partner, a referral's states and who moves it.

Pure: no database, no Flask. A referral is sent to a partner (an IP administration, a court's
mediators, an overseas IP help desk...) outside the workstation; the partner never logs in, so the
referring expert or a coordinator records what the partner did: it acknowledged the referral, it
answered (the answer's text and files), and the referral is closed. ``services.referrals`` applies
a decision and writes the ``CaseEvent`` and the outbox row in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from workstation.deadlines import OFFICIAL_CALENDAR, WorkCalendar
from workstation.i18n import N_
from workstation.lifecycle import ASSIGNEE, COORDINATOR, FINISHED, TransitionError

#: The kinds of partner body the centre works with (the brief's "governments, universities,
#: institutions, industry associations", and the bodies a case is commonly passed on to).
#: (their names: ``i18n.LABELS["partner_<kind>"]``)
PARTNER_KINDS = (
    "ip_administration",
    "market_supervision",
    "customs",
    "mediation",
    "arbitration",
    "industry_association",
    "university",
    "legal_aid",
    "overseas_help_desk",
)

SENT = "sent"
ACKNOWLEDGED = "acknowledged"
ANSWERED = "answered"
CLOSED = "closed"
STATUSES = (SENT, ACKNOWLEDGED, ANSWERED, CLOSED)  # (names: ``i18n.LABELS["referral_<status>"]``)
#: Statuses in which the centre waits for the partner: a referral too long in one is reminded of.
WAITING = (SENT, ACKNOWLEDGED)
#: Statuses of a referral still open (the desk lists them).
OPEN = (SENT, ACKNOWLEDGED, ANSWERED)

#: The case events a referral writes (``CaseEvent.action``): one per step.
REFER = "refer"
EVENT_OF: dict[str, str] = {
    SENT: REFER,
    ACKNOWLEDGED: "referral_acknowledged",
    ANSWERED: "referral_answered",
    CLOSED: "referral_closed",
}

#: Who may refer and record a referral's steps: the case's expert and the coordinators (the
#: partner is outside the workstation; the enterprise sees the referral, not its working).
ACTORS = frozenset({ASSIGNEE, COORDINATOR})


@dataclass(frozen=True)
class ReferralMove:
    target: str
    sources: frozenset[str]
    #: the partner's answer (text) must come with the move
    needs_answer: bool = False


MOVES: dict[str, ReferralMove] = {
    ACKNOWLEDGED: ReferralMove(ACKNOWLEDGED, frozenset({SENT})),
    # (a partner may answer without acknowledging first)
    ANSWERED: ReferralMove(ANSWERED, frozenset({SENT, ACKNOWLEDGED}), needs_answer=True),
    # closed when answered, or withdrawn while still waiting (the case no longer needs it)
    CLOSED: ReferralMove(CLOSED, frozenset({SENT, ACKNOWLEDGED, ANSWERED})),
}

NOT_YOURS = N_("Only the case's expert or a coordinator refers a case and records the partner's steps.")
CASE_FINISHED = N_("The case is closed or withdrawn: it cannot be referred.")
PARTNER_INACTIVE = N_("This partner is no longer in the directory.")
ANSWER_NEEDED = N_("Record what the partner answered.")


def decide_refer(case_status: str, actor: str | None, partner_active: bool) -> None:
    """May ``actor`` (how they stand to the case) refer a case in ``case_status`` to a partner?
    Raises ``TransitionError``."""
    if actor not in ACTORS:
        raise TransitionError("forbidden", NOT_YOURS)
    if case_status in FINISHED:
        raise TransitionError("conflict", CASE_FINISHED)
    if not partner_active:
        raise TransitionError("invalid", PARTNER_INACTIVE)


def decide_move(status: str, target: str, actor: str | None, answer: str | None = None) -> ReferralMove:
    """The move of a referral from ``status`` to ``target`` by ``actor``, or ``TransitionError``
    (checked in this order: unknown, forbidden, conflict, invalid)."""
    move = MOVES.get(target)
    if move is None:
        raise TransitionError("unknown", f"Unknown referral status {target!r}.")
    if actor not in ACTORS:
        raise TransitionError("forbidden", NOT_YOURS)
    if status not in move.sources:
        raise TransitionError("conflict", f"A referral that is {status} cannot become {target}.")
    if move.needs_answer and not (answer or "").strip():
        raise TransitionError("invalid", ANSWER_NEEDED)
    return move


def working_days_after(start: date, end: date, calendar: WorkCalendar | None = None) -> int:
    """How many working days passed after ``start`` up to and including ``end`` (0 when ``end``
    is not after ``start``): a referral sent on Friday has waited 1 working day on Monday."""
    calendar = calendar or OFFICIAL_CALENDAR
    days, day = 0, start + timedelta(days=1)
    while day <= end:
        days += calendar.is_working_day(day)
        day += timedelta(days=1)
    return days


def waits_too_long(status: str, since: date, today: date, limit: int, calendar: WorkCalendar | None = None) -> bool:
    """Whether a referral in ``status`` since ``since`` (its last step's day, China time) has waited
    for the partner more than ``limit`` working days by ``today``."""
    return status in WAITING and working_days_after(since, today, calendar) > limit
