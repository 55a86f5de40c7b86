"""The routing consumer: a case submitted, declined or reopened -> assign an expert or escalate."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workers.delivery import Context, PermanentError, is_handled, mark_handled
from workstation import lifecycle
from workstation.cases import ExpertFullError, declined_by, transition
from workstation.db import lock_for_write
from workstation.models import Case, ExpertProfile, User
from workstation.routing import CaseFacts, ExpertFacts, Organisation, choose_expert

CONSUMER = "routing"
#: After this many declines a case goes to the coordinators instead of another expert.
MAX_DECLINES = 3


def candidate_experts(session: Session) -> list[ExpertFacts]:
    # Plain columns, not ORM objects: this runs for every case routed.
    p = ExpertProfile
    rows = session.execute(
        select(
            p.user_id,
            p.right_types,
            p.capacity,
            p.active_cases,
            p.available,
            p.services,
            p.jurisdictions,
            p.languages,
            p.technical_fields,
            p.competence,
            p.on_leave_until,
            p.confidential_ok,
            p.is_trainee,
            User.organisation,
            User.credit_code,
        )  # fmt: skip
        .join(User, User.id == p.user_id)
        .where(User.is_active.is_(True))
    )
    return [
        ExpertFacts(
            id=r.user_id,
            right_types=frozenset(r.right_types or ()),
            capacity=r.capacity,
            active_cases=r.active_cases,
            available=r.available,
            services=_optional_set(r.services),
            jurisdictions=_optional_set(r.jurisdictions),
            languages=_optional_set(r.languages),
            technical_fields=frozenset(r.technical_fields or ()),
            competence=dict(r.competence or {}),
            on_leave_until=r.on_leave_until,
            organisation=organisation(r.organisation, r.credit_code),
            confidential_ok=r.confidential_ok,
            is_trainee=r.is_trainee,
        )
        for r in rows
    ]


def _optional_set(values: list[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def organisation(name: str | None, credit_code: str | None) -> Organisation:
    return Organisation(frozenset({name}) if name else frozenset(), credit_code or None)


def case_facts(case: Case, declined: set[int]) -> CaseFacts:
    return CaseFacts(
        right_type=case.right_type,
        service=case.service,
        declined_by=frozenset(declined),
        jurisdiction=case.jurisdiction,
        languages=frozenset({case.language}),
        technical_field=case.technical_field,
        confidential=case.confidential,
        urgency=case.urgency,
        applicant=organisation(case.enterprise.organisation, case.enterprise.credit_code),
        parties=tuple(organisation(p.get("name"), p.get("credit_code")) for p in case.parties or ()),
    )


def assign_expert(session: Session, case: Case) -> None:
    """Assign ``case`` to the chosen expert, or escalate it to the coordinators.

    Taking the expert's slot is a conditional update (see ``cases._move_load``): if a routing
    worker beside this one took the last slot first, that expert counts as full and the choice is
    made again, so nobody is ever pushed over capacity.
    """
    declined = declined_by(session, case.id) if case.status == lifecycle.DECLINED else set()
    if len(declined) >= MAX_DECLINES:
        transition(session, case, "escalate", detail={"reasons": [f"declined by {len(declined)} experts"]})
        return
    facts = case_facts(case, declined)
    experts = candidate_experts(session)
    while True:
        decision = choose_expert(facts, experts)
        if decision.expert_id is None:
            transition(session, case, "escalate", detail={"reasons": decision.reasons})
            return
        try:
            transition(session, case, "assign", expert_id=decision.expert_id, detail={"reasons": decision.reasons})
            return
        except ExpertFullError:
            experts = [replace(e, active_cases=e.capacity) if e.id == decision.expert_id else e for e in experts]


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
        if case.status in (lifecycle.SUBMITTED, lifecycle.DECLINED, lifecycle.REOPENED):
            assign_expert(session, case)
        mark_handled(session, CONSUMER, message_id)
        session.commit()
