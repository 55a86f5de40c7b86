"""The statistics report's facts, read from the database (``workstation.statistics`` computes the
report from them), and the report as CSV, XLSX and PDF.

Five queries whatever the number of cases (no query per case): the cases of the period with their
first assignment, opinion, close, withdrawal and the moment each SLA was met (one GROUP BY over their
events); the status history of only those cases that waited for the applicant (their pauses); the
legal deadlines the sweep recorded; the ratings given; the names of enterprises and experts.

The report holds counts and durations and never names a case: nothing of a case's content, its
parties or its marks leaves in it (enterprises are named with their number of cases, as the desk
shows them). So, unlike an export of cases (``services.exports``), neither the page nor a download
is a read of confidential cases to log or audit.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from workstation import lifecycle
from workstation.deadlines import SLA_TARGETS
from workstation.services.exports import safe_cells
from workstation.services.models import Case, CaseEvent, DeadlineNotice, ExpertProfile, Opinion, Rating, User, utcnow
from workstation.statistics import (
    SLA_CODES,
    CaseFacts,
    ExpertFacts,
    LegalDeadlineFacts,
    Period,
    Report,
    Table,
    build_report,
    pauses_from_transitions,
    report_tables,
)

FORMATS = ("json", "csv", "xlsx", "pdf")
MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
#: The statuses whose first entry is a measured step: (the ``CaseFacts`` field, the status).
_STEPS = {
    "assigned_at": lifecycle.ASSIGNED,
    "opinion_at": lifecycle.OPINION_ISSUED,
    "closed_at": lifecycle.CLOSED,
    "withdrawn_at": lifecycle.WITHDRAWN,
}
SLA_PREFIX = "sla_"


def _aware(value: Any) -> datetime | None:
    """An aggregate's timestamp: SQLite gives text or a naive datetime for ``min()`` (UTC, as stored)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _period_case_ids(period: Period) -> Any:
    """The ids of the cases submitted in the period, or that reached a measured step in it."""
    return union(
        select(Case.id.label("id")).where(Case.created_at >= period.start, Case.created_at < period.end),
        select(CaseEvent.case_id.label("id")).where(
            CaseEvent.to_status.in_((lifecycle.ASSIGNED, lifecycle.OPINION_ISSUED, lifecycle.CLOSED)),
            CaseEvent.created_at >= period.start,
            CaseEvent.created_at < period.end,
        ),
    ).subquery()


def _epoch(moment: Any, dialect: str) -> Any:
    """A timestamp column as POSIX seconds, computed by the database (``CaseFacts`` holds floats:
    no datetime to build and convert for each of 100,000 cases' nine times)."""
    if dialect == "postgresql":
        return func.date_part("epoch", moment)
    # SQLite keeps timestamps as ISO text in UTC (models.UTCDateTime): julianday reads them.
    return (func.julianday(moment) - 2440587.5) * 86400.0


