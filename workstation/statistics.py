"""The coordinators' statistics report for a period: plain facts about cases in, a ``Report`` out. Pure.

``services.statistics`` reads the facts (a few aggregated queries, one row per case); this module
counts and measures them, so every figure is tested here without a database.

**Which cases.** The breakdowns (by right type, service, status now, technical field, jurisdiction,
enterprise), the service-level deadlines and the experts' load are about the cases *submitted in the
period*. The times to assignment, to opinion and to close are about the cases that *reached that
step in the period*, whenever submitted (a month's report tells how long the month's opinions took).
Ratings are those *given in the period*; legal deadlines those whose last day *falls in the period*.

**Times are in working days** on China's official calendar (the SLAs' clock, ``deadlines``): every
second of a working day counts, a weekend or statutory holiday does not, and neither does time the
case spent waiting for the applicant (the SLA clock stops then too). A working day is 24 hours of
such time, so 1.5 is a working day and a half. Medians and 90th percentiles interpolate linearly
between the two nearest values (PostgreSQL's ``percentile_cont``).

**Service-level deadlines** are judged as ``deadlines.sla_deadlines`` judges them (met when the case
first enters a status of the target, stopped if it is withdrawn first, the clock starting at the
midnight after submission), counted here with prefix sums over the calendar instead of its
day-by-day walk: a year of 100,000 cases in well under a second.

**Legal deadlines** are the ones the deadline sweep recorded (``deadline_notices``: it records every
legal deadline of an open case from 30 days before it). The workstation cannot know whether the
enterprise acted in time; what it knows is whether its advice came first: *in time* when the opinion
was issued before the deadline passed, *passed* when it passed with no opinion yet, *ahead* when it
has not passed yet, *stopped* when the case was withdrawn first.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from workstation.deadlines import DEFAULT_SLA_WORKING_DAYS, OFFICIAL_CALENDAR, SLA_TARGETS, WorkCalendar, zone
from workstation.i18n import N_, Message, in_language, label, translations
from workstation.lifecycle import ACTIVE_FOR_EXPERT, CLOSED, STATUSES
from workstation.vocabulary import RIGHT_TYPES, SERVICES, TECHNICAL_FIELDS

DAY = 86400.0
#: The steps whose times are measured, in order: (code, the ``CaseFacts`` field that holds when).
MILESTONES = (("assignment", "assigned_at"), ("opinion", "opinion_at"), ("close", "closed_at"))
SLA_CODES = tuple(DEFAULT_SLA_WORKING_DAYS)
LEGAL_OUTCOMES = ("in_time", "passed", "ahead", "stopped")
SLA_OUTCOMES = ("in_time", "late", "overdue", "running", "stopped")
SCORES = (1, 2, 3, 4, 5)
#: Enterprises a page or a PDF lists (the largest; the CSV and XLSX have them all).
TOP_ENTERPRISES = 20


# --- the period ---------------------------------------------------------------------------------


class PeriodError(ValueError):
    """A period that cannot be read; ``message`` is a ``Message`` a page shows in its language;
    ``between_fields``: each field is well formed, together they are not (the API answers 422)."""

    def __init__(self, message: Message, between_fields: bool = False) -> None:
        super().__init__(str(message))
        self.message, self.between_fields = message, between_fields


@dataclass(frozen=True)
class Period:
    """Local days ``first`` to ``last``, both included, in the centre's timezone."""

    first: date
    last: date
    #: "2026-11", "2026-Q4", "2026" or "2026-01-05..2026-02-01"
    key: str
    timezone: str = "Asia/Shanghai"

    @functools.cached_property  # (asked once a case: worked out once)
    def start(self) -> datetime:
        """The first moment (UTC), included."""
        return datetime.combine(self.first, time(0), tzinfo=zone(self.timezone)).astimezone(UTC)

    @functools.cached_property
    def end(self) -> datetime:
        """The moment after the last day (UTC), excluded."""
        return datetime.combine(self.last + timedelta(days=1), time(0), tzinfo=zone(self.timezone)).astimezone(UTC)

    @functools.cached_property
    def bounds(self) -> tuple[float, float]:
        """``start`` and ``end`` in POSIX seconds, as ``CaseFacts`` holds times."""
        return self.start.timestamp(), self.end.timestamp()

    def holds(self, moment: float | None) -> bool:
        """Whether ``moment`` (POSIX seconds) lies in the period."""
        start, end = self.bounds
        return moment is not None and start <= moment < end


