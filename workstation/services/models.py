"""The database schema. Alembic migrations under ``workstation/migrations`` create it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Integer on SQLite (so it is the rowid alias), BIGINT elsewhere.
BigId = BigInteger().with_variant(Integer, "sqlite")
#: The largest id a BigId column holds (BIGINT, and SQLite's INTEGER). A larger number from
#: outside (a URL, a body, a message) names nothing, and must not reach the driver, which overflows.
MAX_ID = 2**63 - 1


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: use workstation.services.models.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:  # noqa: ANN001
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))  # enterprise | expert | coordinator
    name: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(5), default="zh")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    #: ``routing.normalise_name(organisation)``, kept by ``auth``: conflicts of interest are looked
    #: up by it in SQL ("Shaanxi XX Co., Ltd." and "Shaanxi XX" are the same key)
    organisation_key: Mapped[str] = mapped_column(String(200), default="", server_default="", index=True)
    credit_code: Mapped[str | None] = mapped_column(String(18), nullable=True, index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: {"notifications": {kind: "immediately" | "daily" | "off"}}: what is not there is the default
    #: (``services.accounts.notification_settings``)
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    #: an enterprise that registered itself: ``unverified`` (email not confirmed), ``pending`` (a
    #: coordinator has to decide), ``approved`` or ``refused``; every other account is ``approved``
    approval: Mapped[str] = mapped_column(String(12), default="approved", server_default="approved")
    #: when an invitation to set a password was last mailed (None: never)
    invited_at: Mapped[datetime | None] = mapped_column(nullable=True)

    expert: Mapped[ExpertProfile | None] = relationship(
        back_populates="user", uselist=False, foreign_keys="ExpertProfile.user_id"
    )

    # flask-login's user protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class ExpertProfile(Base):
    """What routing needs to know about an expert (the full profile grows with the routing issue)."""

    __tablename__ = "expert_profiles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    right_types: Mapped[list[Any]] = mapped_column(default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=5)
    # Cases in an active status assigned to this expert, kept by ``cases.transition`` in the same
    # transaction; the conditional increment is what keeps concurrent routing within capacity.
    active_cases: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    # What routing filters and scores on (``workstation.routing``). NULL lists mean "not stated":
    # they do not restrict.
    services: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    jurisdictions: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    languages: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    technical_fields: Mapped[list[Any]] = mapped_column(default=list)
    #: competence levels 0-3: {"legal", "technical", "management", "commercialization"}
    competence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    on_leave_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: cleared for trade-secret and other confidential cases
    confidential_ok: Mapped[bool] = mapped_column(Boolean, default=False)
    affiliation_kind: Mapped[str] = mapped_column(String(30), default="")
    is_trainee: Mapped[bool] = mapped_column(Boolean, default=False)
    #: opportunity cost of this expert's capacity for the recent case mix (``routing.scarcity``),
    #: refreshed by the scheduler's ``price-the-pool`` job; 0 until priced
    scarcity: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

    user: Mapped[User] = relationship(back_populates="expert", foreign_keys=[user_id])
    supervisor: Mapped[User | None] = relationship(foreign_keys=[supervisor_id])


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Only the SHA-256 of the token is kept; the token itself is shown once, at creation.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    #: None: never expires (only tokens made before expiry existed; new ones always get one)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)

    user: Mapped[User] = relationship()


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(20), unique=True, nullable=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    right_type: Mapped[str] = mapped_column(String(30))
    service: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    jurisdiction: Mapped[str] = mapped_column(String(8), default="CN")
    language: Mapped[str] = mapped_column(String(5), default="zh")
    technical_field: Mapped[str] = mapped_column(String(40), default="other")
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    urgency: Mapped[str] = mapped_column(String(10), default="normal")
    parties: Mapped[list[Any]] = mapped_column(default=list)
    rights: Mapped[list[Any]] = mapped_column(default=list)
    key_dates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the kind of official notice received (a key of ``deadlines.NOTICE_RULES``): its period is a deadline
    notice_kind: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: a risk warning's or an IP analysis's activity (``schemas.ActivitySchema``: kind, date and
    #: the kind's fields); NULL for the other services
    activity: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    #: a litigation advice's matter when it is an abuse defence or a declaration of non-infringement
    #: (``schemas.LitigationSchema``: kind, opponent and the kind's facts); NULL otherwise
    litigation: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    #: opened by mail as "other" / "consultation": a coordinator is to set its right type and
    #: service (``classification.classify``); the desk shows these first
    to_classify: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    assigned_expert_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    #: why the expert or a coordinator marked the case difficult (NULL: not difficult); a
    #: coordinator may then convene a panel (``PanelSeat``; ``services.panels``)
    difficult_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: a trainee who follows the case to learn (never on confidential cases)
    shadow_expert_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    enterprise: Mapped[User] = relationship(foreign_keys=[enterprise_id])
    assigned_expert: Mapped[User | None] = relationship(foreign_keys=[assigned_expert_id])
    shadow_expert: Mapped[User | None] = relationship(foreign_keys=[shadow_expert_id])
    events: Mapped[list[CaseEvent]] = relationship(back_populates="case", order_by="CaseEvent.id")
    messages: Mapped[list[CaseMessage]] = relationship(order_by="CaseMessage.id")
    opinion: Mapped[Opinion | None] = relationship(uselist=False)
    rating: Mapped[Rating | None] = relationship(uselist=False)
    evidence: Mapped[list[Evidence]] = relationship(back_populates="case", order_by="Evidence.id")

    __table_args__ = (
        Index("ix_cases_expert_status", "assigned_expert_id", "status"),
        # the few cases to classify, found without reading the others
        Index(
            "ix_cases_to_classify", "created_at", postgresql_where=text("to_classify"), sqlite_where=text("to_classify")
        ),
    )


class PanelSeat(Base):
    """A further expert's seat on a difficult case's panel (``services.panels``). While it sits
    (``released_at`` NULL) it takes one slot of the expert's capacity (``active_cases``), as a
    case does; dissolving the panel, or the case's opinion, closing or withdrawal, gives it back.
    Released seats stay: the member still reads the case their view is part of."""

    __tablename__ = "panel_seats"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    convened_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    convened_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None] = mapped_column(nullable=True)

    expert: Mapped[User] = relationship(foreign_keys=[expert_id])

    __table_args__ = (
        # the seats that sit (the desk's panel load, a case's sitting panel), without the released
        Index("ix_panel_seats_sitting", "expert_id", postgresql_where=text("released_at IS NULL"),
              sqlite_where=text("released_at IS NULL")),
    )  # fmt: skip


class CaseGrams(Base):
    """The character grams of a case's text and of its messages, which a search looks up
    (PostgreSQL: ``rpa_case_grams``, migrations 0012-0013 and 0025; an internal note's grams marked
    by ``search_syntax.NOTE_MARK``, a new message's added by a trigger). Written by the watch
    worker after the submission, not in it: computed in the submission's statement they cost
    intake a third of its throughput.
    A case without its row yet is searched by its text (``services.search``)."""

    __tablename__ = "case_grams"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    grams: Mapped[str] = mapped_column(Text().with_variant(TSVECTOR(), "postgresql"))

    # (GIN on PostgreSQL; on SQLite, where the table stays empty, a plain index nobody reads)
    __table_args__ = (Index("ix_case_grams_grams", "grams", postgresql_using="gin"),)


class CaseEvent(Base):
    """The audit timeline: one row for every change of a case, written in the same transaction."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    to_status: Mapped[str] = mapped_column(String(24))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    actor_role: Mapped[str] = mapped_column(String(20))  # a user role, or "system"
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()
    #: what was said with it in the case's thread (a message, a note, a request or an answer)
    message: Mapped[CaseMessage | None] = relationship(back_populates="event", uselist=False)


class Evidence(Base):
    """An uploaded file; the bytes live under ``instance/evidence/`` named by their SHA-256."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    uploaded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: evidence (with the submission) | answer (the enterprise's, to a request) | document (the expert's)
    #: | message (a public message's) | note (an internal note's)
    kind: Mapped[str] = mapped_column(String(12), default="evidence", server_default="evidence")
    #: the message it was attached to (kind message, or note: an internal note's, never the enterprise's to see)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("case_messages.id"), nullable=True, index=True)

    case: Mapped[Case] = relationship(back_populates="evidence")
    uploader: Mapped[User] = relationship()


class OutboxMessage(Base):
    """An event to publish, written in the transaction that caused it. Its id is the message id."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    routing_key: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)
    publish_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        # The relay's hot query only ever looks at the few unpublished rows.
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=published_at.is_(None),
            sqlite_where=published_at.is_(None),
        ),
        Index("ix_outbox_published_at", "published_at"),
    )


