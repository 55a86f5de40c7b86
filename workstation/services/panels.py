"""Difficult cases and their panel.

The case's expert or a coordinator marks a case difficult, saying why; a coordinator then convenes
a panel of 2 to 4 further experts (``lifecycle.decide_convene``). Each member is held to the rules
``routing.PANEL_RULES`` (not a trainee; cleared for a confidential case; speaks its language;
available; no conflict of interest, earlier cases included) and takes a slot of their capacity
with the conditional update a case takes (``cases.take_slot``) while the panel sits. The panel
sits until a coordinator dissolves it or the case's opinion is issued, or the case is closed or
withdrawn (``cases.transition`` gives the slots back then). Each member sees the case
(``cases.visible_cases``) and writes a view: an internal message of the thread, of kind
``panel_view``, so it is kept, mailed and hidden from the enterprise as the internal notes are
(``services.conversation``), without a second machinery. The lead expert's opinion records the
panel's conclusion and any dissent (``opinions.PANEL_FIELDS``).

Every act is a ``CaseEvent`` and an outbox row in the caller's transaction; coordinators' acts are
audited. On a refusal (``PanelError``) the caller rolls back: a seat taken before it is undone.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from workstation import lifecycle
from workstation.i18n import N_
from workstation.routing import ExpertFacts, Organisation, why_not_panel_member
from workstation.services.audit import audit
from workstation.services.cases import ACTED_FOR, actor_relation, case_facts, party_keys, release_panel, take_slot
from workstation.services.conversation import MAX_BODY, MESSAGE_EVENT
from workstation.services.models import Case, CaseEvent, CaseMessage, ExpertProfile, PanelSeat, User, utcnow
from workstation.services.outbox import enqueue
from workstation.services.schemas import text

#: Outbox events (``messaging.SUBSCRIPTIONS``: the notify worker mails the people concerned).
MARKED_DIFFICULT = "case.marked_difficult"
PANEL_CONVENED = "case.panel_convened"
PANEL_DISSOLVED = "case.panel_dissolved"

EMPTY_VIEW = N_("Write your view: it cannot be empty.")
LONG_VIEW = N_("A view is at most 10,000 characters.")  # (``conversation.MAX_BODY``)
AT_CAPACITY = "at capacity"
NOT_AN_EXPERT = "not an active expert"
#: Why an expert may not sit on a panel, as people read it (routing's reasons are English codes).
REFUSAL_NAMES: tuple[tuple[str, str], ...] = (
    ("trainees", N_("a trainee: trainees never sit on a panel")),
    ("not cleared", N_("not cleared for confidential cases")),
    ("speaks none", N_("speaks none of the case's languages")),
    ("not available", N_("not available")),
    ("on leave", N_("on leave")),
    ("conflict of interest: works", N_("conflict of interest: works for a party to the case")),
    ("conflict of interest: has acted", N_("conflict of interest: has acted for a party to the case")),
    (AT_CAPACITY, N_("at capacity")),
    (NOT_AN_EXPERT, N_("not an active expert")),
)


def refusal_name(reason: str) -> str:
    """The catalog's text for a refusal ``reason`` (the reason itself if unknown)."""
    return next((name for prefix, name in REFUSAL_NAMES if reason.startswith(prefix)), reason)


class PanelError(Exception):
    """Experts who may not sit on the panel: ``refused`` maps each one's id to the reason."""

    def __init__(self, refused: dict[int, str]) -> None:
        super().__init__(refused)
        self.refused = refused


class DifficultSchema(Schema):
    """``POST /api/v1/cases/<reference>/difficult``."""

    class Meta:
        unknown = RAISE

    reason = text(2000, required=True)


class PanelInputSchema(Schema):
    """``POST /api/v1/cases/<reference>/panel``: convene a panel of these experts."""

    class Meta:
        unknown = RAISE

    expert_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=2**53)),
        required=True,
        validate=validate.Length(min=lifecycle.PANEL_SIZE[0], max=lifecycle.PANEL_SIZE[1]),
    )


