"""Bulk actions (``workstation.bulk``): a coordinator reassigns, closes, classifies, marks difficult
or refers many cases at once: a selection of references, a saved view or a search.

Each case goes through the single action's own service (``cases.reassign``, ``cases.transition``,
``classification.classify``, ``panels.mark_difficult``, ``referrals.refer``): its own checks, its
own event, outbox row and audit. Each is done in a savepoint of the one transaction, so a refused
case undoes nothing of the others, and the whole, with the request's ``Idempotency-Key``, commits
together. The cases are locked first, all together and in id order, so that two bulk actions on
overlapping selections wait for each other. (Two at once that move cases between the same experts
can still meet on the experts' rows; PostgreSQL then aborts one, which is answered 503 with
Retry-After, nothing done, like any request the database could not serve.)
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from workstation import bulk as rules
from workstation import lifecycle
from workstation.i18n import LANGUAGES, N_, Localized, Message, in_language
from workstation.search_syntax import MAX_LENGTH, SearchSyntaxError, parse
from workstation.services.audit import audit, record_reads
from workstation.services.cases import (
    ExpertFullError,
    IneligibleExpertError,
    active_expert,
    reassign,
    transition,
    visible_cases,
)
from workstation.services.classification import classify
from workstation.services.db import lock_for_write
from workstation.services.models import MAX_ID, Case, ExpertProfile, Partner, User
from workstation.services.panels import AT_CAPACITY, PanelError, convene_panel, mark_difficult, refusal_name
from workstation.services.referrals import QUESTION_MAX, refer
from workstation.services.schemas import api_errors, text
from workstation.services.search import search_cases
from workstation.services.views import view_cases, views_of
from workstation.vocabulary import RIGHT_TYPES, SERVICES

#: The ways to say which cases: exactly one of them.
SELECTIONS = ("references", "view_id", "query")
REFERENCE_MAX, REASON_MAX = 40, 2000
ONE_SELECTION = N_("Give exactly one of references, view_id and query.")
NO_EXPERT = N_("expert_id must name an active expert.")
NO_PARTNER = N_("partner_id must name an active partner of the directory.")
NO_VIEW = N_("No such view of yours or shared with you.")
BLANK = N_("Must not be blank.")
NOT_CONVENED = N_("Not convened: %(refused)s")


class _Selection(Schema):
    class Meta:
        unknown = RAISE

    references = fields.List(
        fields.String(validate=validate.Length(min=1, max=REFERENCE_MAX)),
        validate=validate.Length(min=1, max=rules.MAX_CASES),
        metadata={"description": "the cases' references (repeats count once; one not found is reported as such)"},
    )
    view_id = fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID),
                             metadata={"description": "every case of a saved view the caller sees"})  # fmt: skip
    query = fields.String(
        validate=validate.Length(max=MAX_LENGTH),
        metadata={"description": "every case a search finds (the search syntax, as GET /api/v1/cases?q=); "
                  "one it cannot run is a 400 naming query"},
    )  # fmt: skip

    @validates_schema
    def _one_selection(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if sum(1 for key in SELECTIONS if key in data) != 1:
            raise ValidationError(ONE_SELECTION, "_request")


def _action(name: str) -> fields.String:
    return fields.String(required=True, validate=validate.OneOf((name,)))


def _reason(required: bool) -> fields.String:
    if required:
        return text(REASON_MAX, required=True)
    return fields.String(load_default=None, validate=validate.Length(max=REASON_MAX))


class BulkReassignSchema(_Selection):
    action = _action("reassign")
    expert_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    reason = _reason(False)
    override_clearance = fields.Boolean(
        load_default=False, metadata={"description": "give confidential cases to an expert not cleared (audited)"}
    )


class BulkCloseSchema(_Selection):
    action = _action("close")
    reason = _reason(False)


class BulkClassifySchema(_Selection):
    action = _action("classify")
    right_type = fields.String(required=True, validate=validate.OneOf(RIGHT_TYPES))
    service = fields.String(required=True, validate=validate.OneOf(SERVICES))


class BulkDifficultSchema(_Selection):
    action = _action("mark_difficult")
    reason = _reason(True)


def _distinct(ids: list[int]) -> None:
    if len(set(ids)) != len(ids):
        raise ValidationError(N_("Name each expert once."))


class BulkConveneSchema(_Selection):
    action = _action("convene_panel")
    expert_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID)),
        required=True,
        validate=[validate.Length(min=lifecycle.PANEL_SIZE[0], max=lifecycle.PANEL_SIZE[1]), _distinct],
        metadata={"uniqueItems": True, "description": "the panel convened on each case (marked difficult first)"},
    )


class BulkReferSchema(_Selection):
    action = _action("refer")
    partner_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    question = text(QUESTION_MAX, required=True)


#: Each action's request (``POST /api/v1/cases/bulk``; the desk's form), by action.
SCHEMAS: dict[str, type[Schema]] = {
    "reassign": BulkReassignSchema,
    "close": BulkCloseSchema,
    "classify": BulkClassifySchema,
    "mark_difficult": BulkDifficultSchema,
    "convene_panel": BulkConveneSchema,
    "refer": BulkReferSchema,
}


class BulkError(Exception):
    """A bulk request that cannot be run at all: ``errors`` as the API shows them, ``status`` 400
    (the input), 403 (not a coordinator), 404 (no such view), 409 (the expert or partner named
    cannot take cases now), 413 (too many cases)."""

    def __init__(self, errors: dict[str, list[str]], status: int = 400) -> None:
        super().__init__(errors)
        self.errors, self.status = errors, status


def load_request(user: User, raw: Any) -> dict[str, Any]:
    """``raw`` checked as the bulk request of its action; ``BulkError`` if it is not one."""
    if user.role != "coordinator":
        raise BulkError({"_request": [Message(N_("Bulk actions are for coordinators."))]}, 403)
    if not isinstance(raw, dict):
        raise BulkError({"_request": [Message(N_("A JSON object."))]})
    schema = SCHEMAS.get(raw.get("action"))  # type: ignore[arg-type]
    if schema is None:
        raise BulkError({"action": [Message(N_("One of: %(actions)s."), actions=", ".join(rules.ACTIONS))]})
    checked = schema()
    try:
        data = checked.load(raw)
    except ValidationError as err:
        raise BulkError(api_errors(err.normalized_messages())) from None
    for key in ("reason", "question"):  # (where one is required, blank is none)
        if key in checked.fields and checked.fields[key].required and not data[key].strip():
            raise BulkError({key: [Message(BLANK)]})
    return data


def capped_references(session: Session, query: Select[tuple[Case]]) -> list[str]:
    """The references ``query`` finds, in its order; ``BulkError`` (413) if more than ``MAX_CASES``."""
    references = list(session.scalars(query.with_only_columns(Case.reference).limit(rules.MAX_CASES + 1)))
    if len(references) > rules.MAX_CASES:
        count = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        raise BulkError({"_request": [rules.too_many(count)]}, 413)  # type: ignore[list-item]
    return references


def selected_references(session: Session, user: User, data: dict[str, Any]) -> list[str]:
    """The references of the cases ``data`` selects (its ``references``, ``view_id`` or ``query``)."""
    if "references" in data:
        return rules.unique(data["references"])
    if "view_id" in data:
        view = next((v for v in views_of(session, user) if v.id == data["view_id"]), None)
        if view is None:
            raise BulkError({"view_id": [Message(NO_VIEW)]}, 404)
        return capped_references(session, view_cases(session, user, view))
    try:
        asked = parse(data["query"])
    except SearchSyntaxError as err:
        raise BulkError({"query": [err.message]}) from None
    return capped_references(session, search_cases(session, user, asked))


def _target(session: Session, data: dict[str, Any]) -> User | Partner | None:
    """The expert the cases go to, or the partner they are referred to (for those actions)."""
    if data["action"] == "reassign":
        if (expert := active_expert(session, data["expert_id"])) is None or expert.expert.is_trainee:
            raise BulkError({"expert_id": [Message(NO_EXPERT)]}, 409)
        return expert
    if data["action"] == "refer":
        partner = session.get(Partner, data["partner_id"])
        if partner is None or not partner.is_active:
            raise BulkError({"partner_id": [Message(NO_PARTNER)]}, 409)
        return partner
    return None


def _act(session: Session, case: Case, user: User, data: dict[str, Any], target: Any, source: str) -> bool:
    """The single action on ``case`` (locked); False if there was nothing to do."""
    action = data["action"]
    if action == "reassign":
        reassign(session, case, user, target, data["reason"], override_clearance=data["override_clearance"])
    elif action == "close":
        transition(session, case, "close", user, reason=data["reason"], source=source)
    elif action == "classify":
        return classify(session, case, user, data["right_type"], data["service"]) is not None
    elif action == "mark_difficult":
        mark_difficult(session, case, user, data["reason"])
    elif action == "convene_panel":
        convene_panel(session, case, user, data["expert_ids"])
    else:
        refer(session, case, user, target, data["question"])
    return True


def _one(session: Session, case: Case, user: User, data: dict[str, Any], target: Any, source: str) -> rules.Outcome:
    """The action on one case in a savepoint of its own: done, or undone and why."""
    status = case.status
    savepoint = session.begin_nested()
    try:
        done = _act(session, case, user, data, target, source)
    except lifecycle.TransitionError as err:
        problem = rules.refusal(err.code, err.message, status)
    except IneligibleExpertError as err:
        problem = err.message
    except ExpertFullError:
        problem = Message(AT_CAPACITY)
    except PanelError as err:
        problem = _not_convened(session, err.refused)
    else:
        savepoint.commit()
        return (
            rules.Outcome(case.reference, True)
            if done
            else rules.Outcome(case.reference, False, Message(rules.UNCHANGED))
        )
    savepoint.rollback()
    return rules.Outcome(case.reference, False, problem)


def _not_convened(session: Session, refused: dict[int, str]) -> Message:
    """Who may not sit on the case's panel and why, in words each language has (as the case page says it)."""
    names = dict(session.execute(select(User.id, User.name).where(User.id.in_(list(refused)))).all())
    said = {
        language: "; ".join(
            f"{names.get(i, i)}: {in_language(refusal_name(r), language)}" for i, r in sorted(refused.items())
        )
        for language in LANGUAGES
    }
    return Message(NOT_CONVENED, refused=Localized(said))