class IdempotencyKey(Base):
    """An API request that created something, under its client's ``Idempotency-Key``: written in
    the transaction that wrote what it created, with the answer, so that the client's retry with
    the same key (its answer lost, a timeout, a 503) gets that answer again instead of creating a
    second one (``services.idempotency``). Keys are the caller's own: unique per user."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(255))
    #: SHA-256 of the request (method, path, body): the same key with another request is refused
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: the answer: None only inside the transaction that claims the key, until it is answered
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class HandledMessage(Base):
    """Which consumer has handled which message: written in the same transaction as the effect."""

    __tablename__ = "handled_messages"

    consumer: Mapped[str] = mapped_column(String(30), primary_key=True)
    message_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outcome: Mapped[str] = mapped_column(String(20), default="done")  # done | dead_lettered
    handled_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryFailure(Base):
    """Failed attempts at handling a message, for back-off and, at the limit, dead-lettering."""

    __tablename__ = "delivery_failures"

    consumer: Mapped[str] = mapped_column(String(30), primary_key=True)
    message_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_retry_at: Mapped[datetime] = mapped_column(default=utcnow)


class Notification(Base):
    """One email to one recipient for one message, claimed before it is sent.

    The unique key is the claim: of two workers handling the same message, one inserts the row
    and sends, the other sees it and does not. ``attempts`` counts sends; more than one happens
    only when a worker died between sending and recording (the mail may or may not have left).
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    message_id: Mapped[int] = mapped_column(BigId, index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    template: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(10), default="sending")  # sending | sent
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ExpertImport(Base):
    """A CSV of experts a coordinator uploaded, imported by the routing worker in chunks.

    The counters and errors are committed with each chunk, so the page shows progress and a
    worker that dies resumes after the last committed row.
    """

    __tablename__ = "expert_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued | running | done | failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    #: [{"row": n, "field": name, "message": text}], row numbers as a spreadsheet shows them
    errors: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class CaseMessage(Base):
    """Something said on a case, in its thread (``services.conversation``): a public message, an
    internal note (expert and coordinators only), or the expert's request for information and the
    enterprise's answer, which also move the case. Each is written with its ``CaseEvent``."""

    __tablename__ = "case_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(12))  # message | note | request | answer
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: an internal note: never shown or mailed to the enterprise
    internal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: how it came: web | api | mail
    source: Mapped[str] = mapped_column(String(8), default="web", server_default="web")
    #: the event it was written with (NULL only for rows older than the thread whose event was not found)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_events.id"), nullable=True, index=True)
    #: a mail that became this message: its Message-ID, so the same mail fetched twice is one message
    mail_message_id: Mapped[str | None] = mapped_column(String(255), nullable=True, unique=True)

    author: Mapped[User] = relationship()
    event: Mapped[CaseEvent | None] = relationship(back_populates="message")

    __table_args__ = (
        # the search's gram index (migration 0012; PostgreSQL only)
        Index("ix_case_messages_search", text("rpa_search_grams(body)"), postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )
    attachments: Mapped[list[Evidence]] = relationship(order_by="Evidence.id", viewonly=True)


class LastSeen(Base):
    """How far a person has looked at a case: the last of its events they were shown. What came
    after (by others) is "new activity" in their queue or case list."""

    __tablename__ = "case_last_seen"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True, index=True)
    event_id: Mapped[int] = mapped_column(BigId)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Opinion(Base):
    """The expert's opinion: its fields as ``workstation.opinions`` checked them, kept as issued."""

    __tablename__ = "opinions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    service: Mapped[str] = mapped_column(String(30))
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    issued_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)

    expert: Mapped[User] = relationship()


