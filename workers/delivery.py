"""How every consumer handles a message: idempotently, with retries, then the dead-letter queue.

A handler does its work and marks the message handled (``claim_message`` first thing, or
``mark_handled`` last) in the same transaction as its effect. The
message is acknowledged only after that commit (or after the failure is recorded): a crash
before it leaves the message to be delivered again, by the broker or by the reconciler.

Under load a consumer is given several messages at once (``deliver_batch``): a handler that can
(``BatchHandler``) does them in one transaction, which saves a BEGIN, a COMMIT and the reads they
share per message. The batch is all or nothing: if it fails, each message is delivered again on
its own, with the retries and dead-lettering of one message, so one bad message costs only
itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from workstation.config import Config
from workstation.services.mail import MailSender
from workstation.services.messaging import DEAD_LETTERS, Publisher, queue_name
from workstation.services.models import MAX_ID, DeliveryFailure, HandledMessage, utcnow
from workstation.services.outbox import retry_delay

log = logging.getLogger(__name__)


#: Our events are a few hundred bytes; anything this big is not one of ours.
MAX_MESSAGE_BYTES = 256 * 1024


class PermanentError(Exception):
    """A message that can never be handled (malformed, unknown case): dead-letter it at once."""


@dataclass
class Context:
    config: Config
    sessions: sessionmaker[Session]
    publisher: Publisher
    sender: MailSender


Handler = Callable[[Context, int, str, dict[str, Any]], None]


@dataclass(frozen=True)
class Delivery:
    """One message as a handler sees it (its id checked, its body a JSON object)."""

    message_id: int
    event_type: str
    payload: dict[str, Any]


#: Handles several messages in one transaction, all or nothing (see the module's docstring).
BatchHandler = Callable[[Context, list[Delivery]], None]


@dataclass(frozen=True)
class Received:
    """A message as the broker gave it, before it is checked."""

    body: Any
    properties: dict[str, Any]
    routing_key: str | None
    size: int = 0


def is_handled(session: Session, consumer: str, message_id: int) -> bool:
    return session.get(HandledMessage, (consumer, message_id)) is not None


def mark_handled(session: Session, consumer: str, message_id: int, outcome: str = "done") -> None:
    session.add(HandledMessage(consumer=consumer, message_id=message_id, outcome=outcome))


def handled_among(session: Session, consumer: str, message_ids: list[int]) -> set[int]:
    """Which of ``message_ids`` this consumer has handled already (one query)."""
    query = select(HandledMessage.message_id).where(
        HandledMessage.consumer == consumer, HandledMessage.message_id.in_(message_ids)
    )
    return set(session.scalars(query))


def claim_message(session: Session, consumer: str, message_id: int) -> bool:
    """Mark the message handled first thing in the handler's transaction: ``is_handled`` and
    ``mark_handled`` in one round trip. False when it was handled already: then do nothing.

    The mark commits or rolls back with the handler's effect, so a failure leaves the message
    unhandled. A second delivery running at the same time waits on the first one's mark (the
    primary key) and, once that commits, finds the message handled.
    """
    return message_id in claim_messages(session, consumer, [message_id])


# The ids as rows of a column ``m``, per database: a JSON array on SQLite, an array on PostgreSQL.
_IDS = {"postgresql": "unnest(CAST(:ids AS bigint[])) AS m", "sqlite": "(SELECT value AS m FROM json_each(:ids))"}


def _claim_statement(dialect: str) -> TextClause:
    # One statement whatever the number of messages, so it is compiled and prepared once: a
    # multi-row VALUES was compiled again for every batch, ten times the CPU of running it. (In id
    # order: two workers claiming overlapping sets take the keys in the same order. SQLite needs
    # the WHERE to read ON CONFLICT as the upsert's.)
    return text(
        "INSERT INTO handled_messages (consumer, message_id, outcome, handled_at)"
        f" SELECT :consumer, m, 'done', :now FROM {_IDS[dialect]} WHERE true ORDER BY m"
        " ON CONFLICT DO NOTHING RETURNING message_id"
    ).bindparams(bindparam("now", type_=HandledMessage.__table__.c.handled_at.type))


_CLAIM = {dialect: _claim_statement(dialect) for dialect in _IDS}


def claim_messages(session: Session, consumer: str, message_ids: list[int]) -> set[int]:
    """``claim_message`` for several messages in one statement; returns the ids claimed now."""
    dialect = session.get_bind().dialect.name
    ids = sorted(set(message_ids))
    given = ids if dialect == "postgresql" else json.dumps(ids)
    return set(session.scalars(_CLAIM[dialect], {"consumer": consumer, "now": utcnow(), "ids": given}))


def claim_deliveries(session: Session, consumer: str, deliveries: list[Delivery]) -> list[Delivery]:
    """``claim_messages`` for a batch: the deliveries claimed now, in their order (the others were
    handled already, or are being handled by another worker)."""
    claimed = claim_messages(session, consumer, [d.message_id for d in deliveries])
    return [d for d in deliveries if d.message_id in claimed]


def parse_message_id(raw: Any) -> int:
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        raise PermanentError(f"message id {raw!r} is not an outbox id") from None
    # (Beyond MAX_ID the database driver overflows on it, in the failure record too: the message
    # would never be acknowledged and would stop the worker every time it came back.)
    if not 0 < value <= MAX_ID:
        raise PermanentError(f"message id {raw!r} is not an outbox id")
    return value


def as_id(value: Any) -> int | None:
    """``value`` if it is an id the database can hold, else None. JSON ``true`` is not one (it is a
    Python int), nor is a number too large for the column (the driver would overflow, and the
    message be retried for hours instead of dead-lettered at once)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_ID:
        return None
    return value


