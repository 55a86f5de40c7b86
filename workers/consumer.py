"""The consumer process: one kombu ``ConsumerMixin`` serving the queues it is given."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from kombu import Connection
from kombu.mixins import ConsumerMixin

from workers import notify, routing, watch
from workers.delivery import Context, Handler, dead_letter, deliver
from workstation.messaging import consumer_queue, declare_topology

log = logging.getLogger(__name__)

#: consumer name -> handler; the names match ``workstation.messaging.SUBSCRIPTIONS``.
HANDLERS: dict[str, Handler] = {
    routing.CONSUMER: routing.handle,
    notify.CONSUMER: notify.handle,
    watch.CONSUMER: watch.handle,
}


class Worker(ConsumerMixin):
    def __init__(self, connection: Connection, ctx: Context, consumers: list[str]) -> None:
        self.connection = connection
        self.ctx = ctx
        self.consumers = consumers

    def get_consumers(self, Consumer, channel):  # noqa: ANN001, ANN201, N803 - kombu's signature
        declare_topology(self.connection, self.ctx.config)
        return [
            Consumer(
                queues=[consumer_queue(name, self.ctx.config.quorum_queues)],
                callbacks=[partial(self.on_message, name)],
                on_decode_error=partial(self.on_undecodable, name),
                accept=["json"],
                prefetch_count=10,
            )
            for name in self.consumers
        ]

    def on_message(self, name: str, body: Any, message) -> None:  # noqa: ANN001
        routing_key = message.delivery_info.get("routing_key")
        size = len(message.body or b"")
        outcome = deliver(self.ctx, name, HANDLERS[name], body, message.properties, routing_key, size=size)
        log.debug("%s: message %s %s", name, message.properties.get("message_id"), outcome)
        # Acknowledged only now: after the handler's commit, or after the failure was recorded.
        message.ack()

    def on_undecodable(self, name: str, message, exc: Exception) -> None:  # noqa: ANN001
        """Not JSON at all: straight to the dead-letter queue, and keep going."""
        dead_letter(self.ctx, name, None, message.body, message.properties, f"cannot decode: {exc}")
        message.ack()
