"""Early-warning notices: one row per person, listed on their pages and mailed once.

Whoever raises notices (the deadline sweep, the watch worker, the marks feed import) calls
``raise_notices`` inside the transaction of its own effect. Each notice has a stable key (what it
is about and who it is for): a key already taken is skipped, so a re-run or a redelivered message
raises nothing twice. The new notices' ids go out in one ``notice.raised`` outbox event; the notify
worker mails each (template ``email/<kind>_notice/``) and claims every email, so a redelivery never
mails twice either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from workstation.services.audit import record_reads
from workstation.services.models import Notice, User
from workstation.services.outbox import enqueue
from workstation.services.paging import Page, page_of

KINDS = ("deadline", "lookalike", "repeat_respondent", "referral")
#: notices per page on ``/notices``
PAGE_SIZE = 30


@dataclass(frozen=True)
class NewNotice:
    recipient_id: int
    kind: str
    key: str
    body: dict[str, Any]
    case_id: int | None = None


def raise_notices(session: Session, notices: Iterable[NewNotice]) -> list[Notice]:
    """Add the notices whose key is new and queue their delivery; returns the added ones.

    A concurrent writer of the same key makes the caller's commit fail on the unique key, and the
    caller's retry then finds the key taken.
    """
    wanted = {n.key: n for n in notices}
    if not wanted:
        return []
    taken = set(session.scalars(select(Notice.key).where(Notice.key.in_(list(wanted)))))
    added = [
        Notice(key=n.key, recipient_id=n.recipient_id, kind=n.kind, case_id=n.case_id, body=n.body)
        for n in wanted.values()
        if n.key not in taken
    ]
    if added:
        session.add_all(added)
        session.flush()
        enqueue(session, "notice.raised", {"notice_ids": [n.id for n in added]})
    return added


class _MaybeConfidential(Protocol):
    confidential: bool


def feeds_enterprise_notices(source_case: _MaybeConfidential | None) -> bool:
    """Whether what ``source_case`` (a case, or a row with its ``confidential``; None: no case,
    e.g. the publication feed) reveals may reach an
    enterprise other than its own, in a notice or a listing: never from a confidential case, whose
    existence only its enterprise, its expert and the coordinators may know. Coordinators are
    told of such matches all the same."""
    return source_case is None or not source_case.confidential


def active_coordinators(session: Session) -> list[User]:
    return list(session.scalars(select(User).where(User.role == "coordinator", User.is_active.is_(True))))


def notices_for(session: Session, user: User, page: int = 1, kind: str | None = None) -> Page:
    """``user``'s own notices, newest first, one page."""
    query = select(Notice).where(Notice.recipient_id == user.id)
    if kind in KINDS:
        query = query.where(Notice.kind == kind)
    query = query.order_by(Notice.created_at.desc(), Notice.id.desc())
    return page_of(session, query, page, PAGE_SIZE, joinedload(Notice.case))


def record_notice_reads(session: Session, user: User, target: str, notices: Iterable[Notice]) -> None:
    """Log the confidential cases these notices show to ``user``: the case a notice is about, and
    the cases a coordinator's repeat-respondent notice lists with their titles (marked
    ``confidential`` in its body)."""
    notices = list(notices)
    record_reads(
        session, user, target,
        cases=[n.case for n in notices if n.case is not None],
        references=[o["reference"] for n in notices for o in n.body.get("others", ()) if o.get("confidential")],
    )  # fmt: skip


def in_language(value: Any, language: str) -> Any:
    """A ``{"zh": ..., "en": ...}`` value in ``language`` (English when that is missing);
    anything else as it is."""
    if isinstance(value, dict) and ("zh" in value or "en" in value):
        return value.get(language) or value.get("en") or value.get("zh")
    return value


def notice_context(notice: Notice, language: str) -> dict[str, Any]:
    """The notice's body with every two-language value in ``language``: what templates show."""
    return {key: in_language(value, language) for key, value in notice.body.items()}