def read_case_facts(session: Session, period: Period) -> list[CaseFacts]:
    """Every case the report of ``period`` looks at, with its steps: two queries (three when some
    waited for the applicant)."""
    dialect = session.get_bind().dialect.name
    ids = select(_period_case_ids(period).c.id)
    firsts = [
        _epoch(func.min(CaseEvent.created_at).filter(CaseEvent.to_status == s), dialect).label(f)
        for f, s in _STEPS.items()
    ]
    met = [
        _epoch(func.min(CaseEvent.created_at).filter(CaseEvent.to_status.in_(sorted(SLA_TARGETS[c].met_by))),
               dialect).label(c)
        for c in SLA_CODES
    ]  # fmt: skip
    paused = func.count().filter(CaseEvent.to_status == lifecycle.AWAITING_APPLICANT).label("paused")
    steps = (
        select(CaseEvent.case_id, *firsts, *met, paused)
        .where(CaseEvent.case_id.in_(ids))
        .group_by(CaseEvent.case_id)
        .subquery()
    )
    steps_columns = [*(steps.c[f] for f in _STEPS), *(steps.c[c] for c in SLA_CODES)]
    rows = session.connection().execute(  # (Core: plain tuples, no ORM loading per row)
        select(Case.id, Case.right_type, Case.service, Case.status, Case.technical_field, Case.jurisdiction,
               Case.enterprise_id, Case.assigned_expert_id, _epoch(Case.created_at, dialect), steps.c.paused,
               *steps_columns)
        .outerjoin(steps, steps.c.case_id == Case.id)
        .where(Case.id.in_(ids))
    ).all()  # fmt: skip
    pauses = _pauses(session, [r[0] for r in rows if r[9]], dialect)
    n_steps = len(_STEPS)
    facts = []
    for r in rows:
        times = [None if v is None else float(v) for v in r[10:]]
        facts.append(CaseFacts(
            r[0], r[1], r[2], r[3], r[4] or "other", r[5] or "CN", r[6], r[7], float(r[8]),
            **dict(zip(_STEPS, times[:n_steps], strict=True)),
            sla_met=dict(zip(SLA_CODES, times[n_steps:], strict=True)), pauses=pauses.get(r[0], ()),
        ))  # fmt: skip
    return facts


#: Case ids per query for the pauses' histories (an IN list both databases take).
_CHUNK = 5000


def _pauses(session: Session, case_ids: list[int], dialect: str) -> dict[int, tuple]:
    """The spans waiting for the applicant of these cases, from their status histories."""
    transitions: dict[int, list[tuple[str, float]]] = {}
    for start in range(0, len(case_ids), _CHUNK):
        chunk = case_ids[start : start + _CHUNK]
        for case_id, status, at in (
            session.connection()
            .execute(
                select(CaseEvent.case_id, CaseEvent.to_status, _epoch(CaseEvent.created_at, dialect)).where(
                    CaseEvent.case_id.in_(chunk)
                )
            )
            .all()
        ):
            transitions.setdefault(case_id, []).append((status, float(at)))
    return {
        case_id: pauses_from_transitions(history, lifecycle.AWAITING_APPLICANT)
        for case_id, history in transitions.items()
    }


def read_legal_deadlines(session: Session, period: Period) -> list[LegalDeadlineFacts]:
    """The legal deadlines the sweep recorded whose moment falls in the period (one row each, however
    many thresholds it noticed), with the case's opinion and withdrawal."""
    deadlines = (
        select(DeadlineNotice.case_id, DeadlineNotice.code, func.min(DeadlineNotice.due_at).label("due_at"))
        .where(~DeadlineNotice.code.startswith(SLA_PREFIX, autoescape=True))
        .group_by(DeadlineNotice.case_id, DeadlineNotice.code)
        .subquery()
    )
    withdrawn = (
        select(CaseEvent.case_id, func.min(CaseEvent.created_at).label("at"))
        .where(CaseEvent.to_status == lifecycle.WITHDRAWN)
        .group_by(CaseEvent.case_id)
        .subquery()
    )
    rows = session.execute(
        select(deadlines.c.case_id, deadlines.c.code, deadlines.c.due_at, Opinion.issued_at, withdrawn.c.at)
        .outerjoin(Opinion, Opinion.case_id == deadlines.c.case_id)
        .outerjoin(withdrawn, withdrawn.c.case_id == deadlines.c.case_id)
        .where(deadlines.c.due_at >= period.start, deadlines.c.due_at < period.end)
    )
    return [LegalDeadlineFacts(r[0], r[1], _aware(r[2]), _aware(r[3]), _aware(r[4])) for r in rows]


