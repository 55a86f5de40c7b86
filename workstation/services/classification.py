"""Classifying a case: a coordinator sets its right type and service.

A case opened by mail (``services.mailin``) comes as right type "other", service "consultation",
marked ``to_classify``; the coordinators' desk lists those first. Setting the two is a change of
the case like any other: the case, its ``classify`` event and an outbox row for routing in the
caller's transaction, and an ``admin_audit`` row, as for a reassignment. Routing then looks at the
case again with the new facts (``workers.routing.route_classified`` says what that does in each
status).
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from workstation import lifecycle
from workstation.services.audit import audit
from workstation.services.cases import actor_relation
from workstation.services.models import Case, CaseEvent, User, utcnow
from workstation.services.outbox import enqueue
from workstation.vocabulary import RIGHT_TYPES, SERVICES, always_confidential

#: The event routing reacts to (``messaging.SUBSCRIPTIONS``): the case's facts changed.
CLASSIFIED = "case.classified"


class ClassificationSchema(Schema):
    """What a coordinator sets (``POST /api/v1/cases/<reference>/classification``, the desk's form)."""

    class Meta:
        unknown = RAISE

    right_type = fields.String(required=True, validate=validate.OneOf(RIGHT_TYPES))
    service = fields.String(required=True, validate=validate.OneOf(SERVICES))


classification_schema = ClassificationSchema()


def classify(session: Session, case: Case, coordinator: User, right_type: str, service: str) -> CaseEvent | None:
    """``coordinator`` sets ``case``'s right type and service (checked values), which clears its
    mark. A trade-secret case becomes confidential, and a trainee no longer shadows it. When the
    facts changed, routing is told (``case.classified``, with what they were before). None when
    there is nothing to do (the same facts, and no mark to clear). Raises TransitionError."""
    lifecycle.decide_classify(case.status, actor_relation(case, coordinator))
    before = {"right_type": case.right_type, "service": case.service, "confidential": case.confidential}
    confidential = case.confidential or always_confidential(right_type)
    after = {"right_type": right_type, "service": service, "confidential": confidential}
    changes = {key: [before[key], after[key]] for key in before if before[key] != after[key]}
    if not changes and not case.to_classify:
        return None
    now = utcnow()
    detail: dict[str, Any] = {**changes, **({"to_classify": True} if case.to_classify else {})}
    event = CaseEvent(case_id=case.id, action=lifecycle.CLASSIFY, from_status=case.status, to_status=case.status,
                      actor_id=coordinator.id, actor_role=coordinator.role, detail=detail, created_at=now)  # fmt: skip
    case.right_type, case.service, case.confidential = right_type, service, confidential
    if confidential:
        case.shadow_expert_id = None  # (trainees never follow a confidential case)
    case.to_classify = False
    case.updated_at = now
    session.add(event)
    if changes:
        session.flush()  # for the event's id
        enqueue(session, CLASSIFIED, {"case_id": case.id, "reference": case.reference, "event_id": event.id,
                                      "previous": before})  # fmt: skip
    audit(session, coordinator, "case_classified", None, case, reference=case.reference, changes=changes)
    return event


def cases_to_classify(session: Session, limit: int = 50) -> list[Case]:
    """The cases waiting to be classified, oldest first (the desk's first pile)."""
    return list(
        session.scalars(
            select(Case)
            .where(Case.to_classify)  # (as the partial index's predicate is written)
            .options(joinedload(Case.enterprise))
            .order_by(Case.created_at, Case.id)
            .limit(limit)
        )
    )
