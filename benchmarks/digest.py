"""How long one coordinator digest takes to build on a year of data, and how much memory.

    .venv/bin/python benchmarks/digest.py                  # 100,000 cases, 300 experts, about 1 min
    .venv/bin/python benchmarks/digest.py --cases 20000    # smaller
    .venv/bin/python benchmarks/digest.py --reuse          # measure again on the database seeded last time

Creates a throwaway PostgreSQL database (``rpa_bench_digest`` on 127.0.0.1:5432, dropped and
created, migrated with the project's Alembic migrations, as ``benchmarks/pipeline.py`` does) and
seeds it with COPY: ``--cases`` cases submitted over the year before ``NOW``, each with a realistic
history (submitted, assigned after a few hours, accepted, worked on, sometimes waiting for the
applicant, opinion after about 8 days, closed, rated by about half the enterprises; a few
withdrawn, escalated or still waiting), its ``case_events``, ``opinions``, ``ratings`` and the
``deadline_notices`` the sweep would have written (SLA thresholds and overdue notices, legal
deadlines on about 30 % of cases); ``--experts`` experts with capacities, leave, trainees, and
their active-case counters; 2,000 enterprises. Then ANALYZE, as autovacuum would.

It then measures, in a fresh process so memory is the digest's and not the seeding's, the daily
digest for 24 November 2026 08:00 China time (``workstation.services.digest.build_digest``): ``--runs`` builds
(the first on a cold process, its SQL compiled for the first time), the median reported; then one
more build under ``tracemalloc`` for the peak of Python memory allocated while building, and the
process's peak RSS (``ru_maxrss``) before and after building. The weekly digest is timed too, for
information. The last line is machine-readable::

    digest: build_s=<median seconds> peak_mb=<tracemalloc peak, MB>

Goal: build_s < 2.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from common import recreate_database  # noqa: E402
from sqlalchemy import Table, func, select, text  # noqa: E402

from workstation.services.db import make_engine, make_session_factory  # noqa: E402
from workstation.services.digest import build_digest, digest_period  # noqa: E402
from workstation.services.migrate import upgrade  # noqa: E402
from workstation.services.models import (  # noqa: E402
    Case,
    CaseEvent,
    DeadlineNotice,
    ExpertProfile,
    Opinion,
    Rating,
    User,
)
from workstation.vocabulary import RIGHT_TYPES, SERVICES  # noqa: E402

#: The moment the measured digest is built: 24 November 2026, 08:30 China time.
NOW = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/rpa_bench_digest"
H = timedelta(hours=1)
D = timedelta(days=1)
LEGAL_CODES = (
    "trademark_opposition",
    "trademark_invalidation_relative",
    "infringement_limitation",
    "notice_trademark_refusal",
    "notice_patent_rejection",
)


def log(message: str) -> None:
    print(message, flush=True)


def prepare_postgres(url: str) -> None:
    server, _, database = url.rpartition("/")
    recreate_database(server + "/postgres", database)
    upgrade(url)


# --- COPY ------------------------------------------------------------------------------------------


def _copy_value(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def copy_rows(engine, table: Table, rows: Iterable[dict[str, Any]]) -> int:  # noqa: ANN001
    """COPY ``rows`` (dicts of column values) into ``table``; NOT NULL columns a row leaves out get
    the model's Python-side default (the schema may grow columns this script does not know)."""
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return 0
    fill: dict[str, Any] = {}
    for column in table.columns:
        if column.nullable or column.server_default is not None or column.primary_key:
            continue
        default = column.default
        if default is not None:
            fill[column.name] = default.arg(None) if default.is_callable else default.arg
        elif column.name not in first:
            raise RuntimeError(f"{table.name}.{column.name} is NOT NULL without a default: give it in the rows")
    names = [*first, *(c for c in fill if c not in first)]
    n = 0
    raw = engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cursor:
            columns = ", ".join(f'"{c}"' for c in names)
            with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
                for row in _chain(first, iterator):
                    copy.write_row([_copy_value(row[c] if c in row else fill.get(c)) for c in names])
                    n += 1
        raw.commit()
    finally:
        raw.close()
    return n


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def reset_sequence(engine, table: str, column: str = "id") -> None:  # noqa: ANN001
    with engine.begin() as conn:
        conn.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT max({column}) FROM {table}))")
        )


