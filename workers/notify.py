"""The notify consumer: case events -> emails to the people concerned, once per (event, recipient).

Each email is claimed (a ``Notification`` row, unique per key) in a committed transaction
before it is sent, and marked sent afterwards with, once every recipient is done, the handled
mark. Two workers given the same message therefore never both send: the second finds the claim.
A worker that dies between sending and marking leaves a stale claim; after
``WORKSTATION_STALE_CLAIM`` (2 min; SMTP times out well before, and a batch of messages stops
sending after a quarter of it) a redelivery sends that email again: at least once. The file
sender then overwrites the same file, and over SMTP the repeat carries the same Message-ID.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import Message
from time import monotonic
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from workers.delivery import (
    Context,
    Delivery,
    PermanentError,
    as_id,
    claim_messages,
    handled_among,
    is_handled,
    mark_handled,
    payload_id,
)
from workstation.config import Config
from workstation.evidence import human_size
from workstation.services.accounts import ACCOUNT_MAIL, AccountMailError, account_emails, delivery_of, wants_email
from workstation.services.conversation import MESSAGE_EVENT, message_for_event, message_recipients
from workstation.services.db import lock_for_write
from workstation.services.digest import Period, build_digest, format_day, key_day
from workstation.services.mail import Sending, about_case, address, render_email
from workstation.services.messaging import SUBSCRIPTIONS
from workstation.services.models import (
    Case,
    CaseEvent,
    CaseMessage,
    DailySummary,
    DigestRecord,
    Notice,
    Notification,
    Opinion,
    SummaryLine,
    TraineeDraft,
    User,
    utcnow,
)
from workstation.services.notices import active_coordinators, notice_context
from workstation.services.panels import MARKED_DIFFICULT, PANEL_CONVENED, PANEL_DISSOLVED
from workstation.services.summary import SUMMARY_EVENT, summary_lines
from workstation.services.training import DRAFT_REVIEWED, DRAFT_SUBMITTED
from workstation.training import COMPETENCES

CONSUMER = "notify"


#: (recipient, email template, extra template context)
Email = tuple[User, str, dict[str, Any]]


def recipients_for(session: Session, event_type: str, case: Case, payload: dict[str, Any]) -> list[Email]:
    """(recipient, email template, extra context) for each email an event causes."""
    if event_type == "case.assigned":
        expert_id = payload_id(payload, "expert_id")
        expert = session.get(User, expert_id) if expert_id is not None else None
        if expert is None:
            raise PermanentError("case.assigned names no existing expert")
        emails: list[Email] = [
            (expert, "expert_case_assigned", {}),
            (case.enterprise, "enterprise_case_assigned", {"expert": expert}),
        ]
        shadow_id = payload_id(payload, "shadow_expert_id")
        shadow = session.get(User, shadow_id) if shadow_id is not None else None
        if shadow is not None:
            emails.append((shadow, "trainee_shadow_attached", {"expert": expert}))
        # Reassigned (or rerouted) away from an expert: they are told it is no longer theirs.
        previous = _user(session, payload, "previous_expert_id")
        if previous is not None and previous.id != expert.id:
            emails.append((previous, "expert_case_reassigned", {}))
        return _not_to_actor(session, payload, emails)
    if event_type in STATUS_EVENTS:
        return _not_to_actor(session, payload, status_emails(session, event_type, case, payload))
    if event_type == "case.awaiting_expert":
        coordinators = active_coordinators(session)
        emails = [(c, "coordinator_no_expert", {"reasons": payload.get("reasons", [])}) for c in coordinators]
        # Taken from its expert (gone on leave, no longer fitting), nobody else fits: they are told
        # it is no longer theirs, and that it went back to the coordinators.
        previous = _user(session, payload, "previous_expert_id")
        if previous is not None:
            emails.append((previous, "expert_case_reassigned", {"to_coordinators": True}))
        return _not_to_actor(session, payload, emails)
    if event_type == "case.info_requested":
        said = {"question": payload.get("reason", ""), "attachments": _attachments(session, payload)}
        return [(case.enterprise, "enterprise_info_requested", said)]
    if event_type == "case.info_provided":
        expert = case.assigned_expert
        said = {"answer": payload.get("reason", ""), "attachments": _attachments(session, payload)}
        return [(expert, "expert_info_provided", said)] if expert else []
    if event_type == MESSAGE_EVENT:
        return message_emails(session, case, payload)
    if event_type in PANEL_EVENTS:
        return _not_to_actor(session, payload, panel_emails(session, event_type, case, payload))
    if event_type in TRAINING_EVENTS:
        return _not_to_actor(session, payload, training_emails(session, event_type, case, payload))
    if event_type == "case.opened_by_mail":
        return [(case.enterprise, "enterprise_case_by_mail", {})]
    if event_type == "case.opinion_issued":
        # Loaded with its expert now: the email is rendered after this session has closed.
        opinion = session.scalar(select(Opinion).options(joinedload(Opinion.expert)).where(Opinion.case_id == case.id))
        if opinion is None:
            raise PermanentError("case.opinion_issued for a case without an opinion")
        return [(case.enterprise, "enterprise_opinion_issued", {"opinion": opinion})]
    raise PermanentError(f"notify has no email for {event_type!r}")


#: A difficult case and its panel (``workstation.services.panels``), mailed by ``panel_emails``.
PANEL_EVENTS = (MARKED_DIFFICULT, PANEL_CONVENED, PANEL_DISSOLVED)


def panel_emails(session: Session, event_type: str, case: Case, payload: dict[str, Any]) -> list[Email]:
    """Marked difficult: the lead expert, and the coordinators (who convene panels). Convened:
    each member (asked to read the case and write a view) and the lead expert (told who sits).
    Dissolved: each member. Internal all: never the enterprise."""
    lead = case.assigned_expert
    if event_type == MARKED_DIFFICULT:
        said = {"reason": payload.get("reason") or ""}
        people = [lead, *active_coordinators(session)]
        return [(person, "case_marked_difficult", said) for person in people if person is not None]
    ids = payload.get("members")
    if not isinstance(ids, list) or not all(as_id(i) is not None for i in ids):
        raise PermanentError(f"{event_type} names no members")
    members = list(session.scalars(select(User).where(User.id.in_(ids)).order_by(User.id)))
    if event_type == PANEL_DISSOLVED:
        return [(member, "panel_dissolved", {}) for member in members]
    said = {"reason": case.difficult_reason or "", "lead": lead, "members": [m.name for m in members]}
    emails: list[Email] = [(member, "panel_convened", {**said, "as_member": True}) for member in members]
    return emails + ([(lead, "panel_convened", {**said, "as_member": False})] if lead is not None else [])


#: A trainee's draft and its review (``workstation.services.training``), mailed by ``training_emails``.
TRAINING_EVENTS = (DRAFT_SUBMITTED, DRAFT_REVIEWED)
#: Emails whose replies must not join the case's thread: what a trainee and their expert say
#: about a draft is training, never a message the enterprise could read.
UNANSWERABLE = frozenset({"trainee_draft_submitted", "trainee_draft_reviewed"})


def training_emails(session: Session, event_type: str, case: Case, payload: dict[str, Any]) -> list[Email]:
    """Submitted: the case's expert, asked to review the draft. Reviewed: the trainee, with the
    comments and ratings. Never the enterprise."""
    draft_id = payload_id(payload, "draft_id")
    draft = session.get(TraineeDraft, draft_id) if draft_id is not None else None
    if draft is None or draft.case_id != case.id:
        raise PermanentError(f"{event_type} names no draft of the case")
    said = {"trainee": draft.trainee.name, "kind": draft.kind, "draft_id": draft.id}
    if event_type == DRAFT_SUBMITTED:
        expert = case.assigned_expert
        return [(expert, "trainee_draft_submitted", said)] if expert is not None and expert.is_active else []
    if draft.status != "reviewed" or draft.reviewer is None:
        raise PermanentError(f"{event_type} names a draft not reviewed")
    ratings = [(c, (draft.ratings or {}).get(c)) for c in COMPETENCES]
    said |= {"reviewer": draft.reviewer.name, "comments": draft.comments or "", "ratings": ratings}
    return [(draft.trainee, "trainee_draft_reviewed", said)] if draft.trainee.is_active else []


#: The changes of a case mailed to the people it concerns (``status_emails``).
STATUS_EVENTS = ("case.accepted", "case.declined", "case.closed", "case.withdrawn", "case.reopened")


def status_emails(session: Session, event_type: str, case: Case, payload: dict[str, Any]) -> list[Email]:
    """The status mail of a change: to the enterprise and the expert who held the case at the
    event, as the change concerns them, and to the trainee shadowing it when it ends or reopens.
    A declining expert is not told (they acted); when a case without an expert is withdrawn, the
    coordinators are (they were looking for one)."""
    holder = _user(session, payload, "holder_id") if "holder_id" in payload else case.assigned_expert
    said = {"reason": payload.get("reason") or ""}
    if event_type == "case.accepted":
        expert = holder or case.assigned_expert
        return [(case.enterprise, "enterprise_case_accepted", {"expert": expert})] if expert else []
    if event_type == "case.declined":
        return [(case.enterprise, "enterprise_case_declined", {})]
    # A trainee shadowing the case reads it as its expert does: they are told it ended or came
    # back, in their language (never of a confidential case, which no trainee follows).
    shadow = case.shadow_expert if not case.confidential else None
    if event_type == "case.withdrawn":
        concerned = [holder] if holder is not None else list(active_coordinators(session))
        return [(person, "case_withdrawn", said) for person in (*concerned, shadow) if person is not None]
    template = "case_closed" if event_type == "case.closed" else "case_reopened"
    return [(person, template, said) for person in (case.enterprise, holder, shadow) if person is not None]


def _user(session: Session, payload: dict[str, Any], key: str) -> User | None:
    user_id = payload_id(payload, key)
    return session.get(User, user_id) if user_id is not None else None


def _not_to_actor(session: Session, payload: dict[str, Any], emails: list[Email]) -> list[Email]:
    """``emails`` without those to the person who made the change: nobody is told of their own act.
    (An event from before payloads named the actor: its ``CaseEvent`` says.)"""
    if "actor_id" in payload:
        actor_id = payload_id(payload, "actor_id")
    else:
        event_id = payload_id(payload, "event_id")
        event = session.get(CaseEvent, event_id) if event_id is not None else None
        actor_id = event.actor_id if event is not None else None
    return [email for email in emails if email[0].id != actor_id]


def _attachments(session: Session, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The names and sizes of the files that came with the message of the event (none for an
    event from before the thread, or without a message)."""
    event_id = payload_id(payload, "event_id")
    message = message_for_event(session, event_id) if event_id is not None else None
    return attachment_list(message) if message is not None else []


