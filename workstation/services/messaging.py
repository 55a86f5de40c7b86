"""The broker topology, declared once and imported by every process.

A durable topic exchange carries case events; each consumer has a durable queue bound to the
routing keys it reacts to, and a dead-letter queue behind a direct exchange. Messages are
persistent JSON; the message id is the outbox row id.

The webhooks consumer's queue is the exception (``SYNCED_BINDINGS``): it is bound only to the
routing keys some enabled hook wants, by the reconciler (``Publisher.bind_only``, from
``outbox.reconcile``), so that with no hook registered no event reaches it at all. The topology
every process declares at its start binds it to nothing: a process starting never binds it again
to what no hook wants.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Collection
from time import monotonic
from typing import Any, TypeVar

from kombu import Connection, Exchange, Queue, binding
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

from workstation.config import Config

T = TypeVar("T")

EVENTS = Exchange("rpa.events", type="topic", durable=True)
DEAD_LETTERS = Exchange("rpa.dlx", type="direct", durable=True)

#: consumer name -> routing keys it handles. The reconciler uses this to know who still owes
#: work on an event.
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "routing": (
        "case.submitted",
        "case.declined",
        "case.reopened",
        "case.classified",
        "expert.unavailable",
        "experts.import_requested",
    ),
    "notify": (
        "case.assigned",
        "case.awaiting_expert",
        "case.info_requested",
        "case.info_provided",
        "case.opinion_issued",
        "case.message",
        "notice.raised",
        "digest.due",
        "account.mail",
        "case.opened_by_mail",
        "case.marked_difficult",
        "case.panel_convened",
        "case.panel_dissolved",
        "case.accepted",
        "case.declined",
        "case.closed",
        "case.withdrawn",
        "case.reopened",
        "summary.due",
        "training.draft_submitted",
        "training.draft_reviewed",
    ),
    "watch": ("case.submitted",),
    "mailin": ("mail.received",),
    # (what an integrator's webhook may ask for: ``services.webhooks``)
    "webhooks": (
        "case.submitted",
        "case.assigned",
        "case.accepted",
        "case.info_requested",
        "case.opinion_issued",
        "case.closed",
        "case.withdrawn",
        "case.reopened",
        "case.message",
    ),
}


#: The consumers whose queue is bound only to the keys the reconciler binds it to (``bind_only``),
#: not to every key of their subscription: the webhooks consumer's, to those an enabled hook wants.
SYNCED_BINDINGS = frozenset({"webhooks"})
#: A reconciler binding a synced queue to the same keys as last time does not ask the broker again
#: for this long (``Publisher.bind_only``): the bindings are the broker's, and stay.
BINDINGS_RESYNC_S = 60.0


def queue_name(consumer: str) -> str:
    return f"rpa.{consumer}"


def dead_letter_queue_name(consumer: str) -> str:
    return f"rpa.{consumer}.dlq"


#: A quorum queue is replicated to every node of a RabbitMQ cluster and survives the loss of a
#: minority of them. It must be durable, and refuses exclusive, auto-delete and priority queues
#: (``x-max-priority``), none of which these queues are. A queue's type cannot change once it
#: exists: switching ``WORKSTATION_QUORUM_QUEUES`` needs the queues deleted (drained) first.
QUORUM = {"x-queue-type": "quorum"}


def consumer_queue(consumer: str, quorum: bool = False) -> Queue:
    name = queue_name(consumer)
    arguments: dict[str, Any] = {"x-dead-letter-exchange": DEAD_LETTERS.name, "x-dead-letter-routing-key": name}
    if quorum:
        arguments.update(QUORUM)
    keys = () if consumer in SYNCED_BINDINGS else SUBSCRIPTIONS[consumer]
    return Queue(
        name,
        bindings=[binding(EVENTS, routing_key=key) for key in keys],
        durable=True,
        queue_arguments=arguments,
    )


def dead_letter_queue(consumer: str, quorum: bool = False) -> Queue:
    """The consumer's dead letters; a quorum queue too when the consumer's is (a dead letter kept on
    one node would be lost with that node)."""
    return Queue(
        dead_letter_queue_name(consumer),
        DEAD_LETTERS,
        routing_key=queue_name(consumer),
        durable=True,
        queue_arguments=dict(QUORUM) if quorum else None,
    )


def all_queues(config: Config) -> list[Queue]:
    queues = []
    for consumer in SUBSCRIPTIONS:
        queues += [consumer_queue(consumer, config.quorum_queues), dead_letter_queue(consumer, config.quorum_queues)]
    return queues


class _AtomicFilesystemChannel(filesystem.Channel):
    """kombu's filesystem channel, writing each message under a temporary name first, and
    binding and unbinding queues with one locked read-modify-write of the exchange's table.

    The stock ``_put`` creates ``<n>.<queue>.msg`` and then writes into it, so a consumer polling
    the folder can claim the file while it is still empty and die on the JSON decode (kombu
    issue #1551). Here the file only appears under its ``.msg`` name, complete, by ``os.replace``.

    The stock binding (``_queue_bind``) has the same race on the exchange's table when processes
    declare the topology at once on a fresh instance (``run`` starts three consumers together): one
    creates the file and locks it only after creating it, so another can read it empty and die
    on the decode, or both create it and the second truncates the first's binding away.

    The stock ``queue_bind`` skips a binding this process made before (it remembers them per
    process, for every folder alike), although another process may have removed it from the table
    since; and its ``queue_unbind`` edits a copy of the table, leaving the file as it was. Here both
    go to the file every time (``Publisher.bind_only`` binds and unbinds the webhooks queue).
    """

    def queue_bind(
        self, queue: str, exchange: str | None = None, routing_key: str = "", arguments: Any = None, **kwargs: Any
    ) -> None:
        exchange = exchange or "amq.direct"
        self.state.binding_declare(queue, exchange, routing_key, arguments)  # (what queue_delete unbinds)
        row = self._row(queue, exchange, routing_key, arguments)
        self._change_table(exchange, lambda rows: rows if row in rows else [row, *rows])

    def queue_unbind(
        self, queue: str, exchange: str | None = None, routing_key: str = "", arguments: Any = None, **kwargs: Any
    ) -> None:
        if not exchange:
            return
        self.state.binding_delete(queue, exchange, routing_key)
        row = self._row(queue, exchange, routing_key, arguments)
        self._change_table(exchange, lambda rows: [r for r in rows if r != row])

    def _row(self, queue: str, exchange: str, routing_key: str, arguments: Any) -> filesystem.exchange_queue_t:
        """The binding's row in the exchange's table, as the stock ``_queue_bind`` writes it."""
        key, pattern, queue = self.typeof(exchange).prepare_bind(queue, exchange, routing_key, arguments)
        return filesystem.exchange_queue_t(key or "", pattern or "", queue or "")

    def _change_table(self, exchange: str, change: Callable[[list], list]) -> None:
        """The exchange's table (its rows: ``exchange_queue_t``) replaced by ``change(rows)``, under
        the file's lock; not written when that changes nothing."""
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        try:
            # Created if missing, never truncated; the table is read and written under the lock.
            with open(os.open(file, os.O_RDWR | os.O_CREAT, 0o644), "r+b", buffering=0) as f:
                filesystem.lock(f, filesystem.LOCK_EX)
                try:
                    content = f.read()
                    rows = [filesystem.exchange_queue_t(*row) for row in loads(content)] if content.strip() else []
                    changed = change(rows)
                    if changed != rows:
                        f.seek(0)
                        f.truncate()
                        f.write(dumps(changed).encode())
                finally:
                    filesystem.unlock(f)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot open {file}") from exc

    def get_table(self, exchange: str) -> list:
        """The exchange's table; a file being created this instant reads as no bindings yet."""
        file = self._exchange_file(exchange)
        try:
            with file.open("rb") as f:
                filesystem.lock(f, filesystem.LOCK_SH)
                try:
                    content = f.read()
                finally:
                    filesystem.unlock(f)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot open {file}") from exc
        return [filesystem.exchange_queue_t(*row) for row in loads(content)] if content.strip() else []

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        tmp = os.path.join(self.data_folder_out, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(dumps(payload).encode())
        os.replace(tmp, final)


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = _AtomicFilesystemChannel


def broker_connection(config: Config, confirm_publish: bool = True) -> Connection:
    """A connection to the configured broker (not yet connected). ``confirm_publish=False``: an
    AMQP publish does not wait for its confirm (the ``Publisher`` waits for a round's at once)."""
    if config.broker_url.startswith("filesystem"):
        base = config.broker_dir
        for sub in ("data", "control", "processed"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        # One folder for in and out: every process both publishes and consumes. The processed
        # folder sits on the same filesystem so that claiming a message is an atomic rename.
        options = {
            "data_folder_in": str(base / "data"),
            "data_folder_out": str(base / "data"),
            "control_folder": str(base / "control"),
            "store_processed": True,
            "processed_folder": str(base / "processed"),
            "polling_interval": config.broker_polling_interval,
        }
        return Connection(transport=AtomicFilesystemTransport, transport_options=options)
    # Publisher confirms: publish() returns only once the broker has the message (on a quorum
    # queue: once a majority of the nodes has it). Several URLs separated by ";" are the nodes of
    # a cluster: a connection that fails or is lost goes to the next one (kombu's failover).
    return Connection(
        config.broker_url,
        transport_options={"confirm_publish": confirm_publish},
        connect_timeout=5,
        heartbeat=30,
        failover_strategy="round-robin",
    )


def connect_retries(config: Config) -> int:
    """Retries for ``ensure_connection``: every broker URL once, and the first again after a pause
    (with one URL: one retry, as before there were several)."""
    return len(config.broker_urls)


def declare_topology(connection_or_channel: Connection | Any, config: Config) -> None:
    """The exchanges and queues, declared on a connection's default channel or on a given channel
    (a consumer declares on the channel it consumes from, whichever node that is connected to)."""
    channel = (
        connection_or_channel.default_channel
        if isinstance(connection_or_channel, Connection)
        else connection_or_channel
    )
    for exchange in (EVENTS, DEAD_LETTERS):
        exchange(channel).declare()
    for queue in all_queues(config):
        queue(channel).declare()


#: An event to publish: (body, routing key, message id, i.e. the outbox row's id).
Event = tuple[dict[str, Any], str, int]

#: Seconds a publisher waits for the broker to confirm what it published.
CONFIRM_TIMEOUT = 30.0


class PublishRefusedError(Exception):
    """The broker refused a message (``basic.nack``: a queue full and rejecting, say)."""


class _Confirms:
    """Publisher confirms on one AMQP channel, waited for once for several messages.

    In confirm mode the broker numbers the messages published on the channel 1, 2, ... and acks
    (or nacks) each, or every one up to a number at once (``multiple``). Waiting for each
    message's confirm before the next (py-amqp's ``confirm_publish``) cost a read of the socket
    and its frame per message, and the relay sends a round of several at a time."""

    def __init__(self, channel: Any) -> None:
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self.channel = channel
        self.published = 0  # the number (delivery tag) of the last message published
        self.waiting: dict[int, int | str] = {}  # delivery tag -> message id, not confirmed yet
        self.acked: list[int | str] = []
        self.nacked: list[int | str] = []

    def sent(self, message_id: int | str) -> None:
        self.published += 1
        self.waiting[self.published] = message_id

    def _settle(self, tag: int, multiple: bool, into: list[int | str]) -> None:
        tags = [t for t in self.waiting if t <= tag] if multiple else [tag]
        into.extend(self.waiting.pop(t) for t in tags if t in self.waiting)

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, self.acked)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._settle(tag, multiple, self.nacked)

    def wait(self, timeout: float) -> None:
        """Wait until every message sent is acked or nacked. Raises on a lost connection or a
        closed channel, or (TimeoutError) when the confirms take longer than ``timeout``: the
        messages not confirmed then may or may not be in."""
        deadline = monotonic() + timeout
        while self.waiting:
            left = deadline - monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(self.waiting)} messages not confirmed within {timeout:g}s")
            self.channel.connection.drain_events(timeout=left)

    def take(self) -> tuple[list[int | str], list[int | str]]:
        """The ids acked and nacked since the last call."""
        taken = self.acked, self.nacked
        self.acked, self.nacked = [], []
        return taken


class Publisher:
    """A long-lived producer that reconnects after a broker failure.

    A connection the broker dropped (a restart) is only found dead when it is next used: the
    first operation on it after a failure is retried once on a new connection, so a restart costs
    no failed run of the reconciler. ``publish`` raises when the new connection fails too (the
    caller decides what to retry). Publishing twice is safe: consumers are idempotent.

    On AMQP every publication waits for the broker's confirm (on a quorum queue: a majority of
    the nodes has it); ``publish_batch`` sends several and waits for their confirms together.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._connection: Connection | None = None
        self._producer = None
        self._confirms: _Confirms | None = None
        self._bound: dict[str, tuple[frozenset[str], float]] = {}  # consumer -> (keys, when: bind_only)

    def _ensure(self):  # noqa: ANN202
        if self._producer is None:
            connection = broker_connection(self.config, confirm_publish=False)
            connection.ensure_connection(max_retries=connect_retries(self.config), timeout=5)
            declare_topology(connection, self.config)
            producer = connection.Producer(serializer="json")
            if connection.transport.driver_type == "amqp":
                self._confirms = _Confirms(producer.channel)
            self._connection = connection
            self._producer = producer
        return self._producer

    def _on_connection(self, operation: Callable[[Connection], T]) -> T:
        """``operation`` on the open connection, once more on a new one if the old one was dead."""
        reused = self._producer is not None
        self._ensure()
        try:
            return operation(self._connection)
        except Exception:
            self.close()
            if not reused:
                raise
        self._ensure()
        try:
            return operation(self._connection)
        except Exception:
            self.close()
            raise

    def _send(
        self,
        body: dict[str, Any],
        routing_key: str,
        message_id: int | str,
        exchange: Exchange | str = EVENTS,
        event_type: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        """One persistent JSON message, its confirm not waited for (``_Confirms.wait``)."""
        self._producer.publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            message_id=str(message_id),
            type=event_type or routing_key,
            delivery_mode=2,
            headers=headers or {},
            retry=False,
        )
        if self._confirms is not None:
            self._confirms.sent(message_id)

    def _wait_for_confirms(self, confirmed: list[int | str]) -> None:
        """Wait for the confirms of what was sent; each id acked is appended to ``confirmed``, if
        the wait fails too. Raises PublishRefusedError if the broker refused any. (Without confirms,
        the transport's publish returned once the message was in: nothing to wait for.)"""
        if self._confirms is None:
            return
        try:
            self._confirms.wait(CONFIRM_TIMEOUT)
        finally:
            acked, nacked = self._confirms.take()
            confirmed.extend(acked)
        if nacked:
            raise PublishRefusedError(f"the broker refused messages {nacked}")

    def publish(
        self,
        body: dict[str, Any],
        routing_key: str,
        message_id: int | str,
        exchange: Exchange | str = EVENTS,
        event_type: str | None = None,
        headers: dict[str, Any] | None = None,
    ) -> None:
        """Publish one persistent JSON message; ``event_type`` defaults to the routing key."""

        def publish_one(_connection: Connection) -> None:
            self._send(body, routing_key, message_id, exchange, event_type, headers)
            self._wait_for_confirms([])

        self._on_connection(publish_one)

    def publish_batch(self, events: list[Event], confirmed: list[int]) -> None:
        """Publish ``events`` to the events exchange, then wait for their confirms together;
        each message id the broker took is appended to ``confirmed``. Raises if any was not
        taken (refused, or its confirm lost with the connection): ``confirmed`` names those that
        were, whatever their order."""

        def publish_all(_connection: Connection) -> None:
            done = set(confirmed)  # (a second try, on a new connection, sends only the others)
            for body, routing_key, message_id in events:
                if message_id not in done:
                    self._send(body, routing_key, message_id)
                    if self._confirms is None:
                        confirmed.append(message_id)
            self._wait_for_confirms(confirmed)  # type: ignore[arg-type] - the ids sent: ints

        self._on_connection(publish_all)

    def bind_only(self, consumer: str, keys: Collection[str]) -> None:
        """Bind ``consumer``'s queue (one of ``SYNCED_BINDINGS``) to the events exchange for each of
        ``keys`` and unbind it from the other keys of its subscription; the others' messages no
        longer reach it. Idempotent. The same keys as last time on this connection are not sent
        again for ``BINDINGS_RESYNC_S`` (then they are, should anything have changed the bindings:
        a process of an older version declaring its static ones, say)."""
        wanted = frozenset(keys) & frozenset(SUBSCRIPTIONS[consumer])
        last = self._bound.get(consumer)
        if self._producer is not None and last and last[0] == wanted and monotonic() - last[1] < BINDINGS_RESYNC_S:
            return  # (each bind or unbind is a round trip, and a transaction on the broker's metadata)

        def bind(connection: Connection) -> None:
            queue = consumer_queue(consumer, self.config.quorum_queues)(connection.default_channel)
            for key in SUBSCRIPTIONS[consumer]:
                if key in wanted:
                    queue.bind_to(EVENTS, routing_key=key)
                else:
                    queue.unbind_from(EVENTS, routing_key=key)
            self._bound[consumer] = (wanted, monotonic())

        self._on_connection(bind)

    def queue_depth(self, name: str) -> int:
        """Messages ready in queue ``name`` (0 if it does not exist yet)."""

        def depth(connection: Connection) -> int:
            channel = connection.channel()
            try:
                return channel.queue_declare(queue=name, passive=True).message_count
            except connection.channel_errors:  # a queue not declared yet holds nothing
                return 0
            finally:
                with contextlib.suppress(Exception):
                    channel.close()

        return self._on_connection(depth)

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                self._connection.release()
        self._connection = None
        self._producer = None
        self._confirms = None
        self._bound.clear()


def broker_is_reachable(config: Config) -> bool:
    try:
        with broker_connection(config) as connection:
            connection.ensure_connection(max_retries=connect_retries(config), timeout=2)
            if config.broker_url.startswith("filesystem"):
                # The transport itself cannot fail to "connect": check its folders take a write.
                probe = config.broker_dir / "data" / ".ready-probe"
                probe.write_bytes(b"")
                probe.unlink()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable"
        return False