# --- a year of cases -------------------------------------------------------------------------------


def lognormal_hours(rng: random.Random, median_hours: float, sigma: float) -> timedelta:
    return timedelta(hours=median_hours * math.exp(rng.gauss(0, sigma)))


class Story:
    """One case's history: when each step happened (None: not yet, or never)."""

    __slots__ = (
        "id",
        "created",
        "right",
        "service",
        "enterprise",
        "expert",
        "assigned",
        "accepted",
        "started",
        "info",
        "opinion",
        "closed",
        "withdrawn",
        "escalated",
        "status",
    )

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, values.get(name))

    def finished_at(self) -> datetime | None:
        return self.closed or self.withdrawn


def make_stories(rng: random.Random, n: int, experts: list[int], enterprises: list[int]) -> list[Story]:
    # Some experts are asked far more than others (their fields are in demand): a skewed load, with
    # some experts at capacity and some with nothing, as the digest is meant to show.
    popularity = [math.exp(rng.gauss(0, 1.2)) for _ in experts]
    stories = []
    for case_id in range(1, n + 1):
        # Submitted at any time in the year; half as many at weekends.
        while True:
            created = NOW - timedelta(seconds=rng.uniform(0, 365 * 86400))
            if created.astimezone(UTC).weekday() < 5 or rng.random() < 0.5:
                break
        s = Story(
            id=case_id,
            created=created,
            enterprise=rng.choice(enterprises),
            right=rng.choices(RIGHT_TYPES, weights=[30, 35, 15, 8, 4, 8])[0],
            service=rng.choice(SERVICES),
        )
        age = NOW - created
        if age < 10 * D and rng.random() < 0.02:  # no eligible expert: a coordinator must act
            s.escalated = created + timedelta(minutes=rng.uniform(1, 10))
        else:
            s.assigned = created + lognormal_hours(rng, 3, 1.0)
            s.expert = rng.choices(experts, weights=popularity)[0]
            s.accepted = s.assigned + lognormal_hours(rng, 4, 1.0)
            s.started = s.accepted + lognormal_hours(rng, 6, 0.8)
            if rng.random() < 0.2:  # the expert asked the enterprise for more information
                asked = s.started + lognormal_hours(rng, 48, 0.7)
                s.info = (asked, asked + lognormal_hours(rng, 36, 0.8))
            s.opinion = max(created + lognormal_hours(rng, 8 * 24, 0.5), (s.info[1] if s.info else s.started) + H)
            if rng.random() < 0.9:
                s.closed = s.opinion + lognormal_hours(rng, 72, 0.7)
            if rng.random() < 0.03:  # withdrawn before the opinion
                s.withdrawn = created + (s.opinion - created) * rng.random()
                s.opinion = s.closed = None
        # keep only what has happened by NOW, and derive the status
        for step in ("assigned", "accepted", "started", "opinion", "closed", "withdrawn"):
            if getattr(s, step) is not None and getattr(s, step) > NOW:
                setattr(s, step, None)
        if s.info and s.info[0] > NOW:
            s.info = None
        if s.assigned is None and s.escalated is None:
            s.expert = None
        for later, earlier in (
            ("accepted", "assigned"),
            ("started", "accepted"),
            ("opinion", "started"),
            ("closed", "opinion"),
        ):
            if getattr(s, earlier) is None:
                setattr(s, later, None)
        if s.assigned is None:
            s.expert = None
        s.status = (
            "withdrawn"
            if s.withdrawn
            else "closed"
            if s.closed
            else "opinion_issued"
            if s.opinion
            else "awaiting_applicant"
            if s.info and s.info[1] > NOW
            else "in_progress"
            if s.started
            else "accepted"
            if s.accepted
            else "assigned"
            if s.assigned
            else "awaiting_expert"
            if s.escalated
            else "submitted"
        )
        stories.append(s)
    return stories


