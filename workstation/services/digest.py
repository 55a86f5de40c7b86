"""What a coordinator's digest holds: the figures of one period, computed in the database.

``digest_period`` says which period a digest sent at a given moment covers (pure); ``build_digest``
computes everything the digest shows with SQL aggregation (GROUP BY, counts, percentiles in the
database) and returns plain frozen dataclasses, no ORM objects, so the email templates
(``templates/email/coordinator_digest/``), the preview page and the tests read the same data.
Only the short lists a digest shows (the oldest 20 cases waiting, the lowest 20 ratings...) and the
expert pool (hundreds of rows) are loaded as rows; no query loads every case.

Times are shown in China time (``deadlines.zone()``), the centre's clock, as the rest of the site.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from babel.dates import format_date
from sqlalchemy import ColumnElement, Integer, Select, and_, case, cast, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from workstation import lifecycle
from workstation.config import REFERRAL_WAIT_DAYS
from workstation.deadlines import FOREIGN_OPPOSITION, NOTICE_RULES, SLA_TARGETS, legal_deadlines, zone
from workstation.i18n import in_every_language
from workstation.services.models import (
    Case,
    CaseEvent,
    DeadlineNotice,
    ExpertProfile,
    Opinion,
    PanelSeat,
    Rating,
    User,
    utcnow,
)
from workstation.services.referrals import referral_counts
from workstation.vocabulary import KEY_DATES, RIGHT_TYPES, SERVICES

FREQUENCIES = ("daily", "weekly")
#: Rows a list of the digest shows at most (the total is always given): an email stays readable
#: and under Gmail's 102 kB clipping limit.
LIST_LIMIT = 20
#: How far ahead legal deadlines are listed.
SOON = timedelta(days=7)
#: Cases whose deadlines no longer concern anyone (as the deadline sweep has it).
FINISHED = lifecycle.FINISHED
#: The actions that put a case in ``assigned`` (assign, reassign, reroute): the first one is the assignment.
ASSIGN_ACTIONS = tuple(sorted(a for a, t in lifecycle.TRANSITIONS.items() if t.target == lifecycle.ASSIGNED))
SLA_PREFIX = "sla_"
OVERDUE = "overdue"


# --- the period ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    #: "daily:2026-11-24" or "weekly:2026-W48": the local date (or ISO week) the digest is for
    key: str
    start: datetime  # aware UTC, included
    end: datetime  # aware UTC, excluded: the scheduled send time

    @property
    def frequency(self) -> str:
        return self.key.split(":", 1)[0]

    @property
    def day(self) -> date:
        """The local date of a daily digest, or the Monday of a weekly one."""
        return key_day(self.key)

    def day_text(self, language: str) -> str:
        """``day`` as people write it: "24 November 2026", "2026年11月24日"."""
        return format_day(self.day, language)

    @property
    def starts(self) -> str:
        return china_time(self.start)

    @property
    def ends(self) -> str:
        return china_time(self.end)


def key_day(key: str) -> date:
    """The local date a period key is for ("daily:2026-11-24"), or the Monday of its ISO week
    ("weekly:2026-W48"); ValueError for anything else."""
    frequency, _, value = key.partition(":")
    if frequency == "weekly":
        year, _, week = value.partition("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    if frequency == "daily":
        return date.fromisoformat(value)
    raise ValueError(f"not a period key: {key!r}")


def period_of(key: str, hour: int, timezone: str) -> Period:
    """The period a key names, for a digest sent at ``hour``:00 in ``timezone``."""
    frequency = key.partition(":")[0]
    return digest_period(frequency, hour, timezone, _send_time(key_day(key), hour, zone(timezone)))


def format_day(day: date, language: str) -> str:
    return format_date(day, "long", locale="zh_CN" if language == "zh" else "en_GB")


def china_time(moment: datetime) -> str:
    """A stored (UTC) moment on the centre's clock, as the site's ``local`` filter shows it."""
    return moment.astimezone(zone()).strftime("%Y-%m-%d %H:%M")


def _send_time(day: date, hour: int, tz: tzinfo) -> datetime:
    # hour:00 on the wall clock of ``day``. In a DST gap (02:00 on a spring-forward night) zoneinfo
    # reads the time with the offset before the change (fold=0): the digest goes at the moment the
    # clocks jump. In the repeated hour of an autumn night, fold=0 is the first of the two.
    return datetime.combine(day, time(hour), tzinfo=tz).astimezone(UTC)


def digest_period(frequency: str, hour: int, timezone: str, at: datetime) -> Period:
    """The latest period whose scheduled send time (``hour``:00 local every day, or every Monday
    for ``weekly``) is at or before ``at``.

    ``end`` is that send time in UTC; ``start`` the send time one local day (or week) earlier, so
    consecutive periods meet exactly: across a DST change a daily period is 23 or 25 hours long.
    The key is the local date of the send time ("daily:2026-11-24") or its ISO week
    ("weekly:2026-W48"). Pure.
    """
    if frequency not in FREQUENCIES:
        raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}, not {frequency!r}")
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise ValueError(f"hour must be a whole number from 0 to 23, not {hour!r}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware")
    tz = zone(timezone)
    day = at.astimezone(tz).date()
    step = timedelta(days=1 if frequency == "daily" else 7)
    if frequency == "weekly":
        day -= timedelta(days=day.weekday())  # this week's Monday
    if _send_time(day, hour, tz) > at:
        day -= step
    end = _send_time(day, hour, tz)
    start = _send_time(day - step, hour, tz)
    if frequency == "daily":
        key = f"daily:{day.isoformat()}"
    else:
        iso = day.isocalendar()
        key = f"weekly:{iso.year}-W{iso.week:02d}"
    return Period(key, start, end)


# --- what a digest holds -------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """A count of one code (a right type, a service, a score) and its bar's width in percent."""

    code: str
    count: int
    width: float


