"""Trainees who learn: drafts on shadowed cases, their expert's reviews, a trainee's record, and
a coordinator's promotion of a trainee to expert (the rules: ``workstation.training``).

A trainee writes a shadow note or a draft opinion on a case they shadow (``Case.shadow_expert``,
never a confidential case); it is submitted for review at once, and the case's expert is mailed.
The expert reviews it with comments and a 1-5 rating of each competence; the trainee is mailed.
Drafts are training material, kept apart from the case: a ``TraineeDraft`` row, not a thread
message or a ``CaseEvent``, so nothing that shows the enterprise its case (page, API, timeline,
files, search, export, webhooks, mail) can carry one.

Who sees what, every query scoped here: a trainee their own drafts and record; an expert the
drafts on the cases they hold (their trainees' on those cases); coordinators everything. A
promotion is a coordinator's, through the expert pool's one writer (``pool.save_expert``), and
audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session, joinedload

from workstation import lifecycle, training
from workstation.i18n import Message
from workstation.services.audit import audit
from workstation.services.auth import UserError
from workstation.services.db import lock_for_write
from workstation.services.models import Case, ExpertProfile, TraineeDraft, User, utcnow
from workstation.services.outbox import enqueue
from workstation.services.pool import save_expert
from workstation.services.schemas import text

#: Outbox events (``messaging.SUBSCRIPTIONS``: the notify worker mails the expert, then the trainee).
DRAFT_SUBMITTED = "training.draft_submitted"
DRAFT_REVIEWED = "training.draft_reviewed"

NOT_A_TRAINEE = Message("Only a trainee is promoted to expert.")


class DraftInputSchema(Schema):
    """``POST /api/v1/cases/<reference>/drafts``: a trainee's draft, submitted for review."""

    class Meta:
        unknown = RAISE

    kind = fields.String(
        required=True,
        validate=validate.OneOf(training.KINDS),
        metadata={"description": "note: a shadow note; opinion: a draft opinion"},
    )
    body = text(training.MAX_DRAFT, required=True)


def _rating() -> fields.Integer:
    return fields.Integer(strict=True, required=True, validate=validate.Range(training.LOWEST, training.HIGHEST))


class RatingsSchema(Schema):
    """A rating of each of the four competences, 1 (far from it) to 5 (an expert's work)."""

    class Meta:
        unknown = RAISE

    legal = _rating()
    technical = _rating()
    management = _rating()
    commercialization = _rating()


class ReviewInputSchema(Schema):
    """``POST /api/v1/drafts/<id>/review``: the case's expert reviews a trainee's draft."""

    class Meta:
        unknown = RAISE

    comments = text(training.MAX_COMMENTS, required=True)
    ratings = fields.Nested(RatingsSchema, required=True)


class DraftPersonSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class DraftSchema(Schema):
    """A draft as the API shows it (to its trainee, the case's expert and coordinators only)."""

    id = fields.Integer()
    reference = fields.Function(lambda d: d.case.reference, metadata={"type": "string"})
    kind = fields.String(metadata={"enum": list(training.KINDS)})
    body = fields.String()
    status = fields.String(metadata={"enum": [training.SUBMITTED, training.REVIEWED]})
    trainee = fields.Nested(DraftPersonSchema)
    created_at = fields.DateTime()
    reviewer = fields.Nested(DraftPersonSchema, allow_none=True)
    comments = fields.String(allow_none=True)
    ratings = fields.Dict(
        keys=fields.String(), values=fields.Integer(), allow_none=True,
        metadata={"description": "each competence rated 1-5; null until reviewed"},
    )  # fmt: skip
    reviewed_at = fields.DateTime(allow_none=True)


draft_schema = DraftSchema()


def is_trainee(user: User) -> bool:
    return user.role == "expert" and user.expert is not None and user.expert.is_trainee


def write_draft(session: Session, case: Case, trainee: User, kind: str, body: str) -> TraineeDraft:
    """``trainee`` writes a draft on ``case`` (which they shadow), submitted for review: the
    case's expert is mailed. Raises TransitionError."""
    shadowing = case.shadow_expert_id == trainee.id and not case.confidential
    training.decide_draft(case.status, shadowing, is_trainee(trainee))
    text = (body or "").strip()
    if kind not in training.KINDS or not text or len(text) > training.MAX_DRAFT:
        raise_invalid(training.EMPTY_DRAFT if not text else training.LONG_DRAFT)
    draft = TraineeDraft(case_id=case.id, trainee_id=trainee.id, kind=kind, body=text, status=training.SUBMITTED,
                         created_at=utcnow())  # fmt: skip
    session.add(draft)
    session.flush()
    enqueue(session, DRAFT_SUBMITTED, {"case_id": case.id, "reference": case.reference, "draft_id": draft.id,
                                       "actor_id": trainee.id})  # fmt: skip
    return draft


