"""Faults under steady load: broker nodes SIGKILLed in a three-node RabbitMQ cluster, the
database's primary SIGKILLed and its standby promoted, and the scheduler's leader (issue 21).

Run from the repository root::

    .venv/bin/python benchmarks/faults.py     # 2 min at 5 cases/s: 3 broker node kills, 1 db failover, 1 scheduler kill
    .venv/bin/python benchmarks/faults.py --minutes 5 --rate 8 --kill-every 40 --db-failovers 2

It runs the soak's system (``benchmarks/soak.py``: gunicorn, two schedulers -- a leader and a
standby --, two all-consumer processes and one process per consumer, mail to aiosmtpd on loopback)
on a PostgreSQL primary with a synchronous standby of its own (``tests/pgcluster.py``, the
workstation on the multi-host URL) and a three-node RabbitMQ cluster of its own
(``tests/rabbitcluster.py``: Debian's rabbitmq-server beside the system node, which it never
touches), with every node's URL in ``WORKSTATION_BROKER_URL`` and ``WORKSTATION_QUORUM_QUEUES=1``.
``--kill-every`` seconds into the load, and that long after each killed node is back, it SIGKILLs
the Erlang VM of one node -- the first time the node holding the queues' leaders, then each time the
node holding most of the workers' connections -- and starts it again ``--down`` seconds later
(waiting until every quorum queue has all its members back before the next kill, so that no kill
costs a queue its majority). For each kill it measures the failover: the time from the kill until
the first case submitted after it is assigned (relay -> broker -> routing consumer -> database), and
the slowest assignment of the cases submitted around it. Half-way it SIGKILLs the leading scheduler
and measures how long the standby takes to lead (its log says so). At 70 % of the load (and spread
after it with ``--db-failovers N``) it SIGKILLs the database's primary, promotes the standby and
makes a new synchronous standby of it in the background (the orchestrator's part, as
``benchmarks/dbfailover.py`` does); the
clients retry a refused submission with its ``Idempotency-Key``, and a scheduler that stepped down
on losing its database is started again (the supervisor's part). Then it drains and runs the
soak's checks (every case assigned exactly once, every email received, repeats only re-claims,
dead-letter queues empty, no process died unless killed).

The last line::

    faults: broker_node_kills=<n> db_failovers=<n> scheduler_kills=<n> lost=<n> duplicated=<n>
            max_intake_gap_s=<n> scheduler_takeover_s=<n>

``lost``: accepted cases not assigned, plus emails recorded as sent and never received;
``duplicated``: cases assigned more than once, plus every email received more times than it was
claimed (a re-claim, same Message-ID, is the documented repeat: a worker that sent an email and lost
the database before recording it, as around a database failover); ``max_intake_gap_s``: the longest stretch of
a submission was refused (503 or no answer) before it was accepted. Exit status 1 when a check
fails, anything was lost or doubled, a submission was refused other than within a minute after a
database failover or for over 30 s, or the standby scheduler took over 30 s to lead.

``benchmarks/soak.py --cluster`` runs the soak's half hour on this deployment with
:class:`ClusterSoak`: the same faults (and worker kills) in turn, every few minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import signal
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import soak  # noqa: E402
from common import free_port, log, percentile  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from tests import pgcluster, rabbitcluster  # noqa: E402
from tests.rabbitcluster import RabbitCluster  # noqa: E402
from workstation.config import Config  # noqa: E402
from workstation.services.db import make_engine, make_session_factory  # noqa: E402
from workstation.services.messaging import queue_name  # noqa: E402
from workstation.services.migrate import upgrade  # noqa: E402
from workstation.services.models import Case, CaseEvent, DigestRecord, Notification  # noqa: E402

VHOST = "rpa_faults"
#: A refusal of intake is expected this long after a database failover's kill, and never otherwise.
DB_FAILOVER_WINDOW_S = 60.0


class Faults(soak.Soak):
    """The soak's run with the broker a cluster, and broker nodes killed instead of workers."""

    def __init__(self, plan: soak.Plan, args: argparse.Namespace, started: float, database_url: str, smtp_port: int,
                 cluster: RabbitCluster, database: list[pgcluster.Cluster]) -> None:  # fmt: skip
        self.cluster = cluster
        self.database = database  # [primary, standby]: swapped by each failover
        super().__init__(plan, args, started, database_url, smtp_port)
        self.kills: list[tuple[str, datetime]] = []  # (node, when it was SIGKILLed)
        self.scheduler_takeovers: list[float] = []  # seconds until the standby led
        self.db_failovers: list[float] = []  # when (monotonic) each primary was SIGKILLed
        self.stepped_down: list[str] = []  # schedulers that exited on losing the database, started again
        self.standby_maker: threading.Thread | None = None
        self.periods = (date(2000, 1, 1) + timedelta(days=k) for k in itertools.count())

    def environment(self) -> dict[str, str]:
        return super().environment() | {
            "WORKSTATION_BROKER_URL": self.cluster.url(VHOST),
            "WORKSTATION_QUORUM_QUEUES": "1",
        }

    def set_up(self) -> None:
        upgrade(self.database_url)
        self.cluster.add_vhost(VHOST)
        self.config = Config.from_env(self.env)
        self.engine = make_engine(self.database_url)
        self.sessions = make_session_factory(self.engine)
        self.tokens, self.coordinators = soak.create_people(self.sessions)

    def start_system(self) -> None:
        """The soak's processes, and a second scheduler: a standby waiting for the leader's lock."""
        # added before the soak starts them all (and its memory sampler, which walks the list)
        self.system.add("scheduler-2", [soak.PYTHON, "-m", "workers", "scheduler"], killable=True)
        super().start_system()

    def scheduler_leader(self) -> tuple[str, str] | None:
        """(the leading scheduler's name, the other's), from their logs; None if neither leads yet."""
        names = ("scheduler", "scheduler-2")
        for name, other in (names, names[::-1]):
            popen = self.system.procs[name].popen
            if popen is not None and f"scheduler {popen.pid} is the leader" in self.log_of(name):
                return name, other
        return None

    def log_of(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def kill_the_scheduler_leader(self) -> None:
        """SIGKILL the leading scheduler and time until the standby says it leads (its next try of
        the lock after PostgreSQL ended the dead leader's session); then start the killed one
        again, a standby now."""
        roles = self.scheduler_leader()
        if roles is None:
            log("no scheduler leads yet: scheduler kill skipped")
            return
        leader, standby = roles
        standby_pid = self.system.procs[standby].popen.pid
        popen = self.system.procs[leader].popen
        killed_at = time.monotonic()
        popen.send_signal(signal.SIGKILL)
        popen.wait(10)
        self.system.kills.append((killed_at, leader, popen.pid))
        took = wait_until(lambda: f"scheduler {standby_pid} is the leader" in self.log_of(standby), 60, 0.1)
        self.system.start(leader)
        self.scheduler_takeovers.append(took)
        log(f"SIGKILL the scheduler leader ({leader}, pid {popen.pid}): {standby} leads {took:.1f}s later")

    def apply_load(self, inbox: soak.Inbox) -> list[str]:
        """The open-loop load for ``--minutes``; a broker node killed ``--kill-every`` s after the last is back."""
        plan = self.plan
        stream = soak.CaseStream(plan.seed)
        load = threading.Thread(
            target=soak.open_loop,
            args=(self.base_url, self.tokens, stream, plan.rate, plan.seconds, self.stop_load, self.results, True),
            daemon=True,
            name="load",
        )
        t0 = time.monotonic()
        load.start()
        self.schedule_faults(t0)
        next_round = t0 + plan.first_round
        next_report = t0 + 30
        while load.is_alive():
            self.restart_stepped_down_schedulers()
            if died := self.system.check_alive():
                log(f"UNEXPECTED: {', '.join(died)} exited; started again")
            self.inject_faults(t0)
            if time.monotonic() >= next_round and time.monotonic() < t0 + plan.seconds:
                next_round += plan.digest_every
                self.digest_round(time.monotonic() - t0, self.periods)
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + 30
                self.progress(time.monotonic() - t0, inbox)
            time.sleep(0.25)
        if self.standby_maker is not None:
            self.standby_maker.join(120)
        accepted = [r.reference for r in self.results if r.status == 201 and r.reference]
        log(f"load done: {len(accepted)} accepted of {len(self.results)}; draining")
        return accepted

    def schedule_faults(self, t0: float) -> None:
        """When the faults fall due: a node kill ``--kill-every`` s in, the scheduler's leader half-way,
        the database failovers from 70 % of the load on."""
        plan, n = self.plan, self.args.db_failovers
        self.next_kill = t0 + plan.kill_every
        self.scheduler_kill_at = t0 + plan.seconds / 2
        self.db_failovers_at = [t0 + plan.seconds * (0.7 + 0.2 * k / n) for k in range(n)]

    def inject_faults(self, t0: float) -> None:
        """The faults now due (called every 0.25 s of the load)."""
        plan = self.plan
        # a kill only while there is load left to show the failover
        if time.monotonic() >= self.next_kill and time.monotonic() < t0 + plan.seconds - self.args.down - 5:
            self.kill_a_node()
            self.next_kill = time.monotonic() + plan.kill_every
        if self.db_failovers_at and time.monotonic() >= self.db_failovers_at[0]:
            self.db_failovers_at.pop(0)
            self.fail_over_the_database()
        if time.monotonic() >= self.scheduler_kill_at:
            self.scheduler_kill_at = math.inf
            self.kill_the_scheduler_leader()

    def fail_over_the_database(self) -> None:
        """SIGKILL the primary and promote the standby (``dbfailover.fail_over``'s first half, in this
        thread); the new synchronous standby, on the dead one's port, is made in the background so
        that the loop goes on starting the schedulers that step down, as a supervisor would."""
        if self.standby_maker is not None:
            self.standby_maker.join(120)  # (the last failover's standby, to fail over to)
        primary, standby = self.database
        self.db_failovers.append(time.monotonic())
        primary.kill()
        time.sleep(0.5)  # (the orchestrator noticing)
        standby.promote()
        # (the harness's own pooled connections went with the old primary)
        self.engine.dispose()
        took = time.monotonic() - self.db_failovers[-1]
        log(f"database failover {len(self.db_failovers)}: {standby.name} promoted {took:.1f}s after the kill")
        name = f"db{len(self.db_failovers) + 2}"

        def new_standby() -> None:
            replacement = standby.standby(name, port=primary.port)
            self.database[:] = [standby, replacement]
            standby.wait_for_standby(name)
            standby.wait_for_sync_standby(name)
            took = time.monotonic() - self.db_failovers[-1]
            log(f"{name}: synchronous standby of {standby.name} {took:.1f}s after the kill")

        self.standby_maker = threading.Thread(target=new_standby, name="new-standby", daemon=True)
        self.standby_maker.start()

    def restart_stepped_down_schedulers(self) -> None:
        """A scheduler exits when it loses its database (its lock went with the connection): within
        a minute of a failover that is expected, and the supervisor starts it again."""
        if not self.db_failovers or time.monotonic() - self.db_failovers[-1] > DB_FAILOVER_WINDOW_S:
            return
        for name in ("scheduler", "scheduler-2"):
            popen = self.system.procs[name].popen
            if popen is not None and popen.poll() is not None:
                self.stepped_down.append(name)
                log(f"{name} (pid {popen.pid}) stepped down on losing the database; started again")
                self.system.start(name)

    def kill_a_node(self) -> None:
        cluster = self.cluster
        if not self.kills:
            victim = cluster.leader_of(queue_name("routing"), VHOST)
            why = "holds the queues' leaders"
        else:
            held = cluster.clients(VHOST)
            victim = cluster.node(max(held, key=held.__getitem__))
            why = f"holds {held[victim.name]} of the workers' connections"
        killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
        cluster.kill(victim)
        self.kills.append((victim.name, killed_wall))
        log(f"SIGKILL {victim.name} ({why})")
        if math.isnan(wait_until(lambda: first_assignment_after(self.sessions, killed_wall) is not None, 60)):
            log("no case submitted after the kill was assigned within 60 s")
        time.sleep(max(0.0, self.args.down - (time.monotonic() - killed_at)))
        cluster.restart(victim)
        cluster.wait_for_replicas(VHOST, timeout=180)  # (kill to whole again took 23-37 s at load 16)
        log(f"{victim.name} back and every quorum queue whole again {time.monotonic() - killed_at:.1f}s after the kill")

    def failovers(self) -> list[tuple[str, float, float]]:
        """For each kill: (node, seconds from the kill until the first case submitted after it was
        assigned, the slowest submission-to-assignment of the cases submitted from 2 s before to
        10 s after it)."""
        out = []
        for node, killed in self.kills:
            first = first_assignment_after(self.sessions, killed)
            around = slowest_assignment(self.sessions, killed - timedelta(seconds=2), killed + timedelta(seconds=10))
            out.append((node, (first - killed).total_seconds() if first else math.nan, around))
        return out

    def lost_and_duplicated(self, inbox: soak.Inbox, accepted: list[str]) -> tuple[int, int]:
        with self.sessions() as session:
            assigned = set(session.scalars(select(Case.reference).where(Case.status == "assigned")))
            assigns = Counter(
                dict(
                    session.execute(
                        select(CaseEvent.case_id, func.count())
                        .where(CaseEvent.action == "assign")
                        .group_by(CaseEvent.case_id)
                    ).all()
                )
            )
            # each email and the claims taken on it: more than one when a claim was taken again
            # because the sender never recorded it as sent (README: repeated with the same Message-ID)
            claims = {
                soak.message_id_for(key): attempts
                for key, attempts in session.execute(
                    select(Notification.key, Notification.attempts).where(Notification.status == "sent")
                )
            }
            digests = session.execute(
                select(DigestRecord.coordinator_id, DigestRecord.period_key, DigestRecord.attempts).where(
                    DigestRecord.status == "sent"
                )
            )
            claims |= {soak.message_id_for(f"digest:{c}:{period}"): attempts for c, period, attempts in digests}
        _total, received = inbox.snapshot()
        lost = sum(1 for r in accepted if r not in assigned)
        lost += sum(1 for message_id in claims if message_id not in received)
        duplicated = sum(n - 1 for n in assigns.values() if n > 1)
        duplicated += sum(max(0, n - claims.get(message_id, 1)) for message_id, n in received.items())
        return lost, duplicated

    def assignment_line(self) -> str:
        seconds = assignment_seconds(self.sessions)
        return (
            f"p50 {percentile(seconds, 50):.2f}s, p99 {percentile(seconds, 99):.2f}s, "
            f"max {max(seconds, default=math.nan):.2f}s"
        )

    def intake_gap(self) -> tuple[float, int]:
        """(the longest a submission was refused before it was accepted, how many submissions were
        refused other than just after a database failover)."""
        refused = [r for r in self.results if r.refused_at is not None or r.status != 201]
        longest = max((r.finished - (r.refused_at or r.started) for r in refused), default=0.0)
        elsewhere = sum(
            1
            for r in refused
            if not any(0 <= (r.refused_at or r.started) - k <= DB_FAILOVER_WINDOW_S for k in self.db_failovers)
        )
        return longest, elsewhere

    def judge_faults(self, inbox: soak.Inbox, accepted: list[str]) -> str:
        """Print the failovers' figures, add the goals (nothing lost or doubled, intake refused only
        around a database failover and for at most 30 s, the standby scheduler leading within 30 s)
        to the checks; returns the ``faults:`` line."""
        lost, duplicated = self.lost_and_duplicated(inbox, accepted)
        gap, refused_elsewhere = self.intake_gap()
        failovers = self.failovers()
        seconds = [s for _, s, _ in failovers]
        print()
        print(
            f"faults report ({self.plan.minutes:g} min at {self.plan.rate:g} cases/s, "
            f"{len(accepted)} cases accepted of {len(self.results)})"
        )
        for node, s, slowest in failovers:
            print(
                f"  broker node {node} SIGKILLed: the first case submitted after the kill assigned {s:.2f}s after "
                f"it; slowest submission-to-assignment from 2 s before to 10 s after the kill: {slowest:.2f}s"
            )
        if seconds:
            print(f"  failover: max {max(seconds):.2f}s, median {percentile(seconds, 50):.2f}s")
        print(f"  assignment in the whole run: {self.assignment_line()}")
        takeover = max(self.scheduler_takeovers, default=math.nan)
        if self.scheduler_takeovers:
            each = ", ".join(f"{s:.1f}s" for s in self.scheduler_takeovers)
            print(f"  scheduler leader SIGKILLed: the standby led {takeover:.1f}s later at most ({each})")
        refused = sum(1 for r in self.results if r.refused_at is not None)
        print(
            f"  database failovers: {len(self.db_failovers)}; submissions refused then accepted on a retry: "
            f"{refused}, the longest for {gap:.1f}s; refused other than after a failover: {refused_elsewhere}; "
            f"schedulers started again after stepping down: {len(self.stepped_down)}"
        )
        outcome = self.outcome
        outcome.add("nothing lost, nothing doubled beyond a re-claim", lost == 0 and duplicated == 0,
                    f"lost {lost}, duplicated {duplicated}")  # fmt: skip
        outcome.add(
            "intake refused only within a minute of a database failover, at most 30 s",
            refused_elsewhere == 0 and gap <= 30,
            f"longest refusal {gap:.1f}s; refused elsewhere {refused_elsewhere}",
        )
        outcome.add(
            "the standby scheduler led within 30 s of each leader's kill",
            all(s <= 30 for s in self.scheduler_takeovers),
            ", ".join(f"{s:.1f}s" for s in self.scheduler_takeovers) or "no kill",
        )
        return (
            f"faults: broker_node_kills={len(self.kills)} db_failovers={len(self.db_failovers)} "
            f"scheduler_kills={len(self.scheduler_takeovers)} lost={lost} duplicated={duplicated} "
            f"max_intake_gap_s={gap:.1f} scheduler_takeover_s={takeover:.1f}"
        )

    def finish(self, inbox: soak.Inbox, accepted: list[str]) -> int:
        """The failovers' figures, the checks, the ``faults:`` line; the exit status."""
        line = self.judge_faults(inbox, accepted)
        self.print_checks()
        ok = self.outcome.ok and bool(self.outcome.checks)
        self.clean_up(ok)
        print(line, flush=True)
        return 0 if ok else 1


class ClusterSoak(Faults):
    """``soak.py --cluster``: the soak's half hour on the cluster deployment, one fault every
    ``--kill-every`` seconds in turn: a broker node, a consumer worker, the database's primary, the
    scheduler's leader; its report is the soak's, with the faults' goals among the checks."""

    ROTATION = ("broker node", "consumer worker", "database primary", "scheduler leader")

    def schedule_faults(self, t0: float) -> None:
        self.next_fault = t0 + self.plan.kill_every
        self.faults_done = 0

    def inject_faults(self, t0: float) -> None:
        """The next fault of the rotation, ``--kill-every`` s after the last one was over; none in
        the last minute of the load, so that the failover shows under load."""
        now = time.monotonic()
        if now < self.next_fault or now > t0 + self.plan.seconds - 60:
            return
        kind = self.ROTATION[self.faults_done % len(self.ROTATION)]
        self.faults_done += 1
        log(f"fault {self.faults_done}: {kind}")
        if kind == "broker node":
            self.kill_a_node()
        elif kind == "consumer worker":
            workers = [name for name in self.system.procs if name.startswith("consumers-")]
            log(f"SIGKILL {self.system.kill_one(self.rng, workers)}; replacement started")
        elif kind == "database primary":
            self.fail_over_the_database()
        else:
            self.kill_the_scheduler_leader()
        self.next_fault = time.monotonic() + self.plan.kill_every

    def kill_count(self) -> int:
        return len(self.system.kills) + len(self.kills) + len(self.db_failovers)

    def faults_summary(self) -> str:
        processes = ", ".join(n for _, n, _ in self.system.kills) or "none"
        return (
            f"{self.kill_count()} kills: {len(self.kills)} broker nodes ({', '.join(n for n, _ in self.kills)}), "
            f"{len(self.db_failovers)} database primaries, {len(self.system.kills)} processes ({processes})"
        )

    def finish(self, inbox: soak.Inbox, accepted: list[str]) -> int:
        """The failovers' figures and the ``faults:`` line, then the soak's report and verdict line."""
        print(self.judge_faults(inbox, accepted))
        return self.report(inbox)


def first_assignment_after(sessions, moment: datetime) -> datetime | None:  # noqa: ANN001
    """When the first case submitted after ``moment`` was assigned (None: none yet)."""
    with sessions() as session:
        first = session.scalar(
            select(func.min(CaseEvent.created_at))
            .join(Case, Case.id == CaseEvent.case_id)
            .where(CaseEvent.action == "assign", Case.created_at > moment)
        )
    return first if first is None or first.tzinfo else first.replace(tzinfo=UTC)


def assignment_seconds(sessions, start: datetime | None = None, end: datetime | None = None) -> list[float]:  # noqa: ANN001
    """Submission to assignment, in seconds, of the cases submitted between ``start`` and ``end``."""
    query = select(Case.created_at, CaseEvent.created_at).join(CaseEvent, CaseEvent.case_id == Case.id)
    query = query.where(CaseEvent.action == "assign")
    if start is not None:
        query = query.where(Case.created_at >= start, Case.created_at <= end)
    with sessions() as session:
        return [(assigned - submitted).total_seconds() for submitted, assigned in session.execute(query).all()]


def slowest_assignment(sessions, start: datetime, end: datetime) -> float:  # noqa: ANN001
    return max(assignment_seconds(sessions, start, end), default=math.nan)


def wait_until(predicate, timeout: float, interval: float = 0.02) -> float:  # noqa: ANN001
    """Seconds until ``predicate()`` held (``nan`` if it did not within ``timeout``)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            return math.nan
        time.sleep(interval)
    return time.monotonic() - start


def run(plan: soak.Plan, args: argparse.Namespace, kind: type[Faults] = Faults) -> int:
    """The run on a PostgreSQL primary and standby and a RabbitMQ cluster of its own; the exit status."""
    started = time.monotonic()
    if not rabbitcluster.available():
        log(f"Debian's rabbitmq-server is not installed ({rabbitcluster.RABBITMQ_BIN})")
        return 2
    if not pgcluster.available():
        log("PostgreSQL's server programs are not installed (tests/pgcluster.py)")
        return 2
    with pgcluster.primary_and_standby(args.database) as (primary, standby), RabbitCluster() as cluster:
        log(f"RabbitMQ cluster up in {time.monotonic() - started:.0f}s: {', '.join(n.name for n in cluster.nodes)}")
        database = [primary, standby]
        database_url = pgcluster.multi_host_url(database, args.database)
        from aiosmtpd.controller import Controller

        inbox = soak.Inbox()
        smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
        smtp.start()
        faults = kind(plan, args, started, database_url, smtp.port, cluster, database)
        try:
            try:
                faults.set_up()
                faults.start_system()
                accepted = faults.apply_load(inbox)
                checked, drained, drain_seconds, state = faults.drain_and_check(inbox, accepted)
                faults.judge(checked, accepted, drained, drain_seconds, state)
            finally:
                faults.stop()
                smtp.stop()
            return faults.finish(inbox, accepted)
        finally:
            for node in database:  # (those made by failovers; the context discards the first two)
                node.discard()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the load (default 2)")
    parser.add_argument("--rate", type=float, default=5.0, help="cases per second (default 5)")
    parser.add_argument(
        "--kill-every", type=float, default=15.0, help="seconds from a node back to the next kill (default 15)"
    )
    parser.add_argument("--down", type=float, default=8.0, help="seconds a killed node stays down (default 8)")
    parser.add_argument("--db-failovers", type=int, default=1, help="database failovers (default 1)")
    parser.add_argument("--database", default="rpa_faults", help="the database, in the run's own PostgreSQL")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    args = parser.parse_args(argv)
    args.vhost = VHOST  # (the soak's report names it)
    plan = soak.Plan(
        minutes=args.minutes,
        rate=args.rate,
        kill_every=args.kill_every,
        broker_restart=False,
        # digests through the notify path under the same faults, as in the soak
        first_round=15.0,
        digest_every=30.0,
        sample_every=5.0,
        warmup=0.0,
        drain_timeout=90.0,
        # memory is the soak's concern; a run of minutes with kills says nothing about it
        max_rss_growth=math.inf,
        reconcile_after=3.0,
        reconcile_interval=1.0,
        stale_claim=15.0,
        seed=args.seed,
    )

    def on_signal(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    with contextlib.suppress(KeyboardInterrupt):
        return run(plan, args)
    return 130


if __name__ == "__main__":
    sys.exit(main())
