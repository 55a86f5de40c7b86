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

from dataclasses import dataclass
from datetime import timedelta
from time import monotonic
from typing import Any

from sqlalchemy import select, update
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
from workstation.services.accounts import ACCOUNT_MAIL, AccountMailError, account_emails, wants_email
from workstation.services.conversation import MESSAGE_EVENT, message_for_event, message_recipients
from workstation.services.db import lock_for_write
from workstation.services.digest import Period, build_digest
from workstation.services.mail import about_case, address, render_email
from workstation.services.messaging import SUBSCRIPTIONS
from workstation.services.models import Case, CaseMessage, DigestRecord, Notice, Notification, Opinion, User, utcnow
from workstation.services.notices import active_coordinators, notice_context

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
        return emails
    if event_type == "case.awaiting_expert":
        coordinators = active_coordinators(session)
        return [(c, "coordinator_no_expert", {"reasons": payload.get("reasons", [])}) for c in coordinators]
    if event_type == "case.info_requested":
        said = {"question": payload.get("reason", ""), "attachments": _attachments(session, payload)}
        return [(case.enterprise, "enterprise_info_requested", said)]
    if event_type == "case.info_provided":
        expert = case.assigned_expert
        said = {"answer": payload.get("reason", ""), "attachments": _attachments(session, payload)}
        return [(expert, "expert_info_provided", said)] if expert else []
    if event_type == MESSAGE_EVENT:
        return message_emails(session, case, payload)
    if event_type == "case.opened_by_mail":
        return [(case.enterprise, "enterprise_case_by_mail", {})]
    if event_type == "case.opinion_issued":
        # Loaded with its expert now: the email is rendered after this session has closed.
        opinion = session.scalar(select(Opinion).options(joinedload(Opinion.expert)).where(Opinion.case_id == case.id))
        if opinion is None:
            raise PermanentError("case.opinion_issued for a case without an opinion")
        return [(case.enterprise, "enterprise_opinion_issued", {"opinion": opinion})]
    raise PermanentError(f"notify has no email for {event_type!r}")


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
) -> set[str]:
    """Claim, in the caller's transaction, the emails of this message that nobody has sent or is
    sending; returns their keys. ``existing``: the notifications of the message so far, by key
    (``notifications_of``). The commit raises IntegrityError if another worker claimed first."""
    now = utcnow()
    claimed: set[str] = set()
    for recipient, template, extra in emails:
        key = email_key(message_id, recipient, template, extra)
        row = existing.get(key)
        about = extra.get("case", case)
        if row is None:
            session.add(Notification(key=key, message_id=message_id, recipient_id=recipient.id, template=template,
                                     case_id=about.id if about else None, claimed_at=now))  # fmt: skip
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


def notifications_of(session: Session, message_ids: list[int]) -> dict[str, Notification]:
    """The notifications of these messages so far, by key (one query for a whole batch)."""
    query = select(Notification).where(Notification.message_id.in_(message_ids))
    return {n.key: n for n in session.scalars(query)}


def preload(session: Session, deliveries: list[Delivery]) -> list[Any]:
    """Load the cases (with their enterprises) and experts the events name, in two queries, so
    that ``emails_for`` finds them in the session instead of asking one by one. The caller keeps
    the returned objects referenced while it works (the session holds them only weakly)."""
    case_ids = {i for d in deliveries if (i := payload_id(d.payload, "case_id")) is not None}
    user_ids = {i for d in deliveries for k in ("expert_id", "shadow_expert_id") if (i := payload_id(d.payload, k))}
    loaded: list[Any] = []
    if case_ids:
        query = select(Case).options(joinedload(Case.enterprise)).where(Case.id.in_(case_ids))
        loaded += session.scalars(query).unique().all()
    if user_ids:
        loaded += session.scalars(select(User).where(User.id.in_(user_ids))).all()
    return loaded


#: The most messages handled in one batch (``workers.consumer``). Fewer than the others: a batch
#: claims all its emails before it sends and records them after, so a worker killed mid-batch may
#: have sent emails of up to this many messages without recording them; those are sent again once
#: their claims go stale (at least once).
MAX_BATCH = 8