#: A month, a quarter or a year (as the API's document states it: ``PERIOD_PATTERN``)
#: (the years of ``YEARS`` spelt out, so that the API's document states them too)
_YEAR = r"(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
PERIOD_PATTERN = rf"^{_YEAR}(-(0[1-9]|1[0-2])|-Q[1-4])?$"
DAY_PATTERN = rf"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}$"
PERIOD = re.compile(r"(?P<year>\d{4})(-(?P<month>0[1-9]|1[0-2])|-Q(?P<quarter>[1-4]))?")
#: The longest period a report covers (from/to): ten years of days.
MAX_DAYS = 3660


#: Years a period may reach: the database's times and the calendar arithmetic hold them.
YEARS = (1970, 9998)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date(text: str, name: str) -> date:
    """A date written YYYY-MM-DD exactly (``date.fromisoformat`` would also take 20261124)."""
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise PeriodError(Message("%(name)s is not a date (YYYY-MM-DD).", name=name)) from None
    return _year(day.year) and day


def _year(year: int) -> int:
    """``year`` if a period may reach it (``YEARS``); PeriodError otherwise."""
    if not YEARS[0] <= year <= YEARS[1]:
        raise PeriodError(Message("A period lies between the years %(first)d and %(last)d.", first=YEARS[0],
                                  last=YEARS[1]))  # fmt: skip
    return year


def parse_period(period: str | None = None, start: str | None = None, end: str | None = None,
                 today: date | None = None) -> Period:  # fmt: skip
    """A period from ``period`` ("2026-11" a month, "2026-Q4" a quarter, "2026" a year) or from the
    dates ``start`` and ``end`` (YYYY-MM-DD, both included; one alone is that day to ``today`` or
    the first of its month to it); with neither, the month of ``today``. ``PeriodError`` otherwise."""
    today = today or datetime.now(UTC).astimezone(zone()).date()
    period, start, end = period or "", start or "", end or ""
    if start or end:
        first = _date(start, "from") if start else _date(end, "to").replace(day=1)
        last = _date(end, "to") if end else max(first, today)
        if last < first:
            raise PeriodError(Message("The period ends before it starts."), between_fields=True)
        if (last - first).days >= MAX_DAYS:
            raise PeriodError(Message("A report covers at most ten years."), between_fields=True)
        return Period(first, last, f"{first.isoformat()}..{last.isoformat()}")
    if not period:
        period = today.strftime("%Y-%m")
    try:
        if match := PERIOD.fullmatch(period):
            year, month, quarter = _year(int(match["year"])), match["month"], match["quarter"]
            if quarter:
                first, last_month = date(year, 3 * int(quarter) - 2, 1), date(year, 3 * int(quarter), 1)
            elif month:
                first = last_month = date(year, int(month), 1)
            else:
                first, last_month = date(year, 1, 1), date(year, 12, 1)
            return Period(first, _month_end(last_month), period)
    except ValueError:
        pass
    raise PeriodError(Message("Not a period: use a month (2026-11), a quarter (2026-Q4) or a year (2026)."))


def _month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


# --- working time -------------------------------------------------------------------------------


