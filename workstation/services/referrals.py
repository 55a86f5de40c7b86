"""The partners' directory and the referrals of cases to partners (``workstation.referrals``).

Coordinators keep the directory (every change audited). A referral, and each step recorded on it,
is written with its ``CaseEvent`` (the case's timeline) and an outbox row in the caller's
transaction, as ``cases.transition`` does for the case itself; a coordinator's step is audited too.

What the enterprise sees: that its case was referred, to whom, and where the referral stands (it is
its case, and the partner may contact it). Not the question as the expert put it, nor the partner's
answer and its files: those are working material the expert weighs and passes on in the opinion
or a message, as with an internal note. A trainee shadowing the case reads them, as it reads the
notes, and records nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from workstation import lifecycle
from workstation import referrals as rules
from workstation.deadlines import zone
from workstation.evidence import StoredFile
from workstation.services.audit import audit
from workstation.services.cases import actor_relation, attach_files
from workstation.services.conversation import reads_notes
from workstation.services.models import Case, CaseEvent, Partner, Referral, User, utcnow
from workstation.services.outbox import enqueue
from workstation.vocabulary import RIGHT_TYPES

#: The outbox event of every referral step, written with its case event as every change of a case
#: is. No consumer subscribes to it yet: a webhook event, or mail to the enterprise, would start here.
REFERRAL_CHANGED = "case.referral"
QUESTION_MAX = 4000
ANSWER_MAX = 20000


def _email_or_nothing(value: str) -> None:
    """A partner's email is optional (a court's mediators are reached by telephone)."""
    if value:
        validate.Email()(value)


class PartnerInputSchema(Schema):
    """A partner as a coordinator enters it (``POST /api/v1/partners``, the directory's form)."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(rules.PARTNER_KINDS))
    contact_name = fields.String(load_default="", validate=validate.Length(max=120))
    email = fields.String(load_default="", validate=[validate.Length(max=254), _email_or_nothing],
                          metadata={"anyOf": [{"maxLength": 0}, {"format": "email"}]})  # fmt: skip
    phone = fields.String(load_default="", validate=validate.Length(max=40))
    address = fields.String(load_default="", validate=validate.Length(max=300))
    #: ISO 639-1 codes of the languages it works in (an overseas desk may work in ja, de...)
    languages = fields.List(
        fields.String(validate=validate.Regexp(r"^[a-z]{2,3}$")), load_default=list, validate=validate.Length(max=10)
    )
    fields_ = fields.List(
        fields.String(validate=validate.OneOf(RIGHT_TYPES)), data_key="fields", attribute="fields", load_default=list
    )
    notes = fields.String(load_default="", validate=validate.Length(max=2000))
    is_active = fields.Boolean(load_default=True)


class PartnerSchema(PartnerInputSchema):
    id = fields.Integer(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class ReferralInputSchema(Schema):
    """A referral asked for (``POST /api/v1/cases/<reference>/referrals``)."""

    class Meta:
        unknown = RAISE

    partner_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**63 - 1))
    question = fields.String(required=True, validate=validate.Length(min=1, max=QUESTION_MAX))


class ReferralChangeSchema(Schema):
    """A step recorded on a referral (``PATCH .../referrals/<id>``): the status it reached, and
    with ``answered`` what the partner answered."""

    class Meta:
        unknown = RAISE

    status = fields.String(required=True, validate=validate.OneOf(tuple(rules.MOVES)))
    answer = fields.String(load_default=None, validate=validate.Length(max=ANSWER_MAX))


class ReferralSchema(Schema):
    """A referral as its case's expert and the coordinators read it; the enterprise gets
    ``public_referral`` of it (no question, answer or files)."""

    id = fields.Integer()
    partner = fields.Function(
        lambda r: {"id": r.partner.id, "name": r.partner.name, "kind": r.partner.kind},
        metadata={"type": "object", "description": "The partner's id, name and kind"},
    )
    status = fields.String(validate=validate.OneOf(rules.STATUSES))
    sent_at = fields.AwareDateTime()
    acknowledged_at = fields.AwareDateTime(allow_none=True)
    answered_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    question = fields.String()
    answer = fields.String()
    answer_files = fields.List(fields.Dict())
    referred_by = fields.Function(lambda r: r.referrer.name, metadata={"type": "string"})


partner_input_schema = PartnerInputSchema()
partner_schema = PartnerSchema()
referral_schema = ReferralSchema()
PUBLIC_FIELDS = ("id", "partner", "status", "sent_at", "acknowledged_at", "answered_at", "closed_at")


class ReferralError(Exception):
    """Input that cannot be used: ``errors`` as ``{field: [message]}``."""

    def __init__(self, errors: dict[str, list[str]], status: int = 400) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status


# --- the directory ------------------------------------------------------------------------------


def partners(session: Session, active_only: bool = False) -> list[Partner]:
    query = select(Partner).order_by(Partner.kind, Partner.name, Partner.id)
    if active_only:
        query = query.where(Partner.is_active.is_(True))
    return list(session.scalars(query))


def save_partner(session: Session, coordinator: User, partner: Partner | None, data: dict[str, Any]) -> Partner:
    """Add a partner (``partner`` None) or change one with checked ``data`` (all or some of
    ``PartnerInputSchema``'s fields); audited, with what changed."""
    if partner is None:
        partner = Partner(**{"contact_name": "", "email": "", "phone": "", "address": "", "languages": [],
                             "fields": [], "notes": "", "is_active": True, **data})  # fmt: skip
        session.add(partner)
        session.flush()
        audit(session, coordinator, "partner_saved", partner=partner.id, name=partner.name, created=True)
        return partner
    changes = {key: value for key, value in data.items() if getattr(partner, key) != value}
    for key, value in changes.items():
        setattr(partner, key, value)
    if changes:
        action = "partner_deactivated" if changes.get("is_active") is False else "partner_saved"
        audit(session, coordinator, action, partner=partner.id, name=partner.name, changed=sorted(changes))
    return partner