class ViewInputSchema(Schema):
    """``POST /api/v1/cases/<reference>/panel/views``: a member's view."""

    class Meta:
        unknown = RAISE

    body = text(MAX_BODY, required=True)


def sitting_seats(session: Session, case: Case) -> list[PanelSeat]:
    """The seats of ``case``'s panel sitting now (none: no panel sits), with their experts."""
    return list(
        session.scalars(
            select(PanelSeat)
            .where(PanelSeat.case_id == case.id, PanelSeat.released_at.is_(None))
            .options(joinedload(PanelSeat.expert))
            .order_by(PanelSeat.id)
        )
    )


def is_member(session: Session, case: Case, user: User, sitting: bool = True) -> bool:
    """Whether ``user`` has a seat on ``case``'s panel (``sitting``: on the one sitting now)."""
    query = select(PanelSeat.id).where(PanelSeat.case_id == case.id, PanelSeat.expert_id == user.id)
    if sitting:
        query = query.where(PanelSeat.released_at.is_(None))
    return session.scalar(query.limit(1)) is not None


def _write_event(
    session: Session, case: Case, actor: User, action: str, detail: dict[str, Any], routing_key: str | None
) -> CaseEvent:
    """The event of a panel's act (it moves nothing) and its outbox row, together."""
    now = utcnow()
    event = CaseEvent(case_id=case.id, action=action, from_status=case.status, to_status=case.status,
                      actor_id=actor.id, actor_role=actor.role, detail=detail, created_at=now)  # fmt: skip
    case.updated_at = now
    session.add(event)
    session.flush()  # for the event's id
    if routing_key is not None:
        enqueue(session, routing_key, {"case_id": case.id, "reference": case.reference, "event_id": event.id,
                                       "actor_id": actor.id, **detail})  # fmt: skip
    return event


def mark_difficult(session: Session, case: Case, actor: User, reason: str) -> CaseEvent:
    """``actor`` (the case's expert or a coordinator) marks ``case`` (locked) difficult, saying
    why; marking it again changes the reason. Raises TransitionError."""
    lifecycle.decide_mark_difficult(case.status, actor_relation(case, actor), reason)
    case.difficult_reason = reason.strip()
    event = _write_event(session, case, actor, lifecycle.MARK_DIFFICULT, {"reason": case.difficult_reason},
                         MARKED_DIFFICULT)  # fmt: skip
    if actor.role == "coordinator":
        audit(session, actor, "case_marked_difficult", None, case, reference=case.reference, reason=reason.strip())
    return event


def _acted_for(session: Session, case: Case) -> dict[int, list[Organisation]]:
    """The parties of ``case`` each expert has acted for in earlier cases (``cases.ACTED_FOR``)."""
    codes, keys = party_keys(case)
    acted: dict[int, list[Organisation]] = {}
    if codes or keys:
        rows = session.execute(ACTED_FOR, {"case_id": case.id, "routed": [], "codes": list(codes), "keys": list(keys)})
        for expert_id, name, code in rows:
            acted.setdefault(expert_id, []).append(Organisation.of(name, code))
    return acted


