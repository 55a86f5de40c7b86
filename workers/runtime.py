"""Building a worker's context and running the long-lived loops of ``python -m workers``."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from apscheduler.util import undefined
from sqlalchemy import text

from workers import digests
from workers.consumer import Worker
from workers.delivery import Context
from workers.routing import price_the_pool, route_the_pile
from workers.sweep import sweep_deadlines, sweep_referrals
from workstation.config import Config
from workstation.routing import PRICING_INTERVAL_S
from workstation.services.db import make_engine, make_session_factory
from workstation.services.idempotency import forget_expired_keys
from workstation.services.mail import make_sender
from workstation.services.mailin import poll_maildir, watch_imap
from workstation.services.messaging import Publisher, broker_connection
from workstation.services.outbox import publish_pending, reconcile
from workstation.services.summary import record_due_summaries
from workstation.services.webhooks import deliver_due

log = logging.getLogger(__name__)

#: pg_advisory_lock key that keeps the scheduler single ("RPA" in ASCII).
SCHEDULER_LOCK_KEY = 0x525041


def make_context(config: Config) -> Context:
    engine = make_engine(config.database_url, planned_each_time=True)
    return Context(
        config=config, sessions=make_session_factory(engine), publisher=Publisher(config), sender=make_sender(config)
    )


def stop_on_signals(*events: threading.Event) -> None:
    def _stop(*_args: object) -> None:
        for event in events:
            event.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop)


def run_consumers(config: Config, consumers: list[str]) -> None:
    ctx = make_context(config)
    with broker_connection(config) as connection:
        worker = Worker(connection, ctx, consumers)
        signal.signal(signal.SIGTERM, lambda *_: setattr(worker, "should_stop", True))
        log.info("worker %d consuming %s", os.getpid(), ", ".join(consumers))
        try:
            worker.run()
        finally:
            ctx.sender.close()
            ctx.publisher.close()


@contextmanager
def single_scheduler(ctx: Context, stop: threading.Event) -> Iterator[bool]:
    """Hold the one scheduler lock (waiting as a standby if another process has it).

    PostgreSQL: a session advisory lock. SQLite: an exclusive lock on a file in the instance.
    """
    if ctx.config.is_sqlite:
        path = Path(ctx.config.instance_path) / "scheduler.lock"
        with path.open("w") as handle:
            while not stop.is_set():
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    stop.wait(2)
            yield not stop.is_set()
        return
    engine = ctx.sessions.kw["bind"]
    with engine.connect() as connection:
        while not stop.is_set():
            if connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": SCHEDULER_LOCK_KEY}).scalar():
                connection.commit()
                break
            connection.commit()
            stop.wait(2)
        if stop.is_set():
            yield False
            return
        # The lock lives as long as this connection: if the database drops it (a restart), a
        # standby may take over, so this process must stop being the leader at once.
        watcher = threading.Thread(target=_watch_lock, args=(connection, stop), daemon=True, name="leader-lock")
        watcher.start()
        yield True


#: How long a leader that lost its lock may take to stop in order before it leaves at once.
STEP_DOWN_GRACE_S = 5.0


def _leave_now() -> None:
    """Exit at once with 1 (stepped down): the supervisor or orchestrator starts the process again.
    Not ``sys.exit``: the interpreter would wait for every job thread, one of which may be waiting
    on the database that is gone."""
    logging.shutdown()
    os._exit(1)


def _watch_lock(connection, stop: threading.Event) -> None:  # noqa: ANN001
    while not stop.wait(5):
        try:
            connection.execute(text("SELECT 1"))
            connection.commit()
        except Exception as err:  # noqa: BLE001 - the connection, and with it the lock, is gone
            log.error("scheduler lost its database connection (%s); stepping down", err)
            stop.set()
            # A standby may lead already: if the orderly stop is held up (a job thread waiting on
            # the lost database, a close on a dead socket), leave anyway, and soon.
            leave = threading.Timer(STEP_DOWN_GRACE_S, _leave_now)
            leave.daemon = True
            leave.start()


def prune_processed(config: Config, older_than: float = 3600) -> int:
    """The filesystem transport keeps every consumed message; keep an hour of them for inspection."""
    folder = config.broker_dir / "processed"
    if not folder.exists():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for entry in os.scandir(folder):
        if entry.stat().st_mtime < cutoff:
            os.unlink(entry.path)
            removed += 1
    return removed


def run_scheduler(config: Config) -> None:
    """The relay (fast loop) plus the periodic jobs: reconciler, broker housekeeping."""
    from apscheduler.schedulers.background import BackgroundScheduler

    ctx = make_context(config)
    stop = threading.Event()
    stopped_by_signal = threading.Event()
    stop_on_signals(stop, stopped_by_signal)
    with single_scheduler(ctx, stop) as leader:
        if not leader:
            return
        log.info("scheduler %d is the leader; relaying the outbox", os.getpid())
        reconciler_publisher = Publisher(config)
        scheduler = BackgroundScheduler(timezone="UTC", jobstores=digest_jobstores(ctx))
        digests.use_sessions(ctx.sessions)
        every(scheduler, "reconcile", config.reconcile_interval, reconcile, ctx.sessions, reconciler_publisher, config)
        every(scheduler, "price-the-pool", PRICING_INTERVAL_S, price_the_pool, ctx.sessions, start_now=True)
        # the cases waiting for an expert, once someone eligible has room (after the prices)
        every(scheduler, "route-the-pile", PRICING_INTERVAL_S, route_the_pile, ctx.sessions)
        every(scheduler, "deadline-sweep", 900, sweep_deadlines, ctx.sessions, start_now=True)
        keys_kept = config.idempotency_key_hours
        every(scheduler, "forget-idempotency-keys", 3600, forget_expired_keys, ctx.sessions, keys_kept)
        every(scheduler, "referral-sweep", 900, sweep_referrals, ctx.sessions, config.referral_wait_days,
              start_now=True)  # fmt: skip
        # settings changed on the coordinator page reach the digest jobs within a minute
        every(scheduler, "sync-digest-jobs", 60, digests.sync_digest_jobs, scheduler, ctx.sessions, start_now=True)
        # the daily summaries of those who asked for them, once their hour has passed
        every(scheduler, "daily-summaries", 300, record_due_summaries, ctx.sessions, start_now=True)
        if config.broker_url.startswith("filesystem"):
            every(scheduler, "prune-processed", 600, prune_processed, config)
        every(scheduler, "webhooks", 1, deliver_due, ctx.sessions, config)
        # mail in: the Maildir always (drop a file in instance/mail-in/new/), IMAP when configured
        every(scheduler, "mail-in", config.maildir_interval, poll_maildir, ctx.sessions, config, start_now=True)
        if config.imap_url:  # one connection waiting in IDLE: a mail is taken in as it arrives
            threading.Thread(target=watch_imap, args=(ctx.sessions, config, stop), name="imap", daemon=True).start()
        scheduler.start()
        try:
            relay_loop(ctx, stop)
        finally:
            scheduler.shutdown(wait=False)
            reconciler_publisher.close()
            ctx.publisher.close()
            ctx.sender.close()
    if not stopped_by_signal.is_set():
        _leave_now()  # stepped down: the supervisor (or the orchestrator) starts it again


def digest_jobstores(ctx: Context) -> dict:
    """The digest jobs persist in our database (so a run missed while down is caught up on start);
    the interval jobs above are rebuilt at every start and live in memory."""
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    return {"default": MemoryJobStore(), digests.JOBSTORE: SQLAlchemyJobStore(engine=ctx.sessions.kw["bind"])}


#: The most outbox rows the relay publishes in one round.
RELAY_BATCH = 500


def relay_loop(ctx: Context, stop: threading.Event) -> None:
    """Publish new outbox rows as they appear; on a broker failure back off and try again.

    Between rounds it waits ``relay_wait`` (longer the busier it is); on a failure it backs off."""
    delay = ctx.config.relay_interval
    while not stop.is_set():
        try:
            published = publish_pending(ctx.sessions, ctx.publisher, RELAY_BATCH)
            delay = ctx.config.relay_interval
            wait = relay_wait(published, ctx.config)
        except Exception as err:  # noqa: BLE001 - broker or database down: keep trying
            delay = wait = min(max(delay * 2, 0.5), 10)
            log.warning("relay: %s; retrying in %.1fs", err, delay)
        if wait:
            stop.wait(wait)


#: Under load, the wait after a round grows by this much for each row the round published.
RELAY_WAIT_PER_ROW = 0.005


def relay_wait(published: int, config: Config) -> float:
    """How long the relay waits after a round of ``published`` rows before the next.

    A full round (a backlog): not at all. Otherwise ``RELAY_WAIT_PER_ROW`` a row, at least
    ``relay_interval`` and at most ``relay_max_wait``. Polling again at once after any round found
    one or two new rows each time under load, a read and a write transaction for each (1,398
    messages in 1,081 rounds). Under light load a round holds a few rows and the wait is
    ``relay_interval``; as events come faster the rounds grow and so does the wait (past about
    200 rows a second it reaches ``relay_max_wait``). The consumers take a round's events as one
    batch, one transaction for many cases (``workers.consumer``): under the end-to-end race's load
    rounds of 15 rows gave routing batches of 11 of its 20 and the watch worker 9, costing each
    far more per case than full batches. The price is latency, only under load: at most
    ``relay_max_wait`` per hop."""
    if published >= RELAY_BATCH:
        return 0.0
    return min(max(published * RELAY_WAIT_PER_ROW, config.relay_interval), config.relay_max_wait)


def every(scheduler, name: str, seconds: float, job, *args, start_now: bool = False) -> None:  # noqa: ANN001, ANN002
    """Run ``job(*args)`` every ``seconds`` (first at once with ``start_now``), one run at a time,
    missed runs folded into one; a failed run is logged and retried at the next interval."""
    scheduler.add_job(
        lambda: _guarded(name, job, *args),
        "interval",
        seconds=seconds,
        id=name,
        next_run_time=datetime.now(UTC) if start_now else undefined,
        max_instances=1,
        coalesce=True,
    )


def _guarded(name: str, job, *args):  # noqa: ANN001, ANN002, ANN202
    try:
        return job(*args)
    except Exception as err:  # noqa: BLE001 - a failed run is retried at the next interval
        log.warning("%s: %s", name, err)
        return None