def statistics_report(session: Session, period: Period, now: datetime | None = None) -> Report:
    """The report of ``period`` at ``now`` (default: the current time)."""
    now = now or utcnow()
    cases = read_case_facts(session, period)
    scores = session.execute(
        select(Rating.score, func.count())
        .where(Rating.created_at >= period.start, Rating.created_at < period.end)
        .group_by(Rating.score)
    ).all()
    submitted = select(Case.enterprise_id).where(Case.created_at >= period.start, Case.created_at < period.end)
    enterprises = {
        uid: organisation or name
        for uid, organisation, name in session.execute(
            select(User.id, User.organisation, User.name).where(User.id.in_(submitted))
        )
    }
    experts = [
        ExpertFacts(uid, name, active or 0, capacity or 0)
        for uid, name, active, capacity in session.execute(
            select(User.id, User.name, ExpertProfile.active_cases, ExpertProfile.capacity).join(
                ExpertProfile, ExpertProfile.user_id == User.id
            )
        )
    ]
    return build_report(
        period,
        cases,
        now=now,
        legal=read_legal_deadlines(session, period),
        scores=[score for score, n in scores for _ in range(n)],
        enterprises=enterprises,
        experts=experts,
    )


# --- the files ----------------------------------------------------------------------------------


def report_json(report: Report) -> dict[str, Any]:
    """The report as the API answers it: codes, not labels (a client labels them itself)."""

    def tallies(values: tuple) -> list[dict[str, Any]]:
        return [{"code": v.code, "count": v.count, "share": v.share} for v in values]

    return {
        "period": {"key": report.period.key, "from": report.period.first.isoformat(),
                   "to": report.period.last.isoformat(), "timezone": report.period.timezone},
        "generated_at": report.generated_at.isoformat(),
        "total": report.total,
        "by_right_type": tallies(report.by_right_type),
        "by_service": tallies(report.by_service),
        "by_status": tallies(report.by_status),
        "by_technical_field": tallies(report.by_technical_field),
        "by_jurisdiction": tallies(report.by_jurisdiction),
        "by_enterprise": tallies(report.by_enterprise),
        "durations": [{"milestone": d.milestone, "count": d.count, "median_working_days": d.median_days,
                       "p90_working_days": d.p90_days} for d in report.durations],
        "sla": [{"code": s.code, "in_time": s.in_time, "late": s.late, "overdue": s.overdue, "running": s.running,
                 "stopped": s.stopped, "met_share": s.met_share} for s in report.sla],
        "legal": dict(report.legal),
        "ratings": {"count": report.ratings.count, "mean": report.ratings.mean,
                    "distribution": {str(i + 1): n for i, n in enumerate(report.ratings.distribution)}},
        "experts": [{"id": e.expert_id, "name": e.name, "assigned": e.assigned, "active": e.active,
                     "closed": e.closed, "active_now": e.active_now, "capacity": e.capacity} for e in report.experts],
    }  # fmt: skip


def tables_csv(tables: list[Table]) -> bytes:
    """Every table one after the other, each under its title and separated by an empty line (UTF-8
    with a byte-order mark, as Excel needs to read Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for n, table in enumerate(tables):
        if n:
            writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.headers)
        writer.writerows(safe_cells(list(row)) for row in table.rows)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def tables_xlsx(tables: list[Table]) -> bytes:
    """A sheet per table, named by its title (as far as a sheet name may hold it)."""
    from openpyxl import Workbook  # (only downloads need it)

    book = Workbook(write_only=True)
    for table in tables:
        sheet = book.create_sheet(_sheet_name(table.title))
        sheet.append(list(table.headers))
        for row in table.rows:
            sheet.append(safe_cells(list(row)))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_name(title: str) -> str:
    """At most 31 characters, none of ``[]:*?/\\`` (Excel's rules for a sheet's name)."""
    return "".join(" " if c in "[]:*?/\\" else c for c in title)[:31].strip() or "sheet"


def report_file(report: Report, fmt: str, language: str) -> bytes:
    """The report as CSV or XLSX in ``language``. (The PDF is its page, printed: ``web.statistics``.)"""
    if fmt not in ("csv", "xlsx"):
        raise ValueError(fmt)
    tables = report_tables(report, language)
    return tables_csv(tables) if fmt == "csv" else tables_xlsx(tables)


def filename(report: Report, fmt: str) -> str:
    return f"statistics-{report.period.key.replace('..', '_')}.{fmt}"