class WorkingClock:
    """Working seconds between two moments on a calendar, in O(log days) a question: the seconds of
    every working day from ``first`` up to each day are summed once (a prefix sum)."""

    def __init__(self, first: date, last: date, calendar: WorkCalendar | None = None, tz: tzinfo | None = None):
        self.calendar = calendar or OFFICIAL_CALENDAR
        self.tz = tz or zone()
        self.first = first
        days = (last - first).days + 2
        self.working = [self.calendar.is_working_day(first + timedelta(days=n)) for n in range(days)]
        self.midnights = [_midnight(first + timedelta(days=n), self.tz).timestamp() for n in range(days + 1)]
        self.before = [0.0]  # working seconds from ``first``'s midnight to each later midnight
        for n, working in enumerate(self.working):
            self.before.append(self.before[-1] + (self.midnights[n + 1] - self.midnights[n] if working else 0.0))

    def elapsed(self, stamp: float) -> float:
        """Working seconds from the first day's midnight to ``stamp`` (POSIX seconds; clamped to the
        clock's days)."""
        n = bisect.bisect_right(self.midnights, stamp) - 1
        if n < 0:
            return 0.0
        if n >= len(self.working):
            return self.before[-1]
        return self.before[n] + (stamp - self.midnights[n] if self.working[n] else 0.0)

    def elapsed_at_next_midnight(self, stamp: float) -> float:
        """``elapsed`` at the midnight after ``stamp``'s day (where an SLA's clock starts)."""
        n = bisect.bisect_right(self.midnights, stamp)
        return self.before[min(max(n, 0), len(self.before) - 1)]

    def between(self, earlier: float, later: float) -> float:
        return max(0.0, self.elapsed(later) - self.elapsed(earlier))

    def next_midnight(self, stamp: float) -> float:
        """The midnight (local) after ``stamp``'s day: where an SLA's clock starts."""
        n = bisect.bisect_right(self.midnights, stamp)
        return self.midnights[min(n, len(self.midnights) - 1)]


def _midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


#: (from, to or None while it lasts), in POSIX seconds
Pause = tuple[float, float | None]


def stamp(moment: datetime | float | None) -> float | None:
    """A moment in POSIX seconds, how the report's hot loops hold times (100,000 cases' worth of
    ``datetime`` arithmetic is most of its time otherwise)."""
    return moment.timestamp() if isinstance(moment, datetime) else moment


def pauses_from_transitions(transitions: Iterable[tuple[str, datetime | float]], paused: str) -> tuple[Pause, ...]:
    """The spans a case spent in the ``paused`` status, from its (status entered, at) pairs in any
    order; the last one open (None) if it is still there."""
    ordered = sorted(((status, stamp(at)) for status, at in transitions), key=lambda t: t[1])
    return tuple(
        (at, ordered[i + 1][1] if i + 1 < len(ordered) else None)
        for i, (status, at) in enumerate(ordered)
        if status == paused
    )


def running_time(clock: WorkingClock, start: float, end: float, pauses: Sequence[Pause]) -> float:
    """Working seconds from ``start`` to ``end`` outside ``pauses``: how far the SLA clock ran."""
    if end <= start:
        return 0.0
    total = clock.between(start, end)
    if not pauses:
        return total
    for lo, hi in _merged(pauses, end):
        lo, hi = max(lo, start), min(hi, end)
        if lo < hi:
            total -= clock.between(lo, hi)
    return max(0.0, total)


def _merged(pauses: Sequence[Pause], end: float) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for lo, hi in sorted((lo, end if hi is None else hi) for lo, hi in pauses):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


# --- the facts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFacts:
    """One case, as the report needs it. Times are POSIX seconds (``stamp``; aware datetimes given
    are turned into them); each step's is the first time it happened."""

    case_id: int
    right_type: str
    service: str
    status: str
    technical_field: str
    jurisdiction: str
    enterprise_id: int
    expert_id: int | None
    submitted_at: float
    assigned_at: float | None = None
    opinion_at: float | None = None
    closed_at: float | None = None
    withdrawn_at: float | None = None
    #: when each SLA (``deadlines.SLA_TARGETS``) was met: the case first entered one of its statuses
    sla_met: Mapping[str, float | None] = field(default_factory=dict)
    #: spans waiting for the applicant (the SLA clock stops)
    pauses: tuple[Pause, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.submitted_at, datetime):  # (given as datetimes: by hand, in tests)
            for name in ("submitted_at", "assigned_at", "opinion_at", "closed_at", "withdrawn_at"):
                object.__setattr__(self, name, stamp(getattr(self, name)))
            object.__setattr__(self, "sla_met", {k: stamp(v) for k, v in self.sla_met.items()})
            object.__setattr__(self, "pauses", tuple((stamp(lo), stamp(hi)) for lo, hi in self.pauses))


@dataclass(frozen=True)
class LegalDeadlineFacts:
    """A legal deadline the sweep recorded for a case, and when the case's opinion came (if it did)."""

    case_id: int
    code: str
    due_at: datetime
    opinion_at: datetime | None
    withdrawn_at: datetime | None


