"""CPU of the pieces the twelfth session made cheaper in the workers, in process, on PostgreSQL.

```
.venv/bin/python benchmarks/workercost.py [--cases 2000]
```

On a throwaway database (migrated; ``--cases`` cases of one enterprise naming one respondent,
``peers.CASE_BODY``, as the end-to-end race submits them; 20 experts loaded in the session as
routing's pool has them):

* ``claim_ms``: one consumer's claim of a batch of 20 messages (``delivery.claim_messages``);
* ``slot_ms``: one slot taken (``cases.take_slot``);
* ``grams_ms``: the watch worker's grams of one case's text (``search_syntax.tsvector``);
* ``index_pg_ms``: PostgreSQL's CPU (the backend's, from ``/proc``: run it on the database's
  machine) for the watch worker's writing of every case's grams, in batches of 10 as under load
  (``search.index_cases``: the rows and their GIN index entries), per case;
* ``respondents_ms``: the repeat-respondent look-up for a batch of the 20 newest cases
  (``respondents.earlier_parties_naming``), whose cost grew with the enterprise's earlier cases
  before migration 0027.

CPU of this process only (``time.process_time``), the least of 5 repetitions; the statements'
time in PostgreSQL is not counted (``respondents_wall_ms`` gives the look-up's wall time). Each
measurement runs in a transaction that is rolled back. Last line::

    workercost: claim_ms=<n> slot_ms=<n> grams_ms=<n> index_pg_ms=<n> respondents_ms=<n> respondents_wall_ms=<n>
        cases=<n>
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import throwaway_database  # noqa: E402
from peers import CASE_BODY  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from workers.delivery import claim_messages  # noqa: E402
from workstation.config import Config  # noqa: E402
from workstation.search_syntax import tsvector  # noqa: E402
from workstation.services.auth import create_user  # noqa: E402
from workstation.services.cases import take_slot  # noqa: E402
from workstation.services.db import make_engine, make_session_factory  # noqa: E402
from workstation.services.intake import accept_submission  # noqa: E402
from workstation.services.migrate import upgrade  # noqa: E402
from workstation.services.models import Case, ExpertProfile, User  # noqa: E402
from workstation.services.respondents import earlier_parties_naming  # noqa: E402
from workstation.services.search import index_cases  # noqa: E402


def least(repeat: Callable[[], None], times: int, clock: Callable[[], float] = time.process_time) -> float:
    """Milliseconds per call of ``repeat``: the least of 5 runs of ``times`` calls, after a warm-up."""
    for _ in range(min(times, 20)):
        repeat()
    best = float("inf")
    for _ in range(5):
        started = clock()
        for _ in range(times):
            repeat()
        best = min(best, (clock() - started) / times * 1000)
    return best


def prepare(sessions, cases: int) -> None:  # noqa: ANN001
    """The enterprise, 20 experts and ``cases`` cases (as the API's intake writes them)."""
    config = Config.from_env({})
    with sessions.begin() as session:
        create_user(session, "peers@example.com", None, "enterprise", organisation="陕西某某科技有限公司")
        for i in range(20):
            create_user(session, f"expert-{i:02d}@example.com", None, "expert", right_types=["trademark"],
                        capacity=100_000)  # fmt: skip
    for _ in range(cases):
        with sessions() as session:
            enterprise = session.scalars(select(User).where(User.role == "enterprise")).one()
            accept_submission(session, config, enterprise, CASE_BODY)
            session.commit()


def measure(sessions) -> dict[str, float]:  # noqa: ANN001
    figures: dict[str, float] = {}
    with sessions() as session:
        firsts = iter(range(10_000_000, 100_000_000, 20))

        def claim_twenty() -> None:  # (new messages each time: claimed, not found handled)
            first = next(firsts)
            claim_messages(session, "bench", list(range(first, first + 20)))

        figures["claim_ms"] = least(claim_twenty, 300)
        session.rollback()
        session.scalars(select(ExpertProfile)).all()  # (the pool's copies, in the session)
        expert_id = session.scalars(select(ExpertProfile.user_id)).first()
        figures["slot_ms"] = least(lambda: take_slot(session, expert_id), 1000)
        session.rollback()
        newest = list(session.scalars(select(Case.id).order_by(Case.id.desc()).limit(20)))
        figures["respondents_ms"] = least(lambda: earlier_parties_naming(session, newest), 50)
        figures["respondents_wall_ms"] = least(lambda: earlier_parties_naming(session, newest), 50, time.perf_counter)
        figures["index_pg_ms"] = index_cost(session)
    body = json.dumps(CASE_BODY, ensure_ascii=False)
    figures["grams_ms"] = least(lambda: tsvector(body), 3000)
    return figures


def backend_cpu_s(session) -> float:  # noqa: ANN001
    """CPU seconds the session's PostgreSQL backend has used (user + system, from ``/proc``)."""
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def index_cost(session) -> float:  # noqa: ANN001
    """PostgreSQL's CPU ms a case for every case's grams written again in batches of 10, the GIN
    index's pending list cleaned at the end (its cost included); rolled back."""
    session.execute(text("DELETE FROM case_grams"))
    ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    started = backend_cpu_s(session)
    for i in range(0, len(ids), 10):
        index_cases(session, ids[i : i + 10])
    session.execute(text("SELECT gin_clean_pending_list('ix_case_grams_grams')"))
    spent = backend_cpu_s(session) - started
    session.rollback()
    return spent * 1000 / len(ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args(argv)
    with throwaway_database(args.pg_url, prefix="rpa_workercost") as database:
        upgrade(database.url)
        engine = make_engine(database.url)
        try:
            sessions = make_session_factory(engine)
            prepare(sessions, args.cases)
            figures = measure(sessions)
        finally:
            engine.dispose()
    names = ("claim_ms", "slot_ms", "grams_ms", "index_pg_ms", "respondents_ms", "respondents_wall_ms")
    print("workercost: " + " ".join(f"{name}={figures[name]:.3f}" for name in names) + f" cases={args.cases}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
