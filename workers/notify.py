"""The notify consumer: case events -> emails to the people concerned, once per (event, recipient).

Each email is sent outside any database write lock and then recorded under its key in its own
short transaction, so a redelivery skips everyone already mailed; the message counts as
handled only when every recipient has been.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

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
        case = session.get(Case, payload.get("case_id")) if isinstance(payload.get("case_id"), int) else None
        if case is None:
            raise PermanentError("payload names no existing case")
        emails = recipients_for(session, event_type, case, payload)
        case.enterprise  # noqa: B018 - load before the session closes
        sent = set(session.scalars(select(Notification.key).where(Notification.message_id == message_id)).all())
    for recipient, template, extra in emails:
        key = f"{message_id}:{recipient.id}:{template}"
        if key in sent:
            continue
        message = render_email(
            template,
            recipient.language,
            address(recipient.name, recipient.email),
            ctx.config,
            key,
            case=case,
            recipient=recipient,
            **extra,
        )
        ctx.sender.send(message, key)
        try:
            with ctx.sessions.begin() as session:
                session.add(
                    Notification(
                        key=key, message_id=message_id, recipient_id=recipient.id, template=template, case_id=case.id
                    )
                )
        except IntegrityError:
            pass  # a parallel delivery recorded it first
    with ctx.sessions.begin() as session:
        if not is_handled(session, CONSUMER, message_id):
            mark_handled(session, CONSUMER, message_id)
