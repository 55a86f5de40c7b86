"""Everything that changes a case goes through here, inside the caller's transaction.

``submit_case`` and ``transition`` write the case, its ``CaseEvent`` and, where others must
react, an outbox row together, so a crash leaves either all of them or none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Select, Update, insert, select, update
from sqlalchemy.orm import Session, configure_mappers, joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from workstation import lifecycle
from workstation.evidence import StoredFile
from workstation.i18n import N_, Message
from workstation.routing import CaseFacts, ExpertFacts, why_not_holder
from workstation.services.auth import ENTERPRISE_FOR_TOKEN_CTES, token_parameters
from workstation.services.db import lock_for_write
from workstation.services.models import (
    AccessLog,
    AdminAudit,
    Case,
    CaseEvent,
    CaseMessage,
    CaseParty,
    Evidence,
    ExpertProfile,
    OutboxMessage,
    User,
    utcnow,
)
from workstation.services.outbox import enqueue
from workstation.services.respondents import party_rows

T = TypeVar("T")


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
    it); ``detail`` goes into the submit event.

    Intake is the hot path, so the rows (case, submit event, outbox row, indexed parties,
    evidence) are written with SQL in the caller's transaction rather than by the ORM's unit of
    work, which cost several times more than the statements themselves; on PostgreSQL in one
    statement. The case returned is in the session as if just loaded from those rows (no history,
    so the commit's flush has nothing to write), with its event and evidence.
    """
    case = _write_submission(session, enterprise, data, files, actor, detail)
    session.add(case)  # its event and evidence with it (cascade)
    return case


def submit_case_alone(session: Session, enterprise: User, data: dict[str, Any], files: list[StoredFile] = ()) -> Case:
    """``submit_case`` as a unit of work of its own, committed when this returns (intake).

    On PostgreSQL the submission is a single statement, atomic by itself, so when the session has
    no transaction open it runs in autocommit, without BEGIN and COMMIT round trips (the API's
    JSON submissions fold the token look-up in too: ``submit_case_for_token``).
    Each waits for PostgreSQL to be scheduled, which on a busy machine costs more than the work.
    The case returned is detached, holding what an answer reads (``_as_written``).
    """
    if not session.in_transaction() and session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    case = _write_submission(session, enterprise, data, files)
    session.commit()
    return case


def _write_submission(
    session: Session,
    enterprise: User,
    data: dict[str, Any],
    files: list[StoredFile],
    actor: User | None = None,
    detail: dict[str, Any] | None = None,
) -> Case:
    by = actor or enterprise
    row, event = _submission_rows(data, by.id, by.role, detail, files)
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        written = _submit_postgresql(connection, row, event, files, enterprise_id=enterprise.id)
    else:
        written = _submit_portable(connection, row, event, files, enterprise.id)
    return _as_written(row, event, files, *written)


def submit_case_for_token(engine: Engine, token_hash: str, data: dict[str, Any]) -> Case | None:
    """The API's intake on PostgreSQL in one round trip: the statement that writes the case (as
    ``submit_case_alone``, without files) also checks the bearer token, and writes nothing unless
    it is an active enterprise's. None when it is not (the caller looks the token up to say why).

    The token look-up was a round trip of its own, in a unit of work of its own, before the
    submission: about a fifth of the intake's CPU, and a second wait for PostgreSQL. It runs on a
    connection of its own in autocommit, without a session: a session's transaction around one
    atomic statement cost more than the statement. The case returned is detached, as
    ``submit_case_alone``'s.
    """
    row, event = _submission_rows(data, None, "enterprise", None, ())
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        written = _submit_postgresql(connection, row, event, (), token_hash=token_hash)
    return None if written is None else _as_written(row, event, (), *written)