def case_rows(stories: list[Story]) -> Iterator[dict[str, Any]]:
    for s in stories:
        yield {
            "id": s.id,
            "reference": f"RPA-{s.created.year}-{s.id:06d}",
            "enterprise_id": s.enterprise,
            "right_type": s.right,
            "service": s.service,
            "title": f"案件 {s.id}：涉嫌侵犯{s.right}的商品",
            "description": "Benchmark case.",
            "jurisdiction": "CN",
            "language": "zh",
            "technical_field": "other",
            "confidential": False,
            "urgency": "normal",
            "parties": [],
            "rights": [],
            "key_dates": {},
            "status": s.status,
            "assigned_expert_id": s.expert,
            "created_at": s.created,
            "updated_at": max(t for t in (s.created, s.assigned, s.opinion, s.closed, s.withdrawn) if t),
        }


def event_rows(stories: list[Story]) -> Iterator[dict[str, Any]]:
    n = 0

    def event(s: Story, action: str, frm: str | None, to: str, at: datetime, role: str) -> dict[str, Any]:
        nonlocal n
        n += 1
        actor = {"enterprise": s.enterprise, "expert": s.expert}.get(role)
        return {
            "id": n,
            "case_id": s.id,
            "action": action,
            "from_status": frm,
            "to_status": to,
            "actor_id": actor,
            "actor_role": role,
            "detail": {},
            "created_at": at,
        }

    for s in stories:
        yield event(s, "submit", None, "submitted", s.created, "enterprise")
        if s.escalated:
            yield event(s, "escalate", "submitted", "awaiting_expert", s.escalated, "system")
        if s.assigned:
            yield event(s, "assign", "submitted", "assigned", s.assigned, "system")
        if s.accepted:
            yield event(s, "accept", "assigned", "accepted", s.accepted, "expert")
        if s.started:
            yield event(s, "start", "accepted", "in_progress", s.started, "expert")
        if s.info and s.started:
            yield event(s, "request_info", "in_progress", "awaiting_applicant", s.info[0], "expert")
            if s.info[1] <= NOW:
                yield event(s, "provide_info", "awaiting_applicant", "in_progress", s.info[1], "enterprise")
        if s.opinion:
            yield event(s, "issue_opinion", "in_progress", "opinion_issued", s.opinion, "expert")
        if s.closed:
            yield event(s, "close", "opinion_issued", "closed", s.closed, "enterprise")
        if s.withdrawn:
            yield event(s, "withdraw", None, "withdrawn", s.withdrawn, "enterprise")


def opinion_rows(stories: list[Story]) -> Iterator[dict[str, Any]]:
    for s in stories:
        if s.opinion:
            yield {
                "id": s.id,
                "case_id": s.id,
                "service": s.service,
                "issued_by": s.expert,
                "issued_at": s.opinion,
                "body": {"conclusion": "侵权可能性较高", "analysis": "Benchmark opinion. " * 20},
            }


def rating_rows(rng: random.Random, stories: list[Story]) -> Iterator[dict[str, Any]]:
    comments = ["", "", "很专业，谢谢", "回复有点慢", "意见很有帮助", "希望更详细一些"]
    for s in stories:
        if s.closed and rng.random() < 0.5:
            at = s.closed + lognormal_hours(rng, 2, 1.0)
            if at <= NOW:
                yield {
                    "case_id": s.id,
                    "score": rng.choices([1, 2, 3, 4, 5], weights=[3, 5, 12, 35, 45])[0],
                    "comment": rng.choice(comments),
                    "rated_by": s.enterprise,
                    "created_at": at,
                }


