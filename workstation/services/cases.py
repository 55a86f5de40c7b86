"""Everything that changes a case goes through here, inside the caller's transaction.

``transition`` writes the change, its ``CaseEvent`` and, where others must react, an outbox row
together, so a crash leaves either all of them or none (as ``submission.write_submission`` does
for a new case).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Select, Update, and_, bindparam, or_, select, union, update
from sqlalchemy.orm import Session, aliased, joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from workstation import lifecycle
from workstation.evidence import StoredFile
from workstation.i18n import N_, Message
from workstation.routing import (
    CaseFacts,
    ExpertFacts,
    Organisation,
    activity_facts,
    case_parties,
    litigation_facts,
    normalise_name,
    why_not_holder,
)
from workstation.services.audit import audit, record_reads
from workstation.services.db import lock_for_write
from workstation.services.models import (
    Case,
    CaseEvent,
    CaseMessage,
    Evidence,
    ExpertProfile,
    PanelSeat,
    User,
    utcnow,
)
from workstation.services.outbox import enqueue


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
    source: str = "web",
) -> CaseEvent:
    """Apply a lifecycle action by ``actor`` (None: the system). Raises ``TransitionError``.

    A request for information and its answer are said in the case's thread too: the reason is
    written as their message (``event.message``), ``source`` saying how it came (web, api, mail)."""
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
    if case.difficult_reason is not None:
        _after_move_of_a_difficult_case(session, case, move.target, new_expert, previous_expert, detail)
    case.status = move.target
    case.updated_at = now
    session.add(event)
    if action in _MESSAGES and reason and actor is not None:
        # The question and the answer are the case's conversation, shown to both sides.
        session.add(
            CaseMessage(case_id=case.id, author_id=actor.id, kind=_MESSAGES[action], body=reason.strip(),
                        created_at=now, internal=False, source=source, event=event)
        )  # fmt: skip
    if move.emits:
        # Who acted and who holds the case now: the status mail tells the people concerned (never
        # the one who acted), as things stood at the event, whatever has moved since.
        payload = {"case_id": case.id, "reference": case.reference, **detail,
                   "actor_id": actor.id if actor else None, "holder_id": new_expert}  # fmt: skip
        deferred = session.info.get(_DEFERRED_OUTBOX)
        if deferred is not None:  # inside ``transitions_written_together``
            deferred.append((event, move.emits, payload))
        else:
            session.flush()  # for the event's id
            enqueue(session, move.emits, {**payload, "event_id": event.id})
    return event


def _after_move_of_a_difficult_case(
    session: Session, case: Case, target: str, new_expert: int | None, previous_expert: int | None, detail: dict
) -> None:
    """A panel's seats as its case moves: the panel's work ends with the opinion (or the case),
    so its members' slots come back; a member who now leads the case gives back their seat (the
    case holds a slot of its own). What was released is written in the event's ``detail``."""
    if target in lifecycle.PANEL_ENDS:
        released = release_panel(session, case)
    elif new_expert is not None and new_expert != previous_expert:
        released = release_panel(session, case, only=new_expert)
    else:
        return
    if released:
        detail["panel_released"] = released


_NOT_CLEARED = N_(
    "%(name)s is not cleared for confidential cases; to give them this one anyway, override the clearance rule "
    "(the override is recorded)."
)
_A_TRAINEE = N_("%(name)s is a trainee: trainees shadow cases, they never hold one.")


class IneligibleExpertError(Exception):
    """The expert may not hold the case (``routing.why_not_holder``). ``overridable``: only their
    clearance for confidential work is missing, which a coordinator may override, saying so."""

    def __init__(self, message: Message, overridable: bool) -> None:
        super().__init__(message)
        self.message = message
        self.overridable = overridable


def active_expert(session: Session, user_id: int | None) -> User | None:
    """The active expert (trainees included) with id ``user_id``, or None."""
    user = session.get(User, user_id) if user_id else None
    return user if user is not None and user.is_active and user.expert is not None else None


def _holder_facts(case: Case, profile: ExpertProfile) -> tuple[CaseFacts, ExpertFacts]:
    """The case and the expert as ``routing.why_not_holder`` reads them (its rules look at the
    case's confidentiality and the expert's standing only; the rest is left at the defaults)."""
    return (
        CaseFacts(right_type=case.right_type, service=case.service, confidential=case.confidential),
        ExpertFacts.of_profile(profile),
    )