@dataclass(frozen=True)
class WaitingCase:
    reference: str
    title: str
    right_type: str
    service: str
    created_at: datetime
    age_hours: float

    @property
    def waiting(self) -> tuple[int, int]:
        """(days, hours) waiting, whole."""
        hours = int(self.age_hours)
        return hours // 24, hours % 24

    @property
    def submitted(self) -> str:
        return china_time(self.created_at)


@dataclass(frozen=True)
class DeadlineRow:
    """A deadline of an open case, from the sweep's ``deadline_notices``."""

    reference: str
    title: str
    status: str
    code: str
    label: dict[str, str]  # {"zh": ..., "en": ...}
    due_at: datetime
    #: an SLA breach first noticed within the period
    new: bool = False

    @property
    def due(self) -> str:
        return china_time(self.due_at)

    @property
    def last_day(self) -> str:
        """A legal deadline's last day (it ends at 24:00 local time, ``due_at``)."""
        return (self.due_at.astimezone(zone()) - timedelta(microseconds=1)).date().isoformat()


@dataclass(frozen=True)
class ExpertLoad:
    user_id: int
    name: str
    active_cases: int
    capacity: int
    trainee: bool
    available: bool
    on_leave: bool
    overloaded: bool
    idle: bool
    #: the load bar: active cases as a percentage of capacity, at most 100
    width: float


@dataclass(frozen=True)
class Durations:
    """Hours from submission to an event, over the cases the event happened to in the period."""

    count: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class RatingRow:
    reference: str
    title: str
    score: int
    comment: str
    created_at: datetime


@dataclass(frozen=True)
class Digest:
    period: Period
    generated_at: datetime
    new_total: int
    new_by_right_type: tuple[Count, ...]  # the bar chart, most first
    new_by_service: tuple[Count, ...]
    awaiting_total: int
    awaiting: tuple[WaitingCase, ...]  # oldest first, at most LIST_LIMIT
    sla_breaches_total: int  # overdue SLAs of open cases
    sla_breaches_new: int  # of which first noticed in the period
    sla_breaches: tuple[DeadlineRow, ...]  # most recently due first, at most LIST_LIMIT
    deadlines_soon_total: int
    deadlines_soon: tuple[DeadlineRow, ...]  # legal deadlines due within SOON, nearest first
    experts: tuple[ExpertLoad, ...]  # every active expert, most loaded first
    to_assignment: Durations
    to_opinion: Durations
    ratings_total: int
    ratings_average: float | None
    ratings_by_score: tuple[Count, ...]  # scores 1..5
    ratings: tuple[RatingRow, ...]  # lowest first, at most LIST_LIMIT
    difficult_total: int  # open cases marked difficult (``services.panels``)
    panels_sitting: int  # cases with a panel sitting now
    panel_seats: int  # seats on those panels (each one of its expert's slots)
    panels_convened: int  # panels convened in the period
    # referrals to partner bodies (``services.referrals``): sent and answered in the period, and
    # those waiting too long for their partner when the digest is made
    referrals_sent: int = 0
    referrals_answered: int = 0
    referrals_overdue: int = 0

    @property
    def overloaded(self) -> tuple[ExpertLoad, ...]:
        return tuple(e for e in self.experts if e.overloaded)

    @property
    def idle(self) -> tuple[ExpertLoad, ...]:
        return tuple(e for e in self.experts if e.idle)

    @property
    def active_cases(self) -> int:
        return sum(e.active_cases for e in self.experts)

    @property
    def capacity(self) -> int:
        return sum(e.capacity for e in self.experts)