class Rating(Base):
    """The enterprise's satisfaction with a closed case: one per case."""

    __tablename__ = "ratings"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccessLog(Base):
    """Who looked at a confidential case, or downloaded one of its files, and when."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(12))  # view | download
    target: Mapped[str] = mapped_column(String(80), default="")  # what: a page, an API call, a file's hash
    at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class LoginSession(Base):
    """A login on the web pages, kept on the server: the session cookie names it (by the SHA-256 of
    a secret it holds), so a logout, a password change or an expiry ends it for every copy of the
    cookie. Idle and absolute lifetimes come from the configuration."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)


class LoginFailure(Base):
    """A wrong password (or an unknown email) at login, counted per account and per client address
    to throttle guessing. Shared by every process through the database."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(300))  # "account:<email>" or "address:<ip>"
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Registration(Base):
    """An enterprise's own sign-up (``/register``): what it told us besides its account, the
    business licence it sent (stored as evidence is, by hash) and the coordinator's decision."""

    __tablename__ = "registrations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    contact_person: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(40))
    licence_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    licence_filename: Mapped[str] = mapped_column(String(255), default="")
    licence_content_type: Mapped[str] = mapped_column(String(100), default="")
    licence_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    #: why it was refused (mailed to the enterprise and shown on its waiting page)
    reason: Mapped[str] = mapped_column(Text, default="")

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class AdminAudit(Base):
    """An administrative act: accounts, tokens, reassignments, clearance overrides, the pool,
    digest settings, exports. Append-only, like ``access_log`` (a trigger refuses UPDATE and DELETE
    on PostgreSQL; no route changes them)."""

    __tablename__ = "admin_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True, index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship(foreign_keys=[actor_id])
    subject: Mapped[User | None] = relationship(foreign_keys=[subject_id])