def raise_invalid(message: str) -> None:
    raise lifecycle.TransitionError("invalid", message)


def review_draft(session: Session, draft: TraineeDraft, expert: User, comments: str, ratings: dict[str, int]) -> None:
    """``expert`` (who holds the draft's case) reviews ``draft`` (locked by the caller): comments and
    a rating of each competence; the trainee is mailed. Raises TransitionError."""
    holds = expert.role == "expert" and draft.case.assigned_expert_id == expert.id
    training.decide_review(holds, draft.status)
    text = (comments or "").strip()
    if not text:
        raise_invalid(training.EMPTY_COMMENTS)
    if training.ratings_errors(ratings):
        raise_invalid(training.RATINGS_NEEDED)
    draft.status, draft.reviewer, draft.comments = training.REVIEWED, expert, text
    draft.ratings = {c: ratings[c] for c in training.COMPETENCES}
    draft.reviewed_at = utcnow()
    session.flush()
    enqueue(session, DRAFT_REVIEWED, {"case_id": draft.case_id, "reference": draft.case.reference,
                                      "draft_id": draft.id, "actor_id": expert.id})  # fmt: skip


def visible_drafts(user: User) -> Select[tuple[TraineeDraft]]:
    """The drafts ``user`` may read: every query of drafts on behalf of a person starts here. A
    trainee their own; an expert those on the cases they hold; a coordinator all; nobody else any."""
    query = select(TraineeDraft).options(
        joinedload(TraineeDraft.case), joinedload(TraineeDraft.trainee), joinedload(TraineeDraft.reviewer)
    )
    if user.role == "coordinator":
        return query
    if user.role == "expert":
        held = select(Case.id).where(Case.assigned_expert_id == user.id)
        return query.where(or_(TraineeDraft.trainee_id == user.id, TraineeDraft.case_id.in_(held)))
    return query.where(false())


def drafts_on_case(session: Session, case: Case, viewer: User) -> list[TraineeDraft]:
    """The drafts on ``case`` that ``viewer`` may read, oldest first."""
    query = visible_drafts(viewer).where(TraineeDraft.case_id == case.id).order_by(TraineeDraft.id)
    return list(session.scalars(query).unique())


def find_draft(session: Session, viewer: User, draft_id: int, for_update: bool = False) -> TraineeDraft | None:
    """The draft ``draft_id`` if ``viewer`` may read it (locked to be reviewed: ``for_update``)."""
    query = visible_drafts(viewer).where(TraineeDraft.id == draft_id)
    if for_update:
        lock_for_write(session)
        query = query.with_for_update(of=TraineeDraft)
    return session.scalars(query).unique().first()


def to_review(session: Session, expert: User) -> list[TraineeDraft]:
    """The drafts waiting for ``expert``'s review: submitted, on the cases they hold, oldest first."""
    query = (
        visible_drafts(expert)
        .join(Case, Case.id == TraineeDraft.case_id)
        .where(Case.assigned_expert_id == expert.id, TraineeDraft.status == training.SUBMITTED)
        .order_by(TraineeDraft.id)
    )
    return list(session.scalars(query).unique())


# --- a trainee's record -----------------------------------------------------------------------


def find_trainee(session: Session, viewer: User, user_id: int) -> User | None:
    """The trainee (or former trainee, promoted) ``user_id`` if ``viewer`` may read their record:
    themselves, or a coordinator."""
    if viewer.role != "coordinator" and viewer.id != user_id:
        return None
    user = session.scalar(
        select(User).where(User.id == user_id, User.role == "expert").options(joinedload(User.expert))
    )
    if user is None or user.expert is None:
        return None
    if user.expert.is_trainee or session.scalar(select(TraineeDraft.id).where(TraineeDraft.trainee_id == user.id)):
        return user
    return None


def reviews_of(drafts: list[TraineeDraft]) -> list[training.Review]:
    return [training.Review(d.reviewed_at, d.ratings) for d in drafts if d.status == training.REVIEWED and d.ratings]


@dataclass
class Record:
    """A trainee's record: the cases shadowed, the drafts with their feedback, the ratings over time."""

    trainee: User
    #: each case shadowed or drafted on, newest first: ``{"case", "drafts", "hidden"}`` (hidden: a
    #: case since made confidential, which the trainee no longer reads: shown by reference only)
    cases: list[dict[str, Any]]
    drafts: list[TraineeDraft]
    #: the reviewed drafts' ratings, oldest first
    reviews: list[training.Review]
    averages: dict[str, float | None]
    trend: dict[str, float | None]
    readiness: training.Readiness


