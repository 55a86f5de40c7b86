"""The audit trail, append-only (on PostgreSQL a trigger refuses UPDATE and DELETE on both tables;
no code here or above changes a row once written):

- ``access_log``: every read of a confidential case's content, wherever it is shown (the case
  page, the API, lists, the desk, notices...), one row per case shown per request
  (``record_reads``);
- ``admin_audit``: administrative acts, written by ``audit`` and nothing else.

It also answers the coordinators' audit page: both logs, newest first, filtered by person, case
and date range.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Select, String, false, insert, literal, or_, select
from sqlalchemy.orm import Session

from workstation.deadlines import zone
from workstation.services.models import AccessLog, AdminAudit, Case, User, UTCDateTime, utcnow

#: The administrative acts written, in the order the audit page offers them as a filter.
ACTIONS = (
    "user_created",
    "user_deactivated",
    "user_reactivated",
    "expert_profile_edited",
    "password_changed",
    "password_reset",
    "token_created",
    "token_revoked",
    "case_reassigned",
    "case_classified",
    "clearance_override",
    "digest_settings_changed",
    "personal_data_exported",
    "personal_data_erased",
    "user_invited",
    "invitation_accepted",
    "enterprise_registered",
    "registration_approved",
    "registration_refused",
    "cases_exported",
    "mail_attached",
    "mail_discarded",
    "case_marked_difficult",
    "panel_convened",
    "panel_dissolved",
    "partner_saved",
    "partner_deactivated",
    "referral_recorded",
    "bulk_action",
    "trainee_promoted",
)


def _id(session: Session, thing: Any) -> int | None:
    """The id of a user or a case (or an id, or None); flushes once for one just added."""
    if thing is None or isinstance(thing, int):
        return thing
    if thing.id is None:
        session.flush()
    return thing.id


def audit(
    session: Session, actor: User | int | None, action: str, subject: User | int | None = None,
    case: Case | int | None = None, **detail: Any,
) -> AdminAudit:  # fmt: skip
    """Write one administrative act in the caller's transaction. ``actor`` None: the command line
    or the system; ``subject``: the account acted on; ``detail``: what else is worth keeping (JSON)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to audit.ACTIONS")
    row = AdminAudit(
        actor_id=_id(session, actor), action=action, subject_id=_id(session, subject),
        case_id=_id(session, case), detail=detail,
    )  # fmt: skip
    session.add(row)
    return row


def record_reads(
    session: Session, user: User, target: str, cases: Iterable[Case] = (), references: Iterable[str] = (),
    action: str = "view",
) -> None:  # fmt: skip
    """Log that ``user`` was shown the content of the confidential ones among ``cases`` (loaded
    rows: their flag is read in memory) and among the cases named by ``references`` (rows a page
    shows from stored text, such as a notice's list), on ``target`` (where: "queue page", ...).

    One ``INSERT ... SELECT`` for all of them (the database checks the flag again), one row per
    case; no statement at all when nothing shown can be confidential, so a list of ordinary
    cases costs nothing more."""
    ids = sorted({c.id for c in cases if c.confidential})
    names = sorted({r for r in references if r})
    if not ids and not names:
        return
    shown = or_(Case.id.in_(ids) if ids else false(), Case.reference.in_(names) if names else false())
    session.execute(
        insert(AccessLog).from_select(
            ["case_id", "user_id", "action", "target", "at"],
            select(
                Case.id,
                literal(user.id, BigInteger),
                literal(action, String),
                literal(target[:80], String),
                literal(utcnow(), UTCDateTime),
            ).where(Case.confidential.is_(True), shown),
        )
    )


# --- the coordinators' audit page ---------------------------------------------------------------


def _people_like(search: str) -> Select:
    like = f"%{search}%"
    return select(User.id).where(or_(User.name.ilike(like), User.email.ilike(like)))


def _cases_like(reference: str) -> Select:
    return select(Case.id).where(Case.reference.ilike(f"%{reference}%"))


def _dates(column: ColumnElement, since: date | None, until: date | None) -> list[ColumnElement[bool]]:
    """``since`` and ``until`` inclusive, as days on the centre's clock (China Standard Time)."""
    day = lambda d: datetime.combine(d, time.min, tzinfo=zone())  # noqa: E731
    return [
        *([column >= day(since)] if since else []),
        *([column < day(until + timedelta(days=1))] if until else []),
    ]


def admin_audit_query(
    person: str = "", reference: str = "", since: date | None = None, until: date | None = None, action: str = ""
) -> Select[tuple[AdminAudit]]:
    """Administrative acts, newest first: ``person`` in the actor's or the subject's name or email."""
    query = select(AdminAudit)
    if person:
        people = _people_like(person)
        query = query.where(or_(AdminAudit.actor_id.in_(people), AdminAudit.subject_id.in_(people)))
    if reference:
        query = query.where(AdminAudit.case_id.in_(_cases_like(reference)))
    if action in ACTIONS:
        query = query.where(AdminAudit.action == action)
    return query.where(*_dates(AdminAudit.at, since, until)).order_by(AdminAudit.at.desc(), AdminAudit.id.desc())


def access_log_query(
    person: str = "", reference: str = "", since: date | None = None, until: date | None = None
) -> Select[tuple[AccessLog]]:
    """Reads of confidential cases, newest first: ``person`` in the reader's name or email."""
    query = select(AccessLog)
    if person:
        query = query.where(AccessLog.user_id.in_(_people_like(person)))
    if reference:
        query = query.where(AccessLog.case_id.in_(_cases_like(reference)))
    return query.where(*_dates(AccessLog.at, since, until)).order_by(AccessLog.at.desc(), AccessLog.id.desc())


def references_of(session: Session, case_ids: Iterable[int | None]) -> dict[int, str]:
    """The references of these cases, in one query (for a page of audit rows)."""
    ids = sorted({i for i in case_ids if i is not None})
    if not ids:
        return {}
    return dict(session.execute(select(Case.id, Case.reference).where(Case.id.in_(ids))).all())