class DeadlineNotice(Base):
    """One early-warning threshold of one deadline of one case, noticed: the unique key is what
    makes each notice go out once, however many sweeps run (``workers.sweep``)."""

    __tablename__ = "deadline_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    code: Mapped[str] = mapped_column(String(60))
    threshold: Mapped[str] = mapped_column(String(10))  # 30d | 7d | 1d | overdue
    due_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("case_id", "code", "threshold", name="uq_deadline_notices_case_code_threshold"),)


class CaseParty(Base):
    """A party a case names, with its normalised keys: how repeat respondents are found in SQL."""

    __tablename__ = "case_parties"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: the case's enterprise, copied so "other enterprises' cases" needs no join
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(20))  # respondent | applicant | third_party
    name: Mapped[str] = mapped_column(String(200))
    #: ``routing.normalise_name(name)``
    name_key: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), nullable=True)

    # Each key with the enterprise: other enterprises' parties of a key are two ranges of it
    # (``respondents``), the enterprise's own never read.
    __table_args__ = (
        Index("ix_case_parties_name_key_enterprise_id", "name_key", "enterprise_id"),
        Index("ix_case_parties_credit_code_enterprise_id", "credit_code", "enterprise_id"),
    )


class WatchedMark(Base):
    """An enterprise's own trademark, watched for look-alikes in new cases and the publication feed."""

    __tablename__ = "watched_marks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(String(200))
    #: Nice classes 1-45; empty means "not stated" (matches in any class)
    classes: Mapped[list[Any]] = mapped_column(default=list)
    #: removed marks are kept (their past matches refer to them) but no longer watched
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    enterprise: Mapped[User] = relationship()


class PublishedMark(Base):
    """A newly published (preliminarily approved) mark from an imported feed; unique by number,
    so importing the same feed twice adds nothing and notices nothing twice."""

    __tablename__ = "published_marks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # application / registration number
    text: Mapped[str] = mapped_column(String(200))
    classes: Mapped[list[Any]] = mapped_column(default=list)
    published_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    applicant: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LookalikeMatch(Base):
    """A mark (named in a case, or published) found to look like a watched mark: the score and
    reasons as ``workstation.similarity`` gave them, and the risk-warning case opened from it."""

    __tablename__ = "lookalike_matches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    #: "case:<case id>:<watched id>:<mark text>" or "feed:<published id>:<watched id>": found once
    key: Mapped[str] = mapped_column(String(255), unique=True)
    watched_mark_id: Mapped[int] = mapped_column(ForeignKey("watched_marks.id"), index=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)  # who watches
    source: Mapped[str] = mapped_column(String(8))  # case | feed
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    published_mark_id: Mapped[int | None] = mapped_column(ForeignKey("published_marks.id"), nullable=True)
    candidate_text: Mapped[str] = mapped_column(String(200))
    candidate_classes: Mapped[list[Any]] = mapped_column(default=list)
    score: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(8))  # high | medium | low
    class_relation: Mapped[str] = mapped_column(String(10))
    #: [{"code", "score", "watched", "candidate", "detail"}], best first
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    opposition_last_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    risk_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    watched_mark: Mapped[WatchedMark] = relationship()
    published_mark: Mapped[PublishedMark | None] = relationship()
    case: Mapped[Case | None] = relationship(foreign_keys=[case_id])
    risk_case: Mapped[Case | None] = relationship(foreign_keys=[risk_case_id])


