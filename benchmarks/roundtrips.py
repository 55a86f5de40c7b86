"""Round trips to PostgreSQL per case, by part of the pipeline: a count, not a time.

    .venv/bin/python benchmarks/roundtrips.py [--cases 50] [--batch 1] [--pg-url URL]

On a 2-core machine every round trip waits for PostgreSQL to be scheduled, so on a busy machine
the number of round trips a case costs weighs more than the work in them. This counts them,
exactly and whatever else the machine is doing: it submits ``--cases`` cases on a fresh database
(``rpa_roundtrips_<pid>_<random>``, dropped at the end) and runs each consumer's handler in this
process on each event (routing, then watch, then notify, as the workers would), counting what
psycopg sends the server: each statement, each BEGIN it sends before the first statement of a
transaction, and each COMMIT, one round trip each (``--show`` lists them for the first case). ``--batch N`` gives
the consumers N events at a time (``handle_many``), as the workers take them under load.
``--profile PART`` (intake, routing, watch or notify) runs that part under cProfile, timed in CPU,
and prints its costliest functions.

The last line is machine-readable:
``roundtrips: intake=<n> routing=<n> watch=<n> notify=<n> total=<n>`` (per case, the mean).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402
from common import throwaway_database  # noqa: E402
from peers import CASE_BODY  # noqa: E402
from psycopg.pq import TransactionStatus  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from workers import notify, routing, watch  # noqa: E402
from workers.delivery import Context, Delivery  # noqa: E402
from workstation.config import Config  # noqa: E402
from workstation.services.auth import create_user  # noqa: E402
from workstation.services.db import make_engine, make_session_factory  # noqa: E402
from workstation.services.intake import accept_submission  # noqa: E402
from workstation.services.mail import make_sender  # noqa: E402
from workstation.services.messaging import Publisher  # noqa: E402
from workstation.services.migrate import upgrade  # noqa: E402
from workstation.services.models import OutboxMessage  # noqa: E402

#: the throwaway database is named this, then a unique suffix
DATABASE_PREFIX = "rpa_roundtrips"
# The payload of benchmarks/peers.py: a realistic case (a respondent, a mark, a key date).
CASE = CASE_BODY

PARTS = ("intake", "routing", "watch", "notify")
_trips: Counter[str] = Counter()
_cpu: Counter[str] = Counter()  # this process's CPU seconds by part (the handlers' own work)
_part = ["setup"]
_shown: list[str] = []
_show = [False]
_profiled: dict[str, cProfile.Profile] = {}  # --profile: the part -> its profiler
_original_execute = psycopg.Cursor.execute
_original_commit = psycopg.Connection.commit


def _trip(what: str) -> None:
    _trips[_part[0]] += 1
    if _show[0] and _part[0] != "setup":
        _shown.append(f"  {_part[0]:8s} {what}")


def _counting_execute(self, query, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
    # Outside autocommit psycopg sends BEGIN first, a round trip of its own, when none is open.
    if not self.connection.autocommit and self.connection.info.transaction_status == TransactionStatus.IDLE:
        _trip("BEGIN")
    text = query if isinstance(query, str) else getattr(query, "as_string", lambda _c: str(query))(self)
    _trip(" ".join(str(text).split())[:150])
    return _original_execute(self, query, *args, **kwargs)


def _counting_commit(self):  # noqa: ANN001, ANN202
    if self.info.transaction_status != TransactionStatus.IDLE:  # (nothing is sent otherwise)
        _trip("COMMIT")
    return _original_commit(self)


@contextmanager
def counting(part: str):  # noqa: ANN201
    _part[0] = part
    profiler = _profiled.get(part)
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    try:
        yield
    finally:
        if profiler is not None:
            profiler.disable()
        _cpu[part] += time.process_time() - started
        _part[0] = "setup"


def latest_events(sessions: sessionmaker[Session], routing_key: str, count: int) -> list[Delivery]:
    """The last ``count`` events of this kind (the ones the consumers are given next), oldest first."""
    with sessions() as session:
        query = select(OutboxMessage).where(OutboxMessage.routing_key == routing_key)
        rows = session.scalars(query.order_by(OutboxMessage.id.desc()).limit(count)).all()
        return [Delivery(r.id, r.routing_key, r.payload) for r in reversed(rows)]


def handle(ctx: Context, consumer: ModuleType, events: list[Delivery]) -> None:
    """As the worker does: one message alone, several in one batch (``--batch``)."""
    if len(events) == 1:
        consumer.handle(ctx, events[0].message_id, events[0].event_type, events[0].payload)
    else:
        consumer.handle_many(ctx, events)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--batch", type=int, default=1, help="events per consumer batch, as under load (default 1)")
    parser.add_argument("--show", action="store_true", help="list the statements of the first case")
    parser.add_argument("--profile", choices=PARTS, help="run this part under cProfile (CPU time) and print its top")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)

    with throwaway_database(args.pg_url, prefix=DATABASE_PREFIX) as database:
        count_round_trips(args, database.url)
    report(args)
    return 0


def count_round_trips(args: argparse.Namespace, url: str) -> None:
    """Migrate the database at ``url``, then submit ``--cases`` cases and run the handlers on their
    events, counting each part's round trips and CPU."""
    upgrade(url)
    instance = Path(tempfile.mkdtemp(prefix="rpa-roundtrips-"))
    config = Config.from_env({"WORKSTATION_DATABASE_URL": url, "WORKSTATION_INSTANCE_PATH": str(instance)})
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    ctx = Context(config=config, sessions=sessions, publisher=Publisher(config), sender=make_sender(config))
    with sessions.begin() as session:
        enterprise = create_user(session, "enterprise@example.cn", None, "enterprise", organisation="星河科技")
        for i in range(5):
            create_user(session, f"expert{i}@example.cn", None, "expert", right_types=["trademark"], capacity=10_000)
        enterprise_id = enterprise.id
    psycopg.Cursor.execute = _counting_execute
    psycopg.Connection.commit = _counting_commit
    try:
        # A first batch warms up what a long-running worker loads once (templates, the pinyin
        # dictionary, compiled statements): it is not counted.
        for first in range(-args.batch, args.cases, args.batch):
            if first == 0:
                _trips.clear()
                _cpu.clear()
                if args.profile:
                    _profiled[args.profile] = cProfile.Profile(time.process_time)
            size = min(args.batch, args.cases - first)
            _show[0] = args.show and first == 0
            case_ids = []
            for _ in range(size):
                with sessions() as session:
                    submitter = session.get_one(type(enterprise), enterprise_id)
                    session.commit()  # (as the API's token look-up leaves it: loaded, no transaction open)
                    with counting("intake"):
                        case_ids.append(accept_submission(session, config, submitter, CASE).id)
                        session.commit()
            submitted = latest_events(sessions, "case.submitted", size)
            with counting("routing"):
                handle(ctx, routing, submitted)
            with counting("watch"):
                handle(ctx, watch, submitted)
            assigned = latest_events(sessions, "case.assigned", size)
            assert sorted(m.payload["case_id"] for m in assigned) == case_ids, "the cases were not assigned"
            with counting("notify"):
                handle(ctx, notify, assigned)
    finally:
        psycopg.Cursor.execute = _original_execute
        psycopg.Connection.commit = _original_commit
        ctx.publisher.close()
        engine.dispose()


def report(args: argparse.Namespace) -> None:
    """The statements of the first case (``--show``), the profiles, the counts per case and the last line."""
    if _shown:
        print("round trips of the first case:")
        print("\n".join(_shown))
    for part, profiler in _profiled.items():
        print(f"--- {part} under cProfile (CPU seconds over {args.cases} cases; the profiler adds to them)")
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(25)
    per_case = {part: _trips[part] / args.cases for part in PARTS}
    batches = f", consumers given {args.batch} events at a time" if args.batch > 1 else ""
    print(f"round trips to PostgreSQL per case over {args.cases} cases{batches} (each a statement, BEGIN or COMMIT):")
    for part, value in per_case.items():
        print(f"  {part:8s} {value:6.1f}   (Python CPU {1000 * _cpu[part] / args.cases:5.2f} ms)")
    total = sum(per_case.values())
    print("roundtrips: " + " ".join(f"{part}={value:.1f}" for part, value in per_case.items()) + f" total={total:.1f}")


if __name__ == "__main__":
    sys.exit(main())