# --- pure helpers --------------------------------------------------------------------------------


def bar_widths(counts: Sequence[int], minimum: float = 1.0) -> list[float]:
    """Each count as a percentage of the largest (one decimal), the widths of an HTML bar chart.

    A count above zero gets at least ``minimum`` so its bar is seen; zero gets no bar. Pure."""
    top = max(counts, default=0)
    if top <= 0:
        return [0.0 for _ in counts]
    return [0.0 if n <= 0 else max(minimum, round(100 * n / top, 1)) for n in counts]


def load_width(active: int, capacity: int) -> float:
    """An expert's load bar: active cases as a percentage of capacity, capped at 100. Pure."""
    if capacity <= 0:
        return 100.0 if active > 0 else 0.0
    return round(min(100.0, 100 * active / capacity), 1)


def _counts(totals: dict[str, int], order: Sequence[str]) -> tuple[Count, ...]:
    """Most first; ties in the schema's order (codes it does not know last, by name)."""
    rank = {code: i for i, code in enumerate(order)}
    codes = sorted(totals, key=lambda c: (-totals[c], rank.get(c, len(order)), c))
    widths = bar_widths([totals[c] for c in codes])
    return tuple(Count(c, totals[c], w) for c, w in zip(codes, widths, strict=True))


@functools.cache
def _deadline_labels() -> dict[str, dict[str, str]]:
    """Every deadline code's label, taken from ``workstation.deadlines`` itself (its legal periods
    for made-up facts of every route, and its SLA targets), so a new code there is named here too.
    A recurring period's code ends in its year (and a right's, in the right's number): it is kept
    here without them."""
    day = date(2025, 1, 2)
    labels = {f"{SLA_PREFIX}{code}": in_every_language(target.label) for code, target in SLA_TARGETS.items()}
    every_date = dict.fromkeys(KEY_DATES, day)
    own = [{"kind": "trademark", "registered_on": day.isoformat()}, {"kind": "patent", "filed_on": day.isoformat()}]
    routes = [("trademark", "CN", own), ("patent", "CN", []), ("geographical_indication", "CN", [{"kind": "gi"}])]
    routes += [("trademark", jurisdiction, []) for jurisdiction in FOREIGN_OPPOSITION]
    for right_type, jurisdiction, rights in routes:
        for kind in (None, *NOTICE_RULES):
            found = legal_deadlines(right_type, every_date, notice_kind=kind, jurisdiction=jurisdiction, rights=rights)
            labels.update({_YEAR_SUFFIX.sub("", d.code): dict(d.label) for d in found})
    for d in legal_deadlines("patent", {}, activity={"kind": "trade", "date": day.isoformat()}):  # its date
        labels[d.code] = dict(d.label)
    for matter in ({"kind": "non_infringement_declaration", "demand_sent_on": day.isoformat()},
                   {"kind": "abuse_defence", "abuse": "malicious_suit", "served_on": day.isoformat()}):  # fmt: skip
        labels.update({d.code: dict(d.label) for d in legal_deadlines("patent", {}, litigation=matter)})
    return labels


_YEAR_SUFFIX = re.compile(r"_\d{4}(?:_r\d+)?$")


def deadline_label(code: str) -> dict[str, str]:
    """{"zh", "en"} name of a deadline code; the code itself for one no longer defined."""
    labels = _deadline_labels()
    return labels.get(code) or labels.get(_YEAR_SUFFIX.sub("", code)) or {"zh": code, "en": code}


