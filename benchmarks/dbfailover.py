"""Database failovers under steady load: PostgreSQL's primary SIGKILLed again and again, its
synchronous standby promoted each time (the orchestrator's part), a new standby made from the new
primary on the dead one's port; intake over HTTP (gunicorn) with clients retrying with their
Idempotency-Key, a routing worker and the scheduler (restarted when it steps down, the supervisor's
part). Then: was any acknowledged case lost, or written twice, or left unrouted?

Run from the repository root::

    .venv/bin/python benchmarks/dbfailover.py                  # 3 failovers, 10 s apart
    .venv/bin/python benchmarks/dbfailover.py --failovers 5 --interval 15 --clients 6

The clusters are the run's own (``tests/pgcluster.py``: initdb, pg_basebackup, on free ports in a
temporary folder), never the machine's PostgreSQL; RabbitMQ on 127.0.0.1:5672 (guest/guest), in a
virtual host ``rpa_dbfailover`` of its own, deleted and re-created. The last line is
machine-readable::

    dbfailover: db_failovers=<n> acknowledged=<n> lost=<n> duplicated=<n> unrouted=<n> max_intake_gap_s=<s> ok=<bool>

``max_intake_gap_s``: the longest time a client's submission was refused (503 or a cut connection)
before it was acknowledged, around a failover.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import free_port, log  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from tests import pgcluster  # noqa: E402
from workstation.services.auth import create_token, create_user  # noqa: E402
from workstation.services.db import make_engine, make_session_factory  # noqa: E402
from workstation.services.migrate import upgrade  # noqa: E402
from workstation.services.models import Case, HandledMessage, OutboxMessage  # noqa: E402

VHOST = "rpa_dbfailover"
CASE = {"right_type": "trademark", "service": "infringement_judgment", "title": "", "description": "仿冒商标的商品。"}


class Client(threading.Thread):
    """Submits cases over HTTP one after another, each retried with its key until acknowledged."""

    def __init__(self, number: int, port: int, token: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.number, self.port, self.token, self.stop = number, port, token, stop
        self.acknowledged: dict[str, str] = {}  # key (also the title) -> reference
        self.longest_gap = 0.0
        self.refused = 0
        self.errors: list[str] = []

    def run(self) -> None:
        for case in range(10**9):
            if self.stop.is_set():
                return
            key = f"client-{self.number}-{case}"
            body = json.dumps({**CASE, "title": key})
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}",
                       "Idempotency-Key": key}  # fmt: skip
            first_refusal = None
            while True:
                status, data = self._post(body, headers)
                if status == 201:
                    self.acknowledged[key] = json.loads(data)["reference"]
                    if first_refusal is not None:
                        self.longest_gap = max(self.longest_gap, time.monotonic() - first_refusal)
                    break
                if status not in (None, 503):
                    self.errors.append(f"{key}: {status} {data[:200]!r}")
                    return
                self.refused += 1
                first_refusal = first_refusal or time.monotonic()
                time.sleep(0.1)
            time.sleep(0.05)

    def _post(self, body: str, headers: dict[str, str]) -> tuple[int | None, bytes]:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            connection.request("POST", "/api/v1/cases", body, headers)
            answer = connection.getresponse()
            data = answer.read()
            connection.close()
            return answer.status, data
        except (OSError, http.client.HTTPException):
            return None, b""  # the answer lost: retried with the same key


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def start(args: list[str], env: dict[str, str], logs: Path, name: str) -> subprocess.Popen:
    out = (logs / f"{name}.log").open("ab")
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--failovers", type=int, default=3)
    parser.add_argument("--interval", type=float, default=10, help="seconds between failovers")
    parser.add_argument("--clients", type=int, default=4)
    options = parser.parse_args()
    with pgcluster.primary_and_standby() as (primary, standby):
        run(primary, standby, options)


def run(primary: pgcluster.Cluster, standby: pgcluster.Cluster, options: argparse.Namespace) -> None:
    url = pgcluster.multi_host_url([primary, standby])
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    with sessions.begin() as session:
        enterprise = create_user(session, "e@example.cn", "password123", "enterprise", name="e")
        token = create_token(session, enterprise)
        create_user(session, "x@example.cn", "password123", "expert", name="x", right_types=["trademark"],
                    capacity=10**6)  # fmt: skip
    subprocess.run(["rabbitmqctl", "delete_vhost", VHOST], capture_output=True, timeout=120)
    rabbitmqctl("add_vhost", VHOST)
    rabbitmqctl("set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*")
    logs = primary.root / "logs"
    logs.mkdir()
    instance = primary.root / "instance"
    instance.mkdir()
    env = {**os.environ, "WORKSTATION_DATABASE_URL": url, "WORKSTATION_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{VHOST}",
           "WORKSTATION_INSTANCE_PATH": str(instance), "WORKSTATION_SECRET_KEY": "dbfailover",
           "WORKSTATION_RECONCILE_AFTER": "5", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    port = free_port()
    web = start([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                 "workstation.web.wsgi:app"], env, logs, "gunicorn")  # fmt: skip
    routing = start([sys.executable, "-m", "workers", "routing"], env, logs, "routing")
    scheduler = {
        "process": start([sys.executable, "-m", "workers", "scheduler"], env, logs, "scheduler"),
        "restarts": 0,
    }
    stop = threading.Event()

    def supervise() -> None:  # the supervisor's part: a scheduler that stepped down is started again
        while not stop.wait(0.5):
            if scheduler["process"].poll() is not None:
                scheduler["process"] = start([sys.executable, "-m", "workers", "scheduler"], env, logs, "scheduler")
                scheduler["restarts"] += 1

    threading.Thread(target=supervise, daemon=True).start()
    clients = [Client(n, port, token, stop) for n in range(options.clients)]
    failovers = 0
    try:
        wait_until(lambda: answers(port), 60)
        for client in clients:
            client.start()
        for number in range(options.failovers):
            time.sleep(options.interval)
            primary, standby = fail_over(primary, standby, f"node{number + 2}")
            failovers += 1
        time.sleep(options.interval)
        stop.set()
        for client in clients:
            client.join(60)
        acknowledged = {key: ref for client in clients for key, ref in client.acknowledged.items()}
        unrouted = wait_routed(sessions, set(acknowledged.values()), 60)
    finally:
        stop.set()
        for process in (web, routing, scheduler["process"]):
            process.terminate()
            process.wait(15)
        subprocess.run(["rabbitmqctl", "delete_vhost", VHOST], capture_output=True, timeout=120)
    lost, duplicated = check(sessions, acknowledged)
    errors = [e for client in clients for e in client.errors]
    gap = max(client.longest_gap for client in clients)
    refused = sum(c.refused for c in clients)
    log(f"refused tries {refused}, scheduler restarts {scheduler['restarts']}, errors {errors[:5]}")
    ok = not (lost or duplicated or unrouted or errors) and failovers == options.failovers
    print(f"dbfailover: db_failovers={failovers} acknowledged={len(acknowledged)} lost={lost} duplicated={duplicated} "
          f"unrouted={unrouted} max_intake_gap_s={gap:.1f} ok={ok}")  # fmt: skip
    sessions.kw["bind"].dispose()


def fail_over(
    primary: pgcluster.Cluster, standby: pgcluster.Cluster, name: str
) -> tuple[pgcluster.Cluster, pgcluster.Cluster]:
    """SIGKILL the primary, promote the standby, make a new synchronous standby of it on the dead
    primary's port (the multi-host URL names both ports): the new (primary, standby)."""
    started = time.monotonic()
    primary.kill()
    time.sleep(0.5)  # (the orchestrator noticing)
    standby.promote()
    log(f"{standby.name} promoted {time.monotonic() - started:.1f}s after {primary.name}'s kill")
    replacement = standby.standby(name, port=primary.port)
    standby.wait_for_standby(name)
    standby.wait_for_sync_standby(name)
    log(f"{name}: synchronous standby of {standby.name} {time.monotonic() - started:.1f}s after the kill")
    return standby, replacement


def answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def wait_until(predicate, timeout: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def wait_routed(sessions, references: set[str], timeout: float) -> int:  # noqa: ANN001
    """How many of ``references`` are still not routed after at most ``timeout`` seconds."""

    def missing() -> set[str]:
        sessions.kw["bind"].dispose()  # (its connections may be to a primary gone since)
        with sessions() as session:
            handled = select(HandledMessage.message_id).where(HandledMessage.consumer == "routing")
            submitted = select(OutboxMessage.payload).where(OutboxMessage.routing_key == "case.submitted",
                                                             OutboxMessage.id.in_(handled))  # fmt: skip
            return references - {payload["reference"] for payload in session.scalars(submitted)}

    wait_until(lambda: not missing(), timeout)
    return len(missing())


def check(sessions, acknowledged: dict[str, str]) -> tuple[int, int]:  # noqa: ANN001
    """(lost, duplicated): acknowledged cases not stored under their reference, titles stored twice."""
    sessions.kw["bind"].dispose()
    with sessions() as session:
        stored = dict(session.execute(select(Case.reference, Case.title)).all())
        duplicated = session.scalar(
            select(func.count()).select_from(
                select(Case.title).group_by(Case.title).having(func.count() > 1).subquery()
            )
        )
    lost = sum(stored.get(reference) != key for key, reference in acknowledged.items())
    return lost, duplicated


if __name__ == "__main__":
    main()
