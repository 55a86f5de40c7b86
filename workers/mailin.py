"""The mailin consumer: ``mail.received`` -> the mail read and applied (``services.mailin``): a
message on a case, the quarantine, or nothing (an auto-reply, a bounce, a repeat).

The mails of a batch are applied in one transaction with their handled marks (all or nothing:
if one fails, each is delivered again on its own), so a redelivery (or a second worker) finds
them done; a mail's own status makes a second reading change nothing, and its Message-ID makes
the same mail received twice one message.
"""

from __future__ import annotations

from typing import Any

from workers.delivery import Context, Delivery, PermanentError, claim_deliveries, payload_id
from workstation.services.db import lock_for_write
from workstation.services.mailin import MAIL_RECEIVED, UnknownMailError, apply_received
from workstation.services.messaging import SUBSCRIPTIONS

CONSUMER = "mailin"

#: The most messages handled in one transaction (``workers.consumer``).
MAX_BATCH = 20

BATCHED_EVENTS = frozenset(SUBSCRIPTIONS[CONSUMER])


def handle(ctx: Context, message_id: int, event_type: str, payload: dict[str, Any]) -> None:
    handle_many(ctx, [Delivery(message_id, event_type, payload)])


def handle_many(ctx: Context, deliveries: list[Delivery]) -> None:
    for d in deliveries:
        if d.event_type != MAIL_RECEIVED:
            raise PermanentError(f"mailin has nothing to do for {d.event_type!r}")
        if payload_id(d.payload, "received_id") is None:
            raise PermanentError("mail.received names no received mail")
    with ctx.sessions() as session:
        lock_for_write(session)
        for d in claim_deliveries(session, CONSUMER, deliveries):
            try:
                apply_received(session, ctx.config, payload_id(d.payload, "received_id"))  # type: ignore[arg-type]
            except UnknownMailError as err:
                raise PermanentError(str(err)) from None  # (the claims are rolled back with the rest)
        session.commit()