# --- SQL -----------------------------------------------------------------------------------------


def _hours(later: ColumnElement, earlier: ColumnElement, dialect: str) -> ColumnElement[float]:
    """``later - earlier`` in hours, computed by the database."""
    if dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 3600.0
    # SQLite keeps timestamps as ISO text (UTC, see models.UTCDateTime): julianday reads them.
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def _percentiles(session: Session, durations: Select, quantiles: Iterable[float] = (0.5, 0.9)) -> list:
    """(count, then each quantile with linear interpolation, as ``percentile_cont``) of the one
    column ``hours`` of ``durations``: one row back, whatever the number of cases."""
    quantiles = tuple(quantiles)
    sub = durations.subquery()
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(
            select(func.count(), *(func.percentile_cont(q).within_group(sub.c.hours) for q in quantiles))
        ).one()
        return [row[0], *(None if v is None else float(v) for v in row[1:])]
    return _percentiles_by_rank(session, sub, quantiles)


def _percentiles_by_rank(session: Session, sub, quantiles: Sequence[float]) -> list:  # noqa: ANN001
    """``percentile_cont`` for databases without it (SQLite), still in SQL: number the sorted
    durations 0..n-1 with window functions; quantile q lies at position q(n-1), between rank
    lo = floor(q(n-1)) and lo + 1, weighted by the fraction; sum just those two rows."""
    ranked = select(
        sub.c.hours,
        (func.row_number().over(order_by=sub.c.hours) - 1).label("i"),
        func.count().over().label("n"),
    ).subquery()
    floor = (
        func.floor
        if session.get_bind().dialect.name == "postgresql"
        else (lambda x: cast(x, Integer))  # SQLite: CAST truncates, = floor for positions >= 0
    )
    columns = [func.coalesce(func.max(ranked.c.n), 0)]
    for q in quantiles:
        position = q * (ranked.c.n - 1)
        lo = floor(position)
        fraction = position - lo
        columns.append(
            func.sum(
                case(
                    (ranked.c.i == lo, ranked.c.hours * (1 - fraction)),
                    (ranked.c.i == lo + 1, ranked.c.hours * fraction),
                    else_=0.0,
                )
            )
        )
    row = session.execute(select(*columns)).one()
    return [int(row[0]), *(None if v is None else float(v) for v in row[1:])]


def _durations(session: Session, durations: Select) -> Durations:
    count, median, p90 = _percentiles(session, durations)
    return Durations(int(count), median, p90)


def _first_assignment_hours(period: Period, dialect: str) -> Select:
    """Hours from submission to first assignment, for the cases first assigned in the period: an
    assignment event in the period with no earlier one for its case (found by index on case_id)."""
    earlier = aliased(CaseEvent)
    first = exists().where(
        earlier.case_id == CaseEvent.case_id,
        earlier.action.in_(ASSIGN_ACTIONS),
        or_(
            earlier.created_at < CaseEvent.created_at,
            and_(earlier.created_at == CaseEvent.created_at, earlier.id < CaseEvent.id),
        ),
    )
    return (
        select(_hours(CaseEvent.created_at, Case.created_at, dialect).label("hours"))
        .join(Case, Case.id == CaseEvent.case_id)
        .where(
            CaseEvent.action.in_(ASSIGN_ACTIONS),
            CaseEvent.created_at >= period.start,
            CaseEvent.created_at < period.end,
            ~first,
        )
    )


def _opinion_hours(period: Period, dialect: str) -> Select:
    return (
        select(_hours(Opinion.issued_at, Case.created_at, dialect).label("hours"))
        .join(Case, Case.id == Opinion.case_id)
        .where(Opinion.issued_at >= period.start, Opinion.issued_at < period.end)
    )


def build_digest(
    session: Session, period: Period, now: datetime | None = None, referral_wait_days: int = REFERRAL_WAIT_DAYS
) -> Digest:
    """Everything the digest for ``period`` shows, computed with SQL aggregation; plain data.

    ``now`` (default: the current time) is when the lists are taken: cases waiting *now*, legal
    deadlines due within 7 days of *now*; the period bounds the new cases, assignments, opinions
    and ratings counted. Each section is a function of its own, giving its fields of ``Digest``.
    """
    now = now or utcnow()
    dialect = session.get_bind().dialect.name
    return Digest(
        period=period,
        generated_at=now,
        **_new_cases(session, period),
        **_waiting_for_an_expert(session, now),
        **_sla_breaches(session, period),
        **_legal_deadlines_soon(session, now),
        experts=_expert_loads(session, now),
        to_assignment=_durations(session, _first_assignment_hours(period, dialect)),
        to_opinion=_durations(session, _opinion_hours(period, dialect)),
        **_ratings(session, period),
        **_difficult_cases(session, period),
        **{f"referrals_{key}": n for key, n in referral_counts(session, period.start, period.end,
                                                               referral_wait_days, now).items()},
    )  # fmt: skip