def notice_rows(rng: random.Random, stories: list[Story]) -> Iterator[dict[str, Any]]:
    """The notices the deadline sweep would have written: each threshold reached while the case was open."""
    n = 0
    for s in stories:
        open_until = min(t for t in (s.finished_at(), NOW) if t)
        deadlines = [
            # (code, due, met at): SLAs run from submission (1, 2, 15 working days, about 1, 2, 21 days)
            ("sla_assignment", s.created + 1.4 * D, s.assigned, ("overdue",)),
            ("sla_acceptance", s.created + 2.8 * D, s.accepted, ("1d", "overdue")),
            ("sla_opinion", s.created + 21 * D, s.opinion, ("7d", "1d", "overdue")),
        ]
        if rng.random() < 0.3:
            deadlines.append(
                (
                    rng.choice(LEGAL_CODES),
                    s.created + timedelta(days=rng.uniform(-20, 900)),
                    None,
                    ("30d", "7d", "1d", "overdue"),
                )
            )
        for code, due, met, thresholds in deadlines:
            for threshold in thresholds:
                reached = due if threshold == "overdue" else due - int(threshold[:-1]) * D
                if reached < s.created and threshold != "overdue":
                    continue  # a threshold longer than what was left is skipped
                reached = max(reached, s.created)
                if reached > open_until or (met is not None and met <= reached):
                    continue
                n += 1
                yield {
                    "id": n,
                    "case_id": s.id,
                    "code": code,
                    "threshold": threshold,
                    "due_at": due,
                    "created_at": reached + timedelta(minutes=rng.uniform(0, 5)),
                }


def seed(url: str, n_cases: int, n_experts: int, seed_value: int) -> None:
    rng = random.Random(seed_value)
    engine = make_engine(url)
    t0 = time.perf_counter()
    n_enterprises = 2000
    users = []
    for i in range(1, n_enterprises + 1):
        users.append(
            {
                "id": i,
                "email": f"e{i}@bench.cn",
                "password_hash": "x",
                "role": "enterprise",
                "name": f"企业{i}",
                "organisation": f"陕西第{i}科技有限公司",
            }
        )
    expert_ids = list(range(n_enterprises + 1, n_enterprises + n_experts + 1))
    for i in expert_ids:
        users.append(
            {
                "id": i,
                "email": f"x{i}@bench.cn",
                "password_hash": "x",
                "role": "expert",
                "name": f"专家{i - n_enterprises:03d}",
                "is_active": rng.random() > 0.02,
            }
        )
    for i in range(5):
        users.append(
            {
                "id": n_enterprises + n_experts + 1 + i,
                "email": f"c{i}@bench.cn",
                "password_hash": "x",
                "role": "coordinator",
                "name": f"协调员{i}",
            }
        )
    copy_rows(
        engine, User.__table__, ({"language": "zh", "created_at": NOW - 400 * D, "is_active": True, **u} for u in users)
    )

    stories = make_stories(rng, n_cases, expert_ids, list(range(1, n_enterprises + 1)))
    capacity = {i: rng.randint(8, 20) for i in expert_ids}
    # Routing keeps experts within capacity: an active case drawn for a full expert goes to one with
    # room (an expert stays over capacity only when a coordinator assigned past it: 1 in 20 here).
    active: dict[int, int] = dict.fromkeys(expert_ids, 0)
    for s in stories:
        if s.expert and s.status in ("assigned", "accepted", "in_progress", "awaiting_applicant"):
            if active[s.expert] >= capacity[s.expert] and rng.random() > 0.05:
                roomy = [i for i in expert_ids if active[i] < capacity[i]]
                s.expert = rng.choice(roomy) if roomy else s.expert
            active[s.expert] += 1
    profiles = []
    for i in expert_ids:
        profiles.append(
            {
                "user_id": i,
                "right_types": rng.sample(list(RIGHT_TYPES), rng.randint(1, 3)),
                "capacity": capacity[i],
                "active_cases": active[i],
                "available": rng.random() > 0.03,
                "on_leave_until": (NOW + timedelta(days=rng.randint(1, 30))).date() if rng.random() < 0.03 else None,
                "is_trainee": rng.random() < 0.05,
                "technical_fields": [],
                "competence": {},
            }
        )
    copy_rows(engine, ExpertProfile.__table__, profiles)
    counts = {
        "cases": copy_rows(engine, Case.__table__, case_rows(stories)),
        "case_events": copy_rows(engine, CaseEvent.__table__, event_rows(stories)),
        "opinions": copy_rows(engine, Opinion.__table__, opinion_rows(stories)),
        "ratings": copy_rows(engine, Rating.__table__, rating_rows(rng, stories)),
        "deadline_notices": copy_rows(engine, DeadlineNotice.__table__, notice_rows(rng, stories)),
    }
    for table in ("users", "cases", "case_events", "opinions", "deadline_notices"):
        reset_sequence(engine, table)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    statuses = dict(
        make_session_factory(engine)().execute(select(Case.status, func.count()).group_by(Case.status)).all()
    )
    engine.dispose()
    log(f"seeded in {time.perf_counter() - t0:.1f} s: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    log(
        f"  {n_experts} experts ({sum(active.values())} active cases), {n_enterprises} enterprises; statuses: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(statuses.items(), key=lambda kv: -kv[1]))
    )