@dataclass(frozen=True)
class ExpertFacts:
    expert_id: int
    name: str
    #: the cases in an active status assigned to them now (all cases, the counter routing keeps)
    active_now: int
    capacity: int


# --- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """A count of one value (a code, or an enterprise's name) and its share of the whole, in percent."""

    code: str
    count: int
    share: float


@dataclass(frozen=True)
class Duration:
    milestone: str
    count: int
    median_days: float | None
    p90_days: float | None


@dataclass(frozen=True)
class SlaTally:
    code: str
    in_time: int  # met before it was due
    late: int  # met, after it was due
    overdue: int  # not met, and past due now
    running: int  # not met, not due yet
    stopped: int  # the case was withdrawn first

    @property
    def decided(self) -> int:
        return self.in_time + self.late + self.overdue

    @property
    def met_share(self) -> float | None:
        """Percent met in time of those met or overdue (the running and stopped are not judged yet)."""
        return round(100 * self.in_time / self.decided, 1) if self.decided else None


@dataclass(frozen=True)
class Ratings:
    count: int
    mean: float | None
    distribution: tuple[int, ...]  # how many of each score, 1 to 5


@dataclass(frozen=True)
class ExpertLoad:
    expert_id: int
    name: str
    assigned: int  # cases of the period assigned to them
    active: int  # of which still active
    closed: int  # of which closed
    active_now: int
    capacity: int


@dataclass(frozen=True)
class Report:
    period: Period
    generated_at: datetime
    total: int  # cases submitted in the period
    by_right_type: tuple[Tally, ...]
    by_service: tuple[Tally, ...]
    by_status: tuple[Tally, ...]
    by_technical_field: tuple[Tally, ...]
    by_jurisdiction: tuple[Tally, ...]
    by_enterprise: tuple[Tally, ...]  # every enterprise, most cases first; code is its name
    durations: tuple[Duration, ...]
    sla: tuple[SlaTally, ...]
    legal: dict[str, int]  # LEGAL_OUTCOMES -> count
    ratings: Ratings
    experts: tuple[ExpertLoad, ...]  # most assigned first

    @property
    def top_enterprises(self) -> tuple[Tally, ...]:
        return self.by_enterprise[:TOP_ENTERPRISES]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0-1) of ``values`` with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    lo = math.floor(position)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (position - lo)


def tallies(counts: Mapping[str, int], order: Sequence[str] = ()) -> tuple[Tally, ...]:
    """Most first; ties in ``order`` (values it does not hold after, by name)."""
    total = sum(counts.values())
    rank = {code: i for i, code in enumerate(order)}
    codes = sorted((c for c, n in counts.items() if n), key=lambda c: (-counts[c], rank.get(c, len(order)), c))
    return tuple(Tally(c, counts[c], round(100 * counts[c] / total, 1)) for c in codes)


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / DAY, 2)


def sla_outcome(clock: WorkingClock, case: CaseFacts, code: str, days: int, now: float) -> str:
    """One of ``SLA_OUTCOMES`` for one SLA of one case, as ``deadlines.sla_deadlines`` would judge it."""
    met_at = case.sla_met.get(code)
    if met_at is not None and case.withdrawn_at is not None and case.withdrawn_at < met_at:
        met_at = None
    stopped = case.withdrawn_at if met_at is None else None
    clock_end = met_at or stopped or now
    if case.pauses:
        ran = running_time(clock, clock.next_midnight(case.submitted_at), clock_end, case.pauses)
    else:  # (most cases: no pause to take out, two look-ups)
        ran = clock.elapsed(clock_end) - clock.elapsed_at_next_midnight(case.submitted_at)
    breached = ran >= days * DAY
    if met_at is not None:
        return "late" if breached else "in_time"
    if stopped is not None:
        return "stopped"
    return "overdue" if breached else "running"


def legal_outcome(deadline: LegalDeadlineFacts, now: datetime) -> str:
    if deadline.opinion_at is not None and deadline.opinion_at < deadline.due_at:
        return "in_time"
    if deadline.withdrawn_at is not None and deadline.withdrawn_at < deadline.due_at:
        return "stopped"
    return "passed" if deadline.due_at <= now else "ahead"