def attachment_list(message: CaseMessage) -> list[dict[str, Any]]:
    """A message's files as a mail lists them (plain data: the mail is rendered after the session closes)."""
    return [{"filename": f.filename, "size": human_size(f.size)} for f in message.attachments]


def message_emails(session: Session, case: Case, payload: dict[str, Any]) -> list[Email]:
    """``case.message``: the message (or internal note) to the others on the case, each in their
    language, with its text and its files' names and sizes (``conversation.message_recipients``)."""
    event_id = payload_id(payload, "event_id")
    message = message_for_event(session, event_id) if event_id is not None else None
    if message is None or message.case_id != case.id:
        raise PermanentError("case.message names no message of the case")
    finished = payload.get("finished") is True
    said = {
        "author": message.author.name,
        "author_role": message.author.role,
        "body": message.body,
        "internal": message.internal,
        "finished": finished,
        "attachments": attachment_list(message),
    }
    return [(person, "case_message", said) for person in message_recipients(session, case, message, finished)]


def notice_emails(session: Session, payload: dict[str, Any]) -> list[Email]:
    """One email per notice (``workstation.services.notices``), in its recipient's language."""
    ids = payload.get("notice_ids")
    if not isinstance(ids, list) or not all(as_id(i) is not None for i in ids):
        raise PermanentError("notice.raised names no notices")
    notices = session.scalars(
        select(Notice)
        .where(Notice.id.in_(ids))
        .options(joinedload(Notice.recipient), joinedload(Notice.case).joinedload(Case.enterprise))
        .order_by(Notice.id)
    ).all()
    if len(notices) != len(set(ids)):
        raise PermanentError("notice.raised names notices that do not exist")
    # ``notice_id`` makes each notice its own email: one event (a sweep, a case naming a respondent
    # of several earlier cases) often raises several notices of one kind for one person.
    return [
        (
            n.recipient,
            f"{n.kind}_notice",
            {"case": n.case, "notice": notice_context(n, n.recipient.language), "notice_id": n.id},
        )
        for n in notices
    ]


