"""How long the coordinators' statistics report takes on 100,000 cases (PostgreSQL).

    .venv/bin/python benchmarks/report.py                 # 100,000 cases over a year, about 1 min
    .venv/bin/python benchmarks/report.py --cases 20000   # smaller
    .venv/bin/python benchmarks/report.py --reuse         # measure again on the database seeded last time

Seeds a throwaway database (``rpa_bench_report``, dropped and created) with ``benchmarks/digest.py``'s
year of cases (histories, opinions, ratings, the sweep's deadline notices), then times
``services.statistics.statistics_report`` for the last month, quarter and the whole year before
``digest.NOW`` (the median of ``--runs`` each), and the CSV and XLSX of the year. (Named ``report``,
not ``statistics``: this folder is on ``sys.path`` and would hide the standard library's module.)
The last line::

    report: month_s=<n> quarter_s=<n> year_s=<n> cases=<n>
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from digest import NOW, prepare_postgres, seed  # noqa: E402

from workstation.services.db import make_engine, make_session_factory  # noqa: E402
from workstation.services.statistics import report_file, statistics_report  # noqa: E402
from workstation.statistics import parse_period  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/rpa_bench_report"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg-url", default=DEFAULT_URL, help="the throwaway database (dropped and created)")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args(argv)
    if not args.reuse:
        log(f"seeding {args.cases:,} cases over the year to {NOW.isoformat()}")
        prepare_postgres(args.pg_url)
        seed(args.pg_url, args.cases, 300, 7)
    sessions = make_session_factory(make_engine(args.pg_url))
    today = NOW.date()
    periods = {"month": "2026-10", "quarter": "2026-Q3", "year": None}
    timings = {}
    for name, key in periods.items():
        period = parse_period(key, today=today) if key else parse_period(None, "2025-11-24", "2026-11-23", today=today)
        times, cpu = [], []
        for _ in range(args.runs):
            with sessions() as session:
                t0, c0 = time.perf_counter(), time.process_time()
                report = statistics_report(session, period, NOW)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        timings[name] = statistics.median(times)
        log(f"{name} {period.key}: {report.total:,} cases submitted; " + ", ".join(f"{t:.2f}" for t in times)
            + f" s (this process's CPU: {statistics.median(cpu):.2f} s; the rest is the database and waiting for"
            " a core)")  # fmt: skip
    log(f"load average (other work skews every figure): {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for fmt in ("csv", "xlsx"):
        t0 = time.perf_counter()
        size = len(report_file(report, fmt, "zh"))
        log(f"the year as {fmt}: {size:,} bytes in {time.perf_counter() - t0:.2f} s")
    print(f"report: month_s={timings['month']:.2f} quarter_s={timings['quarter']:.2f} year_s={timings['year']:.2f} "
          f"cases={args.cases}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
