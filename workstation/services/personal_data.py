"""An enterprise's personal data under PIPL: export everything held about it, and erase it once
the enterprise is gone and the retention period has passed, keeping anonymised statistics.

Erasure keeps what the centre's figures need and nothing that names or describes the enterprise:
a case keeps its right type, service, field, jurisdiction, status and dates, its timeline's
moves and its rating's score; its words (title, description, parties, rights, messages, opinion,
file names) and the files themselves go. Audit rows stay: they are append-only and hold ids.
Both acts are written to the administrative audit log.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from workstation import lifecycle
from workstation.evidence import path_of
from workstation.i18n import Message
from workstation.services.audit import audit
from workstation.services.auth import NO_PASSWORD
from workstation.services.models import (
    AccessLog,
    ApiToken,
    Case,
    CaseEvent,
    CaseMessage,
    CaseParty,
    Evidence,
    LoginSession,
    Notice,
    Opinion,
    Rating,
    TraineeDraft,
    User,
    WatchedMark,
    utcnow,
)

#: How long a deactivated enterprise's data is kept after its last activity: the limitation
#: period for civil claims (Civil Code art. 188), within which a dispute about the service may
#: still need the file.
DEFAULT_RETENTION_DAYS = 3 * 365
ERASED = "[erased]"


class PersonalDataError(ValueError):
    """Why an export or an erasure cannot be done (no such enterprise, still active, too recent)."""


def _enterprise(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.role != "enterprise":
        raise PersonalDataError(Message("no such enterprise"))
    return user


def _columns(row: Any, leave_out: tuple[str, ...] = ()) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in leave_out}


def _without(row: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != key}


def export_enterprise(session: Session, evidence_root: Path, user_id: int, actor_id: int | None) -> bytes:
    """A zip of ``data.json`` (the account, its cases with everything said and decided on them,
    its notices, watched marks and tokens, and who read its confidential cases) and ``files/``
    (each file it or its experts uploaded, by SHA-256). The export is audited."""
    user = _enterprise(session, user_id)
    cases = session.scalars(select(Case).where(Case.enterprise_id == user_id).order_by(Case.id)).all()
    case_ids = [c.id for c in cases]

    def rows(model: Any, *where: Any) -> list[dict[str, Any]]:
        return [
            _columns(r) for r in session.scalars(select(model).where(*where).order_by(*model.__table__.primary_key))
        ]

    data = {
        "account": _columns(user, leave_out=("password_hash",)),
        "cases": [_columns(c) for c in cases],
        "events": rows(CaseEvent, CaseEvent.case_id.in_(case_ids)),
        "messages": rows(CaseMessage, CaseMessage.case_id.in_(case_ids)),
        "evidence": rows(Evidence, Evidence.case_id.in_(case_ids)),
        "opinions": rows(Opinion, Opinion.case_id.in_(case_ids)),
        "ratings": rows(Rating, Rating.case_id.in_(case_ids)),
        "notices": rows(Notice, Notice.recipient_id == user_id),
        "watched_marks": rows(WatchedMark, WatchedMark.enterprise_id == user_id),
        "api_tokens": [
            {k: v for k, v in t.items() if k != "token_hash"} for t in rows(ApiToken, ApiToken.user_id == user_id)
        ],
        "confidential_reads": rows(AccessLog, AccessLog.case_id.in_(case_ids)),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, ensure_ascii=False, indent=1, default=str))
        for sha256 in sorted({e["sha256"] for e in data["evidence"]}):
            if (path := path_of(evidence_root, sha256)).exists():
                archive.write(path, f"files/{sha256}")
    audit(session, actor_id, "personal_data_exported", user_id, cases=len(case_ids), files=len(data["evidence"]))
    return buffer.getvalue()


@dataclass(frozen=True)
class Erasure:
    cases: int
    files_removed: int


def erasable_after(session: Session, user: User, retention: timedelta) -> datetime:
    """When ``user``'s data may be erased: ``retention`` after its last activity (the account's
    creation, or the last change to one of its cases)."""
    last_case = session.scalar(select(func.max(Case.updated_at)).where(Case.enterprise_id == user.id))
    return max(filter(None, (user.created_at, last_case))) + retention


def erase_enterprise(
    session: Session,
    evidence_root: Path,
    user_id: int,
    actor_id: int | None,
    retention: timedelta,
    now: datetime | None = None,
) -> Erasure:
    """Erase a deactivated enterprise's personal data, if its retention period has passed."""
    now = now or utcnow()
    user = _enterprise(session, user_id)
    if user.is_active:
        raise PersonalDataError(Message("the enterprise is still active: deactivate it first"))
    open_cases = select(Case.id).where(Case.enterprise_id == user_id, Case.status.not_in(lifecycle.FINISHED))
    if session.scalar(open_cases.limit(1)) is not None:
        raise PersonalDataError(Message("the enterprise still has open cases"))
    if now < (due := erasable_after(session, user, retention)):
        raise PersonalDataError(Message("the retention period runs until %(day)s", day=f"{due:%Y-%m-%d}"))
    case_ids = list(session.scalars(select(Case.id).where(Case.enterprise_id == user_id)))
    files_removed = _erase_files(session, evidence_root, case_ids)
    _erase_case_words(session, case_ids)
    _erase_account(session, user)
    audit(session, actor_id, "personal_data_erased", user_id, cases=len(case_ids), files_removed=files_removed)
    return Erasure(len(case_ids), files_removed)