def clock_for(cases: Sequence[CaseFacts], period: Period, now: datetime) -> WorkingClock:
    """A clock over every day the cases' times touch (and ``now``)."""
    tz = zone(period.timezone)
    # Only the days the cases' times lie on: a period far off (a year ahead) costs no calendar.
    earliest = min([c.submitted_at for c in cases] + [now.timestamp()])
    latest = max([now.timestamp(), *(getattr(c, f) or 0 for c in cases for _, f in MILESTONES)])
    return WorkingClock(datetime.fromtimestamp(earliest, tz).date() - timedelta(days=1),
                        datetime.fromtimestamp(latest, tz).date() + timedelta(days=1), tz=tz)  # fmt: skip


def build_report(
    period: Period,
    cases: Sequence[CaseFacts],
    *,
    now: datetime,
    legal: Iterable[LegalDeadlineFacts] = (),
    scores: Iterable[int] = (),
    enterprises: Mapping[int, str] | None = None,
    experts: Iterable[ExpertFacts] = (),
    sla_days: Mapping[str, int] | None = None,
    clock: WorkingClock | None = None,
) -> Report:
    """The report of ``period``: ``cases`` are every case submitted in it or that reached a step in
    it (``MILESTONES``); ``legal`` the recorded legal deadlines due in it; ``scores`` the ratings
    given in it; ``enterprises`` names by id; ``experts`` the pool."""
    sla_days = DEFAULT_SLA_WORKING_DAYS if sla_days is None else sla_days
    clock = clock or clock_for(cases, period, now)
    submitted = [c for c in cases if period.holds(c.submitted_at)]
    names = enterprises or {}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for case in submitted:
        counts["right_type"][case.right_type] += 1
        counts["service"][case.service] += 1
        counts["status"][case.status] += 1
        counts["technical_field"][case.technical_field] += 1
        counts["jurisdiction"][case.jurisdiction] += 1
        counts["enterprise"][names.get(case.enterprise_id) or f"#{case.enterprise_id}"] += 1
    sla = []
    for code, days in sla_days.items():
        outcomes = Counter(sla_outcome(clock, case, code, days, now.timestamp()) for case in submitted)
        sla.append(SlaTally(code, *(outcomes[o] for o in SLA_OUTCOMES)))
    score_counts = Counter(s for s in scores if s in SCORES)
    rated = sum(score_counts.values())
    return Report(
        period=period,
        generated_at=now,
        total=len(submitted),
        by_right_type=tallies(counts["right_type"], RIGHT_TYPES),
        by_service=tallies(counts["service"], SERVICES),
        by_status=tallies(counts["status"], STATUSES),
        by_technical_field=tallies(counts["technical_field"], TECHNICAL_FIELDS),
        by_jurisdiction=tallies(counts["jurisdiction"], ("CN",)),
        by_enterprise=tallies(counts["enterprise"]),
        durations=_durations(clock, period, cases),
        sla=tuple(sla),
        legal=_legal_counts(legal, now),
        ratings=Ratings(
            rated,
            round(sum(s * n for s, n in score_counts.items()) / rated, 2) if rated else None,
            tuple(score_counts[s] for s in SCORES),
        ),  # fmt: skip
        experts=_expert_loads(submitted, experts),
    )


def _legal_counts(legal: Iterable[LegalDeadlineFacts], now: datetime) -> dict[str, int]:
    outcomes = Counter(legal_outcome(d, now) for d in legal)
    return {o: outcomes[o] for o in LEGAL_OUTCOMES}


def _durations(clock: WorkingClock, period: Period, cases: Sequence[CaseFacts]) -> tuple[Duration, ...]:
    """Working time from submission to each step, of the cases that reached it in the period."""
    out = []
    for milestone, attribute in MILESTONES:
        values = [
            running_time(clock, case.submitted_at, reached, case.pauses)
            for case in cases
            if period.holds(reached := getattr(case, attribute))
        ]
        out.append(Duration(milestone, len(values), _days(percentile(values, 0.5)), _days(percentile(values, 0.9))))
    return tuple(out)