def run_bulk(session: Session, user: User, data: dict[str, Any], source: str = "web") -> list[rules.Outcome]:
    """Apply ``data`` (``load_request``'s) to the cases it selects, each by itself, in ``session``'s
    transaction (the caller commits); the outcome of each case, in the order asked. ``BulkError``
    when the request cannot be run at all (nothing is done then)."""
    lock_for_write(session)
    references = selected_references(session, user, data)
    if (problem := rules.too_many(len(references))) is not None:
        raise BulkError({"_request": [problem]}, 413)
    target = _target(session, data)
    cases = session.scalars(
        visible_cases(user).where(Case.reference.in_(references)).order_by(Case.id).with_for_update()
    ).all()
    outcomes = {case.reference: _one(session, case, user, data, target, source) for case in cases}
    ordered = [outcomes.get(r) or rules.Outcome(r, False, Message(rules.NOT_FOUND)) for r in references]
    record_reads(session, user, "bulk action", cases)
    audit(session, user, "bulk_action", bulk=data["action"], done=[o.reference for o in ordered if o.done],
          failed=[o.reference for o in ordered if not o.done])  # fmt: skip
    return ordered


def answer(action: str, outcomes: list[rules.Outcome]) -> dict[str, Any]:
    """The API's answer: the counts, and each case's outcome with why it was not done (English)."""
    results = [{"reference": o.reference, "done": o.done, "problem": str(o.problem) if o.problem else None}
               for o in outcomes]  # fmt: skip
    return {"action": action, **rules.summary(outcomes), "results": results}


def experts_to_choose(session: Session) -> list[User]:
    """The experts the desk's form offers to reassign cases to: active, not trainees, by name
    (whether each may hold each case is checked case by case)."""
    return list(
        session.scalars(
            select(User)
            .join(ExpertProfile, ExpertProfile.user_id == User.id)
            .where(User.is_active.is_(True), ExpertProfile.is_trainee.is_(False))
            .options(joinedload(User.expert))
            .order_by(User.name, User.id)
        )
    )
