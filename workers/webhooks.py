"""The webhooks consumer: case events -> one delivery per hook that wants the event and whose
owner may see the case (``services.webhooks.fan_out``), written with the handled marks in one
transaction. The scheduler's leader sends them (``deliver_due``), so that a slow receiver never
holds up a consumer's acknowledgements.

Its queue is bound only to the events some enabled hook wants (the reconciler keeps the bindings:
``outbox.reconcile``), so with no hook registered this consumer is sent nothing."""

from __future__ import annotations

from typing import Any

from workers.delivery import Context, Delivery, PermanentError, claim_deliveries, payload_id
from workstation.services.db import lock_for_write
from workstation.services.messaging import SUBSCRIPTIONS
from workstation.services.webhooks import enabled_hooks, fan_out

CONSUMER = "webhooks"

#: The most messages handled in one transaction (``workers.consumer``).
MAX_BATCH = 20

BATCHED_EVENTS = frozenset(SUBSCRIPTIONS[CONSUMER])


def handle(ctx: Context, message_id: int, event_type: str, payload: dict[str, Any]) -> None:
    handle_many(ctx, [Delivery(message_id, event_type, payload)])


def handle_many(ctx: Context, deliveries: list[Delivery]) -> None:
    for d in deliveries:
        if d.event_type not in BATCHED_EVENTS:
            raise PermanentError(f"webhooks has nothing to do for {d.event_type!r}")
        if payload_id(d.payload, "case_id") is None:  # (every event it takes is about a case)
            raise PermanentError("payload names no case")
    with ctx.sessions() as session:
        # An event no enabled hook wants has no effect: it is neither claimed nor marked handled
        # (a transaction and a row saved per event; the reconciler owes it nothing either:
        # ``outbox.owed_since``). Should a hook wanting it be registered meanwhile, it need not
        # be told of an event older than itself, and is not. (Such an event still arrives for a
        # moment after the last hook wanting it is disabled, until the reconciler unbinds its key.)
        wanted = {event for hook in enabled_hooks(session) for event in hook.events}
        deliveries = [d for d in deliveries if d.event_type in wanted]
        if not deliveries:
            return
        session.rollback()  # (then a writer's transaction from its start: ``lock_for_write``)
        lock_for_write(session)
        mine = claim_deliveries(session, CONSUMER, deliveries)
        hooks = enabled_hooks(session) if mine else []
        for d in mine:
            fan_out(session, ctx.config, hooks, d.message_id, d.event_type, d.payload)
        session.commit()