#: The events ``handle_many`` takes several at a time: all but the digest, built and sent alone.
BATCHED_EVENTS = frozenset(SUBSCRIPTIONS[CONSUMER]) - {"digest.due"}


def handle(ctx: Context, message_id: int, event_type: str, payload: dict[str, Any]) -> None:
    if event_type == "digest.due":
        send_digest(ctx, message_id, payload)
        return
    handle_many(ctx, [Delivery(message_id, event_type, payload)])


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
        mailings: list[_Mailing] = []
        for d in todo:
            case, emails = emails_for(session, d.event_type, d.payload, ctx.config)
            claimed = claim(session, d.message_id, case, emails, ctx.config.stale_claim, existing)
            mailings.append(_Mailing(d.message_id, case, emails, claimed))
        del loaded  # (referenced until here: the session holds what it loaded only weakly)
        if not mailings:
            return
        try:
            session.commit()
        except IntegrityError:
            if len(deliveries) > 1:
                raise  # (each message is then delivered on its own)
            return  # another worker is sending these; it marks the message handled when done
    attempted: set[str] = set()
    sent: set[str] = set()
    # A batch's claims are all taken at once: one that sends slowly (SMTP timing out) must stop
    # well before they go stale and another worker may take them over and send again. The
    # messages not done are then delivered one by one, each with claims of its own.
    budget = ctx.config.stale_claim / 4
    started = monotonic()
    try:
        for mailing in mailings:
            if len(mailings) > 1 and monotonic() - started > budget:
                raise TimeoutError(f"a batch of {len(mailings)} messages sent for over {budget:g}s")
            for recipient, template, extra in mailing.emails:
                key = email_key(mailing.message_id, recipient, template, extra)
                if key not in mailing.claimed:
                    continue
                to = address(recipient.name, recipient.email)
                context = {"case": mailing.case, "recipient": recipient, **extra}
                attempted.add(key)
                email = render_email(template, recipient.language, to, ctx.config, key, **context)
                about = context.get("case")
                if isinstance(about, Case) and about.reference:
                    about_case(email, ctx.config, about.reference, recipient.id)
                ctx.sender.send(email, key)
                sent.add(key)
    finally:
        settle(ctx, mailings, attempted, sent)


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
    now = utcnow()
    with ctx.sessions() as session:
        lock_for_write(session)
        if is_handled(session, CONSUMER, message_id):
            return
        record = session.get(DigestRecord, digest_id, options=[joinedload(DigestRecord.coordinator)])
        if record is None:
            raise PermanentError("digest.due names no existing digest")
        if record.status == "sent":
            mark_handled(session, CONSUMER, message_id)
            session.commit()
            return
        fresh_claim = record.claimed_at and record.claimed_at > now - timedelta(seconds=ctx.config.stale_claim)
        if record.status == "sending" and fresh_claim:
            return  # another worker is sending it; it marks the message handled when done
        record.status, record.claimed_at, record.attempts = "sending", now, record.attempts + 1
        session.commit()
        coordinator, attempts = record.coordinator, record.attempts
        period = Period(record.period_key, record.period_start, record.period_end)
    key = f"digest:{coordinator.id}:{period.key}"
    try:
        with ctx.sessions() as session:
            digest = build_digest(session, period, now)
        message = render_email(
            "coordinator_digest", coordinator.language, address(coordinator.name, coordinator.email), ctx.config, key,
            digest=digest, recipient=coordinator,
        )  # fmt: skip
        ctx.sender.send(message, key)
    except Exception as err:
        # Retried by the delivery's back-off; the last attempt leaves it failed for the page to show.
        with ctx.sessions.begin() as session:
            session.execute(
                update(DigestRecord)
                .where(DigestRecord.id == digest_id)
                .values(
                    status="failed" if attempts >= ctx.config.max_attempts else "retrying",
                    last_error=f"{type(err).__name__}: {err}"[:2000],
                    claimed_at=None,
                )
            )
        raise
    with ctx.sessions.begin() as session:
        session.execute(
            update(DigestRecord)
            .where(DigestRecord.id == digest_id)
            .values(status="sent", sent_at=utcnow(), last_error="")
            .execution_options(synchronize_session=False)
        )
        mark_handled(session, CONSUMER, message_id)