def _expert_loads(submitted: Sequence[CaseFacts], experts: Iterable[ExpertFacts]) -> tuple[ExpertLoad, ...]:
    """Every expert given a case of the period, and every expert with active cases now."""
    assigned: Counter[int] = Counter()
    active: Counter[int] = Counter()
    closed: Counter[int] = Counter()
    for case in submitted:
        if case.expert_id is None:
            continue
        assigned[case.expert_id] += 1
        active[case.expert_id] += case.status in ACTIVE_FOR_EXPERT
        closed[case.expert_id] += case.status == CLOSED
    rows = [
        ExpertLoad(e.expert_id, e.name, assigned[e.expert_id], active[e.expert_id], closed[e.expert_id],
                   e.active_now, e.capacity)
        for e in experts
        if assigned[e.expert_id] or e.active_now
    ]  # fmt: skip
    return tuple(sorted(rows, key=lambda r: (-r.assigned, -r.active_now, r.name, r.expert_id)))


#: The report's sections, for the page, the files and the PDF: (code, title).
SECTION_TITLES = {
    "right_type": N_("Cases by right type"),
    "service": N_("Cases by service"),
    "status": N_("Cases by status now"),
    "technical_field": N_("Cases by technical field"),
    "jurisdiction": N_("Cases by jurisdiction"),
    "enterprise": N_("Cases by enterprise"),
    "durations": N_("Times, in working days"),
    "sla": N_("Service-level deadlines"),
    "legal": N_("Legal deadlines"),
    "ratings": N_("Ratings given in the period"),
    "experts": N_("Experts' load"),
}

MILESTONE_LABELS = {"assignment": N_("Submission to assignment"), "opinion": N_("Submission to opinion"),
                    "close": N_("Submission to close")}  # fmt: skip
LEGAL_LABELS = {
    "in_time": N_("Opinion issued before the deadline"),
    "passed": N_("Passed with no opinion yet"),
    "ahead": N_("Not passed yet"),
    "stopped": N_("Case withdrawn first"),
}
SLA_OUTCOME_LABELS = {"in_time": N_("Met in time"), "late": N_("Met late"), "overdue": N_("Overdue, not met"),
                      "running": N_("Running"), "stopped": N_("Stopped (withdrawn)")}  # fmt: skip


@dataclass(frozen=True)
class Table:
    """One table of the report as text and numbers: what the CSV, the XLSX and the PDF hold."""

    code: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str | int | float | None, ...], ...]


def sla_label(code: str, language: str) -> str:
    return in_language(SLA_TARGETS[code].label, language)


