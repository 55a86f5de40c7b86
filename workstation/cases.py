"""Everything that changes a case goes through here, inside the caller's transaction.

``submit_case`` and ``transition`` write the case, its ``CaseEvent`` and, where others must
react, an outbox row together, so a crash leaves either all of them or none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from workstation import lifecycle
from workstation.db import lock_for_write
from workstation.deadlines import Deadline, case_deadlines, intervals_from_transitions
from workstation.evidence import StoredFile
from workstation.models import AccessLog, Case, CaseEvent, CaseMessage, Evidence, ExpertProfile, User, utcnow
from workstation.outbox import enqueue
from workstation.respondents import record_parties


def reference_for(case_id: int, year: int) -> str:
    return f"RPA-{year}-{case_id:06d}"


def submit_case(
    session: Session,
    enterprise: User,
    data: dict[str, Any],
    files: list[StoredFile] = (),
    actor: User | None = None,
    detail: dict[str, Any] | None = None,
) -> Case:
    """Create a case from validated input (``CaseInputSchema``) and its already stored evidence.

    ``actor``: who submits it when not the enterprise itself (a coordinator opening a case for
    it); ``detail`` goes into the submit event."""
    lifecycle.decide(None, "submit", lifecycle.OWNER)
    now = utcnow()
    owner = enterprise.id
    case = Case(
        enterprise_id=owner,
        status=lifecycle.SUBMITTED,
        created_at=now,
        updated_at=now,
        # Through the relationship, so answering with the case needs no query for its evidence.
        evidence=[
            Evidence(sha256=f.sha256, filename=f.filename, content_type=f.content_type, size=f.size, uploaded_by=owner)
            for f in files
        ],
        **data,
    )
    session.add(case)
    session.flush()  # the id makes the reference
    case.reference = reference_for(case.id, now.year)
    record_parties(session, case)
    session.add(
        CaseEvent(
            case_id=case.id,
            action="submit",
            from_status=None,
            to_status=lifecycle.SUBMITTED,
            actor_id=(actor or enterprise).id,
            actor_role=(actor or enterprise).role,
            detail={**(detail or {}), **({"evidence": [f.sha256 for f in files]} if files else {})},
            created_at=now,
        )
    )
    enqueue(session, "case.submitted", {"case_id": case.id, "reference": case.reference})
    return case


def actor_relation(case: Case, user: User | None) -> str | None:
    """How ``user`` stands to ``case`` for the lifecycle (None: not at all)."""
    if user is None:
        return lifecycle.SYSTEM
    if user.role == "coordinator":
        return lifecycle.COORDINATOR
    if user.role == "enterprise" and case.enterprise_id == user.id:
        return lifecycle.OWNER
    if user.role == "expert" and case.assigned_expert_id == user.id:
        return lifecycle.ASSIGNEE
    return None


def available_actions(case: Case, user: User) -> list[str]:
    """The lifecycle actions ``user`` may take on ``case`` now (what the page offers)."""
    relation = actor_relation(case, user)
    if relation is None:
        return []
    return [
        action
        for action in lifecycle.USER_ACTIONS
        if relation in lifecycle.TRANSITIONS[action].actors and case.status in lifecycle.TRANSITIONS[action].sources
    ]


def transition(
    session: Session,
    case: Case,
    action: str,
    actor: User | None = None,
    reason: str | None = None,
    expert_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> CaseEvent:
    """Apply a lifecycle action by ``actor`` (None: the system). Raises ``TransitionError``."""
    relation = actor_relation(case, actor)
    if relation is None:
        raise lifecycle.TransitionError("forbidden", f"You may not {action.replace('_', ' ')} this case.")
    move = lifecycle.decide(case.status, action, relation, reason)
    detail = dict(detail or {})
    if reason:
        detail["reason"] = reason.strip()
    previous_expert = case.assigned_expert_id
    new_expert = previous_expert
    if move.target == lifecycle.ASSIGNED:
        if expert_id is None:
            raise lifecycle.TransitionError("invalid", "An expert is required to assign a case.")
        new_expert = detail["expert_id"] = expert_id
    elif move.target in (lifecycle.DECLINED, lifecycle.AWAITING_EXPERT):
        new_expert = None
    if previous_expert is not None and previous_expert != new_expert:
        detail["previous_expert_id"] = previous_expert
    # First, so that an ExpertFullError leaves the case untouched.
    _move_load(session, case.status, move.target, previous_expert, new_expert, enforce_capacity=actor is None)
    case.assigned_expert_id = new_expert
    now = utcnow()
    event = CaseEvent(
        case_id=case.id,
        action=action,
        from_status=case.status,
        to_status=move.target,
        actor_id=actor.id if actor else None,
        actor_role=actor.role if actor else lifecycle.SYSTEM,
        detail=detail,
        created_at=now,
    )
    case.status = move.target
    case.updated_at = now
    session.add(event)
    if action in _MESSAGES and reason and actor is not None:
        # The question and the answer are the case's conversation, shown to both sides.
        session.add(
            CaseMessage(
                case_id=case.id, author_id=actor.id, kind=_MESSAGES[action], body=reason.strip(), created_at=now
            )
        )
    if move.emits:
        session.flush()
        enqueue(
            session,
            move.emits,
            {"case_id": case.id, "reference": case.reference, "event_id": event.id, **detail},
        )
    return event


_MESSAGES = {"request_info": "request", "provide_info": "answer"}


def attach_files(session: Session, case: Case, uploader: User, files: list[StoredFile], kind: str) -> None:
    """Record already stored files on ``case``: the hash, who uploaded them and when (custody)."""
    for f in files:
        session.add(
            Evidence(
                case_id=case.id, sha256=f.sha256, filename=f.filename, content_type=f.content_type, size=f.size,
                uploaded_by=uploader.id, kind=kind,
            )
        )  # fmt: skip


def record_access(session: Session, case: Case, user: User, action: str, target: str = "") -> None:
    """Log a look at a confidential case (or a download of its file), for the coordinators."""
    if case.confidential:
        session.add(AccessLog(case_id=case.id, user_id=user.id, action=action, target=target[:80]))


class ExpertFullError(Exception):
    """The expert has no room left (another routing worker took the last slot first)."""


def _move_load(
    session: Session,
    status: str,
    target: str,
    previous_expert: int | None,
    new_expert: int | None,
    enforce_capacity: bool,
) -> None:
    """Keep ``ExpertProfile.active_cases`` right as a case moves from ``status`` to ``target``.

    Taking a slot is one conditional UPDATE: it holds the expert's row until commit, so two
    workers cannot both take the last slot. The system (routing) never goes over capacity; a
    coordinator may, on purpose.
    """
    was = previous_expert if status in lifecycle.ACTIVE_FOR_EXPERT else None
    now = new_expert if target in lifecycle.ACTIVE_FOR_EXPERT else None
    if was == now:
        return
    # Expert rows are always locked in id order (after the case row), so two transactions that
    # move cases between the same experts cannot deadlock.
    for expert_id in sorted(e for e in (was, now) if e is not None):
        if expert_id == now:
            take = update(ExpertProfile).where(ExpertProfile.user_id == now)
            if enforce_capacity:
                take = take.where(ExpertProfile.active_cases < ExpertProfile.capacity)
            if session.execute(take.values(active_cases=ExpertProfile.active_cases + 1)).rowcount != 1:
                raise ExpertFullError(now)
        else:
            session.execute(
                update(ExpertProfile)
                .where(ExpertProfile.user_id == was)
                .values(active_cases=ExpertProfile.active_cases - 1)
            )


def visible_cases(user: User) -> Select[tuple[Case]]:
    """The cases ``user`` may see: every query of cases on behalf of a person starts here."""
    query = select(Case)
    if user.role == "coordinator":
        return query
    if user.role == "enterprise":
        return query.where(Case.enterprise_id == user.id)
    if user.role == "expert":
        # Trainees follow the cases they shadow, never confidential ones.
        shadowed = (Case.shadow_expert_id == user.id) & Case.confidential.is_(False)
        return query.where((Case.assigned_expert_id == user.id) | shadowed)
    return query.where(False)


def find_visible_case(session: Session, user: User, reference: str, for_update: bool = False) -> Case | None:
    """The case ``reference`` if ``user`` may see it. ``for_update``: to change it, lock it first,
    so the decision is made on what is committed now (a worker may have just moved it on)."""
    query = visible_cases(user).where(Case.reference == reference)
    if for_update:
        lock_for_write(session)
        query = query.with_for_update()
    return session.scalars(query).first()


#: What of an event's detail people other than coordinators see. Routing reasons, other experts'
#: ids and load, and an expert's reason for declining (often a conflict of interest) stay internal.
SHARED_DETAIL: dict[str, tuple[str, ...]] = {
    "request_info": ("reason",),
    "provide_info": ("reason",),
    "withdraw": ("reason",),
    "reopen": ("reason",),
}


def detail_for(event: CaseEvent, viewer: User) -> dict[str, Any]:
    if viewer.role == "coordinator":
        return event.detail
    return {k: v for k, v in event.detail.items() if k in SHARED_DETAIL.get(event.action, ())}


def deadlines_for(case: Case, now: datetime | None = None) -> list[Deadline]:
    """The case's legal deadlines (from its key dates) and SLAs (from its timeline), soonest first."""
    now = now or utcnow()
    transitions = [(event.to_status, event.created_at) for event in case.events]
    try:
        return case_deadlines(
            case.right_type,
            case.key_dates or {},
            submitted_at=case.created_at,
            intervals=intervals_from_transitions(transitions) if transitions else (),
            now=now,
        )
    except ValueError:
        return []  # key dates the rules cannot use (kept as entered) give no deadline


def next_deadline(deadlines: list[Deadline]) -> Deadline | None:
    return next((d for d in deadlines if d.running), None)


def declined_by(session: Session, case_id: int) -> set[int]:
    """Experts who declined ``case_id`` before (from its timeline)."""
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == "decline")).all()
    return {e.actor_id for e in events if e.actor_id is not None}
