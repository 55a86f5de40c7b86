"""The routing consumer: ``case.submitted`` / ``case.declined`` -> assign an expert or escalate."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workers.delivery import Context, PermanentError, is_handled, mark_handled
from workstation import lifecycle
from workstation.cases import declined_by, transition
from workstation.db import lock_for_write
from workstation.models import Case, ExpertProfile, User
from workstation.routing import CaseFacts, ExpertFacts, choose_expert

CONSUMER = "routing"
#: After this many declines a case goes to the coordinators instead of another expert.
MAX_DECLINES = 3


def active_cases_of(session: Session, expert_ids: list[int] | None = None) -> dict[int, int]:
    query = (
        select(Case.assigned_expert_id, func.count())
        .where(Case.status.in_(lifecycle.ACTIVE_FOR_EXPERT), Case.assigned_expert_id.is_not(None))
        .group_by(Case.assigned_expert_id)
    )
    if expert_ids is not None:
        query = query.where(Case.assigned_expert_id.in_(expert_ids))
    return dict(session.execute(query).all())


def candidate_experts(session: Session) -> list[ExpertFacts]:
    rows = (
        session.execute(
            select(ExpertProfile).join(User, User.id == ExpertProfile.user_id).where(User.is_active.is_(True))
        )
        .scalars()
        .all()
    )
    loads = active_cases_of(session)
    return [
        ExpertFacts(
            id=p.user_id,
            right_types=frozenset(p.right_types or ()),
            capacity=p.capacity,
            active_cases=loads.get(p.user_id, 0),
            available=p.available,
        )
        for p in rows
    ]


def assign_expert(session: Session, case: Case) -> None:
    """Assign ``case`` to the chosen expert, or escalate it to the coordinators.

    The chosen expert's profile row is locked and their load counted again under the lock, so
    routing workers running side by side never push an expert over capacity.
    """
    declined = declined_by(session, case.id)
    facts = CaseFacts(right_type=case.right_type, service=case.service, declined_by=frozenset(declined))
    if len(declined) >= MAX_DECLINES:
        transition(session, case, "escalate", detail={"reasons": [f"declined by {len(declined)} experts"]})
        return
    experts = candidate_experts(session)
    while True:
        decision = choose_expert(facts, experts)
        if decision.expert_id is None:
            transition(session, case, "escalate", detail={"reasons": decision.reasons})
            return
        session.execute(
            select(ExpertProfile.user_id).where(ExpertProfile.user_id == decision.expert_id).with_for_update()
        )
        chosen = next(e for e in experts if e.id == decision.expert_id)
        load = active_cases_of(session, [chosen.id]).get(chosen.id, 0)
        if load < chosen.capacity:
            transition(session, case, "assign", expert_id=chosen.id, detail={"reasons": decision.reasons})
            return
        # Someone else filled this expert meanwhile: count them as full and choose again.
        experts = [
            e if e.id != chosen.id else ExpertFacts(e.id, e.right_types, e.capacity, load, e.available) for e in experts
        ]


def handle(ctx: Context, message_id: int, event_type: str, payload: dict[str, Any]) -> None:
    case_id = payload.get("case_id")
    if not isinstance(case_id, int):
        raise PermanentError("payload has no integer case_id")
    with ctx.sessions() as session:
        lock_for_write(session)
        if is_handled(session, CONSUMER, message_id):
            return
        case = session.scalar(select(Case).where(Case.id == case_id).with_for_update())
        if case is None:
            raise PermanentError(f"case {case_id} does not exist")
        # A redelivered or stale event for a case that has moved on changes nothing.
        if case.status in (lifecycle.SUBMITTED, lifecycle.DECLINED):
            assign_expert(session, case)
        mark_handled(session, CONSUMER, message_id)
        session.commit()