def emails_for(
    session: Session, event_type: str, payload: dict[str, Any], config: Config | None = None
) -> tuple[Case | None, list[Email]]:
    """The case the event is about (None for notices, which name their own, and account emails)
    and its emails, without those of a kind the recipient turned off (``accounts.wants_email``)."""
    if event_type == ACCOUNT_MAIL:
        return None, _account_emails(session, payload, config)
    if event_type == "notice.raised":
        return None, _wanted(notice_emails(session, payload))
    case_id = payload_id(payload, "case_id")
    case = session.get(Case, case_id, options=[joinedload(Case.enterprise)]) if case_id is not None else None
    if case is None:
        raise PermanentError("payload names no existing case")
    return case, _wanted(recipients_for(session, event_type, case, payload))


def _wanted(emails: list[Email]) -> list[Email]:
    return [email for email in emails if wants_email(*email)]


def _account_emails(session: Session, payload: dict[str, Any], config: Config | None) -> list[Email]:
    """An invitation, an email confirmation or a registration's decision (``services.accounts``)."""
    if config is None:
        raise PermanentError("account emails need the configuration (their links)")
    try:
        return account_emails(session, config, payload)
    except AccountMailError as err:
        raise PermanentError(str(err)) from None


def email_key(message_id: int, recipient: User, template: str, extra: dict[str, Any] | None = None) -> str:
    """The identity of one email: one message, one recipient, one template, and for a notice the
    notice (two notices of one kind to one person in one event would otherwise share a key, and
    the claim of the second would fail on the unique key every time: neither would ever be sent)."""
    key = f"{message_id}:{recipient.id}:{template}"
    notice_id = (extra or {}).get("notice_id")
    return key if notice_id is None else f"{key}:{notice_id}"


