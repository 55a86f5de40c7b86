"""The mailin consumer: ``mail.received`` -> the mail read and applied (``services.mailin``): a
message on a case, the quarantine, or nothing (an auto-reply, a bounce, a repeat).

Each mail is applied in a transaction of its own with its handled mark, so a redelivery (or a
second worker) finds it done; the mail's own status makes a second reading change nothing, and
its Message-ID makes the same mail received twice one message.
"""

from __future__ import annotations

from typing import Any

from workers.delivery import Context, Delivery, PermanentError, claim_message, payload_id
from workstation.services.db import lock_for_write
from workstation.services.mailin import MAIL_RECEIVED, UnknownMailError, apply_received
from workstation.services.messaging import SUBSCRIPTIONS

CONSUMER = "mailin"

#: The most messages taken together (each still applied in a transaction of its own).
MAX_BATCH = 8

BATCHED_EVENTS = frozenset(SUBSCRIPTIONS[CONSUMER])


def handle(ctx: Context, message_id: int, event_type: str, payload: dict[str, Any]) -> None:
    handle_many(ctx, [Delivery(message_id, event_type, payload)])


def handle_many(ctx: Context, deliveries: list[Delivery]) -> None:
    for d in deliveries:
        if d.event_type != MAIL_RECEIVED:
            raise PermanentError(f"mailin has nothing to do for {d.event_type!r}")
        received_id = payload_id(d.payload, "received_id")
        if received_id is None:
            raise PermanentError("mail.received names no received mail")
        with ctx.sessions() as session:
            lock_for_write(session)
            if not claim_message(session, CONSUMER, d.message_id):
                continue
            try:
                apply_received(session, ctx.config, received_id)
            except UnknownMailError as err:
                raise PermanentError(str(err)) from None
            session.commit()
