"""The transactional outbox: events are rows first, broker messages second.

``enqueue`` adds a row in the caller's transaction. The relay publishes rows after commit; the
reconciler publishes again whatever a consumer has not handled in time (a worker killed before
its ack, a message lost by a server-less transport, a failed attempt whose back-off is over).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, false, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from workstation.config import Config
from workstation.services.db import lock_for_write
from workstation.services.messaging import SUBSCRIPTIONS, SYNCED_BINDINGS, Publisher, queue_name
from workstation.services.models import DeliveryFailure, HandledMessage, OutboxMessage, Webhook, utcnow

log = logging.getLogger(__name__)

#: Events older than this are no longer reconciled (they are in the dead-letter queue or done).
RECONCILE_HORIZON = timedelta(days=7)
#: With a backlog in the consumer's queue, wait this many reconcile periods before publishing again.
BACKLOG_FACTOR = 10
#: Publications of one message after which the reconciler warns that a consumer seems stuck.
STUCK_AFTER = 4


def _extra_wait(publish_count: int, config: Config) -> timedelta:
    """After the n-th publication wait ``reconcile_after * (2**(n-1) - 1)`` more (at most 255x)."""
    return timedelta(seconds=config.reconcile_after * (2 ** min(max(publish_count - 1, 0), 8) - 1))


def enqueue(session: Session, routing_key: str, payload: dict[str, Any]) -> OutboxMessage:
    row = OutboxMessage(routing_key=routing_key, payload=payload)
    session.add(row)
    return row


def publish_pending(factory: sessionmaker[Session], publisher: Publisher, limit: int = 500) -> int:
    """Publish unpublished outbox rows in id order; returns how many were published.

    Rows are marked published only after the broker took them (publisher confirms on AMQP,
    waited for once for the round: ``Publisher.publish_batch``). One transaction reads them and
    marks them: it holds no lock while the broker is talked to (its read locks no row).
    """
    with factory() as session:
        rows = session.execute(_UNPUBLISHED, {"limit": limit}).all()
        if not rows:
            return 0
        published: list[int] = []
        try:
            publisher.publish_batch([(row.payload, row.routing_key, row.id) for row in rows], published)
        finally:
            if published:
                if session.get_bind().dialect.name == "sqlite":
                    # (a reader turning writer fails if another process wrote meanwhile: a
                    # writer's transaction from its start instead)
                    session.rollback()
                    lock_for_write(session)
                _mark_published(session, published, utcnow())
                session.commit()
    return len(published)


#: The relay's two statements, built once: it runs them up to 20 times a second, and building
#: one cost more CPU than its execution (SQLAlchemy's cache spares only the compiling).
_UNPUBLISHED = (
    select(OutboxMessage.id, OutboxMessage.routing_key, OutboxMessage.payload)
    .where(OutboxMessage.published_at.is_(None))
    .order_by(OutboxMessage.id)
    .limit(bindparam("limit"))
)
_MARK_PUBLISHED = (
    update(OutboxMessage)
    .where(OutboxMessage.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("at"), publish_count=OutboxMessage.publish_count + 1)
)


def _mark_published(session: Session, ids: list[int], at: datetime) -> None:
    session.execute(_MARK_PUBLISHED, {"ids": ids, "at": at})


def retry_delay(attempts: int) -> timedelta:
    """Back-off before the next attempt after ``attempts`` failures: 2, 4, 8, ... up to 10 min."""
    return timedelta(seconds=min(2**attempts, 600))


def reconcile(factory: sessionmaker[Session], publisher: Publisher, config: Config, limit: int = 1000) -> int:
    """Publish again, to the one consumer's queue, every event it still owes and should have done.

    Owed means: routed to that consumer, published, and no ``HandledMessage`` row for it. Due
    means: published longer ago than ``reconcile_after`` with no failure recorded, or failed and
    past its back-off. Returns the number of messages published again.

    First, the webhooks queue is bound to the routing keys some enabled hook wants, and unbound
    from the others (``Publisher.bind_only``): a hook registered (or enabled, or given other
    events) is bound within ``reconcile_interval``, one disabled or removed unbound as soon.
    """
    now = utcnow()
    count = 0
    for consumer, keys in SUBSCRIPTIONS.items():
        with factory() as session:
            since = owed_since(session, consumer)
        if consumer in SYNCED_BINDINGS:
            # Its queue bound to the keys it owes and to no other: an event no enabled hook wants
            # never reaches it. What was published to a key in the moment before its binding is
            # owed all the same, and published again below.
            publisher.bind_only(consumer, since or {})
        if since == {}:
            continue  # (no enabled hook: the webhooks consumer owes nothing)
        # While the consumer's queue still holds messages, an unhandled event is most likely
        # waiting in it: publishing it again would only add work to a consumer that is behind.
        # Events older than the ceiling are published again regardless.
        backlog = publisher.queue_depth(queue_name(consumer)) > 0
        due_before = now - timedelta(seconds=config.reconcile_after * (BACKLOG_FACTOR if backlog else 1))
        with factory() as session:
            rows = session.execute(_owed(consumer, keys, now, due_before, since).limit(limit)).all()
        # Each further publication waits twice as long as the one before (capped): a consumer
        # that is down is not flooded with copies of everything it owes.
        rows = [
            r
            for r in rows
            if r.failed is not None or r.published_at < due_before - _extra_wait(r.publish_count, config)
        ]
        if rows:
            count += _publish_again(factory, publisher, config, consumer, rows, now)
    return count


def owed_since(session: Session, consumer: str) -> dict[str, datetime] | None:
    """Which events ``consumer`` owes: None, every event of the routing keys it subscribes to.
    The webhooks consumer handles (and marks handled) only the events some enabled hook wants, and
    leaves the others unmarked (``workers.webhooks``). So it owes each routing key an enabled hook
    wants from the registration of the first such hook on: an event older than the hook need not
    reach it (nor is it republished to it when it registers). A hook disabled and enabled again may
    be given events of its disabled time that no other hook wanted."""
    if consumer != "webhooks":
        return None
    hooks = session.execute(select(Webhook.events, Webhook.created_at).where(Webhook.disabled_at.is_(None)))
    since: dict[str, datetime] = {}
    for events, created_at in hooks:
        for key in set(events) & set(SUBSCRIPTIONS["webhooks"]):
            since[key] = min(since.get(key, created_at), created_at)
    return since


def owed_events(keys: Iterable[str], since: dict[str, datetime] | None) -> ColumnElement[bool]:
    """The outbox rows a consumer subscribed to ``keys`` owes (``owed_since``), before what it handled."""
    if since is None:
        return OutboxMessage.routing_key.in_(keys)
    return or_(
        false(), *(and_(OutboxMessage.routing_key == key, OutboxMessage.created_at >= at) for key, at in since.items())
    )


def _owed(
    consumer: str, keys: Iterable[str], now: datetime, due_before: datetime, since: dict[str, datetime] | None = None
) -> Select:
    """The events routed to ``consumer`` that it has not handled and that are due again, oldest
    first; ``since``: if given, only these routing keys, each for the events from the time given on."""
    routed = owed_events(keys, since)
    return (
        select(
            OutboxMessage.id,
            OutboxMessage.routing_key,
            OutboxMessage.payload,
            OutboxMessage.published_at,
            OutboxMessage.publish_count,
            DeliveryFailure.message_id.label("failed"),
        )
        .outerjoin(
            HandledMessage,
            and_(HandledMessage.consumer == consumer, HandledMessage.message_id == OutboxMessage.id),
        )
        .outerjoin(
            DeliveryFailure,
            and_(DeliveryFailure.consumer == consumer, DeliveryFailure.message_id == OutboxMessage.id),
        )
        .where(
            routed,
            OutboxMessage.published_at.is_not(None),
            OutboxMessage.created_at > now - RECONCILE_HORIZON,
            HandledMessage.message_id.is_(None),
            or_(
                and_(DeliveryFailure.message_id.is_(None), OutboxMessage.published_at < due_before),
                DeliveryFailure.next_retry_at <= now,
            ),
        )
        .order_by(OutboxMessage.id)
    )


def _publish_again(  # the consumer's owed rows, straight to its queue; returns how many went
    factory: sessionmaker[Session], publisher: Publisher, config: Config, consumer: str, rows: list, now: datetime
) -> int:
    for row in rows:
        if row.publish_count >= STUCK_AFTER and row.failed is None:
            log.warning("reconciler: %s has not handled message %d after %d publications", consumer, row.id,
                        row.publish_count)  # fmt: skip
    done: list[int] = []
    try:
        for row in rows:
            # Straight to the consumer's queue through the default exchange: the other
            # consumers of this routing key have handled it already.
            publisher.publish(row.payload, queue_name(consumer), row.id, exchange="", event_type=row.routing_key)
            done.append(row.id)
    finally:
        if done:
            with factory.begin() as session:
                _mark_published(session, done, now)
                # Give the consumer a full reconcile period before the next try.
                session.execute(
                    update(DeliveryFailure)
                    .where(DeliveryFailure.consumer == consumer, DeliveryFailure.message_id.in_(done))
                    .values(next_retry_at=now + timedelta(seconds=config.reconcile_after))
                )
            log.info("reconciler: published %d message(s) again to %s", len(done), consumer)
    return len(done)