class Notice(Base):
    """An early warning to one person (deadline, look-alike mark, repeat respondent): listed on
    their pages and mailed by the notify worker. The unique key makes each one happen once."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))  # deadline | lookalike | repeat_respondent
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    #: what the email and the page show, both languages where it is text
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    recipient: Mapped[User] = relationship()
    case: Mapped[Case | None] = relationship()

    __table_args__ = (Index("ix_notices_recipient_created", "recipient_id", "created_at"),)


class DigestSetting(Base):
    """A coordinator's digest schedule; a coordinator without a row gets the default."""

    __tablename__ = "digest_settings"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    frequency: Mapped[str] = mapped_column(String(8), default="daily")  # daily | weekly
    hour: Mapped[int] = mapped_column(Integer, default=8)
    timezone: Mapped[str] = mapped_column(String(50), default="Asia/Shanghai")
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @classmethod
    def of(cls, session: Session, user_id: int) -> DigestSetting:
        """The coordinator's setting, or the default (daily at 08:00 China time), not added."""
        return session.get(cls, user_id) or cls(
            user_id=user_id, frequency="daily", hour=8, timezone="Asia/Shanghai", paused=False
        )


class SentOnce:
    """The state of an email sent once (``workers.notify.send_once``): a digest, a daily summary."""

    status: Mapped[str] = mapped_column(String(10), default="due")  # due | sending | retrying | sent | failed
    #: when a notify worker claimed it for sending (a claim older than the stale limit is free again)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(nullable=True)


class DigestRecord(SentOnce, Base):
    """One digest for one coordinator and one period: the unique key is what makes it go out once."""

    __tablename__ = "digests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    coordinator_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    period_key: Mapped[str] = mapped_column(String(30))  # daily:2026-11-24 | weekly:2026-W48
    period_start: Mapped[datetime] = mapped_column()
    period_end: Mapped[datetime] = mapped_column()

    coordinator: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("coordinator_id", "period_key", name="uq_digests_coordinator_period"),)


class DailySummary(SentOnce, Base):
    """One day's summary email for one person: the changes of their cases they asked to have
    gathered (``daily`` delivery). Unique on (recipient, day), so a day's summary goes out once."""

    __tablename__ = "daily_summaries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    period_key: Mapped[str] = mapped_column(String(30))  # daily:2026-11-24 (the local day it is sent)

    recipient: Mapped[User] = relationship()

    __table_args__ = (UniqueConstraint("recipient_id", "period_key", name="uq_daily_summaries_recipient_period"),)


class SummaryLine(Base):
    """An email kept for its recipient's daily summary instead of being sent (one line of it).

    Its key is the email's (``workers.notify.email_key``), unique: as a ``Notification`` row is
    for an email sent at once, it is the claim that records the email once however often its event
    is delivered. ``summary_id`` is set when a summary takes the line, in that summary's
    transaction: a line is in one summary or waiting for the next, never in two, never lost.
    """

    __tablename__ = "summary_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    message_id: Mapped[int] = mapped_column(BigId, index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    template: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    summary_id: Mapped[int | None] = mapped_column(ForeignKey("daily_summaries.id"), nullable=True, index=True)

    case: Mapped[Case | None] = relationship()

    __table_args__ = (Index("ix_summary_lines_waiting", "recipient_id", "summary_id", "created_at"),)


#: APScheduler's job store table (the coordinators' digest jobs, ``workers.digests``), as its
#: ``SQLAlchemyJobStore`` defines it. Declared here so our migrations create it and the schema is
#: whole in one place; the job store then finds it and creates nothing.
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class ReceivedMail(Base):
    """A mail received (Maildir, ``receive-mail``, IMAP), kept as it came under
    ``instance/received/`` by its SHA-256, and what became of it (``services.mailin``): a message
    on a case, nothing (an auto-reply, a bounce, a repeat), or the quarantine coordinators work,
    where it is attached to a case or discarded."""

    __tablename__ = "received_mail"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    via: Mapped[str] = mapped_column(String(8))  # maildir | pipe | imap
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: received (not read yet) | message | opened (a case, by the intake address) | ignored | duplicate
    #: | quarantined | attached | discarded
    status: Mapped[str] = mapped_column(String(12), default="received", index=True)
    #: why it is ignored or quarantined (``services.mailin.REASONS``)
    reason: Mapped[str] = mapped_column(String(20), default="", server_default="")
    #: its Message-ID (without <>), or one made from the hash
    message_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    sender: Mapped[str] = mapped_column(String(254), default="", server_default="")
    recipient: Mapped[str] = mapped_column(String(254), default="", server_default="")
    subject: Mapped[str] = mapped_column(String(300), default="", server_default="")
    #: the reply as read (quote removed), for the quarantine page
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: the files it carried ({"files": [{"filename", "size"}], ...})
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the case it went into, or the case its address named
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    #: the person its address was made for
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    case_message_id: Mapped[int | None] = mapped_column(ForeignKey("case_messages.id"), nullable=True)
    #: the coordinator who attached or discarded it, and when
    handled_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    handled_at: Mapped[datetime | None] = mapped_column(nullable=True)

    case: Mapped[Case | None] = relationship(foreign_keys=[case_id])


