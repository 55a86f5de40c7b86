"""End-to-end pipeline benchmark: intake, submit->assigned->mailed latency, sustained rate, broker ceiling.

Run from the repository root::

    .venv/bin/python benchmarks/pipeline.py            # full run, both deployments (~5 min)
    .venv/bin/python benchmarks/pipeline.py --quick    # smaller, ~1.5 min
    .venv/bin/python benchmarks/pipeline.py --only pg  # one deployment (sqlite | pg)
    .venv/bin/python benchmarks/pipeline.py --scale    # 1, then 2 of every process (PostgreSQL + RabbitMQ)

For each deployment -- the embedded default (SQLite + kombu's filesystem transport in a temporary
instance folder) and PostgreSQL + RabbitMQ (a fresh database, the rpa.* queues deleted first) --
it sets up users, starts the whole system with ``python -m workstation run`` and measures:

1. intake: N closed-loop clients POSTing cases as fast as they can (cases/s, latency p50/p99);
2. end-to-end at a steady, open-loop 50 cases/s: submit->assigned and submit->mail-sent p50/p99,
   taken from the database (cases.created_at, case_events 'assign', notifications.sent_at);
3. sustained rate: offered rate stepped up until the pipeline no longer keeps up (every case of
   the step mailed within 2 s of the step's end, and mails/s within 10 % of the offered rate);
4. a bare kombu publish->consume loop on the same broker and transport options, as the ceiling.

The last line printed is for PostgreSQL + RabbitMQ:
``pipeline: intake_rps=<n> intake_p99_ms=<n> e2e_p99_ms=<n> sustained_cps=<n> bare_kombu_mps=<n>``.

It needs PostgreSQL at 127.0.0.1:5432 (trust auth) and RabbitMQ at 127.0.0.1:5672 for the second
deployment (``--pg-url``, ``--amqp-url`` to change). Every process it starts runs in its own
process group and is killed on exit, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from common import (  # noqa: E402
    SERVERS,
    cpu_by_pid,
    free_port,
    log,
    machine_busy,
    machine_busy_share,
    percentile,
    pids_named,
    throwaway_database,
    unique_database_name,
)
from sqlalchemy import func, select  # noqa: E402

from workstation.config import Config  # noqa: E402
from workstation.services.auth import create_token, create_user  # noqa: E402
from workstation.services.db import make_engine, make_session_factory, transaction  # noqa: E402
from workstation.services.messaging import SUBSCRIPTIONS, broker_connection, dead_letter_queue_name, queue_name  # noqa: E402
from workstation.services.models import (  # noqa: E402
    Case,
    CaseEvent,
    DeliveryFailure,
    HandledMessage,
    Notification,
    OutboxMessage,
)

PYTHON = sys.executable
PASSWORD = "bench-password-123"
#: Emails one routed case causes: the expert's and the enterprise's.
MAILS_PER_CASE = 2
CASE_BODY = {
    "right_type": "trademark",
    "service": "infringement_judgment",
    "description": "A competitor sells goods under a confusingly similar mark. Benchmark case.",
}


# --------------------------------------------------------------------------------------------
# small helpers


def aware(dt: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes, PostgreSQL aware ones."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def case_id_of(reference: str) -> int:
    return int(reference.rsplit("-", 1)[-1])


def fmt(value: float, digits: int = 0) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


# --------------------------------------------------------------------------------------------
# process handling: everything we start is in its own process group and is killed on exit

_STARTED: list[subprocess.Popen] = []


def start_process(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    out = log_path.open("ab")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    _STARTED.append(proc)
    return proc


def stop_process(proc: subprocess.Popen, grace: float = 20.0) -> int | None:
    """SIGTERM the leader (the supervisor stops its children), then SIGKILL whatever is left of the group."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            log(f"pid {proc.pid} did not stop within {grace:.0f}s; killing its process group")
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    if proc in _STARTED:
        _STARTED.remove(proc)
    return proc.returncode


def kill_all_started() -> None:
    for proc in list(_STARTED):
        with contextlib.suppress(Exception):
            stop_process(proc, grace=5)


def descendants(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc; no psutil needed)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --------------------------------------------------------------------------------------------
# deployments


@dataclass
class Deployment:
    key: str
    label: str
    #: PostgreSQL: the throwaway database, created for the run and dropped after it
    database_url: str | None = None
    broker_url: str | None = None
    prepare: Callable[[], None] = lambda: None


def prepare_rabbitmq(amqp_url: str) -> None:
    """Delete the rpa.* queues so the run starts from empty queues (and no stranger's messages)."""
    from kombu import Connection

    names = []
    for consumer in SUBSCRIPTIONS:
        names += [queue_name(consumer), dead_letter_queue_name(consumer)]
    with Connection(amqp_url, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=2)
        for name in names:
            channel = conn.channel()
            try:
                _, messages, consumers = channel.queue_declare(name, passive=True)
                if consumers:
                    log(f"WARNING: queue {name} has {consumers} consumer(s) not started by this benchmark")
                channel.queue_delete(name)
                log(f"deleted queue {name} ({messages} message(s))")
            except Exception:  # noqa: BLE001 - the queue does not exist (the channel is closed by the server)
                pass
            finally:
                with contextlib.suppress(Exception):
                    channel.close()


# --------------------------------------------------------------------------------------------
# load generators


@dataclass
class Result:
    index: int
    scheduled: float  # monotonic time the request was due (open loop) or started (closed loop)
    started: float
    finished: float
    status: int
    reference: str | None = None

    @property
    def latency_ms(self) -> float:
        return (self.finished - self.started) * 1000


def post_case(session: requests.Session, url: str, headers: dict[str, str], index: int) -> tuple[int, str | None]:
    body = {**CASE_BODY, "title": f"Benchmark case {index}"}
    try:
        response = session.post(url, json=body, headers=headers, timeout=60)
    except requests.RequestException:
        return -1, None
    if response.status_code == 201:
        return 201, response.json().get("reference")
    return response.status_code, None