def case_facts(case: Case, declined: set[int]) -> CaseFacts:
    """Everything routing's rules read of ``case`` (``declined``: the experts who declined it)."""
    return CaseFacts(
        right_type=case.right_type,
        service=case.service,
        declined_by=frozenset(declined),
        jurisdiction=case.jurisdiction,
        languages=frozenset({case.language}),
        technical_field=case.technical_field,
        confidential=case.confidential,
        urgency=case.urgency,
        applicant=Organisation.of(case.enterprise.organisation, case.enterprise.credit_code),
        parties=tuple(Organisation.of(p.get("name"), p.get("credit_code")) for p in case_parties(case)),
        **activity_facts(case.activity),
        **litigation_facts(case.litigation),
    )


def party_keys(case: Case) -> tuple[set[str], set[str]]:
    """The credit codes and normalised names of ``case``'s parties: what ``ACTED_FOR`` looks up."""
    parties = case_parties(case)
    codes = {p["credit_code"].upper() for p in parties if p.get("credit_code")}
    keys = {normalise_name(p["name"]) for p in parties if p.get("name")} - {""}
    return codes, keys


def _acted_for(*more: Any, excluded: ColumnElement[bool]) -> Select[Any]:
    return (
        select(Case.assigned_expert_id, User.organisation, User.credit_code, *more)
        .join(User, User.id == Case.enterprise_id)
        .where(
            excluded,
            Case.assigned_expert_id.is_not(None),
            or_(
                User.credit_code.in_(bindparam("codes", expanding=True)),
                User.organisation_key.in_(bindparam("keys", expanding=True)),
            ),
        )
        .distinct()
    )


#: The experts who held earlier cases brought by a party of a case (its parties' credit ``codes``
#: and normalised names, ``keys``), but for ``case_id`` and the cases ``routed`` in this
#: transaction: (expert id, that party's name, its code). A conflict of interest when a party is
#: a respondent now. Built once: routing runs it for every case, and building a statement cost
#: about as much as running it. (An empty expanding list is "no row".)
ACTED_FOR = _acted_for(
    excluded=and_(Case.id != bindparam("case_id"), Case.id.not_in(bindparam("routed", expanding=True)))
)
#: The same for all the parties of a routing ``batch`` of cases at once, but for those cases, with
#: the party's key (``routing.Pool.read_history``).
BATCH_ACTED_FOR = _acted_for(User.organisation_key, excluded=Case.id.not_in(bindparam("batch", expanding=True)))


def holder_refusal(case: Case, expert: User) -> tuple[str | None, bool]:
    """Why ``expert`` may not hold ``case`` (None: they may), and whether a coordinator may
    override it (clearance for confidential work only)."""
    facts = _holder_facts(case, expert.expert)
    reason = why_not_holder(*facts)
    return reason, reason is not None and why_not_holder(*facts, override_clearance=True) is None


def reassign(
    session: Session,
    case: Case,
    coordinator: User,
    expert: User,
    reason: str | None = None,
    override_clearance: bool = False,
) -> CaseEvent:
    """A coordinator gives ``case`` to ``expert`` (an ``active_expert``) by hand, held to the rules
    routing applies on who may hold a case. ``override_clearance``: the coordinator means to give
    a confidential case to an expert not cleared for it; that is recorded in ``admin_audit``
    (``clearance_override``) and in the event. Raises ``TransitionError`` (who and when first, as
    for any action), then ``IneligibleExpertError``."""
    relation = actor_relation(case, coordinator)
    lifecycle.decide(case.status, "reassign", relation or "", reason)
    refusal, overridable = holder_refusal(case, expert)
    if refusal is not None and not (overridable and override_clearance):
        template = _NOT_CLEARED if overridable else _A_TRAINEE
        raise IneligibleExpertError(Message(template, name=expert.name), overridable)
    detail = {"clearance_override": refusal} if refusal is not None else None
    previous_expert_id = case.assigned_expert_id
    event = transition(session, case, "reassign", coordinator, reason=reason, expert_id=expert.id, detail=detail)
    audit(session, coordinator, "case_reassigned", expert, case, reference=case.reference,
          previous_expert_id=previous_expert_id, reason=reason)  # fmt: skip
    if refusal is not None:
        audit(session, coordinator, "clearance_override", expert, case, reference=case.reference, rule=refusal)
    return event