def _candidates(session: Session, ids: list[int] | None = None) -> list[User]:
    """Active experts (trainees included: the rules refuse them), by name; only ``ids`` if given."""
    query = (
        select(User)
        .join(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(User.is_active.is_(True))
        .options(joinedload(User.expert))
        .order_by(User.name, User.id)
    )
    if ids is not None:
        query = query.where(User.id.in_(ids))
    return list(session.scalars(query).unique())


def refusals(session: Session, case: Case, experts: list[User]) -> dict[int, str | None]:
    """Why each of ``experts`` may not sit on ``case``'s panel (``routing.why_not_panel_member``,
    then their load; None: they may)."""
    facts = case_facts(case, set())
    acted = _acted_for(session, case)
    result: dict[int, str | None] = {}
    for expert in experts:
        organisation = Organisation.of(expert.organisation, expert.credit_code)
        member = replace(ExpertFacts.of_profile(expert.expert, organisation), acted_for=tuple(acted.get(expert.id, ())))
        reason = why_not_panel_member(facts, member)
        if reason is None and member.active_cases >= member.capacity:
            reason = AT_CAPACITY
        result[expert.id] = reason
    return result


def panel_choices(session: Session, case: Case) -> list[dict[str, Any]]:
    """The experts a coordinator may choose from for ``case``'s panel (not its lead, not
    trainees): each with ``id``, ``name``, ``active_cases``, ``capacity`` and ``refusal`` (None:
    eligible; else why not, ``REFUSAL_NAMES``)."""
    experts = [e for e in _candidates(session) if e.id != case.assigned_expert_id and not e.expert.is_trainee]
    refused = refusals(session, case, experts)
    return [{"id": e.id, "name": e.name, "active_cases": e.expert.active_cases, "capacity": e.expert.capacity,
             "refusal": refused[e.id]} for e in experts]  # fmt: skip


def convene_panel(session: Session, case: Case, coordinator: User, expert_ids: list[int]) -> CaseEvent:
    """``coordinator`` convenes a panel of ``expert_ids`` on ``case`` (locked). Each takes a seat
    and a slot of their capacity. Raises TransitionError (who, when, how many), then PanelError
    (the members refused and why: every rule first, capacity as each slot is taken)."""
    sitting = bool(sitting_seats(session, case))
    lifecycle.decide_convene(case.status, actor_relation(case, coordinator), case.difficult_reason is not None,
                             sitting, list(expert_ids), case.assigned_expert_id)  # fmt: skip
    experts = {e.id: e for e in _candidates(session, list(expert_ids))}
    refused: dict[int, str] = {i: NOT_AN_EXPERT for i in expert_ids if i not in experts}
    refused |= {i: r for i, r in refusals(session, case, list(experts.values())).items() if r is not None}
    if refused:
        raise PanelError(refused)
    now = utcnow()
    for expert_id in sorted(expert_ids):  # expert rows in id order, as ``cases._move_load`` takes them
        if not take_slot(session, expert_id):  # another coordinator's panel or routing took the last one
            raise PanelError({expert_id: AT_CAPACITY})
        session.add(PanelSeat(case_id=case.id, expert_id=expert_id, convened_by=coordinator.id, convened_at=now))
    members = list(expert_ids)
    event = _write_event(session, case, coordinator, lifecycle.CONVENE_PANEL, {"members": members}, PANEL_CONVENED)
    audit(session, coordinator, "panel_convened", None, case, reference=case.reference, members=members)
    return event


def dissolve_panel(session: Session, case: Case, coordinator: User, reason: str | None = None) -> CaseEvent:
    """``coordinator`` dissolves ``case``'s sitting panel: the seats and their slots are given
    back. Raises TransitionError."""
    lifecycle.decide_dissolve(actor_relation(case, coordinator), bool(sitting_seats(session, case)))
    members = release_panel(session, case)
    detail: dict[str, Any] = {"members": members, **({"reason": reason.strip()} if (reason or "").strip() else {})}
    event = _write_event(session, case, coordinator, lifecycle.DISSOLVE_PANEL, detail, PANEL_DISSOLVED)
    audit(session, coordinator, "panel_dissolved", None, case, reference=case.reference, members=members)
    return event


def write_view(session: Session, case: Case, member: User, body: str, source: str = "web") -> CaseMessage:
    """A member of ``case``'s sitting panel writes their view: an internal message of the thread
    (kind ``panel_view``), mailed to the lead expert as an internal note is, never to the
    enterprise. Raises TransitionError."""
    lifecycle.decide_panel_view(is_member(session, case, member, sitting=False), is_member(session, case, member))
    text = (body or "").strip()
    if not text or len(text) > MAX_BODY:
        raise lifecycle.TransitionError("invalid", EMPTY_VIEW if not text else LONG_VIEW)
    event = _write_event(session, case, member, lifecycle.PANEL_VIEW, {}, None)
    message = CaseMessage(case_id=case.id, author_id=member.id, kind=lifecycle.PANEL_VIEW, body=text,
                          created_at=event.created_at, internal=True, source=source, event=event)  # fmt: skip
    session.add(message)
    session.flush()
    enqueue(session, MESSAGE_EVENT, {"case_id": case.id, "reference": case.reference, "event_id": event.id,
                                     "message_id": message.id, "internal": True, "finished": False})  # fmt: skip
    return message


def panel_record(session: Session, case: Case) -> dict[str, Any]:
    """``case``'s difficulty and panel as the API shows them (to those who read internal notes):
    the reason, whether a panel sits, every seat ever taken, and the members' views."""
    seats = session.scalars(
        select(PanelSeat)
        .where(PanelSeat.case_id == case.id)
        .options(joinedload(PanelSeat.expert))
        .order_by(PanelSeat.id)
    ).all()
    views = session.scalars(
        select(CaseMessage)
        .where(CaseMessage.case_id == case.id, CaseMessage.kind == lifecycle.PANEL_VIEW)
        .options(joinedload(CaseMessage.author))
        .order_by(CaseMessage.id)
    ).all()
    return {
        "difficult": case.difficult_reason is not None,
        "reason": case.difficult_reason,
        "sitting": any(s.released_at is None for s in seats),
        "members": [{"id": s.expert.id, "name": s.expert.name, "convened_at": s.convened_at.isoformat(),
                     "released_at": s.released_at.isoformat() if s.released_at else None} for s in seats],
        "views": [{"id": v.id, "author": {"id": v.author.id, "name": v.author.name}, "body": v.body,
                   "created_at": v.created_at.isoformat()} for v in views],
    }  # fmt: skip


def difficult_cases(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The desk's pile of difficult cases still worked: each ``case`` (with its expert) and the
    ``seats`` of its sitting panel (0: none convened yet), those without a panel first, oldest first."""
    seats = (
        select(PanelSeat.case_id, func.count().label("seats"))
        .where(PanelSeat.released_at.is_(None))
        .group_by(PanelSeat.case_id)
        .subquery()
    )
    rows = session.execute(
        select(Case, func.coalesce(seats.c.seats, 0))
        .outerjoin(seats, seats.c.case_id == Case.id)
        .where(Case.difficult_reason.is_not(None), Case.status.in_(lifecycle.PANEL_STATUSES))
        .options(joinedload(Case.assigned_expert))
        .order_by(func.coalesce(seats.c.seats, 0) > 0, Case.created_at, Case.id)
        .limit(limit)
    ).all()
    return [{"case": case, "seats": n} for case, n in rows]


def panel_load(session: Session) -> list[dict[str, Any]]:
    """The experts sitting on panels now, most seats first: ``name``, ``seats``, and their whole
    load (``active_cases``, seats included, of ``capacity``), for the desk."""
    rows = session.execute(
        select(User.name, func.count(PanelSeat.id), ExpertProfile.active_cases, ExpertProfile.capacity)
        .join(PanelSeat, PanelSeat.expert_id == User.id)
        .join(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(PanelSeat.released_at.is_(None))
        .group_by(User.id, User.name, ExpertProfile.active_cases, ExpertProfile.capacity)
        .order_by(func.count(PanelSeat.id).desc(), User.name)
    ).all()
    return [{"name": name, "seats": n, "active_cases": active, "capacity": capacity}
            for name, n, active, capacity in rows]  # fmt: skip


def panel_sat(session: Session, case: Case) -> bool:
    """Whether a panel sat on ``case`` (sits now, or did): its opinion records its conclusion."""
    return session.scalar(select(PanelSeat.id).where(PanelSeat.case_id == case.id).limit(1)) is not None