def claim(
    session: Session,
    message_id: int,
    case: Case | None,
    emails: list[Email],
    stale_after: float,
    existing: dict[str, Notification],
    new_claims: list[dict[str, Any]],
) -> set[str]:
    """Claim, in the caller's transaction, the emails of this message that nobody has sent or is
    sending; returns their keys. ``existing``: the notifications of the message so far, by key
    (``notifications_of``). The new claims are appended to ``new_claims``, rows for the caller to
    insert (``insert_claims``), which raises IntegrityError if another worker claimed first."""
    now = utcnow()
    claimed: set[str] = set()
    for recipient, template, extra in emails:
        key = email_key(message_id, recipient, template, extra)
        row = existing.get(key)
        about = extra.get("case", case)
        if row is None:
            case_id = about.id if about else None
            new_claims.append({"key": key, "message_id": message_id, "recipient_id": recipient.id,
                               "template": template, "case_id": case_id, "claimed_at": now})  # fmt: skip
            claimed.add(key)
        elif row.status == "sending" and row.claimed_at < now - timedelta(seconds=stale_after):
            taken = session.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.claimed_at == row.claimed_at)
                .values(claimed_at=now, attempts=Notification.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:
                claimed.add(key)
    return claimed


def insert_claims(session: Session, new_claims: list[dict[str, Any]]) -> None:
    """Insert the notifications ``claim`` made, in one statement and without the ORM's unit of
    work (nothing reads them back in this transaction)."""
    if new_claims:
        session.execute(insert(Notification.__table__), new_claims)


def notifications_of(session: Session, message_ids: list[int]) -> dict[str, Notification]:
    """The notifications of these messages so far, by key (one query for a whole batch)."""
    query = select(Notification).where(Notification.message_id.in_(message_ids))
    return {n.key: n for n in session.scalars(query)}


def preload(session: Session, deliveries: list[Delivery]) -> list[Any]:
    """Load the cases (with their enterprises) and experts the events name, in two queries, so
    that ``emails_for`` finds them in the session instead of asking one by one. The caller keeps
    the returned objects referenced while it works (the session holds them only weakly)."""
    case_ids = {i for d in deliveries if (i := payload_id(d.payload, "case_id")) is not None}
    user_keys = ("expert_id", "shadow_expert_id", "holder_id", "previous_expert_id")
    user_ids = {i for d in deliveries for k in user_keys if (i := payload_id(d.payload, k))}
    loaded: list[Any] = []
    if case_ids:
        query = select(Case).options(joinedload(Case.enterprise)).where(Case.id.in_(case_ids))
        loaded += session.scalars(query).unique().all()
    if user_ids:
        loaded += session.scalars(select(User).where(User.id.in_(user_ids))).all()
    return loaded


#: The most messages handled in one batch (``workers.consumer``). A batch claims all its emails
#: before it sends and records them after, so a worker killed mid-batch may have sent emails of up
#: to this many messages without recording them; those are sent again once their claims go stale
#: (at least once). Under load the batches are full, and a batch's two transactions (their round
#: trips and ORM work) are most of what a case costs this worker besides its mail: the larger the
#: batch, the less of them per case.
MAX_BATCH = 32

#: The events ``handle_many`` takes several at a time: all but the digests and the daily
#: summaries, built and sent alone.
BATCHED_EVENTS = frozenset(SUBSCRIPTIONS[CONSUMER]) - {"digest.due", SUMMARY_EVENT}


def handle(ctx: Context, message_id: int, event_type: str, payload: dict[str, Any]) -> None:
    if event_type == "digest.due":
        send_digest(ctx, message_id, payload)
        return
    if event_type == SUMMARY_EVENT:
        send_summary(ctx, message_id, payload)
        return
    handle_many(ctx, [Delivery(message_id, event_type, payload)])


def keep_for_summary(
    session: Session, message_id: int, case: Case | None, emails: list[Email], kept: set[str]
) -> list[Email]:
    """Record, in the caller's transaction, each email its recipient wants in their daily summary
    as a line of it (once: ``kept`` holds the keys of the lines of these messages so far); return
    the others, to send now."""
    now = utcnow()
    to_send: list[Email] = []
    for recipient, template, extra in emails:
        if delivery_of(recipient, template, extra) != "daily":
            to_send.append((recipient, template, extra))
            continue
        key = email_key(message_id, recipient, template, extra)
        if key in kept:
            continue
        about = extra.get("case", case)
        session.add(SummaryLine(key=key, message_id=message_id, recipient_id=recipient.id, template=template,
                                case_id=about.id if about else None, created_at=now))  # fmt: skip
        kept.add(key)
    return to_send


def lines_of(session: Session, message_ids: list[int]) -> set[str]:
    """The keys of the summary lines these messages have recorded so far."""
    return set(session.scalars(select(SummaryLine.key).where(SummaryLine.message_id.in_(message_ids))))


@dataclass
class _Mailing:
    """The emails of one message, and those of them this worker claimed."""

    message_id: int
    case: Case | None
    emails: list[Email]
    claimed: set[str]


def handle_many(ctx: Context, deliveries: list[Delivery]) -> None:
    """Send the emails of several events: claimed in one transaction, sent, then marked sent (and
    each message whose emails are all sent marked handled) in one more."""
    with ctx.sessions() as session:
        lock_for_write(session)  # a short write transaction: read, claim, commit
        done = handled_among(session, CONSUMER, [d.message_id for d in deliveries])
        todo = [d for d in deliveries if d.message_id not in done]
        loaded = preload(session, todo) if len(todo) > 1 else []
        existing = notifications_of(session, [d.message_id for d in todo]) if todo else {}
        kept = lines_of(session, [d.message_id for d in todo]) if todo else set()
        mailings: list[_Mailing] = []
        new_claims: list[dict[str, Any]] = []
        for d in todo:
            case, emails = emails_for(session, d.event_type, d.payload, ctx.config)
            emails = keep_for_summary(session, d.message_id, case, emails, kept)
            claimed = claim(session, d.message_id, case, emails, ctx.config.stale_claim, existing, new_claims)
            mailings.append(_Mailing(d.message_id, case, emails, claimed))
        del loaded  # (referenced until here: the session holds what it loaded only weakly)
        if not mailings:
            return
        try:
            insert_claims(session, new_claims)
            session.commit()
        except IntegrityError:
            if len(deliveries) > 1:
                raise  # (each message is then delivered on its own)
            return  # another worker is sending these; it marks the message handled when done
    attempted: set[str] = set()
    # A batch's claims are all taken at once: one that sends slowly (SMTP timing out) must stop
    # well before they go stale and another worker may take them over and send again. The
    # messages not done are then delivered one by one, each with claims of its own.
    budget = ctx.config.stale_claim / 4
    started = monotonic()
    sending = Sending(ctx.sender)  # (each email built while those before it are on their way)
    try:
        with sending:
            for mailing in mailings:
                if len(mailings) > 1 and monotonic() - started > budget:
                    raise TimeoutError(f"a batch of {len(mailings)} messages sent for over {budget:g}s")
                for recipient, template, extra in mailing.emails:
                    key = email_key(mailing.message_id, recipient, template, extra)
                    if key not in mailing.claimed:
                        continue
                    sending.check()  # (a send failed: nothing more is handed over)
                    attempted.add(key)
                    sending.submit(compose(ctx.config, mailing.case, recipient, template, extra, key), key)
    finally:
        settle(ctx, mailings, attempted, sending.sent)


def compose(
    config: Config, case: Case | None, recipient: User, template: str, extra: dict[str, Any], key: str
) -> Message:
    """One email of a message, in its recipient's language; one about a case is answerable (its
    footer says so): a reply joins the case."""
    context = {"case": case, "recipient": recipient, **extra}
    about = context.get("case")
    replyable = isinstance(about, Case) and bool(about.reference) and template not in UNANSWERABLE
    to = address(recipient.name, recipient.email)
    email = render_email(template, recipient.language, to, config, key, replyable=replyable, **context)
    if replyable:
        about_case(email, config, about.reference, recipient.id)
    return email


def settle(ctx: Context, mailings: list[_Mailing], attempted: set[str], sent: set[str]) -> None:
    """Mark the ``sent`` emails sent, release the claims of the others at once (so a retry can take
    them), and mark handled each message whose emails are all sent, by this worker or another.
    A claim released without a send attempted (a batch cut short) gives back its attempt:
    ``attempts`` counts sends tried."""
    now = utcnow()
    stale = now - timedelta(seconds=ctx.config.stale_claim + 1)
    with ctx.sessions.begin() as session:
        if sent:
            session.execute(
                update(Notification)
                .where(Notification.key.in_(sent))
                .values(status="sent", sent_at=now)
                .execution_options(synchronize_session=False)
            )
        claimed = set().union(*(m.claimed for m in mailings))
        failed = claimed - sent
        # (a send tried and failed keeps its attempt; a claim never tried gives it back)
        for keys, attempts in (
            (attempted - sent, Notification.attempts),
            (claimed - attempted, Notification.attempts - 1),
        ):
            if keys:
                session.execute(
                    update(Notification)
                    .where(Notification.key.in_(keys))
                    .values(claimed_at=stale, attempts=attempts)
                    .execution_options(synchronize_session=False)
                )
        complete = []
        for mailing in mailings:
            if mailing.claimed & failed:
                continue
            # When this worker did not claim them all, some are another worker's (or were sent
            # before), so look.
            if len(mailing.claimed) < len(mailing.emails) and session.scalar(
                select(Notification.id)
                .where(Notification.message_id == mailing.message_id, Notification.status != "sent")
                .limit(1)
            ):
                continue
            complete.append(mailing.message_id)
        if complete:
            # (a parallel delivery may have marked one first: the insert then skips it)
            claim_messages(session, CONSUMER, complete)


def send_digest(ctx: Context, message_id: int, payload: dict[str, Any]) -> None:
    """``digest.due``: build the coordinator's digest now and send it, once (see ``workers.digests``)."""
    digest_id = payload_id(payload, "digest_id")
    if digest_id is None:
        raise PermanentError("digest.due names no digest")
    send_once(ctx, message_id, DigestRecord, digest_id, _digest_email)


def _digest_email(session: Session, record: DigestRecord, config: Config, now: datetime) -> tuple[Message, str]:
    coordinator = record.coordinator
    period = Period(record.period_key, record.period_start, record.period_end)
    key = f"digest:{coordinator.id}:{period.key}"
    digest = build_digest(session, period, now, config.referral_wait_days)
    message = render_email(
        "coordinator_digest", coordinator.language, address(coordinator.name, coordinator.email), config, key,
        digest=digest, recipient=coordinator,
    )  # fmt: skip
    return message, key


def send_summary(ctx: Context, message_id: int, payload: dict[str, Any]) -> None:
    """``summary.due``: a person's daily summary, sent once (see ``services.summary``)."""
    summary_id = payload_id(payload, "summary_id")
    if summary_id is None:
        raise PermanentError("summary.due names no summary")
    send_once(ctx, message_id, DailySummary, summary_id, _summary_email)


def _summary_email(session: Session, summary: DailySummary, config: Config, now: datetime) -> tuple[Message, str]:
    person = summary.recipient
    key = f"summary:{person.id}:{summary.period_key}"
    lines = summary_lines(session, summary.id, person.language)
    day = format_day(key_day(summary.period_key), person.language)
    message = render_email(
        "daily_summary", person.language, address(person.name, person.email), config, key,
        recipient=person, lines=lines, day=day,
    )  # fmt: skip
    return message, key


#: A record sent once (``DigestRecord``, ``DailySummary``), and how its email is made from it.
Record = DigestRecord | DailySummary
Compose = Callable[[Session, Any, Config, datetime], tuple[Message, str]]


def send_once(ctx: Context, message_id: int, model: type[Record], record_id: int, compose: Compose) -> None:
    """Claim the record (``sending``) in a committed transaction, compose its email and send it,
    then mark it ``sent`` and the message handled: a redelivered event finds it sent or being
    sent. A failed send is retried with the delivery's back-off; the last attempt leaves it
    ``failed`` for the page to show."""
    now = utcnow()
    with ctx.sessions() as session:
        lock_for_write(session)
        if is_handled(session, CONSUMER, message_id):
            return
        record = session.get(model, record_id)
        if record is None:
            raise PermanentError(f"the event names no existing {model.__tablename__} row")
        if record.status == "sent":
            mark_handled(session, CONSUMER, message_id)
            session.commit()
            return
        fresh_claim = record.claimed_at and record.claimed_at > now - timedelta(seconds=ctx.config.stale_claim)
        if record.status == "sending" and fresh_claim:
            return  # another worker is sending it; it marks the message handled when done
        record.status, record.claimed_at, record.attempts = "sending", now, record.attempts + 1
        session.commit()
        attempts = record.attempts
    try:
        with ctx.sessions() as session:
            message, key = compose(session, session.get(model, record_id), ctx.config, now)
        ctx.sender.send(message, key)
    except Exception as err:
        with ctx.sessions.begin() as session:
            session.execute(
                update(model)
                .where(model.id == record_id)
                .values(
                    status="failed" if attempts >= ctx.config.max_attempts else "retrying",
                    last_error=f"{type(err).__name__}: {err}"[:2000],
                    claimed_at=None,
                )
            )
        raise
    with ctx.sessions.begin() as session:
        session.execute(
            update(model)
            .where(model.id == record_id)
            .values(status="sent", sent_at=utcnow(), last_error="")
            .execution_options(synchronize_session=False)
        )
        mark_handled(session, CONSUMER, message_id)
