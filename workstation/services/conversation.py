"""A case is a conversation: its thread of messages, internal notes, requests and answers.

Everything said on a case goes through ``post_message`` (the case page, the API; later a mail
reply), in the caller's transaction: the message, its ``CaseEvent``, its attachments and an outbox
row together. ``lifecycle.decide_message`` decides what it does: a plain message or note moves
nothing; the expert's request and the enterprise's answer move the case through ``transition``.

Who reads what: everyone who may see the case reads its public messages; internal notes are for
those who work it (the expert, a trainee shadowing a non-confidential case, coordinators), never
the enterprise, in the thread, the timeline, the files and the mail alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from workstation import lifecycle
from workstation.evidence import StoredFile
from workstation.i18n import N_
from workstation.services.cases import actor_relation, attach_files, transition
from workstation.services.models import Case, CaseEvent, CaseMessage, Evidence, LastSeen, User, utcnow
from workstation.services.notices import active_coordinators
from workstation.services.outbox import enqueue

#: The longest message, in characters (a long letter; a brief belongs in an attachment).
MAX_BODY = 10_000
#: Messages in one page of ``GET /api/v1/cases/<reference>/messages``.
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
#: Routing key of a message or note (a request and an answer keep their transitions' keys).
MESSAGE_EVENT = "case.message"
#: The kind of file each kind of message's attachments are (``Evidence.kind``).
_FILE_KIND = {lifecycle.NOTE: "note", "provide_info": "answer"}

EMPTY_BODY = N_("Write something: a message cannot be empty.")


class MessageError(Exception):
    """Bad input: ``errors`` is ``{field: [message, ...]}``; ``status`` the HTTP status to answer."""

    def __init__(self, errors: dict[str, Any], status: int = 400) -> None:
        super().__init__(errors)
        self.errors = errors
        self.status = status


class MessageInputSchema(Schema):
    """What is posted to a case's thread (``POST /api/v1/cases/<reference>/messages``)."""

    class Meta:
        unknown = RAISE

    body = fields.String(required=True, validate=validate.Length(min=1, max=MAX_BODY), metadata={"pattern": r"\S"})
    internal = fields.Boolean(
        load_default=False, metadata={"description": "an internal note: the expert and the coordinators only"}
    )
    request_info = fields.Boolean(
        load_default=False,
        metadata={"description": "the expert asks the enterprise for information: the case waits for its answer"},
    )

    @validates_schema
    def _not_blank(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if "body" in data and not data["body"].strip():
            raise ValidationError(EMPTY_BODY, "body")


class AttachmentSchema(Schema):
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String(metadata={"description": "SHA-256 of the file: the receipt"})


class MessageSchema(Schema):
    """A message as the API shows it."""

    id = fields.Integer()
    kind = fields.String(metadata={"enum": ["message", "note", "request", "answer", lifecycle.PANEL_VIEW]})
    internal = fields.Boolean()
    body = fields.String()
    source = fields.String(metadata={"enum": ["web", "api", "mail"]})
    author = fields.Function(
        lambda m: {"id": m.author.id, "name": m.author.name, "role": m.author.role},
        metadata={"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                                   "role": {"type": "string"}}},
    )  # fmt: skip
    created_at = fields.DateTime()
    attachments = fields.List(fields.Nested(AttachmentSchema))


message_input_schema = MessageInputSchema()
message_schema = MessageSchema()


def check_message(raw: Any) -> dict[str, Any]:
    """``raw`` checked by ``MessageInputSchema``; MessageError otherwise."""
    if not isinstance(raw, dict):
        raise MessageError({"_request": ["The body must be a JSON object."]})
    try:
        return message_input_schema.load(raw)
    except ValidationError as err:
        raise MessageError(err.normalized_messages()) from None


def reads_notes(user: User) -> bool:
    """Whether ``user``, who may see a case, reads its internal notes: all but the enterprise
    (a trainee shadowing a case sees it only when it is not confidential: ``visible_cases``)."""
    return user.role != "enterprise"


def may_write(case: Case, user: User) -> bool:
    """Whether ``user`` may write in ``case``'s thread (not a shadowing trainee)."""
    return actor_relation(case, user) in lifecycle.WRITERS


def post_message(
    session: Session,
    case: Case,
    author: User,
    body: str,
    internal: bool = False,
    files: list[StoredFile] = (),
    source: str = "web",
    asks: bool = False,
    mail_message_id: str | None = None,
) -> CaseMessage:
    """Say something on ``case`` (locked by the caller: ``find_visible_case(for_update=True)``),
    with already stored ``files``. Raises ``TransitionError`` (who may, what the status allows)
    or MessageError (an empty or oversized body)."""
    action = lifecycle.decide_message(case.status, actor_relation(case, author), internal, asks)
    text = (body or "").strip()
    if not text:
        raise MessageError({"body": [EMPTY_BODY]})
    if len(text) > MAX_BODY:
        raise MessageError({"body": [f"Longer than maximum length {MAX_BODY}."]})
    if action in (lifecycle.MESSAGE, lifecycle.NOTE):
        finished = case.status in lifecycle.FINISHED
        now = utcnow()
        event = CaseEvent(
            case_id=case.id, action=action, from_status=case.status, to_status=case.status, actor_id=author.id,
            actor_role=author.role, detail={"finished": True} if finished else {}, created_at=now,
        )  # fmt: skip
        message = CaseMessage(
            case_id=case.id, author_id=author.id, kind=action, body=text, created_at=now, internal=internal,
            source=source, mail_message_id=mail_message_id, event=event,
        )  # fmt: skip
        session.add_all([event, message])
        session.flush()
        payload = {"case_id": case.id, "reference": case.reference, "event_id": event.id, "message_id": message.id,
                   "internal": internal, "finished": finished}  # fmt: skip
        enqueue(session, MESSAGE_EVENT, payload)
    else:
        event = transition(session, case, action, author, reason=text, source=source)
        message = event.message
        message.mail_message_id = mail_message_id
        session.flush()
    attach_files(session, case, author, list(files), _FILE_KIND.get(action, "message"), message.id)
    return message


def thread(session: Session, case: Case, viewer: User, since: int = 0, limit: int | None = None) -> list[CaseMessage]:
    """``case``'s messages ``viewer`` reads, oldest first, after the message ``since``, at most ``limit``."""
    query = (
        select(CaseMessage)
        .where(CaseMessage.case_id == case.id, CaseMessage.id > since)
        .options(selectinload(CaseMessage.author), selectinload(CaseMessage.attachments))
        .order_by(CaseMessage.id)
    )
    if not reads_notes(viewer):
        query = query.where(CaseMessage.internal.is_(False))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def visible_events(events: Iterable[CaseEvent], viewer: User) -> list[CaseEvent]:
    """The events of a case ``viewer`` is shown: not the internal notes, nor the difficulty and
    panel of the case (``lifecycle.INTERNAL_ACTIONS``), to the enterprise."""
    return [e for e in events if reads_notes(viewer) or e.action not in lifecycle.INTERNAL_ACTIONS]


#: Files the enterprise is not shown: an internal note's, and a partner's answer to a referral
#: (``services.referrals`` says why).
INTERNAL_FILES = ("note", "referral")


def visible_files(files: Iterable[Evidence], viewer: User) -> list[Evidence]:
    """The files of a case ``viewer`` is shown: not the internal notes' attachments, to the enterprise."""
    return [f for f in files if reads_notes(viewer) or f.kind not in INTERNAL_FILES]


def case_file(session: Session, case: Case, viewer: User, sha256: str) -> Evidence | None:
    """The file ``sha256`` of ``case`` if ``viewer`` (who may see the case) may fetch it: not an
    internal note's, for the enterprise."""
    query = select(Evidence).where(Evidence.case_id == case.id, Evidence.sha256 == sha256)
    if not reads_notes(viewer):
        query = query.where(Evidence.kind.not_in(INTERNAL_FILES))
    return session.scalar(query.limit(1))


def _news_condition(user: User):  # noqa: ANN202
    """Events that are news to ``user``: by someone else (or the system), and, for the
    enterprise, not an internal note."""
    condition = or_(CaseEvent.actor_id.is_(None), CaseEvent.actor_id != user.id)
    if not reads_notes(user):
        condition = and_(condition, CaseEvent.action.not_in(lifecycle.INTERNAL_ACTIONS))
    return condition


def mark_seen(session: Session, user: User, case: Case) -> None:
    """``user`` has just been shown ``case``: what happened on it so far is no longer news to them."""
    last = session.scalar(select(func.max(CaseEvent.id)).where(CaseEvent.case_id == case.id)) or 0
    now = utcnow()
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(LastSeen).values(user_id=user.id, case_id=case.id, event_id=last, seen_at=now)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["user_id", "case_id"], set_={"event_id": last, "seen_at": now},
                where=LastSeen.event_id <= last,
            )
        )  # fmt: skip
        return
    updated = session.execute(
        update(LastSeen)
        .where(LastSeen.user_id == user.id, LastSeen.case_id == case.id)
        .values(event_id=last, seen_at=now)
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount == 0:
        session.add(LastSeen(user_id=user.id, case_id=case.id, event_id=last, seen_at=now))


def with_news(session: Session, user: User, case_ids: Iterable[int]) -> set[int]:
    """Which of ``case_ids`` have had activity ``user`` has not seen (one query)."""
    ids = list(case_ids)
    if not ids:
        return set()
    seen = select(LastSeen.event_id).where(LastSeen.user_id == user.id, LastSeen.case_id == CaseEvent.case_id)
    after = CaseEvent.id > func.coalesce(seen.scalar_subquery(), 0)
    query = select(CaseEvent.case_id).where(CaseEvent.case_id.in_(ids), _news_condition(user), after).distinct()
    return set(session.scalars(query))


def message_recipients(session: Session, case: Case, message: CaseMessage, finished: bool) -> list[User]:
    """Who is mailed ``message``: the others on the case, never its author, never the enterprise
    for an internal note. The others are the enterprise, the expert, a trainee shadowing a
    non-confidential case, and the coordinators who have written in the thread; on a finished
    case (closed or withdrawn), every active coordinator, as someone may have to reopen it."""
    people: list[User | None] = [
        None if message.internal else case.enterprise,
        case.assigned_expert,
        None if case.confidential else case.shadow_expert,
    ]
    writers = select(CaseMessage.author_id).where(CaseMessage.case_id == case.id)
    people += session.scalars(select(User).where(User.role == "coordinator", User.id.in_(writers)).order_by(User.id))
    if finished:
        people += active_coordinators(session)
    chosen: dict[int, User] = {}
    for person in people:
        if person is not None and person.is_active and person.id != message.author_id:
            chosen.setdefault(person.id, person)
    return list(chosen.values())


def message_for_event(session: Session, event_id: int) -> CaseMessage | None:
    """The message written with the event ``event_id``, with its author and attachments."""
    return session.scalar(
        select(CaseMessage)
        .where(CaseMessage.event_id == event_id)
        .options(selectinload(CaseMessage.author), selectinload(CaseMessage.attachments))
    )
