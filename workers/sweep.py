"""The deadline sweep (a scheduler job): early-warning notices before each deadline of an open case.

For every open case it computes the deadlines (``deadlines.deadlines_for``) and the notice thresholds
each has reached (30, 7, 1 days before, then overdue). A threshold is noticed once per case and
deadline: a ``DeadlineNotice`` row, unique on (case, deadline, threshold), is written in the same
transaction as the notices to the people concerned (``workstation.services.notices``), which the notify
worker mails. A second sweep, a restart, or a second scheduler started by mistake finds the rows
(or fails on the unique key and rolls back its whole run) and sends nothing twice. When several
thresholds are new at once (the workstation was down, or the case arrived with the deadline near),
all are recorded and only the most urgent is sent.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload, sessionmaker

from workstation import lifecycle
from workstation.deadlines import Deadline, deadlines_for, notice_thresholds, zone
from workstation.services.models import Case, DeadlineNotice, Referral, User, utcnow
from workstation.services.notices import NewNotice, active_coordinators, raise_notices
from workstation.services.referrals import open_referrals, waiting_since

log = logging.getLogger(__name__)

#: Cases whose deadlines no longer concern anyone.
FINISHED = lifecycle.FINISHED


def notice_payload(case: Case, deadline: Deadline, threshold: str) -> dict:
    return {
        "case_id": case.id,
        "reference": case.reference,
        "code": deadline.code,
        "kind": deadline.kind,
        "threshold": threshold,
        "last_day": deadline.last_day.isoformat(),
        "label": deadline.label,
        "basis": deadline.basis,
        # (a caveat: e.g. a reference date only, or the day a declaratory action may be filed)
        "note": deadline.note,
    }


def deadline_recipients(case: Case, deadline: Deadline, threshold: str, coordinators: list[User]) -> list[User]:
    """A legal deadline concerns the enterprise and its expert; a service-level one the expert,
    and once missed the coordinators (it is escalated to them)."""
    expert = [case.assigned_expert] if case.assigned_expert else []
    if deadline.kind == "sla":
        return expert + (coordinators if threshold == "overdue" else [])
    return [case.enterprise, *expert]


#: Open cases looked at per step of a sweep. The sweep is one transaction, but each step's cases
#: (with their timelines) are let go once its rows are flushed, so the scheduler's memory stays the
#: same whatever the number of open cases (all at once: about 7 KB a case, held as RSS for good).
SWEEP_CHUNK = 500


def sweep_deadlines(sessions: sessionmaker[Session], now: datetime | None = None) -> int:
    """Raise the notices due now; returns how many were sent (0 if another sweep got there first)."""
    now = now or utcnow()
    with sessions() as session:
        coordinators = active_coordinators(session)
        ids = session.scalars(select(Case.id).where(Case.status.not_in(FINISHED)).order_by(Case.id)).all()
        sent = 0
        notices: list[NewNotice] = []
        try:
            for start in range(0, len(ids), SWEEP_CHUNK):
                chunk = ids[start : start + SWEEP_CHUNK]
                cases = session.scalars(
                    select(Case)
                    .where(Case.id.in_(chunk), Case.status.not_in(FINISHED))  # (closed since the first query?)
                    .options(selectinload(Case.events), joinedload(Case.enterprise), joinedload(Case.assigned_expert))
                ).all()
                noticed = set(
                    session.execute(
                        select(DeadlineNotice.case_id, DeadlineNotice.code, DeadlineNotice.threshold).where(
                            DeadlineNotice.case_id.in_(chunk)
                        )
                    ).all()
                )
                for case in cases:
                    for deadline in deadlines_for(case, now):
                        new = [
                            t for t in notice_thresholds(deadline, now) if (case.id, deadline.code, t) not in noticed
                        ]
                        if not new:
                            continue
                        for threshold in new:
                            session.add(DeadlineNotice(case_id=case.id, code=deadline.code, threshold=threshold,
                                                       due_at=deadline.due_at))  # fmt: skip
                        threshold = new[-1]
                        body = notice_payload(case, deadline, threshold)
                        notices += [
                            NewNotice(
                                person.id,
                                "deadline",
                                f"deadline:{case.id}:{deadline.code}:{threshold}:{person.id}",
                                body,
                                case.id,
                            )  # fmt: skip
                            for person in deadline_recipients(case, deadline, threshold, coordinators)
                        ]
                        sent += 1
                # The rows are in the transaction now; the objects (and the identity map's hold on
                # them) can go. NewNotice and the coordinators' ids are all that is kept.
                session.flush()
                session.expunge_all()
            # (a concurrent sweep's rows make a flush or the commit fail on the unique keys)
            raise_notices(session, notices)
            session.commit()
        except IntegrityError:
            session.rollback()
            log.info("deadline sweep: another sweep recorded these notices first; nothing sent twice")
            return 0
    return sent


def sweep_referrals(sessions: sessionmaker[Session], wait_days: int, now: datetime | None = None) -> int:
    """Remind whoever referred a case of each referral that has waited for its partner more than
    ``wait_days`` working days (``referrals.waits_too_long``); returns how many were raised.

    Once per wait: the notice's key names the referral and the status it waits in, so a second
    sweep raises nothing, and a referral acknowledged and then silent again is reminded once more.
    """
    now = now or utcnow()
    with sessions() as session:
        late = [referral for referral, overdue in open_referrals(session, wait_days, now) if overdue]
        notices = [
            NewNotice(
                person.id,
                "referral",
                f"referral:{referral.id}:{referral.status}:{person.id}",
                referral_reminder(referral, wait_days),
                referral.case_id,
            )
            for referral in late
            if (person := reminded(referral)) is not None
        ]
        try:
            added = raise_notices(session, notices)
            session.commit()
        except IntegrityError:
            session.rollback()
            log.info("referral sweep: another sweep raised these reminders first; nothing sent twice")
            return 0
    return len(added)


def reminded(referral: Referral) -> User | None:
    """Who is reminded: whoever referred it, while still on the case (a coordinator, or its
    expert); once the case changed hands, its expert now. None: nobody to tell (the desk shows it)."""
    referrer, case = referral.referrer, referral.case
    if referrer.is_active and (referrer.role == "coordinator" or case.assigned_expert_id == referrer.id):
        return referrer
    return case.assigned_expert


def referral_reminder(referral: Referral, wait_days: int) -> dict:
    """The reminder's body: what the page and the email show."""
    return {
        "reference": referral.case.reference,
        "referral_id": referral.id,
        "partner": referral.partner.name,
        "status": referral.status,
        "since": waiting_since(referral).astimezone(zone()).date().isoformat(),
        "wait_days": wait_days,
    }