# --- referrals ----------------------------------------------------------------------------------


def referrals_of(session: Session, case: Case) -> list[Referral]:
    return list(
        session.scalars(
            select(Referral)
            .where(Referral.case_id == case.id)
            .options(joinedload(Referral.partner), joinedload(Referral.referrer))
            .order_by(Referral.id)
        )
    )


def find_referral(session: Session, case: Case, referral_id: int) -> Referral | None:
    referral = session.get(Referral, referral_id, with_for_update=True)
    return referral if referral is not None and referral.case_id == case.id else None


def may_refer(case: Case, user: User) -> bool:
    """Whether ``user`` may refer ``case`` and record its referrals' steps (what the page offers)."""
    return actor_relation(case, user) in rules.ACTORS and case.status not in lifecycle.FINISHED


def dump_referral(referral: Referral, viewer: User) -> dict[str, Any]:
    """The referral as ``viewer`` may read it (see the module's note on the enterprise)."""
    data = referral_schema.dump(referral)
    return data if reads_notes(viewer) else {key: data[key] for key in PUBLIC_FIELDS}


def _event(session: Session, case: Case, actor: User, referral: Referral, status: str, at: datetime) -> CaseEvent:
    """The case event and the outbox row of one step, and the audit row of a coordinator's."""
    action = rules.EVENT_OF[status]
    detail = {"referral_id": referral.id, "partner_id": referral.partner_id, "partner": referral.partner.name}
    event = CaseEvent(case_id=case.id, action=action, from_status=case.status, to_status=case.status,
                      actor_id=actor.id, actor_role=actor.role, detail=detail, created_at=at)  # fmt: skip
    session.add(event)
    session.flush()  # for the event's id
    payload = {"case_id": case.id, "reference": case.reference, "event_id": event.id, "referral_id": referral.id,
               "status": status, "actor_id": actor.id}  # fmt: skip
    enqueue(session, REFERRAL_CHANGED, payload)
    if actor.role == "coordinator":
        audit(session, actor, "referral_recorded", None, case, referral=referral.id, status=status)
    return event


def refer(session: Session, case: Case, actor: User, partner: Partner, question: str) -> Referral:
    """``actor`` refers ``case`` (or the question in it) to ``partner``. Raises TransitionError."""
    rules.decide_refer(case.status, actor_relation(case, actor), partner.is_active)
    now = utcnow()
    referral = Referral(case_id=case.id, partner=partner, referred_by=actor.id, question=question.strip(),
                        status=rules.SENT, sent_at=now, updated_at=now, answer="", answer_files=[])  # fmt: skip
    session.add(referral)
    session.flush()
    _event(session, case, actor, referral, rules.SENT, now)
    return referral


def record_step(
    session: Session,
    case: Case,
    referral: Referral,
    actor: User,
    status: str,
    answer: str | None = None,
    files: list[StoredFile] | None = None,
) -> Referral:
    """Record that the partner acknowledged or answered (``answer``, with ``files`` already checked
    and stored), or that the referral is closed. Raises TransitionError."""
    rules.decide_move(referral.status, status, actor_relation(case, actor), answer)
    now = utcnow()
    referral.status = status
    setattr(referral, f"{status}_at", now)
    referral.updated_at = now
    if status == rules.ANSWERED:
        referral.answer = (answer or "").strip()
        files = files or []
        attach_files(session, case, actor, files, "referral")
        referral.answer_files = [
            {"sha256": f.sha256, "filename": f.filename, "content_type": f.content_type, "size": f.size} for f in files
        ]
    _event(session, case, actor, referral, status, now)
    return referral


# --- what waits too long: the sweep's reminders, the desk, the digest ---------------------------


def waiting_since(referral: Referral) -> datetime:
    """When the referral's current wait began: its last step."""
    return referral.acknowledged_at or referral.sent_at


def is_overdue(referral: Referral, limit: int, now: datetime) -> bool:
    china = zone()
    return rules.waits_too_long(
        referral.status, waiting_since(referral).astimezone(china).date(), now.astimezone(china).date(), limit
    )


def open_referrals(session: Session, limit: int, now: datetime | None = None) -> list[tuple[Referral, bool]]:
    """Every open referral with whether it waits too long: those first, then the oldest."""
    now = now or utcnow()
    rows = session.scalars(
        select(Referral)
        .where(Referral.status.in_(rules.OPEN))
        .options(joinedload(Referral.partner), joinedload(Referral.case), joinedload(Referral.referrer))
        .order_by(Referral.sent_at, Referral.id)
    ).all()
    marked = [(r, is_overdue(r, limit, now)) for r in rows]
    return sorted(marked, key=lambda pair: not pair[1])  # (stable: oldest first within each)


def referral_counts(
    session: Session, start: datetime, end: datetime, limit: int, now: datetime | None = None
) -> dict[str, int]:
    """For the digest: referrals sent and answered in [start, end), and those waiting too long
    at ``now`` (default: ``end``)."""

    def counted(column: Any) -> int:
        return session.scalar(select(func.count()).select_from(Referral).where(column >= start, column < end)) or 0

    overdue = sum(1 for _referral, late in open_referrals(session, limit, now or end) if late)
    return {"sent": counted(Referral.sent_at), "answered": counted(Referral.answered_at), "overdue": overdue}