def _submission_rows(
    data: dict[str, Any], actor_id: int | None, actor_role: str, detail: dict[str, Any] | None, files: list[StoredFile]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The case's row (without its enterprise) and its submit event's (``actor_id`` None: the
    enterprise, once known)."""
    lifecycle.decide(None, "submit", lifecycle.OWNER)
    now = utcnow()
    row = {
        **data,
        "status": lifecycle.SUBMITTED,
        "assigned_expert_id": None,
        "shadow_expert_id": None,
        "created_at": now,
        "updated_at": now,
    }
    event = {
        "action": "submit",
        "from_status": None,
        "to_status": lifecycle.SUBMITTED,
        "actor_id": actor_id,
        "actor_role": actor_role,
        "detail": {**(detail or {}), **({"evidence": [f.sha256 for f in files]} if files else {})},
        "created_at": now,
    }
    return row, event


def _evidence_rows(files: list[StoredFile]) -> list[dict[str, Any]]:
    """The evidence rows of a submission's files (without the case, who uploaded them and when)."""
    return [{"sha256": f.sha256, "filename": f.filename, "content_type": f.content_type, "size": f.size,
             "kind": "evidence"} for f in files]  # fmt: skip


def _as_written(
    row: dict[str, Any],
    event: dict[str, Any],
    files: list[StoredFile],
    case_id: int,
    reference: str,
    enterprise_id: int,
    event_id: int,
    evidence_ids: list[int],
) -> Case:
    """The case just written, as if loaded from its rows and then detached: with its event and
    evidence, and its expert and shadow (None), as loaded relationships (set_committed_value
    records no change, and costs a fraction of setting them through the constructor), so that
    answering with it needs no query. Intake's answer is all that reads it, so it stays out of the
    session: the identity map, the cascade and the commit going over it would be CPU spent for nothing.
    Its other relationships (its enterprise, messages, opinion...) are not loaded, and reading one
    raises DetachedInstanceError: a caller that needs them loads the case again."""
    evidence = [
        _detached(Evidence, id=i, case_id=case_id, uploaded_by=enterprise_id, uploaded_at=row["created_at"], **f)
        for i, f in zip(evidence_ids, _evidence_rows(files), strict=True)
    ]
    submit = _detached(
        CaseEvent, id=event_id, case_id=case_id, **{**event, "actor_id": event["actor_id"] or enterprise_id}
    )
    case = _detached(Case, id=case_id, reference=reference, enterprise_id=enterprise_id, **row)
    set_committed_value(case, "events", [submit])
    set_committed_value(case, "evidence", evidence)
    set_committed_value(case, "assigned_expert", None)
    set_committed_value(case, "shadow_expert", None)
    for child in (submit, *evidence):
        set_committed_value(child, "case", case)
    return case


def _detached(model: type[T], **columns: Any) -> T:
    """An instance of ``model`` as the ORM makes one from a row it loads (the values written
    straight into its ``__dict__``, no attribute events), then detached: a third of the cost of
    the constructor, which records each value as a change. The constructor also configures the
    mappers on first use, which this must do too: in a new process it can come first (a no-op
    after that)."""
    configure_mappers()
    instance = model.__mapper__.class_manager.new_instance()
    instance.__dict__.update(columns)
    make_transient_to_detached(instance)
    return instance


_cases, _events, _outbox, _parties = (m.__table__ for m in (Case, CaseEvent, OutboxMessage, CaseParty))
_INSERT_EVIDENCE = insert(Evidence.__table__).returning(Evidence.__table__.c.id)

# One statement for the case, its submit event, its outbox row, its indexed parties and its
# evidence: one round trip, atomic even without a transaction around it (``submit_case_alone``).
# ``submitter`` is the enterprise: given, or the active enterprise holding a bearer token, found
# by the statement itself (``submit_case_for_token``: no such enterprise, no row, nothing written;
# the token's policy and the recording of its use are ``auth``'s, compiled into the text).
# The id is drawn next so that the reference (``reference_for``: RPA-<year>-<id, at least 6
# digits>) is written with the row; the outbox payload is the JSON ``enqueue`` would write.
# psycopg prepares each of the two texts on the server after a few uses, so PostgreSQL plans it
# once per connection.
_SUBMIT_POSTGRESQL = """
WITH /*submitter*/,
new_case AS (SELECT nextval('cases_id_seq') AS id, submitter.id AS enterprise_id FROM submitter),
case_row AS (
    INSERT INTO cases (id, reference, enterprise_id, right_type, service, title, description, jurisdiction,
                       language, technical_field, confidential, urgency, parties, rights, key_dates, status,
                       assigned_expert_id, shadow_expert_id, created_at, updated_at)
    SELECT id, 'RPA-' || %(year)s || '-' || lpad(id::text, greatest(6, length(id::text)), '0'), enterprise_id,
           %(right_type)s, %(service)s, %(title)s, %(description)s, %(jurisdiction)s, %(language)s,
           %(technical_field)s, %(confidential)s, %(urgency)s, %(parties)s, %(rights)s, %(key_dates)s, %(status)s,
           %(assigned_expert_id)s, %(shadow_expert_id)s, %(created_at)s, %(updated_at)s
    FROM new_case
    RETURNING id, reference, enterprise_id
),
event_row AS (
    INSERT INTO case_events (case_id, action, from_status, to_status, actor_id, actor_role, detail, created_at)
    SELECT id, %(event_action)s, %(event_from_status)s, %(event_to_status)s,
           coalesce(%(event_actor_id)s::bigint, enterprise_id), %(event_actor_role)s, %(event_detail)s,
           %(event_created_at)s
    FROM case_row
    RETURNING id
),
outbox_row AS (
    INSERT INTO outbox (routing_key, payload, created_at, published_at, publish_count)
    SELECT 'case.submitted', format('{"case_id": %%s, "reference": "%%s"}', id, reference)::json, %(created_at)s,
           NULL, 0
    FROM case_row
),
party_index AS (
    INSERT INTO case_parties (case_id, enterprise_id, role, name, name_key, credit_code)
    SELECT case_row.id, case_row.enterprise_id, p.value ->> 'role', p.value ->> 'name', p.value ->> 'name_key',
           p.value ->> 'credit_code'
    FROM case_row, json_array_elements(%(party_index)s) WITH ORDINALITY AS p(value, n)
    ORDER BY p.n
),
evidence_rows AS (
    INSERT INTO evidence (case_id, sha256, filename, content_type, size, uploaded_by, uploaded_at, kind)
    SELECT case_row.id, f.value ->> 'sha256', f.value ->> 'filename', f.value ->> 'content_type',
           (f.value ->> 'size')::bigint, case_row.enterprise_id, %(created_at)s, f.value ->> 'kind'
    FROM case_row, json_array_elements(%(evidence)s) WITH ORDINALITY AS f(value, n)
    ORDER BY f.n
    RETURNING id
)
-- rows are inserted in ORDER BY order, each drawing its id then: ascending ids are the files' order
SELECT case_row.id, case_row.reference, case_row.enterprise_id, event_row.id,
       ARRAY(SELECT id FROM evidence_rows ORDER BY id)
FROM case_row, event_row
"""
_SUBMIT_FOR_ENTERPRISE = _SUBMIT_POSTGRESQL.replace(
    "/*submitter*/", "submitter AS (SELECT %(enterprise_id)s::bigint AS id)"
)
_SUBMIT_FOR_TOKEN = _SUBMIT_POSTGRESQL.replace(
    "/*submitter*/", f"{ENTERPRISE_FOR_TOKEN_CTES}, submitter AS (SELECT id FROM token_holder)"
)


def _submit_postgresql(
    connection: Connection,
    row: dict[str, Any],
    event: dict[str, Any],
    files: list[StoredFile],
    *,
    enterprise_id: int | None = None,
    token_hash: str | None = None,
) -> tuple[int, str, int, int, list[int]] | None:
    """On the session's own psycopg connection: through SQLAlchemy the same execution cost twice as
    much. JSON goes in as ``json.dumps`` writes it, as the ORM's JSON type would. For the
    enterprise ``enterprise_id``, or the one holding the token ``token_hash`` (None: no such
    enterprise, nothing written). Returns the case's id, reference and enterprise, the event's id
    and the evidence's ids."""
    from psycopg.types.json import Json

    params = {
        **row,
        **{f"event_{key}": value for key, value in event.items()},
        "year": row["created_at"].year,
        "parties": Json(row["parties"]),
        "rights": Json(row["rights"]),
        "key_dates": Json(row["key_dates"]),
        "event_detail": Json(event["detail"]),
        "party_index": Json(party_rows(row.get("parties"))),
        "evidence": Json(_evidence_rows(files)),
    }
    if token_hash is None:
        statement, params["enterprise_id"] = _SUBMIT_FOR_ENTERPRISE, enterprise_id
    else:
        statement = _SUBMIT_FOR_TOKEN
        params.update(token_parameters(token_hash, row["created_at"]))
    return connection.connection.driver_connection.execute(statement, params).fetchone()


def _submit_portable(
    connection: Connection, row: dict[str, Any], event: dict[str, Any], files: list[StoredFile], enterprise_id: int
) -> tuple[int, str, int, int, list[int]]:
    """The same rows in separate statements, for SQLite (no INSERT inside WITH there)."""
    now = row["created_at"]
    case_id = connection.execute(
        insert(_cases).returning(_cases.c.id), {**row, "enterprise_id": enterprise_id}
    ).scalar_one()
    reference = reference_for(case_id, now.year)
    # updated_at given, so that the column's onupdate does not move it off created_at
    connection.execute(update(_cases).where(_cases.c.id == case_id).values(reference=reference, updated_at=now))
    event_id = connection.execute(insert(_events).returning(_events.c.id), {**event, "case_id": case_id}).scalar_one()
    connection.execute(
        insert(_outbox),
        {"routing_key": "case.submitted", "payload": {"case_id": case_id, "reference": reference},
         "created_at": now, "published_at": None, "publish_count": 0},
    )  # fmt: skip
    parties = party_rows(row.get("parties"))
    if parties:
        connection.execute(
            insert(_parties), [{**p, "case_id": case_id, "enterprise_id": enterprise_id} for p in parties]
        )
    evidence = [
        {**f, "case_id": case_id, "uploaded_by": enterprise_id, "uploaded_at": now} for f in _evidence_rows(files)
    ]
    evidence_ids = [connection.execute(_INSERT_EVIDENCE, f).scalar_one() for f in evidence]
    return case_id, reference, enterprise_id, event_id, evidence_ids


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
        payload = {"case_id": case.id, "reference": case.reference, **detail}
        deferred = session.info.get(_DEFERRED_OUTBOX)
        if deferred is not None:  # inside ``transitions_written_together``
            deferred.append((event, move.emits, payload))
        else:
            session.flush()  # for the event's id
            enqueue(session, move.emits, {**payload, "event_id": event.id})
    return event


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
    event = transition(session, case, "reassign", coordinator, reason=reason, expert_id=expert.id, detail=detail)
    if refusal is not None:
        session.add(
            AdminAudit(actor_id=coordinator.id, action="clearance_override", subject_id=expert.id, case_id=case.id,
                       detail={"reference": case.reference, "rule": refusal})
        )  # fmt: skip
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
    # Expert rows are locked in id order (after the case row), so two transactions that move one
    # case each between the same experts cannot deadlock. (Two routing batches can: each takes
    # its experts in the order of its cases. PostgreSQL then aborts one, and that batch is
    # delivered again one message at a time; see ``workers.delivery.deliver_batch``.)
    released = False
    for expert_id in sorted(e for e in (was, now) if e is not None):
        if expert_id == now:
            take = update(ExpertProfile).where(ExpertProfile.user_id == now)
            if enforce_capacity:
                take = take.where(ExpertProfile.active_cases < ExpertProfile.capacity)
            if session.execute(take.values(active_cases=ExpertProfile.active_cases + 1)).rowcount != 1:
                if released:  # the case stays with ``was``: give back the slot released above
                    session.execute(_shift_load(was, +1))
                raise ExpertFullError(now)
        else:
            session.execute(_shift_load(was, -1))
            released = True


def _shift_load(expert_id: int | None, by: int) -> Update:
    return (
        update(ExpertProfile)
        .where(ExpertProfile.user_id == expert_id)
        .values(active_cases=ExpertProfile.active_cases + by)
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


def declined_by(session: Session, case_id: int) -> set[int]:
    """Experts who declined ``case_id`` before (from its timeline)."""
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.action == "decline")).all()
    return {e.actor_id for e in events if e.actor_id is not None}