class Webhook(Base):
    """An integrator's URL, told of the events it asked for on the cases its owner may see
    (``services.webhooks``)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    #: the routing keys it wants (``services.webhooks.WEBHOOK_EVENTS``)
    events: Mapped[list[Any]] = mapped_column(default=list)
    #: signs each delivery (HMAC-SHA256); shown to the owner, as the receiver needs it to check
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: failed deliveries in a row; at the configured limit the hook is disabled
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    disabled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="", server_default="")

    owner: Mapped[User] = relationship()


class WebhookDelivery(Base):
    """One event to one hook: sent, or still to be tried at ``next_attempt_at``, or given up."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id"))
    #: the outbox message the event came in (one delivery per event and hook)
    event_id: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(40))
    #: the JSON body sent, fixed when the event was handled (a retry sends the same bytes)
    body: Mapped[str] = mapped_column(Text)
    #: pending | sent | failed (given up: the hook was disabled)
    status: Mapped[str] = mapped_column(String(8), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)

    webhook: Mapped[Webhook] = relationship()


class Partner(Base):
    """A partner body of the centre's directory (``referrals.PARTNER_KINDS``), kept by the
    coordinators. Deactivated, never deleted: old referrals still name it."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    contact_name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    #: languages it works in (``schemas.LANGUAGES``) and the right types it handles
    languages: Mapped[list[Any]] = mapped_column(default=list)
    fields: Mapped[list[Any]] = mapped_column(default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Referral(Base):
    """A case, or a question in it, referred to a partner (``workstation.referrals``): its status
    and when each was reached, the partner's answer as the expert recorded it (its files are the
    case's ``Evidence`` of kind ``referral``, named in ``answer_files`` by hash)."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    referred_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(14), default="sent")
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    answer: Mapped[str] = mapped_column(Text, default="")
    answer_files: Mapped[list[Any]] = mapped_column(default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship()
    partner: Mapped[Partner] = relationship()
    referrer: Mapped[User] = relationship()

    # the desk's and the sweep's open referrals, without reading the closed ones
    __table_args__ = (Index("ix_referrals_status", "status"),)


class SavedView(Base):
    """A named search and sort of a coordinator or an expert (``services.views``), shown as a tab
    on the desk or the queue; private, or shared with the others of its owner's role."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_saved_views_owner_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: the owner's role when it was saved: a shared view is shown to that role only
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(80))
    #: in the search syntax (``search_syntax.parse``); checked when saved
    query: Mapped[str] = mapped_column(String(500), default="")
    sort: Mapped[str] = mapped_column(String(20), default="newest")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    owner: Mapped[User] = relationship()


class TraineeDraft(Base):
    """A trainee's shadow note or draft opinion on a case they shadow, and its expert's review
    (``services.training``): comments and a rating of 1-5 on each competence (``training``).
    Training material, never the case's: no ``CaseEvent``, no thread message, nothing the
    enterprise, a search, an export or a webhook can reach."""

    __tablename__ = "trainee_drafts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    trainee_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: ``training.KINDS``: a shadow note or a draft opinion
    kind: Mapped[str] = mapped_column(String(10))
    body: Mapped[str] = mapped_column(Text)
    #: ``submitted`` (waiting for the case's expert) or ``reviewed``
    status: Mapped[str] = mapped_column(String(12), default="submitted")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    comments: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: {competence: 1..5} for the four of ``training.COMPETENCES``; NULL until reviewed
    ratings: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(nullable=True)

    case: Mapped[Case] = relationship()
    trainee: Mapped[User] = relationship(foreign_keys=[trainee_id])
    reviewer: Mapped[User | None] = relationship(foreign_keys=[reviewer_id])