def payload_id(payload: dict[str, Any], name: str) -> int | None:
    """``payload[name]`` if it is an id (``as_id``), else None."""
    return as_id(payload.get(name))


def deliver(
    ctx: Context,
    consumer: str,
    handler: Handler,
    body: Any,
    properties: dict[str, Any],
    routing_key: str | None,
    size: int = 0,
) -> str:
    """Handle one message; returns what happened (done, duplicate, retry, dead_lettered).

    Never raises for a handler failure: the caller acknowledges the message in every case, and
    retries come from the reconciler after the recorded back-off.
    """
    message_id: int | None = None
    try:
        message_id = parse_message_id(properties.get("message_id"))
        checked = checked_delivery(Received(body, properties, routing_key, size))
        # Handlers check ``is_handled`` themselves, inside the transaction that does the work.
        handler(ctx, message_id, checked.event_type, checked.payload)
        return "done"
    except IntegrityError:
        # Usually another delivery of the same message committed first and did the work.
        with ctx.sessions() as session:
            if message_id is not None and is_handled(session, consumer, message_id):
                return "duplicate"
        return _failed(ctx, consumer, message_id, body, properties)
    except PermanentError as err:
        dead_letter(ctx, consumer, message_id, body, properties, str(err))
        return "dead_lettered"
    except Exception:  # noqa: BLE001 - any failure is retried, then dead-lettered
        return _failed(ctx, consumer, message_id, body, properties)


def checked_delivery(received: Received) -> Delivery:
    """The message as a ``Delivery``, or PermanentError saying why it can never be handled."""
    message_id = parse_message_id(received.properties.get("message_id"))
    if received.size > MAX_MESSAGE_BYTES:
        raise PermanentError(f"message of {received.size} bytes is larger than {MAX_MESSAGE_BYTES}")
    if not isinstance(received.body, dict):
        raise PermanentError("body is not a JSON object")
    event_type = received.properties.get("type") or received.routing_key or ""
    return Delivery(message_id, event_type, received.body)