def _difficult_cases(session: Session, period: Period) -> dict[str, Any]:
    """Open cases marked difficult, the panels sitting and their seats, panels convened in the period."""
    sitting = (
        select(PanelSeat.case_id, func.count().label("seats"))
        .where(PanelSeat.released_at.is_(None))
        .group_by(PanelSeat.case_id)
        .subquery()
    )
    panels = session.execute(select(func.count(), func.coalesce(func.sum(sitting.c.seats), 0))).one()
    return {
        "difficult_total": session.scalar(
            select(func.count()).select_from(Case).where(Case.difficult_reason.is_not(None), _OPEN_CASE)
        ),
        "panels_sitting": panels[0],
        "panel_seats": int(panels[1]),
        "panels_convened": session.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.action == lifecycle.CONVENE_PANEL, _in(period, CaseEvent.created_at))
        ),
    }


def _in(period: Period, column: ColumnElement) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


_OPEN_CASE = Case.status.not_in(FINISHED)


def _new_cases(session: Session, period: Period) -> dict[str, Any]:
    """New cases: one GROUP BY over (right type, service), folded both ways here (at most 6 x 5 rows)."""
    by_right: dict[str, int] = defaultdict(int)
    by_service: dict[str, int] = defaultdict(int)
    for right, service, n in session.execute(
        select(Case.right_type, Case.service, func.count())
        .where(_in(period, Case.created_at))
        .group_by(Case.right_type, Case.service)
    ):
        by_right[right] += n
        by_service[service] += n
    return {
        "new_total": sum(by_right.values()),
        "new_by_right_type": _counts(by_right, RIGHT_TYPES),
        "new_by_service": _counts(by_service, SERVICES),
    }


def _waiting_for_an_expert(session: Session, now: datetime) -> dict[str, Any]:
    waiting = Case.status == lifecycle.AWAITING_EXPERT
    rows = session.execute(
        select(Case.reference, Case.title, Case.right_type, Case.service, Case.created_at)
        .where(waiting)
        .order_by(Case.created_at, Case.id)
        .limit(LIST_LIMIT)
    )

    def hours(row: Any) -> float:
        return max(0.0, (now - row.created_at).total_seconds() / 3600)

    return {
        "awaiting_total": session.scalar(select(func.count()).select_from(Case).where(waiting)) or 0,
        "awaiting": tuple(
            WaitingCase(r.reference or "", r.title, r.right_type, r.service, r.created_at, hours(r)) for r in rows
        ),
    }


def _sla_breaches(session: Session, period: Period) -> dict[str, Any]:
    """The sweep's "overdue" notices of SLA deadlines, for cases still open."""
    breach = and_(
        DeadlineNotice.code.startswith(SLA_PREFIX, autoescape=True),
        DeadlineNotice.threshold == OVERDUE,
        _OPEN_CASE,
    )
    breach_new = _in(period, DeadlineNotice.created_at)
    total, new = session.execute(
        select(func.count(), func.count().filter(breach_new))
        .select_from(DeadlineNotice)
        .join(Case, Case.id == DeadlineNotice.case_id)
        .where(breach)
    ).one()
    rows = session.execute(
        select(
            Case.reference, Case.title, Case.status, DeadlineNotice.code, DeadlineNotice.due_at, breach_new.label("new")
        )
        .join(Case, Case.id == DeadlineNotice.case_id)
        .where(breach)
        .order_by(DeadlineNotice.due_at.desc(), DeadlineNotice.id.desc())
        .limit(LIST_LIMIT)
    )
    return {
        "sla_breaches_total": total,
        "sla_breaches_new": new,
        "sla_breaches": tuple(
            DeadlineRow(r.reference or "", r.title, r.status, r.code, deadline_label(r.code), r.due_at, bool(r.new))
            for r in rows
        ),
    }


