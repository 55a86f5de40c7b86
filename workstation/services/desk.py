"""What the coordinators' desk shows besides its list of cases (a search: ``services.search``):
the piles that need them, and simple figures (cases per week by right type, time to assignment,
satisfaction) drawn as HTML bars."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload, selectinload

from workstation import lifecycle
from workstation.deadlines import deadlines_for
from workstation.services.models import Case, CaseEvent, Rating, utcnow
from workstation.vocabulary import RIGHT_TYPES

#: Weeks the charts look back.
WEEKS = 8


def awaiting_expert(session: Session, limit: int = 50) -> list[Case]:
    """The cases no expert could take, oldest first: the coordinators must place them."""
    return list(
        session.scalars(
            select(Case)
            .where(Case.status == lifecycle.AWAITING_EXPERT)
            .options(joinedload(Case.enterprise))
            .order_by(Case.created_at)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Breach:
    case: Case
    label: dict[str, str]
    due_at: datetime


def sla_breaches(session: Session, now: datetime | None = None, limit: int = 200) -> list[Breach]:
    """Active cases with a service-level deadline passed and not met, most overdue first."""
    now = now or utcnow()
    open_statuses = (*lifecycle.ACTIVE_FOR_EXPERT, lifecycle.SUBMITTED, lifecycle.AWAITING_EXPERT,
                     lifecycle.DECLINED, lifecycle.REOPENED)  # fmt: skip
    cases = session.scalars(
        select(Case).where(Case.status.in_(open_statuses)).options(selectinload(Case.events)).limit(2000)
    )
    found = [
        Breach(case, d.label, d.due_at)
        for case in cases
        for d in deadlines_for(case, now)
        if d.kind == "sla" and d.breached and d.running
    ]
    return sorted(found, key=lambda b: b.due_at)[:limit]


def _week(moment: datetime) -> str:
    start = (moment - timedelta(days=moment.weekday())).date()
    return start.isoformat()


def weeks_back(now: datetime, weeks: int = WEEKS) -> list[str]:
    return [_week(now - timedelta(weeks=n)) for n in reversed(range(weeks))]


def cases_per_week(session: Session, now: datetime | None = None, weeks: int = WEEKS) -> dict[str, Any]:
    """Cases submitted per week (Monday first) and right type, over the last ``weeks`` weeks."""
    now = now or utcnow()
    since = now - timedelta(weeks=weeks)
    rows = session.execute(select(Case.created_at, Case.right_type).where(Case.created_at >= since)).all()
    counts = Counter((_week(created), right) for created, right in rows)
    labels = weeks_back(now, weeks)
    series = {
        right: [counts[(w, right)] for w in labels] for right in RIGHT_TYPES if any(counts[(w, right)] for w in labels)
    }
    totals = [sum(counts[(w, r)] for r in RIGHT_TYPES) for w in labels]
    return {"weeks": labels, "series": series, "totals": totals, "max": max(totals, default=0) or 1}


def hours_to_assignment(session: Session, now: datetime | None = None, weeks: int = WEEKS) -> dict[str, Any]:
    """Median hours from submission to the first assignment, per week of submission."""
    now = now or utcnow()
    since = now - timedelta(weeks=weeks)
    first_assign = (
        select(CaseEvent.case_id, func.min(CaseEvent.created_at).label("assigned_at"))
        .where(CaseEvent.action.in_(("assign", "reassign")))
        .group_by(CaseEvent.case_id)
        .subquery()
    )
    rows = session.execute(
        select(Case.created_at, first_assign.c.assigned_at)
        .join(first_assign, first_assign.c.case_id == Case.id)
        .where(Case.created_at >= since)
    ).all()
    per_week: dict[str, list[float]] = {}
    for created, assigned in rows:
        assigned = assigned if assigned.tzinfo else assigned.replace(tzinfo=created.tzinfo)
        per_week.setdefault(_week(created), []).append((assigned - created).total_seconds() / 3600)
    labels = weeks_back(now, weeks)
    medians = [round(statistics.median(per_week[w]), 2) if w in per_week else None for w in labels]
    return {"weeks": labels, "medians": medians, "max": max((m for m in medians if m), default=0) or 1}


def satisfaction(session: Session) -> dict[str, Any]:
    """How many ratings of each score, and the mean."""
    counts = dict(session.execute(select(Rating.score, func.count()).group_by(Rating.score)).all())
    total = sum(counts.values())
    mean = sum(score * n for score, n in counts.items()) / total if total else None
    return {"counts": [counts.get(n, 0) for n in range(1, 6)], "total": total, "mean": mean,
            "max": max(counts.values(), default=0) or 1}  # fmt: skip