def report_tables(report: Report, language: str) -> list[Table]:
    """The report's tables, headed and labelled in ``language`` (every enterprise, not only the top)."""
    gettext = translations(language).gettext

    def t(text: str) -> str:
        return in_language(text, language)

    def coded(values: tuple[Tally, ...], translate_codes: bool = True) -> tuple[tuple, ...]:
        return tuple((label(v.code, gettext) if translate_codes else v.code, v.count, v.share) for v in values)

    period = report.period
    share = (t(N_("Cases")), t(N_("Share (%)")))
    tables = [
        Table("summary", t(N_("Statistics report")), (t(N_("Item")), t(N_("Value"))), (
            (t(N_("Period")), f"{period.first.isoformat()} – {period.last.isoformat()}"),
            (t(N_("Cases submitted in the period")), report.total),
            (t(N_("Generated at")), report.generated_at.astimezone(zone()).strftime("%Y-%m-%d %H:%M")),
        )),
        Table("right_type", t(SECTION_TITLES["right_type"]), (t(N_("Right type")), *share),
              coded(report.by_right_type)),
        Table("service", t(SECTION_TITLES["service"]), (t(N_("Service")), *share), coded(report.by_service)),
        Table("status", t(SECTION_TITLES["status"]), (t(N_("Status")), *share), coded(report.by_status)),
        Table("technical_field", t(SECTION_TITLES["technical_field"]), (t(N_("Technical field")), *share),
              coded(report.by_technical_field)),
        Table("jurisdiction", t(SECTION_TITLES["jurisdiction"]), (t(N_("Jurisdiction")), *share),
              coded(report.by_jurisdiction, False)),
        Table("enterprise", t(SECTION_TITLES["enterprise"]), (t(N_("Enterprise")), *share),
              coded(report.by_enterprise, False)),
        Table("durations", t(SECTION_TITLES["durations"]),
              (t(N_("Step")), t(N_("Cases")), t(N_("Median")), t(N_("90th percentile"))),
              tuple((t(MILESTONE_LABELS[d.milestone]), d.count, d.median_days, d.p90_days) for d in report.durations)),
        Table("sla", t(SECTION_TITLES["sla"]),
              (t(N_("Deadline")), *(t(SLA_OUTCOME_LABELS[o]) for o in SLA_OUTCOMES), t(N_("Met in time (%)"))),
              tuple((sla_label(s.code, language), s.in_time, s.late, s.overdue, s.running, s.stopped, s.met_share)
                    for s in report.sla)),
        Table("legal", t(SECTION_TITLES["legal"]), (t(N_("Outcome")), t(N_("Deadlines"))),
              tuple((t(LEGAL_LABELS[o]), report.legal.get(o, 0)) for o in LEGAL_OUTCOMES)),
        Table("ratings", t(SECTION_TITLES["ratings"]), (t(N_("Score")), t(N_("Ratings"))),
              (*((str(s), n) for s, n in zip(SCORES, report.ratings.distribution, strict=True)),
               (t(N_("Total")), report.ratings.count), (t(N_("Mean")), report.ratings.mean))),
        Table("experts", t(SECTION_TITLES["experts"]),
              (t(N_("Expert")), t(N_("Cases assigned")), t(N_("Still active")), t(N_("Closed")),
               t(N_("Active now (all cases)")), t(N_("Capacity"))),
              tuple((e.name, e.assigned, e.active, e.closed, e.active_now, e.capacity) for e in report.experts)),
    ]  # fmt: skip
    return tables


# --- charts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar of a horizontal bar chart drawn as SVG: its label, value and geometry (in px)."""

    label: str
    value: float
    text: str  # the value as written next to the bar
    y: float
    length: float


@dataclass(frozen=True)
class BarChart:
    bars: tuple[Bar, ...]
    width: float
    height: float
    label_width: float
    row: float


def bar_chart(pairs: Sequence[tuple[str, float | None]], *, label_width: float = 200, length: float = 320,
              row: float = 22, suffix: str = "") -> BarChart:  # fmt: skip
    """(label, value) pairs as the bars of an SVG chart, the longest ``length`` px; a value of None
    (nothing to measure) is drawn as no bar and written "–". Labels longer than fit are cut."""
    top = max((v for _, v in pairs if v), default=0) or 1
    bars = tuple(
        Bar(_fit(name, label_width), value or 0, "–" if value is None else f"{value:g}{suffix}", n * row,
            round(length * max(value or 0, 0) / top, 1))
        for n, (name, value) in enumerate(pairs)
    )  # fmt: skip
    return BarChart(bars, label_width + length + 70, max(len(bars), 1) * row + 4, label_width, row)


def _fit(text: str, width: float) -> str:
    """``text`` cut to what ``width`` px holds at 12 px a character (a CJK character is about that
    wide; a Latin one half), with an ellipsis when cut."""
    budget, used = width - 12, 0.0
    for n, char in enumerate(text):
        used += 12 if ord(char) > 0x2E80 else 7
        if used > budget:
            return text[:n] + "…"
    return text


def table_chart(table: Table, limit: int = TOP_ENTERPRISES) -> BarChart | None:
    """The chart drawn above a table of ``report_tables``: its first number column by its first
    (the share met in time for the SLAs, the median and 90th percentile for the times); None for
    the summary. At most ``limit`` bars (the largest: tables come most first)."""
    rows = table.rows[:limit]
    if table.code == "summary" or not rows:
        return None
    if table.code == "durations":
        pairs = [(f"{r[0]} · {h}", r[i]) for r in rows for i, h in ((2, table.headers[2]), (3, table.headers[3]))]
        return bar_chart(pairs, label_width=260)
    if table.code == "sla":
        return bar_chart([(r[0], r[-1]) for r in rows], suffix="%")
    if table.code == "ratings":
        rows = rows[: len(SCORES)]
    return bar_chart([(str(r[0]), r[1]) for r in rows])