def trainee_record(session: Session, trainee: User) -> Record:
    """``trainee``'s record (the caller checked who may read it: ``find_trainee``)."""
    drafts = list(
        session.scalars(
            select(TraineeDraft)
            .where(TraineeDraft.trainee_id == trainee.id)
            .options(joinedload(TraineeDraft.case), joinedload(TraineeDraft.reviewer))
            .order_by(TraineeDraft.id)
        ).unique()
    )
    drafted = {d.case_id for d in drafts}
    cases = list(
        session.scalars(
            select(Case)
            .where(or_(Case.shadow_expert_id == trainee.id, Case.id.in_(drafted)))
            .options(joinedload(Case.assigned_expert))
            .order_by(Case.created_at.desc(), Case.id.desc())
        ).unique()
    )
    rows = [{"case": c, "drafts": [d for d in drafts if d.case_id == c.id], "hidden": c.confidential} for c in cases]
    reviews = training.in_order(reviews_of(drafts))
    return Record(trainee, rows, drafts, reviews, training.averages(reviews), training.trend(reviews),
                  training.readiness(reviews))  # fmt: skip


def trainees(session: Session) -> list[dict[str, Any]]:
    """Every trainee, and every former trainee with drafts (promoted), for the coordinators: each
    ``user``, ``supervisor``, ``drafts``, ``reviewed``, ``averages`` and ``readiness``, by name."""
    drafted = select(TraineeDraft.trainee_id)
    users = session.scalars(
        select(User)
        .join(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(User.role == "expert", or_(ExpertProfile.is_trainee.is_(True), User.id.in_(drafted)))
        .options(joinedload(User.expert).joinedload(ExpertProfile.supervisor))
        .order_by(User.name, User.id)
    ).unique()
    by_trainee: dict[int, list[TraineeDraft]] = {}
    for draft in session.scalars(select(TraineeDraft).order_by(TraineeDraft.id)):
        by_trainee.setdefault(draft.trainee_id, []).append(draft)
    listed = []
    for user in users:
        drafts = by_trainee.get(user.id, [])
        reviews = reviews_of(drafts)
        listed.append({"user": user, "supervisor": user.expert.supervisor, "drafts": len(drafts),
                       "reviewed": len(reviews), "averages": training.averages(reviews),
                       "readiness": training.readiness(reviews)})  # fmt: skip
    return listed


def record_json(record: Record) -> dict[str, Any]:
    """A trainee's record as the API shows it."""
    profile = record.trainee.expert
    return {
        "id": record.trainee.id,
        "name": record.trainee.name,
        "is_trainee": bool(profile and profile.is_trainee),
        "supervisor": _person(profile.supervisor if profile else None),
        "cases": [
            {"reference": row["case"].reference, "title": None if row["hidden"] else row["case"].title,
             "status": row["case"].status, "drafts": [d.id for d in row["drafts"]]}
            for row in record.cases
        ],
        "drafts": draft_schema.dump(record.drafts, many=True),
        "ratings_over_time": [{"at": r.at.isoformat(), **r.ratings} for r in record.reviews],
        "averages": record.averages,
        "trend": record.trend,
        "ready_for_promotion": record.readiness.ready,
        "missing": [str(m) for m in record.readiness.missing],
    }  # fmt: skip


def _person(user: User | None) -> dict[str, Any] | None:
    return {"id": user.id, "name": user.name} if user is not None else None


def promote(session: Session, coordinator: User, trainee: User, today: date) -> None:
    """``coordinator`` promotes ``trainee`` to expert: the pool's writer clears the trainee flag
    and supervisor (audited there as ``expert_profile_edited``), and the promotion is audited with
    the record it was decided on. Raises UserError if ``trainee`` is not a trainee."""
    if coordinator.role != "coordinator":
        raise PermissionError("only coordinators promote")
    if not is_trainee(trainee):
        raise UserError(NOT_A_TRAINEE, "_request", conflict=True)
    record = trainee_record(session, trainee)
    save_expert(session, {"is_trainee": False, "supervisor_email": ""}, today, existing=trainee, actor=coordinator,
                via="promotion")  # fmt: skip
    audit(session, coordinator, "trainee_promoted", trainee, reviewed=len(record.reviews), averages=record.averages,
          ready=record.readiness.ready)  # fmt: skip