# --- measuring -------------------------------------------------------------------------------------


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def measure(url: str, runs: int) -> dict[str, Any]:
    """Run in a fresh process (``--measure-only``): the build's times and memory, as JSON."""
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as session:  # connect (and the pool's first connection) outside the timings
        session.execute(text("SELECT 1"))
    gc.collect()
    rss_before = maxrss_mb()
    daily = digest_period("daily", 8, "Asia/Shanghai", NOW)
    weekly = digest_period("weekly", 8, "Asia/Shanghai", NOW)
    times = []
    for _ in range(runs):
        with sessions() as session:
            t0 = time.perf_counter()
            digest = build_digest(session, daily, NOW)
            times.append(time.perf_counter() - t0)
    with sessions() as session:
        t0 = time.perf_counter()
        week = build_digest(session, weekly, NOW)
        weekly_s = time.perf_counter() - t0
    rss_after = maxrss_mb()
    gc.collect()
    tracemalloc.start()
    with sessions() as session:
        build_digest(session, daily, NOW)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine.dispose()
    return {
        "times": times,
        "weekly_s": weekly_s,
        "peak_mb": peak / 2**20,
        "rss_before_mb": rss_before,
        "rss_after_mb": rss_after,
        "period": daily.key,
        "figures": {
            "new": digest.new_total,
            "awaiting": digest.awaiting_total,
            "sla_breaches": digest.sla_breaches_total,
            "sla_breaches_new": digest.sla_breaches_new,
            "deadlines_soon": digest.deadlines_soon_total,
            "experts": len(digest.experts),
            "overloaded": len(digest.overloaded),
            "idle": len(digest.idle),
            "to_assignment": [
                digest.to_assignment.count,
                digest.to_assignment.median_hours,
                digest.to_assignment.p90_hours,
            ],
            "to_opinion": [digest.to_opinion.count, digest.to_opinion.median_hours, digest.to_opinion.p90_hours],
            "ratings": [digest.ratings_total, digest.ratings_average],
            "weekly_new": week.new_total,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=DEFAULT_URL, help="the throwaway database (dropped and created)")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--experts", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5, help="builds timed (the median is reported)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reuse", action="store_true", help="measure on the database as the last run left it")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure_only:
        print(json.dumps(measure(args.pg_url, args.runs)))
        return 0

    if not args.reuse:
        log(f"seeding {args.cases:,} cases over the year to {NOW.isoformat()} into {args.pg_url.rsplit('/', 1)[1]}")
        prepare_postgres(args.pg_url)
        seed(args.pg_url, args.cases, args.experts, args.seed)
    child = subprocess.run(
        [sys.executable, __file__, "--measure-only", "--pg-url", args.pg_url, "--runs", str(args.runs)],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        sys.stderr.write(child.stderr)
        return child.returncode
    result = json.loads(child.stdout.strip().splitlines()[-1])
    times = result["times"]
    median = statistics.median(times)
    log(f"digest {result['period']}: " + json.dumps(result["figures"], ensure_ascii=False))
    log("build times (s): " + ", ".join(f"{t:.3f}" for t in times) + f"; median {median:.3f} (goal < 2)")
    log(f"weekly digest: {result['weekly_s']:.3f} s")
    log(
        f"memory: tracemalloc peak while building {result['peak_mb']:.2f} MB; process peak RSS "
        f"{result['rss_before_mb']:.0f} MB connected, {result['rss_after_mb']:.0f} MB after building"
    )
    log(f"digest: build_s={median:.3f} peak_mb={result['peak_mb']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