def deliver_batch(
    ctx: Context,
    consumer: str,
    handler: Handler,
    batch_handler: BatchHandler | None,
    batched_events: frozenset[str],
    messages: list[Received],
    settled: Callable[[int, str], None] | None = None,
) -> list[str]:
    """Handle several messages, in order; returns what happened to each (as ``deliver``).

    The well-formed messages of ``batched_events`` go to ``batch_handler`` in one call; if that
    fails (a bad message among them, a conflict with another worker), each is delivered again on
    its own. The others are delivered one by one after the batch, in their order.
    ``settled(index, outcome)`` is called as soon as a message's outcome is final (committed,
    or its failure recorded): the caller acknowledges it then, not after the last one.
    """
    batch: list[Delivery] = []
    batched: list[int] = []  # their indexes in ``messages``
    seen: set[int] = set()
    if batch_handler is not None and len(messages) > 1:
        for index, received in enumerate(messages):
            try:
                checked = checked_delivery(received)
            except PermanentError:
                continue
            # (a message given twice goes in once; its second delivery finds it handled)
            if checked.event_type in batched_events and checked.message_id not in seen:
                seen.add(checked.message_id)
                batch.append(checked)
                batched.append(index)
    outcomes: list[str | None] = [None] * len(messages)
    if len(batch) > 1:
        try:
            batch_handler(ctx, batch)  # type: ignore[misc] - not None when there is a batch
        except Exception as err:  # noqa: BLE001 - each is delivered on its own below
            log.info("%s: batch of %d failed (%s: %s); delivering one by one", consumer, len(batch),
                     type(err).__name__, str(err).splitlines()[0] if str(err) else "")  # fmt: skip
        else:
            for index in batched:
                outcomes[index] = "done"
                if settled is not None:
                    settled(index, "done")
    for index, received in enumerate(messages):
        if outcomes[index] is None:
            outcomes[index] = deliver(
                ctx, consumer, handler, received.body, received.properties, received.routing_key, received.size
            )
            if settled is not None:
                settled(index, outcomes[index])
    return [outcome or "" for outcome in outcomes]


def _failed(ctx: Context, consumer: str, message_id: int | None, body: Any, properties: dict[str, Any]) -> str:
    error = traceback.format_exc(limit=5)
    last_line = error.strip().splitlines()[-1]
    log.warning("%s: message %s failed: %s", consumer, message_id, last_line)
    attempts = record_failure(ctx, consumer, message_id, error) if message_id else ctx.config.max_attempts
    if attempts >= ctx.config.max_attempts:
        dead_letter(ctx, consumer, message_id, body, properties, f"failed {attempts} times: {last_line}")
        return "dead_lettered"
    return "retry"


def record_failure(ctx: Context, consumer: str, message_id: int, error: str) -> int:
    try:
        return _record_failure(ctx, consumer, message_id, error)
    except IntegrityError:  # another delivery of the message recorded its failure first
        return _record_failure(ctx, consumer, message_id, error)


def _record_failure(ctx: Context, consumer: str, message_id: int, error: str) -> int:
    with ctx.sessions.begin() as session:
        failure = session.get(DeliveryFailure, (consumer, message_id))
        if failure is None:
            failure = DeliveryFailure(consumer=consumer, message_id=message_id, attempts=0)
            session.add(failure)
        failure.attempts += 1
        failure.last_error = error[-4000:]
        failure.next_retry_at = utcnow() + retry_delay(failure.attempts)
        return failure.attempts


def dead_letter(
    ctx: Context, consumer: str, message_id: int | None, body: Any, properties: dict[str, Any], reason: str
) -> None:
    """Publish the message to the consumer's dead-letter queue with the reason, and stop retrying."""
    log.error("%s: dead-lettering message %s: %s", consumer, message_id, reason)
    payload = body if isinstance(body, dict) else {"raw": repr(body)[:10_000]}
    if len(json.dumps(payload, default=str)) > MAX_MESSAGE_BYTES:
        payload = {"truncated": repr(body)[:10_000]}
    ctx.publisher.publish(
        payload,
        queue_name(consumer),
        message_id if message_id is not None else "invalid",
        exchange=DEAD_LETTERS,
        event_type=str(properties.get("type") or ""),
        headers={"x-reason": reason[:1000], "x-consumer": consumer},
    )
    if message_id is not None:
        with contextlib.suppress(IntegrityError), ctx.sessions.begin() as session:
            # (A parallel delivery that handled it after all has its mark already: keep that.)
            if not is_handled(session, consumer, message_id):
                mark_handled(session, consumer, message_id, outcome="dead_lettered")
