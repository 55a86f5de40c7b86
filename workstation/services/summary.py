"""Daily summaries: the emails a person asked to have gathered (``daily`` delivery), sent once a day.

The notify worker does not send such an email: it records it as a ``SummaryLine`` (unique on the
email's key, claimed once as a sent email's ``Notification`` is). Every few minutes the scheduler
runs ``record_due_summaries``: for each person with lines waiting from before today's send time
(``SUMMARY_HOUR`` China time), one transaction adds their ``DailySummary`` for the day (unique on
person and day), gives it the lines, and enqueues ``summary.due``; the notify worker then sends
it once (as a coordinator's digest). A rerun the same day finds the summary and adds nothing; a
line that arrives after the summary of its day was recorded waits for the next one. So no line is
in two summaries, none is lost, and nobody gets two summaries for a day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from workstation.deadlines import DEFAULT_TIMEZONE
from workstation.i18n import N_, in_language
from workstation.services.digest import Period, china_time, digest_period
from workstation.services.models import DailySummary, OutboxMessage, SummaryLine, User, utcnow
from workstation.services.outbox import enqueue

log = logging.getLogger(__name__)

#: The event that makes the notify worker send a recorded summary.
SUMMARY_EVENT = "summary.due"
#: Summaries go out at this hour, China time: "your cases today", at the end of the working day.
SUMMARY_HOUR = 18

#: What each email kept for the summary says there, in one line (an English msgid).
LINE_TEXTS = {
    "expert_case_assigned": N_("A new case was assigned to you."),
    "enterprise_case_assigned": N_("Your case was assigned to an expert."),
    "trainee_shadow_attached": N_("You are shadowing this case."),
    "coordinator_no_expert": N_("No eligible expert was found for this case."),
    "expert_info_provided": N_("The enterprise answered your request for information."),
    "enterprise_case_accepted": N_("The expert accepted your case."),
    "enterprise_case_declined": N_("The expert could not take your case; it is being handed to another expert."),
    "case_closed": N_("The case was closed."),
    "case_withdrawn": N_("The enterprise withdrew the case."),
    "case_reopened": N_("The case was reopened."),
    "expert_case_reassigned": N_("The case was given to another expert; it is no longer yours."),
    "case_marked_difficult": N_("The case was marked difficult."),
    "panel_dissolved": N_("The case's panel was dissolved; your seat on it is given back."),
    "lookalike_notice": N_("A published mark looks like one you watch."),
    "repeat_respondent_notice": N_("A respondent of this case appears in earlier cases."),
    "deadline_notice": N_("A service-level deadline of this case is near or has passed."),
    "referral_notice": N_("A referral of this case waits for the partner's reply."),
    "trainee_draft_submitted": N_("A trainee's draft on this case waits for your review."),
    "trainee_draft_reviewed": N_("Your draft on this case was reviewed."),
}
OTHER_CHANGE = N_("The case changed.")


@dataclass(frozen=True)
class Line:
    """One line of a summary, as the email shows it (plain data, in the recipient's language)."""

    reference: str
    text: str
    at: str  # China time


def due_period(now: datetime) -> Period:
    """The day whose summaries are due at ``now``: the latest send time passed, and its key."""
    return digest_period("daily", SUMMARY_HOUR, DEFAULT_TIMEZONE, now)


def record_summary(session: Session, recipient_id: int, period: Period) -> OutboxMessage | None:
    """In the caller's transaction: ``recipient_id``'s summary of ``period`` with the lines waiting
    from before its send time, and its ``summary.due`` event; None when the day has one already or
    nothing waits (then nothing is added). A concurrent run fails on the unique key."""
    exists = select(DailySummary.id).where(
        DailySummary.recipient_id == recipient_id, DailySummary.period_key == period.key
    )
    if session.scalar(exists) is not None:
        return None
    summary = DailySummary(recipient_id=recipient_id, period_key=period.key)
    session.add(summary)
    session.flush()
    taken = session.execute(
        update(SummaryLine)
        .where(
            SummaryLine.recipient_id == recipient_id,
            SummaryLine.summary_id.is_(None),
            SummaryLine.created_at < period.end,
        )
        .values(summary_id=summary.id)
        .execution_options(synchronize_session=False)
    )
    if not taken.rowcount:
        session.delete(summary)
        session.flush()
        return None
    payload = {"summary_id": summary.id, "recipient_id": recipient_id, "period": period.key}
    return enqueue(session, SUMMARY_EVENT, payload)


def record_due_summaries(sessions: sessionmaker[Session], now: datetime | None = None) -> int:
    """The scheduler's job: record the summary due for each active person with lines waiting from
    before the latest send time, one transaction each; returns how many were recorded."""
    period = due_period(now or utcnow())
    with sessions() as session:
        waiting = session.scalars(
            select(SummaryLine.recipient_id)
            .join(User, User.id == SummaryLine.recipient_id)
            .where(SummaryLine.summary_id.is_(None), SummaryLine.created_at < period.end, User.is_active.is_(True))
            .distinct()
        ).all()
    recorded = 0
    for recipient_id in waiting:
        with sessions() as session:
            try:
                if record_summary(session, recipient_id, period) is not None:
                    session.commit()
                    recorded += 1
            except IntegrityError:
                session.rollback()  # another run recorded it: the lines are in that one
    if recorded:
        log.info("%d daily summaries due for %s", recorded, period.key)
    return recorded


def summary_lines(session: Session, summary_id: int, language: str) -> list[Line]:
    """The lines of a summary, oldest first, in ``language``."""
    lines = session.scalars(
        select(SummaryLine)
        .options(joinedload(SummaryLine.case))
        .where(SummaryLine.summary_id == summary_id)
        .order_by(SummaryLine.created_at, SummaryLine.id)
    ).all()
    return [
        Line(
            reference=line.case.reference if line.case is not None else "",
            text=in_language(LINE_TEXTS.get(line.template, OTHER_CHANGE), language),
            at=china_time(line.created_at),
        )
        for line in lines
    ]