def closed_loop(base_url: str, token: str, clients: int, total: int) -> tuple[list[Result], float]:
    """``clients`` threads sending back to back until ``total`` requests are done."""
    url = f"{base_url}/api/v1/cases"
    headers = {"Authorization": f"Bearer {token}"}
    counter = itertools.count()
    results: list[Result] = []
    lock = threading.Lock()

    def client() -> None:
        mine = []
        with requests.Session() as session:
            while (i := next(counter)) < total:
                started = time.monotonic()
                status, ref = post_case(session, url, headers, i)
                mine.append(Result(i, started, started, time.monotonic(), status, ref))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - t0


def open_loop(
    base_url: str, token: str, rate: float, duration: float, threads: int
) -> tuple[list[Result], float, float]:
    """Send ``rate`` cases/s for ``duration`` s at scheduled times, whatever the response times.

    Returns the results and the wall-clock (epoch) and monotonic times of the schedule's start.
    """
    url = f"{base_url}/api/v1/cases"
    headers = {"Authorization": f"Bearer {token}"}
    n = int(round(rate * duration))
    t0 = time.monotonic() + 0.2
    wall0 = time.time() + (t0 - time.monotonic())
    counter = itertools.count()
    results: list[Result | None] = [None] * n

    def sender() -> None:
        with requests.Session() as session:
            while (i := next(counter)) < n:
                due = t0 + i / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                started = time.monotonic()
                status, ref = post_case(session, url, headers, i)
                results[i] = Result(i, due, started, time.monotonic(), status, ref)

    pool = [threading.Thread(target=sender, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return [r for r in results if r is not None], wall0, t0


# --------------------------------------------------------------------------------------------
# what the database says


@dataclass
class CaseTiming:
    created: datetime
    assigned: datetime | None = None
    mailed: datetime | None = None
    mails: int = 0

    def assigned_ms(self) -> float | None:
        return (self.assigned - self.created).total_seconds() * 1000 if self.assigned else None

    def mailed_ms(self) -> float | None:
        return (self.mailed - self.created).total_seconds() * 1000 if self.mailed and self.done else None

    @property
    def done(self) -> bool:
        return self.mails >= MAILS_PER_CASE


def case_timings(engine, ids: list[int]) -> dict[int, CaseTiming]:  # noqa: ANN001
    if not ids:
        return {}
    lo, hi = min(ids), max(ids)
    wanted = set(ids)
    with engine.connect() as conn:
        timings = {
            cid: CaseTiming(aware(created))
            for cid, created in conn.execute(select(Case.id, Case.created_at).where(Case.id.between(lo, hi)))
            if cid in wanted
        }
        for cid, at in conn.execute(
            select(CaseEvent.case_id, func.min(CaseEvent.created_at))
            .where(CaseEvent.case_id.between(lo, hi), CaseEvent.action == "assign")
            .group_by(CaseEvent.case_id)
        ):
            if cid in timings:
                timings[cid].assigned = aware(at)
        for cid, at, count in conn.execute(
            select(Notification.case_id, func.max(Notification.sent_at), func.count())
            .where(Notification.case_id.between(lo, hi), Notification.status == "sent")
            .group_by(Notification.case_id)
        ):
            if cid in timings:
                timings[cid].mailed = aware(at)
                timings[cid].mails = count
    return timings


def mails_for(engine, lo: int, hi: int) -> int:  # noqa: ANN001
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(Notification.case_id.between(lo, hi), Notification.status == "sent")
        ).scalar_one()


def wait_mailed(engine, ids: list[int], timeout: float) -> tuple[bool, float]:  # noqa: ANN001
    """Wait until every case in ``ids`` has had its mails sent; returns (all done, seconds waited)."""
    t0 = time.monotonic()
    if not ids:
        return True, 0.0
    lo, hi = min(ids), max(ids)
    want = MAILS_PER_CASE * len(ids)
    while True:
        if mails_for(engine, lo, hi) >= want:
            return True, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return False, time.monotonic() - t0
        time.sleep(0.1)


def all_case_ids(engine) -> list[int]:  # noqa: ANN001
    with engine.connect() as conn:
        return list(conn.execute(select(Case.id)).scalars())


# --------------------------------------------------------------------------------------------
# the bare kombu ceiling


def bare_kombu(config: Config, n: int) -> dict[str, float]:
    """``n`` persistent JSON messages through a throwaway durable queue on the configured broker.

    Sequential: publish all, then consume all (one connection). Concurrent: a publisher thread
    with its own connection while the main thread consumes. Consumers ack each message with
    prefetch 10, as the workers do; AMQP publishes wait for the publisher confirm, as the relay's do.
    """
    from kombu import Exchange, Queue

    name = f"bench.kombu.{uuid.uuid4().hex[:8]}"
    exchange = Exchange(name, type="direct", durable=True)
    queue = Queue(name, exchange, routing_key=name, durable=True)
    body = {"case_id": 123456, "reference": "RPA-2025-123456", "event_id": 42, "expert_id": 7}

    def publish_all(conn, count: int) -> float:  # noqa: ANN001
        producer = conn.Producer(serializer="json")
        t0 = time.perf_counter()
        for i in range(count):
            producer.publish(
                {**body, "i": i},
                exchange=exchange,
                routing_key=name,
                message_id=str(i),
                type="bench",
                delivery_mode=2,
                retry=False,
            )
        return time.perf_counter() - t0

    def consume(conn, count: int, timeout: float = 60) -> float:  # noqa: ANN001
        received = 0

        def on_message(_body, message) -> None:  # noqa: ANN001
            nonlocal received
            received += 1
            message.ack()

        t0 = time.perf_counter()
        with conn.Consumer(queues=[queue], callbacks=[on_message], accept=["json"], prefetch_count=10):
            while received < count:
                if time.perf_counter() - t0 > timeout:
                    raise TimeoutError(f"consumed {received} of {count}")
                with contextlib.suppress(socket.timeout, TimeoutError):
                    conn.drain_events(timeout=1)
        return time.perf_counter() - t0

    out: dict[str, float] = {}
    with broker_connection(config) as conn:
        conn.ensure_connection(max_retries=3)
        queue(conn.default_channel).declare()
        try:
            t_pub = publish_all(conn, n)
            t_con = consume(conn, n)
            out.update(
                publish_mps=n / t_pub,
                consume_mps=n / t_con,
                sequential_mps=n / (t_pub + t_con),
            )
            # concurrently: publisher thread on its own connection
            errors: list[BaseException] = []

            def publisher() -> None:
                try:
                    with broker_connection(config) as pconn:
                        pconn.ensure_connection(max_retries=3)
                        publish_all(pconn, n)
                except BaseException as err:  # noqa: BLE001
                    errors.append(err)

            t0 = time.perf_counter()
            thread = threading.Thread(target=publisher, daemon=True)
            thread.start()
            consume(conn, n)
            thread.join()
            if errors:
                raise errors[0]
            out["concurrent_mps"] = n / (time.perf_counter() - t0)
        finally:
            with contextlib.suppress(Exception):
                queue(conn.default_channel).delete()
            with contextlib.suppress(Exception):
                exchange(conn.default_channel).delete()
    return out


# --------------------------------------------------------------------------------------------
# one deployment


@dataclass
class Figures:
    label: str
    setup_s: float = float("nan")
    startup_s: float = float("nan")
    intake_n: int = 0
    intake_errors: int = 0
    intake_rps: float = float("nan")
    intake_p50: float = float("nan")
    intake_p99: float = float("nan")
    backlog_drained: bool = False
    backlog_drain_s: float = float("nan")
    backlog_cps: float = float("nan")
    e2e_n: int = 0
    e2e_errors: int = 0
    e2e_sent_rps: float = float("nan")
    e2e_http_p50: float = float("nan")
    e2e_http_p99: float = float("nan")
    e2e_complete: bool = False
    assigned_p50: float = float("nan")
    assigned_p99: float = float("nan")
    mailed_p50: float = float("nan")
    mailed_p99: float = float("nan")
    mailed_max: float = float("nan")
    steps: list[dict[str, Any]] = field(default_factory=list)
    sustained_cps: float = 0.0
    kombu: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def block(self) -> str:
        lines = [
            f"== {self.label} ==",
            f"  setup {fmt(self.setup_s, 1)} s, system ready in {fmt(self.startup_s, 1)} s",
            f"  intake:      {self.intake_n} cases ({self.intake_errors} errors), {fmt(self.intake_rps, 1)} cases/s, "
            f"latency p50 {fmt(self.intake_p50, 1)} ms p99 {fmt(self.intake_p99, 1)} ms",
            f"  backlog:     drained {'yes' if self.backlog_drained else 'NO'} {fmt(self.backlog_drain_s, 1)} s after "
            f"intake ended; pipeline {fmt(self.backlog_cps, 1)} cases/s (first submit to last mail)",
            f"  e2e @50/s:   {self.e2e_n} cases ({self.e2e_errors} errors), sent {fmt(self.e2e_sent_rps, 1)}/s, "
            f"HTTP p50 {fmt(self.e2e_http_p50, 1)} ms p99 {fmt(self.e2e_http_p99, 1)} ms"
            + ("" if self.e2e_complete else "  (NOT all mailed before the timeout)"),
            f"               submit->assigned p50 {fmt(self.assigned_p50)} ms p99 {fmt(self.assigned_p99)} ms; "
            f"submit->mail-sent p50 {fmt(self.mailed_p50)} ms p99 {fmt(self.mailed_p99)} ms "
            f"max {fmt(self.mailed_max)} ms",
        ]
        for step in self.steps:
            lines.append(
                f"  step {step['rate']:>4}/s: sent {step['sent_rps']:.1f}/s ({step['errors']} errors, "
                f"HTTP p99 {step['http_p99']:.0f} ms), mailed {step['mailed_rps']:.1f}/s, "
                f"{step['done_in_time']}/{step['accepted']} mailed by end+2s, mail p99 {fmt(step['mailed_p99'])} ms"
                f" -> {'ok' if step['ok'] else 'FAIL'}" + (f" ({step['why']})" if step.get("why") else "")
            )
        lines.append(f"  sustained:   {fmt(self.sustained_cps)} cases/s (highest step kept up with)")
        if self.kombu:
            k = self.kombu
            lines.append(
                f"  bare kombu:  publish {fmt(k.get('publish_mps', float('nan')))}/s, consume "
                f"{fmt(k.get('consume_mps', float('nan')))}/s, publish-then-consume "
                f"{fmt(k.get('sequential_mps', float('nan')))} msg/s, concurrent "
                f"{fmt(k.get('concurrent_mps', float('nan')))} msg/s (2 messages per case)"
            )
        if self.cpu:
            parts = ", ".join(f"{k} {v:.1f}s" for k, v in self.cpu.items())
            lines.append(f"  CPU seconds during e2e+steps ({os.cpu_count()} cores): {parts}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        return "\n".join(lines)


@dataclass
class Plan:
    intake_clients: int
    intake_total: int
    e2e_rate: float
    e2e_seconds: float
    step_rates: list[int]
    step_seconds: float
    steps_budget: float
    kombu_messages: int
    drain_timeout: float
    #: how long to wait for the backlog a failed step left before trying a lower rate
    fail_drain: float
    web_workers: int
    consumers: int


def classify(pid: int) -> str:
    cmd = cmdline(pid)
    if "gunicorn" in cmd:
        return "web"
    if "workers scheduler" in cmd:
        return "scheduler"
    if "-m workers" in cmd:
        return "consumers"
    return "other"


def run_step(engine, base_url: str, token: str, rate: int, seconds: float) -> tuple[dict[str, Any], list[int]]:  # noqa: ANN001
    """Offer ``rate`` cases/s for ``seconds`` s; judge whether the pipeline kept up.

    Kept up means: every request accepted (and intake at >= 90 % of the rate), every case of
    the step mail-sent by 2 s after the step's end, and mails/s within 10 % of the offered rate.
    Mails/s counts the cases mail-sent in the step's window shifted by the step's median
    submit->mailed latency (so a steady pipeline scores the offered rate, whatever its latency,
    and one falling behind scores what it manages).
    """
    threads = min(96, max(16, rate // 4))
    results, wall0, _ = open_loop(base_url, token, rate, seconds, threads=threads)
    ok = [r for r in results if r.status == 201]
    ids = [case_id_of(r.reference) for r in ok if r.reference]
    deadline_epoch = wall0 + seconds + 2.0
    deadline = datetime.fromtimestamp(deadline_epoch, UTC)
    # wait until the deadline has passed (or everything is mailed) before judging
    if deadline_epoch - time.time() > 0:
        wait_mailed(engine, ids, deadline_epoch - time.time())
    timings = case_timings(engine, ids)
    done = [t for t in timings.values() if t.done]
    in_time = [t for t in done if t.mailed <= deadline]
    latencies = [v for t in done if (v := t.mailed_ms()) is not None]
    created = sorted(t.created for t in timings.values())
    sent_rps = (len(created) - 1) / (created[-1] - created[0]).total_seconds() if len(created) > 1 else 0.0
    shift = percentile(latencies, 50) / 1000 if latencies else 0.0
    start = datetime.fromtimestamp(wall0 + shift, UTC)
    end = datetime.fromtimestamp(wall0 + seconds + shift, UTC)
    mailed_rps = sum(1 for t in done if start <= t.mailed < end) / seconds
    expected = round(rate * seconds)
    why = []
    if len(ok) < expected:
        why.append(f"{expected - len(ok)} request(s) failed")
    if len(in_time) < len(ids):
        why.append(f"{len(ids) - len(in_time)} not mailed by end+2s")
    if sent_rps < 0.9 * rate:
        why.append("intake below 90% of the offered rate")
    if mailed_rps < 0.9 * rate:
        why.append("mails/s below 90% of the offered rate")
    step = {
        "rate": rate,
        "accepted": len(ids),
        "errors": len(results) - len(ok),
        "sent_rps": sent_rps,
        "http_p99": percentile([r.latency_ms for r in ok], 99),
        "mailed_rps": mailed_rps,
        "done_in_time": len(in_time),
        "mailed_p99": percentile(latencies, 99),
        "ok": not why,
        "why": "; ".join(why),
    }
    return step, ids


class DeploymentRun:
    """One deployment measured: the instance folder, the system's process, the database, and the
    figures. Each phase is a method; :func:`run_deployment` calls them in order."""

    def __init__(self, dep: Deployment, plan: Plan, profile_dir: Path | None, keep: bool) -> None:
        self.dep = dep
        self.plan = plan
        self.profile_dir = profile_dir
        self.keep = keep
        self.fig = Figures(dep.label)
        self.instance = Path(tempfile.mkdtemp(prefix=f"rpa-bench-{dep.key}-"))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WORKSTATION_")}
        self.env.update(
            WORKSTATION_INSTANCE_PATH=str(self.instance),
            WORKSTATION_BASE_URL=self.base_url,
            PYTHONUNBUFFERED="1",
        )
        if dep.database_url:
            self.env["WORKSTATION_DATABASE_URL"] = dep.database_url
        if dep.broker_url:
            self.env["WORKSTATION_BROKER_URL"] = dep.broker_url
        self.log_path = self.instance / "system.log"
        #: what is undone at the end: the throwaway database
        self.cleanup = contextlib.ExitStack()
        self.engine = None
        self.system: subprocess.Popen | None = None
        self.profilers: list[subprocess.Popen] = []

    # 1. set up
    def set_up(self) -> None:
        """A fresh database (PostgreSQL) or instance (SQLite), the schema, an enterprise with a token
        and 20 experts."""
        dep, fig = self.dep, self.fig
        t0 = time.monotonic()
        if dep.database_url:
            name = dep.database_url.rsplit("/", 1)[1]
            self.cleanup.enter_context(throwaway_database(dep.database_url, name, keep=self.keep))
        dep.prepare()
        subprocess.run(
            [PYTHON, "-m", "workstation", "init-db"],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )
        self.config = Config.from_env(self.env)
        self.engine = make_engine(self.config.database_url)
        # Same as `python -m workstation create-user/create-token`, without 22 interpreter start-ups.
        with transaction(make_session_factory(self.engine)) as session:
            enterprise = create_user(
                session, "bench-enterprise@example.com", PASSWORD, "enterprise", "Bench Enterprise", "en", "Bench Co"
            )
            for i in range(20):
                create_user(
                    session,
                    f"bench-expert-{i:02d}@example.com",
                    PASSWORD,
                    "expert",
                    f"Expert {i:02d}",
                    "en",
                    right_types=["trademark"],
                    capacity=100_000,
                )
            self.token = create_token(session, enterprise)
        fig.setup_s = time.monotonic() - t0
        log(
            f"{dep.label}: instance {self.instance}, database {self.config.database_url.split('@')[-1]}, "
            f"broker {self.config.broker_url.split('@')[-1]}"
        )
        # Anything else keeping the machine busy skews every figure: say so.
        idle_load = machine_busy_share() * (os.cpu_count() or 1)
        if idle_load > 0.2:
            fig.notes.append(f"machine not idle before the start: {idle_load:.2f} cores busy with other work")

    # 2. start the system
    def start_system(self) -> None:
        """``python -m workstation run`` on a free port, until ``/readyz`` answers; py-spy on each of
        its processes with ``--profile``."""
        plan, dep = self.plan, self.dep
        t0 = time.monotonic()
        command = [PYTHON, "-m", "workstation", "run", "--port", str(self.port)]
        command += ["--web-workers", str(plan.web_workers), "--consumers", str(plan.consumers)]
        self.system = system = start_process(command, self.env, self.log_path)
        while True:
            if system.poll() is not None:
                raise RuntimeError(f"the system exited with {system.returncode}; see {self.log_path}")
            if time.monotonic() - t0 > 90:
                raise RuntimeError(f"/readyz not 200 after 90 s; see {self.log_path}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        # The consumers and the scheduler start beside gunicorn; give them a moment to subscribe.
        time.sleep(1.0)
        self.fig.startup_s = time.monotonic() - t0
        log(f"{dep.label}: ready on {self.base_url} in {self.fig.startup_s:.1f}s")
        if self.profile_dir is not None:
            self.start_profilers(self.profile_dir)

    def start_profilers(self, profile_dir: Path) -> None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        py_spy = shutil.which("py-spy") or str(Path(PYTHON).parent / "py-spy")
        for pid in descendants(self.system.pid):
            role = classify(pid)
            if role == "other":
                continue
            out = profile_dir / f"{self.dep.key}-{role}-{pid}.txt"
            self.profilers.append(
                start_process(
                    [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "-o", str(out)],
                    self.env,
                    profile_dir / f"{self.dep.key}-py-spy.log",
                )
            )
        time.sleep(1.0)

    # 3. intake, closed loop, and the backlog it leaves
    def intake(self) -> None:
        dep, plan, fig = self.dep, self.plan, self.fig
        log(f"{dep.label}: intake, {plan.intake_clients} clients x {plan.intake_total} cases")
        results, elapsed = closed_loop(self.base_url, self.token, plan.intake_clients, plan.intake_total)
        intake_end = time.monotonic()
        ok = [r for r in results if r.status == 201]
        fig.intake_n = len(results)
        fig.intake_errors = len(results) - len(ok)
        fig.intake_rps = len(ok) / elapsed
        fig.intake_p50 = percentile([r.latency_ms for r in ok], 50)
        fig.intake_p99 = percentile([r.latency_ms for r in ok], 99)
        log(
            f"{dep.label}: intake {fig.intake_rps:.1f} cases/s, p50 {fig.intake_p50:.1f} ms, "
            f"p99 {fig.intake_p99:.1f} ms; waiting for the backlog"
        )
        intake_ids = [case_id_of(r.reference) for r in ok if r.reference]
        fig.backlog_drained, _ = wait_mailed(self.engine, intake_ids, plan.drain_timeout)
        fig.backlog_drain_s = time.monotonic() - intake_end
        timings = case_timings(self.engine, intake_ids)
        done = [t for t in timings.values() if t.done]
        if done:
            span = (max(t.mailed for t in done) - min(t.created for t in done)).total_seconds()
            fig.backlog_cps = len(done) / span if span > 0 else float("nan")
        log(
            f"{dep.label}: backlog {'drained' if fig.backlog_drained else 'NOT drained'} "
            f"{fig.backlog_drain_s:.1f}s after intake; pipeline {fig.backlog_cps:.1f} cases/s"
        )
        if not fig.backlog_drained:
            fig.notes.append("intake backlog not drained before the e2e run: the e2e figures include it")

    def start_cpu_count(self) -> None:
        """CPU counters of every part before the e2e and sustained phases."""
        self.cpu_before = cpu_by_pid(descendants(self.system.pid))
        self.servers_before = {name: cpu_by_pid(pids_named(*comms)) for name, comms in SERVERS.items()}
        self.machine_before, self.own_before = machine_busy()[0], own_cpu()
        self.cpu_t0 = time.monotonic()

    # 4. end to end at a steady rate
    def end_to_end(self) -> None:
        dep, plan, fig = self.dep, self.plan, self.fig
        log(f"{dep.label}: end to end at {plan.e2e_rate:.0f}/s for {plan.e2e_seconds:.0f}s")
        results, _, _ = open_loop(self.base_url, self.token, plan.e2e_rate, plan.e2e_seconds, threads=16)
        ok = [r for r in results if r.status == 201]
        fig.e2e_n = len(results)
        fig.e2e_errors = len(results) - len(ok)
        if len(ok) > 1:
            fig.e2e_sent_rps = (len(ok) - 1) / (max(r.started for r in ok) - min(r.started for r in ok))
        fig.e2e_http_p50 = percentile([r.latency_ms for r in ok], 50)
        fig.e2e_http_p99 = percentile([r.latency_ms for r in ok], 99)
        e2e_ids = [case_id_of(r.reference) for r in ok if r.reference]
        fig.e2e_complete, _ = wait_mailed(self.engine, e2e_ids, plan.drain_timeout)
        timings = case_timings(self.engine, e2e_ids)
        assigned = [v for t in timings.values() if (v := t.assigned_ms()) is not None]
        mailed = [v for t in timings.values() if (v := t.mailed_ms()) is not None]
        fig.assigned_p50, fig.assigned_p99 = percentile(assigned, 50), percentile(assigned, 99)
        fig.mailed_p50, fig.mailed_p99 = percentile(mailed, 50), percentile(mailed, 99)
        fig.mailed_max = max(mailed) if mailed else float("nan")
        log(
            f"{dep.label}: submit->assigned p50 {fig.assigned_p50:.0f} p99 {fig.assigned_p99:.0f} ms; "
            f"submit->mailed p50 {fig.mailed_p50:.0f} p99 {fig.mailed_p99:.0f} ms"
        )

    # 5. sustained rate: step the offered rate up until the pipeline falls behind
    def sustained(self) -> None:
        dep, plan, fig = self.dep, self.plan, self.fig
        steps_t0 = time.monotonic()
        rates = list(plan.step_rates)
        fallback = [r for r in (25, 10) if r < rates[0]]
        while rates:
            rate = rates.pop(0)
            if time.monotonic() - steps_t0 > plan.steps_budget:
                fig.notes.append(f"stopped stepping at {rate}/s: time budget of {plan.steps_budget:.0f}s used")
                break
            step, ids = run_step(self.engine, self.base_url, self.token, rate, plan.step_seconds)
            fig.steps.append(step)
            log(
                f"{dep.label}: step {rate}/s -> {'ok' if step['ok'] else 'FAIL: ' + step['why']} "
                f"(sent {step['sent_rps']:.1f}/s, mailed {step['mailed_rps']:.1f}/s, "
                f"mail p99 {fmt(step['mailed_p99'])} ms)"
            )
            # start the next step from an empty pipeline
            drained, _ = wait_mailed(self.engine, ids, 10 if step["ok"] else plan.fail_drain)
            if step["ok"]:
                fig.sustained_cps = rate
                if not drained:
                    fig.notes.append(f"step {rate}/s left a backlog; stopped stepping")
                    break
                if not rates and all(s["ok"] for s in fig.steps):
                    fig.notes.append(f"every step passed: the sustained rate is at least {rate}/s")
                continue
            if fig.sustained_cps == 0 and fallback and drained:
                # Not even the lowest step: find out roughly where it is.
                rates = [fallback.pop(0)]
                log(f"{dep.label}: {rate}/s not sustained; trying {rates[0]}/s")
                continue
            break

    # 6. where the CPU went during the e2e and sustained phases
    def count_cpu(self) -> None:
        """CPU seconds of each part since :meth:`start_cpu_count`; stops the profilers."""
        fig = self.fig
        elapsed = time.monotonic() - self.cpu_t0
        cpu_after = cpu_by_pid(descendants(self.system.pid))
        for profiler in self.profilers:
            with contextlib.suppress(ProcessLookupError):
                profiler.send_signal(signal.SIGINT)
        for profiler in self.profilers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(15)
            stop_process(profiler, grace=1)
        for pid, seconds in cpu_after.items():
            role = classify(pid)
            fig.cpu[role] = fig.cpu.get(role, 0.0) + seconds - self.cpu_before.get(pid, 0.0)
        fig.cpu = dict(sorted(fig.cpu.items()))
        fig.cpu["benchmark client"] = own_cpu() - self.own_before
        if not self.config.is_sqlite:
            for name, comms in SERVERS.items():
                after = cpu_by_pid(pids_named(*comms))
                fig.cpu[name] = sum(v - self.servers_before[name].get(pid, 0.0) for pid, v in after.items())
        system_cpu = sum(fig.cpu.values())
        fig.cpu["machine total"] = machine_busy()[0] - self.machine_before
        fig.cpu["rest (others)"] = fig.cpu["machine total"] - system_cpu
        fig.cpu["wall"] = elapsed
        if set(self.cpu_before) - set(cpu_after):
            fig.notes.append(f"{len(set(self.cpu_before) - set(cpu_after))} child process(es) died during the run")

    # 7. did anything else consume from our queues, or did messages fail? (a shared broker)
    def check_messages(self) -> None:
        fig, plan, config = self.fig, self.plan, self.config
        if not config.broker_url.startswith("filesystem"):
            with contextlib.suppress(Exception), broker_connection(config) as conn:
                for consumer in SUBSCRIPTIONS:
                    _, _, consumers = conn.default_channel.queue_declare(queue_name(consumer), passive=True)
                    if consumers > plan.consumers:
                        fig.notes.append(
                            f"queue {queue_name(consumer)} has {consumers} consumers, {plan.consumers} of them ours"
                        )
        with self.engine.connect() as conn:
            dead = conn.execute(
                select(func.count()).select_from(HandledMessage).where(HandledMessage.outcome != "done")
            ).scalar_one()
            failures = conn.execute(select(func.count()).select_from(DeliveryFailure)).scalar_one()
            republished = conn.execute(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.publish_count > 1)
            ).scalar_one()
        if dead or failures or republished:
            fig.notes.append(
                f"{dead} message(s) dead-lettered, {failures} with failed attempts, "
                f"{republished} published more than once (reconciler)"
            )

    # 8. stop the system (before the ceiling, so that it has the machine to itself)
    def stop_system(self) -> None:
        log(f"{self.dep.label}: stopping the system")
        code = stop_process(self.system)
        self.system = None
        if code not in (0, None):
            self.fig.notes.append(f"`python -m workstation run` exited with {code} on SIGTERM")

    # 9. bare kombu on the same broker, same transport options
    def bare_kombu(self) -> None:
        log(f"{self.dep.label}: bare kombu, {self.plan.kombu_messages} messages")
        try:
            self.fig.kombu = bare_kombu(self.config, self.plan.kombu_messages)
        except Exception as err:  # noqa: BLE001
            self.fig.notes.append(f"bare kombu failed: {err!r}")

    # 10. anything the system logged that looks wrong, and where the cases ended
    def look_back(self) -> None:
        fig = self.fig
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        problems = [
            line
            for line in text.splitlines()
            if any(w in line for w in ("Traceback", "ERROR", "WARNING", "exited with", "dead-letter"))
            and "No hostname was supplied" not in line
        ]
        if problems:
            fig.notes.append(f"{len(problems)} warning/error line(s) in {self.log_path}, first: {problems[0][:200]}")
            self.keep = True
        statuses: dict[str, int] = {}
        with self.engine.connect() as conn:
            for status, count in conn.execute(select(Case.status, func.count()).group_by(Case.status)):
                statuses[status] = count
        fig.notes.append(f"case statuses at the end: {statuses}")

    def close(self) -> None:
        """Stop the system if it still runs, drop the database, remove the instance unless kept."""
        if self.system is not None:
            stop_process(self.system)
        if self.engine is not None:
            self.engine.dispose()
        self.cleanup.close()
        if self.keep:
            log(f"{self.dep.label}: kept {self.instance}")
        else:
            shutil.rmtree(self.instance, ignore_errors=True)


def run_deployment(dep: Deployment, plan: Plan, profile_dir: Path | None, keep: bool) -> Figures:
    """Every phase on one deployment, in order; its figures."""
    run = DeploymentRun(dep, plan, profile_dir, keep)
    try:
        run.set_up()
        run.start_system()
        run.intake()
        run.start_cpu_count()
        run.end_to_end()
        run.sustained()
        run.count_cpu()
        run.check_messages()
        run.stop_system()
        run.bare_kombu()
        run.look_back()
        return run.fig
    finally:
        run.close()


# --------------------------------------------------------------------------------------------
# --scale: 1, then 2 of each process against the same database and virtual host


def kind_of(pid: int) -> str:
    """What a process of the scale-out run is: web (gunicorn), scheduler, or its consumer's name."""
    cmd = cmdline(pid).split()
    if any("gunicorn" in part for part in cmd):
        return "web"
    if "workers" in cmd:
        return cmd[cmd.index("workers") + 1] if cmd.index("workers") + 1 < len(cmd) else "consumers"
    return "other"


@dataclass
class ScaleFigures:
    n: int
    offered: float
    seconds: float
    accepted: int = 0
    errors: int = 0
    submitted_rps: float = float("nan")
    assigned: int = 0
    assigned_rps: float = float("nan")
    assigned_p50: float = float("nan")
    assigned_p99: float = float("nan")
    #: CPU seconds per kind (summed over its processes), the servers', the client's, the machine's
    cpu: dict[str, float] = field(default_factory=dict)
    #: processes per kind
    processes: dict[str, int] = field(default_factory=dict)
    wall: float = float("nan")

    def line(self) -> str:
        return (
            f"  n={self.n}: offered {self.offered:.0f}/s for {self.seconds:.0f}s; "
            f"submitted {fmt(self.submitted_rps, 1)}/s "
            f"({self.accepted} accepted, {self.errors} errors); assigned {fmt(self.assigned_rps, 1)}/s end to end "
            f"({self.assigned}/{self.accepted}); submit->assigned p50 {fmt(self.assigned_p50)} ms "
            f"p99 {fmt(self.assigned_p99)} ms"
        )

    def cpu_line(self) -> str:
        parts = []
        for kind, seconds in self.cpu.items():
            per = f" in {self.processes[kind]} proc" if kind in self.processes else ""
            parts.append(f"{kind} {seconds:.1f}s{per} ({seconds / self.wall:.2f} cores)")
        # what one case costs the whole system (the machine's CPU less the other work on it)
        per_case = (self.cpu.get("machine total", 0) - self.cpu.get("rest (others)", 0)) / max(self.accepted, 1)
        return (
            f"    CPU over {self.wall:.1f}s ({os.cpu_count()} cores; {per_case * 1000:.1f} ms per case in all): "
            + ", ".join(parts)
        )

    def limit(self) -> str:
        """What saturates: the machine's CPU when it is nearly all busy (and who uses the most of it),
        else a single process kind using nearly a core per process, else nothing seen."""
        cores = os.cpu_count() or 1
        ours = {k: v for k, v in self.cpu.items() if k not in ("machine total", "benchmark client", "rest (others)")}
        top = max(ours, key=ours.get) if ours else "?"
        total = self.cpu.get("machine total", 0)
        if total / self.wall >= 0.9 * cores:
            if self.cpu.get("rest (others)", 0) >= total / 2:
                return "machine_cpu(other_work)"
            return f"machine_cpu({top})"
        for kind, count in self.processes.items():
            if self.cpu.get(kind, 0) / self.wall >= 0.9 * count:
                return f"{kind}_cpu"
        return "none_seen(latency)"


class ScaleRun(DeploymentRun):
    """The PostgreSQL + RabbitMQ deployment, set up once (a throwaway database and virtual host),
    run with n gunicorn instances and n processes of each consumer plus the scheduler."""

    def start_scaled(self, n: int) -> list[str]:
        """n gunicorn instances on their own ports, n of each consumer, one scheduler; their URLs
        once each answers /readyz."""
        urls, self.procs = [], []
        for _ in range(n):
            port = free_port()
            gunicorn = ["-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(self.plan.web_workers)]
            self.procs.append(start_process([PYTHON, *gunicorn, "workstation.web.wsgi:app"], self.env, self.log_path))
            urls.append(f"http://127.0.0.1:{port}")
        self.procs.append(start_process([PYTHON, "-m", "workers", "scheduler"], self.env, self.log_path))
        for consumer in SUBSCRIPTIONS:
            for _ in range(n):
                self.procs.append(start_process([PYTHON, "-m", "workers", consumer], self.env, self.log_path))
        deadline = time.monotonic() + 90
        for url in urls:
            while True:
                if dead := [p for p in self.procs if p.poll() is not None]:
                    raise RuntimeError(f"pid {dead[0].pid} exited with {dead[0].returncode}; see {self.log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{url}/readyz not 200 after 90 s; see {self.log_path}")
                with contextlib.suppress(requests.RequestException):
                    if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                time.sleep(0.2)
        time.sleep(2.0)  # the consumers declare and subscribe beside gunicorn
        return urls

    def our_pids(self) -> list[int]:
        pids = []
        for proc in self.procs:
            pids += [proc.pid, *descendants(proc.pid)]
        return pids

    def measure(self, n: int, rate: float, seconds: float, threads: int) -> ScaleFigures:
        """Offer ``rate`` cases/s for ``seconds`` s spread evenly over the n web instances, wait
        until every accepted case is assigned (60 s at most), and count the CPU each kind used."""
        fig = ScaleFigures(n, rate, seconds)
        urls = self.start_scaled(n)
        try:
            pids = self.our_pids()
            fig.processes = dict(sorted(Counter(k for p in pids if (k := kind_of(p)) != "other").items()))
            fig.processes["web"] = n * self.plan.web_workers  # the masters only wait
            cpu0 = cpu_by_pid(pids)
            servers0 = {name: cpu_by_pid(pids_named(*comms)) for name, comms in SERVERS.items()}
            machine0, own0, t0 = machine_busy()[0], own_cpu(), time.monotonic()
            results: list[Result] = []

            def drive(url: str) -> None:
                results.extend(open_loop(url, self.token, rate / n, seconds, threads=threads // n)[0])

            drivers = [threading.Thread(target=drive, args=(url,), daemon=True) for url in urls]
            for thread in drivers:
                thread.start()
            for thread in drivers:
                thread.join()
            ok = [r for r in results if r.status == 201 and r.reference]
            fig.accepted, fig.errors = len(ok), len(results) - len(ok)
            if len(ok) > 1:
                fig.submitted_rps = (len(ok) - 1) / (max(r.finished for r in ok) - min(r.started for r in ok))
            ids = [case_id_of(r.reference) for r in ok]
            wait_assigned(self.engine, ids, 60)
            fig.wall = time.monotonic() - t0
            cpu1 = cpu_by_pid(pids)
            for pid, used in cpu1.items():
                kind = kind_of(pid)
                fig.cpu[kind] = fig.cpu.get(kind, 0.0) + used - cpu0.get(pid, 0.0)
            fig.cpu.pop("other", None)
            for name, comms in SERVERS.items():
                after = cpu_by_pid(pids_named(*comms))
                fig.cpu[name] = sum(v - servers0[name].get(pid, 0.0) for pid, v in after.items())
            fig.cpu["benchmark client"] = own_cpu() - own0
            fig.cpu["machine total"] = machine_busy()[0] - machine0
            # other agents' work on the machine (the servers' figures take every postgres and beam.smp)
            fig.cpu["rest (others)"] = fig.cpu["machine total"] - sum(
                v for k, v in fig.cpu.items() if k != "machine total"
            )
        finally:
            for proc in self.procs:
                stop_process(proc)
        timings = case_timings(self.engine, ids)
        assigned = [t for t in timings.values() if t.assigned is not None]
        fig.assigned = len(assigned)
        if assigned:
            span = (max(t.assigned for t in assigned) - min(t.created for t in assigned)).total_seconds()
            fig.assigned_rps = len(assigned) / span if span > 0 else float("nan")
            latencies = [t.assigned_ms() for t in assigned]
            fig.assigned_p50, fig.assigned_p99 = percentile(latencies, 50), percentile(latencies, 99)
        return fig


def wait_assigned(engine, ids: list[int], timeout: float) -> bool:  # noqa: ANN001
    """Wait until every case in ``ids`` has its 'assign' event; whether all had it in time."""
    if not ids:
        return True
    lo, hi = min(ids), max(ids)
    query = select(func.count(func.distinct(CaseEvent.case_id))).where(
        CaseEvent.case_id.between(lo, hi), CaseEvent.action == "assign"
    )
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            if conn.execute(query).scalar_one() >= len(ids):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


def run_scale(args: argparse.Namespace, plan: Plan) -> int:
    """``--scale``: the same deployment with 1, then 2 of every process; prints each n's rates and
    CPU, then ``scale: n1_rps=<n> n2_rps=<n> ratio=<n> limit=<what saturates>``."""
    from soak import prepare_vhost, rabbitmqctl

    vhost = unique_database_name("rpa_scale")
    base = args.pg_url.rsplit("/", 1)[0]
    dep = Deployment(
        "scale",
        "PostgreSQL + RabbitMQ, scale-out",
        database_url=f"{base}/{unique_database_name('rpa_scale')}",
        # the same server and credentials, our own virtual host (the path after host:port)
        broker_url="/".join(args.amqp_url.split("/", 3)[:3]) + f"/{vhost}",
        prepare=lambda: prepare_vhost(vhost),
    )
    load = os.getloadavg()
    run = ScaleRun(dep, plan, None, args.keep)
    figures: list[ScaleFigures] = []
    try:
        run.set_up()
        for n in (1, 2):
            log(f"scale: n={n}, {args.scale_rate}/s offered for {args.scale_seconds}s")
            figures.append(run.measure(n, args.scale_rate, args.scale_seconds, threads=64))
            log(figures[-1].line().strip())
    finally:
        kill_all_started()
        run.close()
        if not args.keep:
            rabbitmqctl("delete_vhost", vhost, check=False)
    print(flush=True)
    print(
        f"pipeline --scale (web workers {plan.web_workers} per instance, {os.cpu_count()} cores; load average "
        f"before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, after {' '.join(f'{v:.2f}' for v in os.getloadavg())})"
    )
    for fig in figures:
        print(fig.line())
        print(fig.cpu_line())
    n1, n2 = figures[0].assigned_rps, figures[1].assigned_rps
    print(
        f"scale: n1_rps={fmt(n1, 1)} n2_rps={fmt(n2, 1)} ratio={fmt(n2 / n1, 2)} limit={figures[1].limit()}",
        flush=True,
    )
    return 0


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller run (~1.5 min)")
    parser.add_argument("--only", choices=["sqlite", "pg"], help="run one deployment")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/rpa_bench")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers (default 2, as `run`)")
    parser.add_argument("--consumers", type=int, default=1, help="consumer processes (default 1, as `run`)")
    parser.add_argument(
        "--profile", type=Path, help="py-spy every process from intake to the last step; raw stacks to this folder"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the instance folders (logs, mail, broker) and the database"
    )
    parser.add_argument(
        "--scale", action="store_true", help="PostgreSQL + RabbitMQ with 1, then 2 of every process: the scale-out"
    )
    parser.add_argument("--scale-rate", type=float, default=250, help="cases/s offered in --scale (default 250)")
    parser.add_argument("--scale-seconds", type=float, default=20, help="seconds of load per n in --scale")
    args = parser.parse_args(argv)

    if args.quick:
        plan = Plan(
            intake_clients=8,
            intake_total=300,
            e2e_rate=50,
            e2e_seconds=6,
            step_rates=[50, 75, 100, 150],
            step_seconds=4,
            steps_budget=20,
            kombu_messages=1000,
            drain_timeout=20,
            fail_drain=12,
            web_workers=args.web_workers,
            consumers=args.consumers,
        )
    else:
        plan = Plan(
            intake_clients=8,
            intake_total=1500,
            e2e_rate=50,
            e2e_seconds=20,
            step_rates=[50, 60, 70, 80, 90, 100, 120, 150, 200, 300],
            step_seconds=10,
            steps_budget=120,
            kombu_messages=5000,
            drain_timeout=90,
            fail_drain=40,
            web_workers=args.web_workers,
            consumers=args.consumers,
        )

    deployments = [
        Deployment("sqlite", "embedded (SQLite + filesystem transport)"),
        Deployment(
            "pg",
            "PostgreSQL + RabbitMQ",
            database_url=args.pg_url,
            broker_url=args.amqp_url,
            prepare=lambda: prepare_rabbitmq(args.amqp_url),
        ),
    ]
    if args.only:
        deployments = [d for d in deployments if d.key == args.only]

    def on_signal(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    if args.scale:
        return run_scale(args, plan)
    t0 = time.monotonic()
    figures: dict[str, Figures] = {}
    failed = False
    try:
        for dep in deployments:
            try:
                figures[dep.key] = run_deployment(dep, plan, args.profile, args.keep)
            except Exception as err:  # noqa: BLE001 - report and go on with the next deployment
                log(f"{dep.label}: FAILED: {err!r}")
                failed = True
    finally:
        kill_all_started()

    print(flush=True)
    print(
        f"pipeline benchmark ({'quick' if args.quick else 'full'}; web workers {plan.web_workers}, consumers "
        f"{plan.consumers}, {os.cpu_count()} cores; {time.monotonic() - t0:.0f}s in all)"
    )
    for dep in deployments:
        if dep.key in figures:
            print(figures[dep.key].block())
    pg = figures.get("pg")
    if pg is not None:
        print(
            f"pipeline: intake_rps={fmt(pg.intake_rps)} intake_p99_ms={fmt(pg.intake_p99)} "
            f"e2e_p99_ms={fmt(pg.mailed_p99)} sustained_cps={fmt(pg.sustained_cps)} "
            f"bare_kombu_mps={fmt(pg.kombu.get('sequential_mps', float('nan')))}",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
