"""Coordinators' digests: scheduling them, and sending each exactly once per coordinator and period.

**Scheduling.** The scheduler process keeps one cron job per coordinator (id ``digest:<user id>``)
in a persistent APScheduler job store (the ``apscheduler_jobs`` table of our database), at the
hour and timezone the coordinator chose, daily or on Mondays. ``sync_digest_jobs`` (at start and
every few minutes) adds, changes or removes jobs as settings change; it leaves an unchanged job
alone, so a run missed while the scheduler was down keeps its due time and is caught up on start
(``misfire_grace_time`` of hours, ``coalesce``: one catch-up, not one per missed day).

**Exactly once.** A job run only records the digest due: a ``DigestRecord`` unique on (coordinator,
period) and a ``digest.due`` outbox event, in one transaction. A second scheduler, a restart, or
``send-digest`` by hand for the same period fails on the unique key and adds nothing. The notify
worker claims the record (``sending``) before it sends and marks it ``sent`` after, so a
redelivered event finds it sent or being sent; a failed send is retried with the delivery back-off
and, at the last attempt, stays ``failed`` on the coordinator's page.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workstation.services.accounts import wants_email
from workstation.services.digest import Period, digest_period
from workstation.services.models import DigestRecord, DigestSetting, OutboxMessage, User, utcnow
from workstation.services.notices import active_coordinators
from workstation.services.outbox import enqueue

log = logging.getLogger(__name__)

#: the job store holding the digest jobs (persistent; the other jobs live in memory)
JOBSTORE = "digests"
#: a digest whose hour fell while the scheduler was down is still sent within this many hours
MISFIRE_GRACE_HOURS = 6
#: the longest a digest's period stretches back to cover digests missed before it
MAX_GAP = timedelta(days=31)

#: the session factory of the scheduler process, set by ``workers.runtime`` before jobs run (a
#: persistent job stores the function by name and its plain arguments, not a live object)
_sessions: sessionmaker[Session] | None = None


def use_sessions(sessions: sessionmaker[Session]) -> None:
    global _sessions  # noqa: PLW0603 - the scheduler process's one session factory
    _sessions = sessions


def record_due(session: Session, coordinator: User, period: Period) -> OutboxMessage | None:
    """Record the digest of ``period`` due for ``coordinator`` with its outbox event, in the caller's
    transaction, and return the event; None when it is recorded already (then nothing is added)."""
    exists = select(DigestRecord.id).where(
        DigestRecord.coordinator_id == coordinator.id, DigestRecord.period_key == period.key
    )
    if session.scalar(exists) is not None:
        return None
    # "Since the last digest": when digests were missed (paused, or the scheduler down for longer
    # than the grace time) this one covers the gap, up to a month.
    previous_end = session.scalar(
        select(func.max(DigestRecord.period_end)).where(
            DigestRecord.coordinator_id == coordinator.id, DigestRecord.period_end < period.end
        )
    )
    start = period.start
    if previous_end is not None and period.end - MAX_GAP <= previous_end < period.start:
        start = previous_end
    record = DigestRecord(
        coordinator_id=coordinator.id, period_key=period.key, period_start=start, period_end=period.end
    )
    session.add(record)
    session.flush()  # a concurrent scheduler's row makes this (or the commit) fail on the unique key
    return digest_event(session, record)


def digest_event(session: Session, record: DigestRecord) -> OutboxMessage:
    """The ``digest.due`` event that makes the notify worker send ``record``."""
    payload = {"digest_id": record.id, "coordinator_id": record.coordinator_id, "period": record.period_key}
    event = enqueue(session, "digest.due", payload)
    session.flush()
    return event


def queue_due_digest(coordinator_id: int, now: datetime | None = None) -> bool:
    """The job: record the coordinator's latest due digest. True if this run recorded it."""
    if _sessions is None:
        raise RuntimeError("workers.digests.use_sessions() was not called in this process")
    return queue_digest_for(_sessions, coordinator_id, now)


def queue_digest_for(sessions: sessionmaker[Session], coordinator_id: int, now: datetime | None = None) -> bool:
    now = now or utcnow()
    with sessions() as session:
        coordinator = session.get(User, coordinator_id)
        if coordinator is None or coordinator.role != "coordinator" or not coordinator.is_active:
            return False
        setting = DigestSetting.of(session, coordinator_id)
        # (paused on the digest page, or turned off among the coordinator's email preferences)
        if setting.paused or not wants_email(coordinator, "coordinator_digest", {}):
            return False
        # The period whose send time is the latest one passed: a late (caught-up) run still files
        # the digest under the period it was for.
        period = digest_period(setting.frequency, setting.hour, setting.timezone, now)
        try:
            recorded = record_due(session, coordinator, period) is not None
            session.commit()
        except IntegrityError:
            session.rollback()
            recorded = False
    if recorded:
        log.info("digest %s due for coordinator %d", period.key, coordinator_id)
    return recorded


def job_id(coordinator_id: int) -> str:
    return f"digest:{coordinator_id}"


def trigger_for(setting: DigestSetting):  # noqa: ANN201 - an APScheduler CronTrigger
    from apscheduler.triggers.cron import CronTrigger

    weekly = {"day_of_week": "mon"} if setting.frequency == "weekly" else {}
    return CronTrigger(hour=setting.hour, minute=0, timezone=setting.timezone, **weekly)


def sync_digest_jobs(scheduler: Any, sessions: sessionmaker[Session]) -> int:
    """Make the digest jobs match the coordinators' settings; returns how many jobs changed."""
    with sessions() as session:
        coordinators = [c.id for c in active_coordinators(session)]
        wanted = {job_id(c): DigestSetting.of(session, c) for c in coordinators}
    changed = 0
    for job in scheduler.get_jobs(jobstore=JOBSTORE):
        setting = wanted.get(job.id)
        if setting is None or setting.paused:
            scheduler.remove_job(job.id, jobstore=JOBSTORE)
            changed += 1
    for coordinator_id in coordinators:
        setting = wanted[job_id(coordinator_id)]
        if setting.paused:
            continue
        trigger = trigger_for(setting)
        existing = scheduler.get_job(job_id(coordinator_id), jobstore=JOBSTORE)
        if existing is not None and repr(existing.trigger) == repr(trigger):
            continue  # unchanged: keep its due time, so a missed run is still caught up
        scheduler.add_job(
            queue_due_digest,
            trigger,
            args=[coordinator_id],
            id=job_id(coordinator_id),
            jobstore=JOBSTORE,
            replace_existing=True,
            misfire_grace_time=int(timedelta(hours=MISFIRE_GRACE_HOURS).total_seconds()),
            coalesce=True,
            max_instances=1,
        )
        changed += 1
    return changed
