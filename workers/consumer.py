"""The consumer process: one kombu ``ConsumerMixin`` serving the queues it is given.

Messages are handled in small batches: what the broker has ready (up to the consumer's
``MAX_BATCH``) is taken together and handled in one database transaction (``deliver_batch``), and
acknowledged after its commit. A message that arrives alone waits at most ``BATCH_WAIT`` for
company, so under light load a case is not held back, and under heavy load a transaction's
BEGIN, COMMIT and shared reads are paid once for many cases.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from functools import partial
from types import ModuleType
from typing import Any

from kombu import Connection
from kombu.mixins import ConsumerMixin

from workers import mailin, notify, routing, watch, webhooks
from workers.delivery import Context, Received, dead_letter, deliver_batch
from workstation.services.db import database_unavailable
from workstation.services.messaging import consumer_queue, declare_topology

log = logging.getLogger(__name__)

#: consumer name -> its module (``handle``, ``handle_many``, ``BATCHED_EVENTS``, ``MAX_BATCH``);
#: the names match ``workstation.services.messaging.SUBSCRIPTIONS``.
CONSUMERS: dict[str, ModuleType] = {module.CONSUMER: module for module in (routing, notify, watch, mailin, webhooks)}

#: How long a message that has arrived waits for more before its batch is handled (seconds).
BATCH_WAIT = 0.02
#: How long a worker waits after the database was out of reach before it takes messages again
DATABASE_WAIT = 1.0
#: How long an idle worker waits for a message before it looks up (seconds): its stop signal
#: only sets a flag, so this is also how long a stop may wait (kombu's default is a second).
IDLE_WAIT = 0.2


class Worker(ConsumerMixin):
    def __init__(self, connection: Connection, ctx: Context, consumers: list[str]) -> None:
        self.connection = connection
        self.ctx = ctx
        self.consumers = consumers
        self.pending: dict[str, list[Any]] = {name: [] for name in consumers}
        self.live_connection: Connection | None = None  # the connection being consumed from

    def get_consumers(self, Consumer, channel):  # noqa: ANN001, ANN201, N803 - kombu's signature
        # On the channel being consumed from: after a failover that is a connection to another
        # node, while ``self.connection`` may still hold one to the node that died.
        declare_topology(channel, self.ctx.config)
        return [
            Consumer(
                queues=[consumer_queue(name, self.ctx.config.quorum_queues)],
                callbacks=[partial(self.on_message, name)],
                on_decode_error=partial(self.on_undecodable, name),
                accept=["json"],
                # room for a full batch waiting to be handled and the next one arriving
                prefetch_count=2 * CONSUMERS[name].MAX_BATCH,
            )
            for name in self.consumers
        ]

    def on_message(self, name: str, body: Any, message) -> None:  # noqa: ANN001
        self.pending[name].append((body, message))

    def consume(self, limit=None, timeout=None, safety_interval=IDLE_WAIT, **kwargs) -> Iterator[None]:  # noqa: ANN001, ANN003
        """kombu's loop, but a message received is only put aside; the batch is handled once the
        broker has nothing more ready (or a queue's batch is full)."""
        with self.consumer_context(**kwargs) as (conn, _channel, _consumers):
            self.live_connection = conn
            try:
                while not self.should_stop:
                    waiting = any(self.pending.values())
                    try:
                        conn.drain_events(timeout=BATCH_WAIT if waiting else safety_interval)
                    except TimeoutError:
                        self.handle_pending()
                        conn.heartbeat_check()
                    except OSError:
                        if not self.should_stop:
                            raise
                    else:
                        if any(len(batch) >= CONSUMERS[name].MAX_BATCH for name, batch in self.pending.items()):
                            self.handle_pending()
                    yield
                self.handle_pending()  # stopping: finish what was taken rather than give it back
            finally:
                # On a lost connection the messages put aside were not acknowledged: the broker
                # gives them again (and the reconciler, on a transport that forgets them).
                for batch in self.pending.values():
                    batch.clear()
                self.live_connection = None

    def handle_pending(self) -> None:
        for name, batch in self.pending.items():
            if not batch:
                continue
            taken = list(batch)
            batch.clear()
            module = CONSUMERS[name]
            received = [
                Received(body, message.properties, message.delivery_info.get("routing_key"), len(message.body or b""))
                for body, message in taken
            ]

            messages = [message for _body, message in taken]
            settled = partial(self.acknowledge, name, messages)
            try:
                deliver_batch(
                    self.ctx, name, module.handle, module.handle_many, module.BATCHED_EVENTS, received, settled
                )
            except Exception as err:
                if not database_unavailable(err):
                    raise
                self.give_back(name, messages, err)

    def give_back(self, name: str, messages: list, err: Exception) -> None:
        """The database out of reach (a restart, a failover) while a batch was handled, so that not
        even its failure could be recorded: the messages not settled go back to the broker, to be
        handled again once it is back (the handlers check ``is_handled``), and the worker waits a
        moment rather than spin; its engine connects afresh for the next batch, to the new primary
        when the URL names several hosts. Not an attempt: the work was never tried."""
        back = [message for message in messages if not message.acknowledged]
        log.warning("%s: database unavailable (%s); %d messages given back, waiting %.1fs",
                    name, str(err).splitlines()[0] if str(err) else type(err).__name__, len(back),
                    DATABASE_WAIT)  # fmt: skip
        for message in back:
            message.requeue()
        time.sleep(DATABASE_WAIT)

    def acknowledge(self, name: str, messages: list, index: int, outcome: str) -> None:
        """Acknowledged only now: after the handler's commit, or after the failure was recorded;
        and at once, so a batch handled one by one (say, while SMTP times out) keeps the broker
        hearing from this worker."""
        message = messages[index]
        log.debug("%s: message %s %s", name, message.properties.get("message_id"), outcome)
        message.ack()
        if self.live_connection is not None:
            self.live_connection.heartbeat_check()

    def on_undecodable(self, name: str, message, exc: Exception) -> None:  # noqa: ANN001
        """Not JSON at all: straight to the dead-letter queue, and keep going."""
        dead_letter(self.ctx, name, None, message.body, message.properties, f"cannot decode: {exc}")
        message.ack()