def reassignment_choices(session: Session, case: Case) -> list[dict[str, Any]]:
    """The experts a coordinator may give ``case`` to, by name: each with ``id``, ``name``,
    ``active_cases``, ``capacity`` and ``refusal`` (None: eligible; else the clearance rule they
    fail, which only an override gets past). Trainees are never listed."""
    experts = session.scalars(
        select(User)
        .join(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(User.is_active.is_(True), ExpertProfile.is_trainee.is_(False))
        .options(joinedload(User.expert))
        .order_by(User.name, User.id)
    ).all()
    choices = []
    for expert in experts:
        refusal, overridable = holder_refusal(case, expert)
        if refusal is None or overridable:
            profile = expert.expert
            choices.append({"id": expert.id, "name": expert.name, "active_cases": profile.active_cases,
                            "capacity": profile.capacity, "refusal": refusal})  # fmt: skip
    return choices


_DEFERRED_OUTBOX = "workstation.services.cases.deferred_outbox"


@contextmanager
def transitions_written_together(session: Session) -> Iterator[None]:
    """Many transitions in one transaction (a routing batch), written in one flush at the end.

    Alone, a transition flushes twice: its outbox row names its event's id, and the next query
    flushes what it left. SQLAlchemy's unit of work costs far more per flush than the rows it
    writes, so within this block nothing is flushed until the end, where the cases, their events,
    then their outbox rows are written in a few multi-row statements. The price: a query inside
    the block does not see what the transitions before it changed (no autoflush); the caller must
    account for that itself (routing's ``Pool`` does). On an exception nothing is written.
    """
    if _DEFERRED_OUTBOX in session.info:
        raise RuntimeError("transitions_written_together does not nest")
    deferred: list[tuple[CaseEvent, str, dict[str, Any]]] = []
    session.info[_DEFERRED_OUTBOX] = deferred
    try:
        with session.no_autoflush:
            yield
        session.flush()
        for event, routing_key, payload in deferred:
            enqueue(session, routing_key, {**payload, "event_id": event.id})
    finally:
        del session.info[_DEFERRED_OUTBOX]


_MESSAGES = {"request_info": "request", "provide_info": "answer"}


def attach_files(
    session: Session, case: Case, uploader: User, files: list[StoredFile], kind: str, message_id: int | None = None
) -> None:
    """Record already stored files on ``case``: the hash, who uploaded them and when (custody);
    ``message_id``: the message of the thread they came with."""
    for f in files:
        session.add(
            Evidence(
                case_id=case.id, sha256=f.sha256, filename=f.filename, content_type=f.content_type, size=f.size,
                uploaded_by=uploader.id, kind=kind, message_id=message_id,
            )
        )  # fmt: skip


def record_access(session: Session, case: Case, user: User, action: str, target: str = "") -> None:
    """Log a look at a confidential case (or a download of its file), for the coordinators
    (``audit.record_reads`` for one case)."""
    record_reads(session, user, target, [case], action=action)


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
    # Expert rows are locked in id order (after the case row), so two transactions that move one
    # case each between the same experts cannot deadlock. (Two routing batches can: each takes
    # its experts in the order of its cases. PostgreSQL then aborts one, and that batch is
    # delivered again one message at a time; see ``workers.delivery.deliver_batch``.)
    released = False
    for expert_id in sorted(e for e in (was, now) if e is not None):
        if expert_id == now:
            if not take_slot(session, now, enforce_capacity):
                if released:  # the case stays with ``was``: give back the slot released above
                    _shift_load(session, was, +1)
                raise ExpertFullError(now)
        else:
            _shift_load(session, expert_id, -1)
            released = True


def _load_statement(by: int, enforce_capacity: bool) -> Update:
    move = update(ExpertProfile).where(ExpertProfile.user_id == bindparam("expert_id"))
    if enforce_capacity:
        move = move.where(ExpertProfile.active_cases < ExpertProfile.capacity)
    # (The session's own copies are moved by ``_move_loaded``: SQLAlchemy's "evaluate", run over
    # every object of the session, cost as much as the UPDATE.)
    return move.values(active_cases=ExpertProfile.active_cases + by).execution_options(synchronize_session=False)


# Built once: building the UPDATE for every slot taken cost routing twice what running it did.
_TAKE = {enforce: _load_statement(+1, enforce) for enforce in (True, False)}
_SHIFT = {by: _load_statement(by, False) for by in (+1, -1)}


def _move_loaded(session: Session, expert_id: int, by: int) -> None:
    """Move the load of the session's copy of ``expert_id``'s profile, if it has one loaded, as the
    UPDATE just moved the row's."""
    profile = session.identity_map.get(identity_key(ExpertProfile, expert_id))
    if profile is not None and "active_cases" in profile.__dict__:
        set_committed_value(profile, "active_cases", profile.active_cases + by)


def take_slot(session: Session, expert_id: int, enforce_capacity: bool = True) -> bool:
    """Take one slot of ``expert_id``'s capacity (a case they hold, a seat on a panel); False if
    they have none left (``enforce_capacity``; a coordinator reassigning may go over, on purpose).
    One conditional UPDATE: it holds the expert's row until commit, so two transactions cannot
    both take the last slot."""
    taken = session.execute(_TAKE[enforce_capacity], {"expert_id": expert_id}).rowcount == 1
    if taken:
        _move_loaded(session, expert_id, +1)
    return taken


def _shift_load(session: Session, expert_id: int, by: int) -> None:
    session.execute(_SHIFT[by], {"expert_id": expert_id})
    _move_loaded(session, expert_id, by)


def release_panel(session: Session, case: Case, only: int | None = None) -> list[int]:
    """Give back the slots of ``case``'s sitting panel (dissolved, or the case's opinion issued,
    closed or withdrawn; ``only``: this member's seat alone): the seats are released and each
    member's load shrinks by one. Returns the members' ids (none: no panel sat)."""
    query = select(PanelSeat).where(PanelSeat.case_id == case.id, PanelSeat.released_at.is_(None))
    if only is not None:
        query = query.where(PanelSeat.expert_id == only)
    # expert rows in id order, as ``_move_load`` takes them
    seats = session.scalars(query.order_by(PanelSeat.expert_id).with_for_update()).all()
    now = utcnow()
    for seat in seats:
        seat.released_at = now
        _shift_load(session, seat.expert_id, -1)
    return [seat.expert_id for seat in seats]


def visible_cases(user: User) -> Select[tuple[Case]]:
    """The cases ``user`` may see: every query of cases on behalf of a person starts here."""
    query = select(Case)
    if user.role == "coordinator":
        return query
    if user.role == "enterprise":
        return query.where(Case.enterprise_id == user.id)
    if user.role == "expert":
        # One indexed query for each way an expert sees a case, their ids together: as one
        # condition ORed over every case, the planner guessed half the cases passed and read them
        # all for an expert's search (100 ms of 100,000 cases; benchmarks/search.py).
        case = aliased(Case)
        assigned = select(case.id).where(case.assigned_expert_id == user.id)
        # Trainees follow the cases they shadow, never confidential ones.
        shadowed = select(case.id).where(case.shadow_expert_id == user.id, case.confidential.is_(False))
        # A panel's members (sitting or not: their view is part of the case), a confidential case
        # only while they are cleared for such work.
        seated = select(PanelSeat.case_id).where(PanelSeat.expert_id == user.id)
        cleared = select(ExpertProfile.user_id).where(
            ExpertProfile.user_id == user.id, ExpertProfile.confidential_ok.is_(True)
        )
        on_panel = select(case.id).where(case.id.in_(seated), case.confidential.is_(False) | cleared.exists())
        return query.where(Case.id.in_(union(assigned, shadowed, on_panel)))
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
    "reroute": ("because",),  # (why the case changed hands: the timeline says it)
    # (for the expert and a panel's members; the enterprise never sees these events at all)
    "mark_difficult": ("reason",),
    # (to whom a case was referred is the enterprise's to know: ``services.referrals``)
    "refer": ("partner",),
    "referral_acknowledged": ("partner",),
    "referral_answered": ("partner",),
    "referral_closed": ("partner",),
}


def detail_for(event: CaseEvent, viewer: User) -> dict[str, Any]:
    if viewer.role == "coordinator":
        return event.detail
    return {k: v for k, v in event.detail.items() if k in SHARED_DETAIL.get(event.action, ())}


def declined_by(session: Session, case_id: int) -> set[int]:
    """Experts who declined ``case_id`` before (from its timeline)."""
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == "decline")).all()
    return {e.actor_id for e in events if e.actor_id is not None}