def _erase_files(session: Session, evidence_root: Path, case_ids: list[int]) -> int:
    """Forget the cases' files; remove a file's bytes unless another case holds the same bytes."""
    mine = set(session.scalars(select(Evidence.sha256).where(Evidence.case_id.in_(case_ids))))
    shared = set(
        session.scalars(select(Evidence.sha256).where(Evidence.sha256.in_(mine), Evidence.case_id.not_in(case_ids)))
    )
    session.execute(update(Evidence).where(Evidence.case_id.in_(case_ids)).values(filename=ERASED))
    removed = 0
    for sha256 in mine - shared:
        path = path_of(evidence_root, sha256)
        if path.exists():
            path.unlink()
            removed += 1
    return removed


def _erase_case_words(session: Session, case_ids: list[int]) -> None:
    mine = Case.id.in_(case_ids)
    session.execute(update(Case).where(mine).values(title=ERASED, description="", parties=[], rights=[], key_dates={}))
    session.execute(update(CaseMessage).where(CaseMessage.case_id.in_(case_ids)).values(body=ERASED))
    session.execute(update(Opinion).where(Opinion.case_id.in_(case_ids)).values(body={}))
    session.execute(update(Rating).where(Rating.case_id.in_(case_ids)).values(comment=""))
    # (a trainee's draft on the case describes it; its ratings stay, as the rating's score does)
    session.execute(update(TraineeDraft).where(TraineeDraft.case_id.in_(case_ids)).values(body=ERASED, comments=ERASED))
    session.execute(delete(CaseParty).where(CaseParty.case_id.in_(case_ids)))
    session.execute(delete(Notice).where(Notice.case_id.in_(case_ids)))


def _erase_account(session: Session, user: User) -> None:
    session.execute(delete(Notice).where(Notice.recipient_id == user.id))
    # (kept as rows, unwatched: the look-alike matches found for them refer to them)
    session.execute(update(WatchedMark).where(WatchedMark.enterprise_id == user.id).values(text=ERASED, active=False))
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id).values(revoked_at=utcnow(), name=""))
    session.execute(update(LoginSession).where(LoginSession.user_id == user.id).values(ended_at=utcnow()))
    user.email = f"erased-{user.id}@erased.invalid"
    user.name = ERASED
    user.organisation = ""
    user.organisation_key = ""
    user.credit_code = None
    user.password_hash = NO_PASSWORD
