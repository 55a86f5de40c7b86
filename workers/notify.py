"""The notify consumer: case events -> emails to the people concerned, once per (event, recipient).

Emails are sent outside any database write lock, then recorded under their keys together with
the handled mark in one short transaction; a redelivery skips everyone already mailed. A worker
killed between a send and that commit sends those emails again on redelivery: the file sender
overwrites the same file, and over SMTP the repeat carries the same Message-ID.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from workers.delivery import Context, PermanentError, is_handled, mark_handled
from workstation.mail import address, render_email
from workstation.models import Case, Notification, User

CONSUMER = "notify"


def recipients_for(
    session, event_type: str, case: Case, payload: dict[str, Any]
) -> list[tuple[User, str, dict[str, Any]]]:  # noqa: ANN001
    """(recipient, email template, extra context) for each email an event causes."""
    if event_type == "case.assigned":
        expert = session.get(User, payload.get("expert_id"))
        if expert is None:
            raise PermanentError("case.assigned names no existing expert")
        return [
            (expert, "expert_case_assigned", {}),
            (case.enterprise, "enterprise_case_assigned", {"expert": expert}),
        ]
    if event_type == "case.awaiting_expert":
        coordinators = session.scalars(select(User).where(User.role == "coordinator", User.is_active.is_(True))).all()
        return [(c, "coordinator_no_expert", {"reasons": payload.get("reasons", [])}) for c in coordinators]
    raise PermanentError(f"notify has no email for {event_type!r}")


def handle(ctx: Context, message_id: int, event_type: str, payload: dict[str, Any]) -> None:
    with ctx.sessions() as session:
        if is_handled(session, CONSUMER, message_id):
            return
        case_id = payload.get("case_id")
        case = session.get(Case, case_id, options=[joinedload(Case.enterprise)]) if isinstance(case_id, int) else None
        if case is None:
            raise PermanentError("payload names no existing case")
        emails = recipients_for(session, event_type, case, payload)
        sent = set(session.scalars(select(Notification.key).where(Notification.message_id == message_id)).all())
    done: list[Notification] = []
    try:
        for recipient, template, extra in emails:
            key = f"{message_id}:{recipient.id}:{template}"
            if key in sent:
                continue
            to = address(recipient.name, recipient.email)
            context = {"case": case, "recipient": recipient, **extra}
            ctx.sender.send(render_email(template, recipient.language, to, ctx.config, key, **context), key)
            done.append(Notification(key=key, message_id=message_id, recipient_id=recipient.id, template=template,
                                     case_id=case.id))  # fmt: skip
    finally:
        # One short transaction records every email sent; if one failed, those before it are kept
        # and the retry skips them. Only when all are sent is the message handled.
        complete = len(done) == len([e for e in emails if f"{message_id}:{e[0].id}:{e[1]}" not in sent])
        with ctx.sessions.begin() as session:
            session.add_all(done)
            if complete:
                mark_handled(session, CONSUMER, message_id)