def _legal_deadlines_soon(session: Session, now: datetime) -> dict[str, Any]:
    """One row per case and deadline (the sweep writes one per threshold), open cases only."""
    soon = (
        select(DeadlineNotice.case_id, DeadlineNotice.code, func.min(DeadlineNotice.due_at).label("due_at"))
        .where(
            ~DeadlineNotice.code.startswith(SLA_PREFIX, autoescape=True),
            DeadlineNotice.due_at >= now,
            DeadlineNotice.due_at <= now + SOON,
        )
        .group_by(DeadlineNotice.case_id, DeadlineNotice.code)
        .subquery()
    )
    soon_open = (
        select(Case.reference, Case.title, Case.status, soon.c.code, soon.c.due_at)
        .join(soon, soon.c.case_id == Case.id)
        .where(_OPEN_CASE)
    )
    rows = session.execute(soon_open.order_by(soon.c.due_at, Case.id, soon.c.code).limit(LIST_LIMIT))
    return {
        "deadlines_soon_total": session.scalar(select(func.count()).select_from(soon_open.subquery())) or 0,
        "deadlines_soon": tuple(
            DeadlineRow(r.reference or "", r.title, r.status, r.code, deadline_label(r.code), r.due_at) for r in rows
        ),
    }


def _expert_loads(session: Session, now: datetime) -> tuple[ExpertLoad, ...]:
    """A few hundred rows; the load counter is the one routing keeps (``cases.transition``)."""
    today = now.astimezone(zone()).date()
    experts = []
    for r in session.execute(
        select(
            User.id,
            User.name,
            ExpertProfile.active_cases,
            ExpertProfile.capacity,
            ExpertProfile.available,
            ExpertProfile.on_leave_until,
            ExpertProfile.is_trainee,
        )
        .join(ExpertProfile, ExpertProfile.user_id == User.id)
        .where(User.role == "expert", User.is_active.is_(True))
    ):
        on_leave = r.on_leave_until is not None and r.on_leave_until >= today
        experts.append(
            ExpertLoad(
                user_id=r.id,
                name=r.name,
                active_cases=r.active_cases,
                capacity=r.capacity,
                trainee=r.is_trainee,
                available=r.available,
                on_leave=on_leave,
                overloaded=r.active_cases >= r.capacity,
                idle=r.active_cases == 0 and r.available and not on_leave,
                width=load_width(r.active_cases, r.capacity),
            )
        )
    experts.sort(key=lambda e: (-_load(e), -e.active_cases, e.name, e.user_id))
    return tuple(experts)


def _ratings(session: Session, period: Period) -> dict[str, Any]:
    """Ratings received in the period: counts per score, the average, the lowest first."""
    in_period = _in(period, Rating.created_at)
    counts = dict(
        session.execute(select(Rating.score, func.count()).where(in_period).group_by(Rating.score)).tuples().all()
    )
    average = session.scalar(select(func.avg(Rating.score)).where(in_period))
    scores = [str(s) for s in range(1, 6)]
    widths = bar_widths([counts.get(int(s), 0) for s in scores])
    rows = session.execute(
        select(Case.reference, Case.title, Rating.score, Rating.comment, Rating.created_at)
        .join(Case, Case.id == Rating.case_id)
        .where(in_period)
        .order_by(Rating.score, Rating.created_at, Rating.case_id)
        .limit(LIST_LIMIT)
    )
    return {
        "ratings_total": sum(counts.values()),
        "ratings_average": None if average is None else float(average),
        "ratings_by_score": tuple(Count(s, counts.get(int(s), 0), w) for s, w in zip(scores, widths, strict=True)),
        "ratings": tuple(RatingRow(r.reference or "", r.title, r.score, r.comment or "", r.created_at) for r in rows),
    }


def _load(expert: ExpertLoad) -> float:
    if expert.capacity <= 0:
        return float("inf") if expert.active_cases else 0.0
    return expert.active_cases / expert.capacity


def digest_references(digest: Digest) -> set[str]:
    """The references of every case the digest lists (with its title): what a reader is shown."""
    return {
        row.reference
        for value in vars(digest).values()
        if isinstance(value, tuple)
        for row in value
        if getattr(row, "reference", "")
    }
