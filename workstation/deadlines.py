"""The deadlines that matter for a case: legal periods and the workstation's own SLAs. Pure.

Plain data in (the case's right type, its key dates, its submission time and status history), plain
``Deadline`` records out, each with its legal basis in Chinese and English, since notices go out in both.
No database, no Flask: the scheduler's sweep and the API call these functions and store or show the result.

**Legal periods run from the event that starts them**, never from the case's filing on this workstation:
the preliminary-approval publication starts the opposition window, registration starts the 5 years for
an invalidation on relative grounds, the day the right holder learned of the infringement starts the
limitation period. So each is a separate key date (``KEY_DATES``; the names are the intake schema's).

**How a period is counted** (Civil Code arts. 201-203; for trademark periods also Trademark Law
Implementing Regulations art. 12, which says the same):

- the day of the event is not counted: the period starts the next day;
- a period in months or years ends on the corresponding day of the last month; if that month has no
  such day, on its last day (3 months from 30 November end on 28/29 February);
- a period in days ends on the Nth day after the event;
- a last day that is not a working day (a weekend or a statutory holiday) moves to the first working
  day after it. "Working day" is the official calendar's: a weekend day that the State Council turned
  into a working day (调休) is one, so a period ending on it is not extended;
- the last day ends at 24:00 in the enterprise's timezone (Civil Code art. 203(2)); ``Deadline.due_at``
  is that instant.

**Rules are versioned by effective date.** The limitation period was 2 years under the General
Principles of the Civil Law (art. 135) and is 3 years since the General Provisions of the Civil Law
took effect on 2017-10-01 (art. 188, now Civil Code art. 188). The rule in force when the period
starts applies, except that a 2-year period still running on 2017-10-01 became 3 years (Supreme
People's Court interpretation Fa Shi [2018] No. 12, arts. 1-3). Statutory damages ceilings are
chosen the same way, by the dates of the infringing acts: ``compensation.applicable_rule``.

**SLAs count working days on China's official calendar**, in the enterprise's timezone (default
Asia/Shanghai). "Within N working days" means: by the end (24:00) of the Nth working day after the
day of submission. The day of submission never counts, whatever the hour (as for legal periods), and
a case submitted on a holiday has the same deadline as one submitted on the last day before it. The
clock is a stopwatch that runs through the whole of each working day and stops while the case is in a
paused status (``awaiting_applicant``): time paused is added back, to the second, so a due moment can
fall within a day. Every SLA is counted from submission (1, 2 and 15 working days by default).

**The official calendar** comes from the ``holidays`` package (python-holidays, ``holidays.China``).
It encodes each year's State Council notice on holiday arrangements, including the adjusted working
weekends (its ``weekend_workdays``, used by ``is_working_day``); 2025 and 2026 agree day by day with
``chinese-calendar`` and with the notice for 2026. It was chosen over ``chinese-calendar`` because it
is the more actively maintained (monthly releases, a team of maintainers) and because a year whose
notice is not published yet does not raise: ``chinese-calendar`` raises for such a year, which would
stop a sweep as soon as an SLA or a period reaches into the next year. For such a year ``holidays``
knows the statutory holidays but not the swaps, so every deadline computed with that year's calendar
is marked ``provisional``. When the notice is out and the package has not caught up, pass its days to
``ChinaCalendar(extra_days_off=..., extra_workdays=..., official_through=YEAR)``. Upgrade the pin
each November, when the next year's notice is published.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from types import MappingProxyType
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from workstation.i18n import N_, Localized, in_every_language
from workstation.lifecycle import (
    ACCEPTED,
    ASSIGNED,
    AWAITING_APPLICANT,
    CLOSED,
    IN_PROGRESS,
    OPINION_ISSUED,
    WITHDRAWN,
)
from workstation.vocabulary import KEY_DATES, gi_protected_as_product

DEFAULT_TIMEZONE = "Asia/Shanghai"

LEGAL = "legal"
SLA = "sla"

# --- key dates -------------------------------------------------------------------------------

#: The right holder knew, or should have known, of the infringement and the infringer: starts the
#: limitation period (Civil Code art. 188).
KNOWN_ON = "known_on"
#: The trademark's preliminary-approval publication in the Trademark Gazette: starts the opposition window.
PUBLISHED_ON = "published_on"
#: The contested trademark's registration (核准注册) date: starts the 5 years for invalidation on
#: relative grounds. A right's own ``registered_on`` (``rights[]``) starts its renewal term instead:
#: the case-level date is the other party's mark, the right's is the enterprise's.
REGISTERED_ON = "registered_on"
#: An office notice was received (or is deemed received under the service rules). Which period it starts
#: depends on the kind of notice (``NOTICE_RULES``), so it yields a deadline only when the kind is given.
NOTICE_RECEIVED_ON = "notice_received_on"
#: The infringement began. Starts no period here (the limitation period runs from knowledge, not from the
#: act); the compensation calculator uses it to choose the damages provision in force.
INFRINGEMENT_STARTED_ON = "infringement_started_on"
#: A patent's filing (application) date: its patent years, and so its annual fees, run from it. Each
#: right carries its own (``rights[]``); the case-level date is only read for a case stored before
#: rights had dates (``_patent_annual_fee``).
FILED_ON = "filed_on"

#: Where the SLA clocks start (the ``starts_from`` of an SLA deadline).
SUBMITTED_AT = "submitted_at"
#: The code of the deadline an activity's date makes (a risk warning's or an IP analysis's).
ACTIVITY_DATE = "activity_date"
#: Litigation advice (``cases.litigation``): the dates that start its periods, as its fields are named.
DEMAND_SENT_ON = "demand_sent_on"
DEMAND_RECEIVED_ON = "demand_received_on"
SUIT_SERVED_ON = "served_on"
#: The code of the deadline that ends the rights holder's time to answer a written demand
#: (``declaration_wait``): from the next day a declaration of non-infringement may be sought.
DECLARATION_WAIT = "declaration_waiting_period"
#: The code of a malicious suit's defence period (the defence and any objection to jurisdiction).
SUIT_DEFENCE = "suit_defence"

#: Right types whose registration the Trademark Law's opposition and invalidation periods concern.
TRADEMARK_RIGHT_TYPES = frozenset({"trademark"})

Text = dict[str, str]  # {"zh": ..., "en": ...}, from the catalogs (``i18n.in_every_language``)


# --- the official calendar -------------------------------------------------------------------


class WorkCalendar(Protocol):
    """Which days are working days. ``is_official`` says whether a year's arrangement is published."""

    def is_working_day(self, day: date) -> bool: ...

    def is_official(self, year: int) -> bool: ...


@functools.lru_cache(maxsize=64)
def _china_holidays(year: int):  # -> holidays.China, imported lazily (importing it takes ~0.1 s)
    import holidays

    # The next year too: a notice can make a weekend day at the end of the year a working day.
    # expand=False: never populated on lookup, so a cached instance is only read (thread-safe).
    return holidays.China(years=(year, year + 1), expand=False)


def _package_official_through() -> int:
    """The last year whose State Council notice the installed ``holidays`` package encodes."""
    from holidays.countries.china import ChinaStaticHolidays

    years = getattr(ChinaStaticHolidays, "special_public_holidays", None)
    return max(years) if years else 9999


@dataclass(frozen=True)
class ForeignCalendar:
    """Another office's working days, for its reference dates: weekends and the country's public
    holidays (from the ``holidays`` package; weekends only where it has no such country, e.g. EU)."""

    country: str

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in _foreign_holidays(self.country, day.year)

    def is_official(self, year: int) -> bool:
        return True


@functools.lru_cache(maxsize=32)
def _foreign_holidays(country: str, year: int) -> Any:
    import holidays

    try:
        return holidays.country_holidays(country, years=year)
    except NotImplementedError:
        return frozenset()


class ChinaCalendar:
    """China's official working days: weekends and statutory holidays off, adjusted weekends (调休) on.

    ``extra_days_off`` / ``extra_workdays`` override the package, e.g. with a notice published after
    the installed release; ``official_through`` is then the last year to trust as published.
    """

    def __init__(
        self,
        *,
        extra_days_off: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        official_through: int | None = None,
    ) -> None:
        self.extra_days_off = frozenset(extra_days_off)
        self.extra_workdays = frozenset(extra_workdays)
        self._official_through = official_through

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_days_off:
            return False
        return _china_holidays(day.year).is_working_day(day)

    @property
    def official_through(self) -> int:
        """The last year whose arrangement is published (looked up on first use: importing is cheap)."""
        if self._official_through is None:
            self._official_through = _package_official_through()
        return self._official_through

    def is_official(self, year: int) -> bool:
        return year <= self.official_through


#: The calendar used when none is given.
OFFICIAL_CALENDAR: WorkCalendar = ChinaCalendar()

#: China has kept UTC+8 without daylight saving since 1991: the fallback where no tz database is installed.
_CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


def zone(name: str = DEFAULT_TIMEZONE) -> tzinfo:
    """The named timezone. Asia/Shanghai works even on an image without tz data (fixed UTC+8)."""
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        if name == DEFAULT_TIMEZONE:
            return _CHINA_STANDARD_TIME
        raise


# --- date arithmetic ---------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months; a day the target month lacks becomes its last day (Civil Code art. 202)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (next_month - timedelta(days=1)).day))


def period_last_day(start: date, *, years: int = 0, months: int = 0, days: int = 0) -> date:
    """The last day of a period that ``start`` starts, before any holiday extension (Civil Code arts. 201-202).

    The day of ``start`` is not counted, so a period of N days ends N days after it, and a period of
    months or years on the corresponding day (clamped to the month's end).
    """
    return add_months(start, years * 12 + months) + timedelta(days=days)


def first_working_day_from(day: date, calendar: WorkCalendar | None = None) -> date:
    """``day`` if it is a working day, else the first working day after it (Civil Code art. 203)."""
    calendar = OFFICIAL_CALENDAR if calendar is None else calendar
    for _ in range(60):  # the longest run of days off is well under a month
        if calendar.is_working_day(day):
            return day
        day += timedelta(days=1)
    raise ValueError(f"no working day in the 60 days from {day.isoformat()}: is the calendar right?")


def _midnight(day: date, tz: tzinfo) -> datetime:
    """The start of ``day`` in ``tz``, in UTC (arithmetic on aware datetimes is only exact in UTC)."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


# --- deadlines ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """One deadline of a case.

    ``due`` is a date for a legal period (its last day, which ends at 24:00 local time) and an aware
    datetime for an SLA (the instant the time runs out). ``due_at`` and ``last_day`` give both kinds
    the same shape: compare, sort and store ``due_at``; show ``last_day`` (or ``due`` for an SLA).
    """

    code: str
    kind: str  # LEGAL or SLA
    due: date | datetime
    label: Text
    basis: Text
    #: the key date (or SUBMITTED_AT) that starts the period, and its value
    starts_from: str
    start: date | datetime
    timezone: str = DEFAULT_TIMEZONE
    #: a caveat to show with the deadline (zh/en), e.g. an exception in the law
    note: Text | None = None
    #: legal: the last day before it was moved past days off, when it was
    extended_from: date | None = None
    #: counted on a calendar year whose holiday arrangement is not published yet: may move
    provisional: bool = False
    #: legal: when the rule applied took effect
    rule_from: date | None = None
    # SLA only: when it was met, or stopped (the case was withdrawn first); paused now; breached
    met_at: datetime | None = None
    stopped_at: datetime | None = None
    paused: bool = False
    breached: bool = False

    # Computed once (frozen, but a cached_property writes to the instance's __dict__, not through
    # __setattr__): sorting a case's deadlines and answering them asked for it again and again.
    @functools.cached_property
    def due_at(self) -> datetime:
        """The instant the deadline passes, aware, in the enterprise's timezone."""
        tz = zone(self.timezone)
        if isinstance(self.due, datetime):
            return self.due.astimezone(tz)
        return _midnight(self.due + timedelta(days=1), tz).astimezone(tz)

    @property
    def last_day(self) -> date:
        """The last local day on which the deadline can still be met."""
        if isinstance(self.due, datetime):
            return (self.due_at - timedelta(microseconds=1)).date()
        return self.due

    @property
    def running(self) -> bool:
        """Still to be met: legal deadlines always (the workstation cannot know), SLAs until met or stopped."""
        return self.met_at is None and self.stopped_at is None


def parse_key_dates(raw: Mapping[str, str | date]) -> dict[str, date]:
    """``Case.key_dates`` as dates. Raises ValueError naming the key for an unknown key or a bad date."""
    dates: dict[str, date] = {}
    for key, value in raw.items():
        if key not in KEY_DATES:
            raise ValueError(f"unknown key date {key!r}: expected one of {', '.join(KEY_DATES)}")
        if isinstance(value, datetime):
            raise ValueError(f"key date {key!r} must be a date, not a datetime")
        if isinstance(value, date):
            dates[key] = value
            continue
        try:
            dates[key] = date.fromisoformat(str(value))
        except ValueError:
            raise ValueError(f"key date {key!r} is not an ISO date (YYYY-MM-DD): {value!r}") from None
    return dates


def _legal(
    code: str,
    starts_from: str,
    start: date,
    label: str,
    basis: str,
    calendar: WorkCalendar,
    timezone_name: str,
    *,
    years: int = 0,
    months: int = 0,
    days: int = 0,
    last_day: date | None = None,
    notes: tuple[str, ...] = (),
    rule_from: date | None = None,
    which: Text | None = None,
) -> Deadline:
    """A legal deadline; ``label``, ``basis`` and ``notes`` are msgids, given in every language
    (several notes joined by a space). Its last day is the period's from ``start``, or ``last_day``
    where the rule counts otherwise (a term that counts its first day). ``which``: the right it is
    of (already in every language), noted first."""
    raw = last_day or period_last_day(start, years=years, months=months, days=days)
    last = first_working_day_from(raw, calendar)
    provisional = any(not calendar.is_official(y) for y in range(raw.year, last.year + 1))
    return Deadline(
        code=code,
        kind=LEGAL,
        due=last,
        label=in_every_language(label),
        basis=in_every_language(basis),
        starts_from=starts_from,
        start=start,
        timezone=timezone_name,
        note=_joined([*([which] if which else []), *(in_every_language(n) for n in notes)]) if notes or which else None,
        extended_from=raw if last != raw else None,
        provisional=provisional,
        rule_from=rule_from,
    )


def _joined(texts: list[Text]) -> Text:
    return {language: " ".join(text[language] for text in texts) for language in texts[0]}


# Trademark Law (2019) art. 33 and art. 45(1).
_OPPOSITION_LABEL = N_("Trademark opposition period ends")
_OPPOSITION_BASIS = N_(
    "Trademark Law art. 33: an opposition may be filed within 3 months from the preliminary-approval publication."
)
_INVALIDATION_LABEL = N_("Deadline to request invalidation of the registered mark on relative grounds")
_INVALIDATION_BASIS = N_(
    "Trademark Law art. 45(1): a prior right holder or interested party may request invalidation within 5 years from "
    "the registration date."
)
_INVALIDATION_NOTE = N_("Against a bad-faith registration, the owner of a well-known mark is not bound by the 5 years.")

# Trademark Law (2019) arts. 39-40: a registration lasts 10 years from its approval; renewal may be
# applied for in the 12 months before it ends, and within a grace period of 6 months after.
_RENEWAL_LABEL = N_("Trademark registration ends: apply for renewal")
_RENEWAL_GRACE_LABEL = N_("Grace period for renewing the trademark registration ends")
_RENEWAL_BASIS = N_(
    "Trademark Law arts. 39-40: a registration is valid for 10 years; renewal may be applied for within 12 months "
    "before it ends, or within a grace period of 6 months after; otherwise the registration is cancelled."
)
_RENEWAL_NOTE = N_("The current term, counted from the registration date; a renewed registration runs 10 more years.")

# Patent Law Implementing Regulations art. 98 (2010 text; the 2023 revision keeps the rule): annual
# fees are paid before each patent year (counted from the filing date) begins, the last day being the
# filing date's anniversary; a fee paid within 6 months after bears a surcharge (5 % a month).
_ANNUAL_FEE_LABEL = N_("Patent annual fee due")
_ANNUAL_FEE_LATE_LABEL = N_("Late-payment period for the patent annual fee ends")
_ANNUAL_FEE_BASIS = N_(
    "Patent Law Implementing Regulations art. 98: the annual fee for each patent year, counted from the filing "
    "date, is due by the filing date's anniversary; it may be paid within 6 months after with a surcharge, after "
    "which the patent lapses."
)
_ANNUAL_FEE_NOTE = N_("Annual fees are due from the year the patent is granted.")

# CNIPA, Measures for the Protection of Geographical Indication Products (in force 2024-02-01), as
# the 2005 Provisions art. 14 before them: objections within 2 months of the announcement (e.g.
# Announcement No. 577 of 2024-04-19, products protected from 2024-06-20).
_GI_OBJECTION_LABEL = N_("Objection period against the geographical indication product ends")
_GI_OBJECTION_BASIS = N_(
    "Measures for the Protection of Geographical Indication Products (CNIPA, 2024): an objection may be filed "
    "within 2 months from the announcement of the application's preliminary recognition."
)

# A risk warning's or an IP analysis's activity: its own date, not a legal period.
_ACTIVITY_LABEL = N_("Date of the activity: have the warning's measures in place before it")
_ACTIVITY_BASIS = N_(
    "The date the enterprise gave for its activity (the signing, the launch, the first shipment...): not a legal "
    "period, but the day after which the risks found can no longer be avoided at little cost."
)

# Litigation advice against a warning letter: the declaration of non-infringement. SPC
# Interpretation on patent infringement disputes, Fa Shi [2009] No. 21 (法释〔2009〕21号), art. 18 (in
# force 2010-01-01; the SPC's 2020 revision of its IP interpretations, Fa Shi [2020] No. 19, is the
# text the brief names as current, and commentary of 2021-2025 quotes art. 18 unchanged): "权利人向
# 他人发出侵犯专利权的警告，被警告人或者利害关系人经书面催告权利人行使诉权，自权利人收到该书面催告
# 之日起一个月内或者自书面催告发出之日起二个月内，权利人不撤回警告也不提起诉讼，被警告人或者利害关系
# 人向人民法院提起请求确认其行为不侵犯专利权的诉讼的，人民法院应当受理。" For trademarks and
# copyright no interpretation says it: courts follow the same steps by analogy (reference only).
_DECLARATION_LABEL = N_(
    "The rights holder's time to answer the written demand ends: a declaration of non-infringement may be sought "
    "the next day"
)
_DECLARATION_BASIS = N_(
    "SPC Interpretation on patent infringement disputes (Fa Shi [2009] No. 21) art. 18: after a warning, the warned "
    "party may demand in writing that the rights holder sue; if within 1 month of the holder's receipt of the demand, "
    "or 2 months of its dispatch, the holder neither withdraws the warning nor sues, the warned party may sue for a "
    "declaration of non-infringement."
)
_DECLARATION_BY_ANALOGY = N_(
    "For a right other than a patent (a trademark, a copyright...) no interpretation states these steps: courts "
    "follow art. 18 by analogy. A reference date, not legal advice."
)
_DECLARATION_NOTE = N_(
    "Counted from whichever of the two ends first; if by then the rights holder has neither withdrawn the warning nor "
    "sued, the action may be filed from %(day)s."
)
# Civil Procedure Law (2023 text, in force 2024-01-01) art. 128(1): the defendant files its defence
# within 15 days of receiving the complaint; art. 130(1): an objection to jurisdiction is raised
# within the period for the defence.
_SUIT_DEFENCE_LABEL = N_("Deadline to file the defence and any objection to jurisdiction")
_SUIT_DEFENCE_BASIS = N_(
    "Civil Procedure Law arts. 128(1) and 130(1): the defendant files its defence within 15 days of receiving the "
    "copy of the complaint, and any objection to jurisdiction within that period."
)
_SUIT_DEFENCE_NOTE = N_(
    "A counterclaim for the reasonable expenses an abusive suit caused may be made in the same suit or separately "
    "(SPC Reply, Fa Shi [2021] No. 11)."
)

# Opposition periods of other offices, from their statutes: reference dates, not legal advice.
_FOREIGN_OPPOSITION_LABEL = N_("Trademark opposition period ends (reference date)")
_REFERENCE_NOTE = N_(
    "A reference date from the office's statute, not legal advice: extensions and local rules apply; confirm with "
    "an attorney admitted there."
)


@dataclass(frozen=True)
class ForeignPeriod:
    months: int = 0
    days: int = 0
    basis: str = ""


#: Trademark opposition periods from the publication, by jurisdiction (ISO code; EU: the EUIPO).
FOREIGN_OPPOSITION: dict[str, ForeignPeriod] = {
    "US": ForeignPeriod(days=30, basis=N_(
        "15 U.S.C. §1063(a): an opposition may be filed within 30 days after publication in the Official Gazette "
        "(extensions may be requested)."
    )),
    "EU": ForeignPeriod(months=3, basis=N_(
        "Regulation (EU) 2017/1001 art. 46(1): notice of opposition within 3 months of the publication of the "
        "EU trade mark application."
    )),
    "JP": ForeignPeriod(months=2, basis=N_(
        "Japan Trademark Act art. 43-2: an opposition to the registration may be filed within 2 months of the "
        "publication of the trademark bulletin."
    )),
    "KR": ForeignPeriod(months=2, basis=N_(
        "Korea Trademark Act art. 60(1): an opposition may be filed within 2 months of the publication of the "
        "application."
    )),
}  # fmt: skip


@dataclass(frozen=True)
class LimitationRule:
    """The limitation period for an infringement claim, as in force from ``effective_from``."""

    effective_from: date
    years: int
    basis: str  # a msgid, as are the other texts below: ``in_every_language`` gives them in zh and en
    #: also governs periods that started earlier and were still running on ``effective_from``,
    #: cited with ``transition_basis``
    reaches_running_periods: bool = False
    transition_basis: str | None = None


_CIVIL_CODE_188 = N_(
    "Civil Code art. 188: 3 years from when the right holder knew or should have known of the harm and of the "
    "infringer."
)

LIMITATION_RULES: tuple[LimitationRule, ...] = (
    LimitationRule(
        date(1987, 1, 1),
        2,
        N_(
            "General Principles of the Civil Law arts. 135 and 137: 2 years from when the right holder knew or should "
            "have known of the infringement."
        ),
    ),
    LimitationRule(
        date(2017, 10, 1),
        3,
        N_(
            "General Provisions of the Civil Law art. 188 (now Civil Code art. 188): 3 years from when the right "
            "holder knew or should have known of the harm and of the infringer."
        ),
        reaches_running_periods=True,
        transition_basis=N_(
            "General Provisions of the Civil Law art. 188; Supreme People's Court interpretation Fa Shi [2018] No. 12 "
            "art. 2: a 2-year period still running on 2017-10-01 becomes 3 years."
        ),
    ),
    LimitationRule(
        date(2021, 1, 1), 3, _CIVIL_CODE_188, reaches_running_periods=True, transition_basis=_CIVIL_CODE_188
    ),
)

_LIMITATION_LABEL = N_("Limitation period for the infringement claim ends")
_LIMITATION_NOTE = N_(
    "A demand to the infringer, a suit and the like interrupt the period, which then starts again (Civil Code art. "
    "195). For a continuing infringement a later suit can still stop it, with damages reckoned for the 3 years before "
    "filing."
)
_PATENT_LAW_2020_FROM = date(2021, 6, 1)
_PATENT_LIMITATION_NOTE = N_(
    "Until 2021-06-01 the Patent Law (2008) art. 68 set 2 years for patent infringement; confirm which period applies."
)


def limitation_rule(known_on: date, calendar: WorkCalendar | None = None) -> tuple[LimitationRule, str]:
    """The limitation rule for an infringement known on ``known_on``, and the basis to cite.

    The rule in force when the period starts (the day after ``known_on``) applies; a later rule that
    reaches running periods takes over if the period had not run out when that rule took effect.
    """
    calendar = OFFICIAL_CALENDAR if calendar is None else calendar
    starts = known_on + timedelta(days=1)
    index = max(i for i, r in enumerate(LIMITATION_RULES) if r.effective_from <= starts or i == 0)
    rule, basis = LIMITATION_RULES[index], LIMITATION_RULES[index].basis
    for later in LIMITATION_RULES[index + 1 :]:
        ends = first_working_day_from(period_last_day(known_on, years=rule.years), calendar)
        if not (later.reaches_running_periods and ends >= later.effective_from):
            break
        rule, basis = later, later.transition_basis or later.basis
    return rule, basis


@dataclass(frozen=True)
class NoticeRule:
    """The period an office notice of one kind starts, counted from the day it is received."""

    kind: str
    label: str
    basis: str
    months: int = 0
    days: int = 0


_NOTICE_NOTE = N_(
    "Counted from the day the notice was received, or is deemed received under the rules on service (e.g. for mailed "
    "or electronic CNIPA notices)."
)

#: Periods started by an office notice. A case records only the date it was received
#: (``notice_received_on``): the caller says which kind of notice it was.
NOTICE_RULES: dict[str, NoticeRule] = {
    r.kind: r
    for r in (
        NoticeRule(
            "trademark_refusal",
            N_("Deadline to request review of a trademark refusal"),
            N_("Trademark Law art. 34: review of a refusal may be requested within 15 days of receiving the notice."),
            days=15,
        ),
        NoticeRule(
            "trademark_opposition",
            N_("Deadline to answer a trademark opposition"),
            N_(
                "Trademark Law Implementing Regulations art. 27: the opposed party answers within 30 days of receiving "
                "the opposition papers."
            ),
            days=30,
        ),
        NoticeRule(
            "trademark_non_registration",
            N_("Deadline to request review of a decision not to register"),
            N_(
                "Trademark Law art. 35(3): review of a decision not to register may be requested within 15 days of "
                "receiving the notice."
            ),
            days=15,
        ),
        NoticeRule(
            "trademark_invalidation_ruling",
            N_("Deadline to sue against a trademark invalidation ruling"),
            N_("Trademark Law arts. 44(3) and 45(2): a party may sue within 30 days of receiving the ruling."),
            days=30,
        ),
        NoticeRule(
            "patent_rejection",
            N_("Deadline to request re-examination of a patent rejection"),
            N_(
                "Patent Law art. 41(1): re-examination of a rejection may be requested within 3 months of receiving "
                "the notice."
            ),
            months=3,
        ),
        NoticeRule(
            "patent_invalidation_decision",
            N_("Deadline to sue against a patent invalidation decision"),
            N_(
                "Patent Law art. 46(2): a party may sue against a decision invalidating or upholding a patent within 3 "
                "months of receiving the notice."
            ),
            months=3,
        ),
    )
}


def legal_deadlines(
    right_type: str,
    key_dates: Mapping[str, str | date],
    *,
    notice_kind: str | None = None,
    jurisdiction: str = "CN",
    rights: Sequence[Mapping[str, Any]] = (),
    today: date | None = None,
    calendar: WorkCalendar | None = None,
    timezone_name: str = DEFAULT_TIMEZONE,
    activity: Mapping[str, Any] | None = None,
    submitted_on: date | None = None,
    litigation: Mapping[str, Any] | None = None,
) -> list[Deadline]:
    """The legal periods that the case's facts start, earliest first (``_LEGAL_RULES``):

    - ``published_on``: a trademark's opposition window (3 months, Trademark Law art. 33; other
      jurisdictions' periods as reference dates), or a GI product's objection period (2 months);
    - ``registered_on`` (the contested trademark's): invalidation on relative grounds, 5 years (art. 45(1));
    - each of ``rights`` (the enterprise's own): a trademark's ``registered_on``, its registration's
      renewal with its 6-month grace period (arts. 39-40); a patent's ``filed_on``, this year's annual
      fee and its 6-month late-payment period. Codes end in the right's number (``_r1``: its place
      in ``rights``, from 1), so each right is warned about once;
    - ``known_on`` (any right): the limitation period, 2 or 3 years by the rule in force (``limitation_rule``);
    - ``notice_received_on`` with ``notice_kind`` (a key of ``NOTICE_RULES``): the period that notice starts;
    - ``activity`` (a risk warning's or an IP analysis's, ``cases.activity``): its date, counted from
      ``submitted_on`` (the day the case was submitted) so that warnings go out before it;
    - ``litigation`` (a litigation advice's matter, ``cases.litigation``): against a warning, the end of
      the rights holder's time to answer the written demand (``declaration_wait``); against a suit
      (in China), the defence period.

    ``rights``: the rights the case relies on (``cases.rights``: ``kind``, ``trademark``, ``gi``...,
    and optional ISO dates): a geographical indication is a collective or certification mark unless
    they name only a GI product. ``today``: which term of a recurring period (renewal, annual fee) is the current one.
    """
    calendar = OFFICIAL_CALENDAR if calendar is None else calendar
    if notice_kind is not None and notice_kind not in NOTICE_RULES:
        raise ValueError(f"unknown notice kind {notice_kind!r}: expected one of {', '.join(NOTICE_RULES)}")
    key = None
    if calendar is OFFICIAL_CALENDAR:
        key = _legal_key(right_type, key_dates, notice_kind, jurisdiction, rights, today, timezone_name, activity,
                         submitted_on, litigation)  # fmt: skip
        if (known := _LEGAL_FOUND.get(key)) is not None:
            return list(known)
    facts = LegalFacts(
        right_type, parse_key_dates(key_dates), notice_kind, jurisdiction, tuple(rights), today,
        activity_date=date.fromisoformat(activity["date"]) if activity else None, submitted_on=submitted_on,
        litigation=litigation,
    )  # fmt: skip
    common = {"calendar": calendar, "timezone_name": timezone_name}
    found = [deadline for rule in _LEGAL_RULES for deadline in rule(facts, common)]
    found.sort(key=lambda d: (d.due_at, d.code))
    if key is not None:
        if len(_LEGAL_FOUND) >= _LEGAL_FOUND_MAX:
            _LEGAL_FOUND.clear()
        _LEGAL_FOUND[key] = tuple(found)
    return found


# The legal periods of a case are a function of its facts and of the day (on the official
# calendar, which does not change while we run); every answer with a case and every page of it
# worked them out again (a fifth of intake's answer). Deadlines are frozen: the same ones are
# handed out again. Cleared when full (a day's cases' facts fit many times over).
_LEGAL_FOUND: dict[tuple[Any, ...], tuple[Deadline, ...]] = {}
_LEGAL_FOUND_MAX = 4096


def _legal_key(
    right_type: str,
    key_dates: Mapping[str, str | date],
    notice_kind: str | None,
    jurisdiction: str,
    rights: Sequence[Mapping[str, Any]],
    today: date | None,
    timezone_name: str,
    activity: Mapping[str, Any] | None,
    submitted_on: date | None,
    litigation: Mapping[str, Any] | None,
) -> tuple[Any, ...] | None:
    """What ``legal_deadlines`` reads, as a key: the mappings as their JSON text (types told apart:
    1, 1.0, true and "1" are four keys), or None (not cached) when they hold anything else than
    JSON's own values (a date object, which its ISO text would be taken for)."""
    try:
        text = orjson.dumps([key_dates, list(rights), activity, litigation], option=orjson.OPT_PASSTHROUGH_DATETIME)
    except TypeError:
        return None
    return right_type, notice_kind, jurisdiction, today, timezone_name, submitted_on, text


@dataclass(frozen=True)
class LegalFacts:
    """What the legal rules read of a case."""

    right_type: str
    dates: Mapping[str, date]
    notice_kind: str | None = None
    jurisdiction: str = "CN"
    #: the rights the case relies on, as stored (``cases.rights``)
    rights: tuple[Mapping[str, Any], ...] = ()
    today: date | None = None
    #: the date of the case's activity (a risk warning's or an IP analysis's), and when the case
    #: was submitted (where the warnings before it count from)
    activity_date: date | None = None
    submitted_on: date | None = None
    #: a litigation advice's matter (``cases.litigation``: kind, its dates as ISO strings...)
    litigation: Mapping[str, Any] | None = None

    @property
    def right_kinds(self) -> frozenset[str]:
        return frozenset(str(right.get("kind")) for right in self.rights)

    def right_dates(self, kind: str, key: str) -> list[tuple[int, date]]:
        """(number from 1, date) of each right of ``kind`` that gives ``key``; a date that is not
        one (a right stored as entered) is skipped: it starts no period."""
        found = []
        for n, right in enumerate(self.rights, start=1):
            if right.get("kind") == kind and right.get(key):
                try:
                    found.append((n, date.fromisoformat(str(right[key]))))
                except ValueError:
                    continue
        return found

    @property
    def as_trademark(self) -> bool:
        """A trademark, or a geographical indication registered as a collective or certification
        mark (Trademark Law art. 16; Implementing Regulations art. 4): the Trademark Law's periods."""
        if self.right_type == "geographical_indication":
            return not self.as_gi_product
        return self.right_type in TRADEMARK_RIGHT_TYPES

    @property
    def as_gi_product(self) -> bool:
        """A geographical indication protected as a GI product (the rights name a GI, no mark)."""
        return self.right_type == "geographical_indication" and gi_protected_as_product(self.right_kinds)

    @property
    def in_china(self) -> bool:
        return self.jurisdiction in ("CN", "")


# Each legal rule: the deadlines the case's facts start (none, one, or a term and its grace).
LegalRule = Callable[[LegalFacts, dict[str, Any]], list[Deadline]]


def _opposition(facts: LegalFacts, common: dict[str, Any]) -> list[Deadline]:
    if not (facts.as_trademark and facts.in_china and PUBLISHED_ON in facts.dates):
        return []
    return [_legal("trademark_opposition", PUBLISHED_ON, facts.dates[PUBLISHED_ON], _OPPOSITION_LABEL,
                   _OPPOSITION_BASIS, months=3, **common)]  # fmt: skip


def _foreign_opposition(facts: LegalFacts, common: dict[str, Any]) -> list[Deadline]:
    period = FOREIGN_OPPOSITION.get(facts.jurisdiction)
    if period is None or not facts.as_trademark or PUBLISHED_ON not in facts.dates:
        return []
    # Counted on that office's working days, not China's.
    local = {**common, "calendar": ForeignCalendar(facts.jurisdiction)}
    return [_legal(f"trademark_opposition_{facts.jurisdiction.lower()}", PUBLISHED_ON, facts.dates[PUBLISHED_ON],
                   _FOREIGN_OPPOSITION_LABEL, period.basis, months=period.months, days=period.days,
                   notes=(_REFERENCE_NOTE,), **local)]  # fmt: skip


def _gi_objection(facts: LegalFacts, common: dict[str, Any]) -> list[Deadline]:
    if not (facts.as_gi_product and facts.in_china and PUBLISHED_ON in facts.dates):
        return []
    return [_legal("gi_product_objection", PUBLISHED_ON, facts.dates[PUBLISHED_ON], _GI_OBJECTION_LABEL,
                   _GI_OBJECTION_BASIS, months=2, **common)]  # fmt: skip


def _invalidation(facts: LegalFacts, common: dict[str, Any]) -> list[Deadline]:
    if not (facts.as_trademark and facts.in_china and REGISTERED_ON in facts.dates):
        return []
    return [_legal("trademark_invalidation_relative", REGISTERED_ON, facts.dates[REGISTERED_ON], _INVALIDATION_LABEL,
                   _INVALIDATION_BASIS, years=5, notes=(_INVALIDATION_NOTE,), **common)]  # fmt: skip


def _trademark_renewal(facts: LegalFacts, common: dict[str, Any]) -> list[Deadline]:
    """For each trademark right with its own ``registered_on`` (on any case: a GI's collective or
    certification mark is one too): the current 10-year term's end (renew by then) and the 6-month
    grace period after it. Codes end in the term's year and the right's number, so each term of
    each right is warned about anew. Never from the case-level ``registered_on``: that is the
    contested mark's (invalidation), not the enterprise's."""
    if not facts.in_china:
        return []
    found: list[Deadline] = []
    for n, registered_on in facts.right_dates("trademark", REGISTERED_ON):
        term_start, expiry = current_term(registered_on, years=10, grace_months=6, today=facts.today)
        which = _right_note(facts, n)
        found += [
            _legal(f"trademark_renewal_{expiry.year}_r{n}", REGISTERED_ON, term_start, _RENEWAL_LABEL,
                   _RENEWAL_BASIS, last_day=expiry, notes=(_RENEWAL_NOTE,), which=which, **common),
            _legal(f"trademark_renewal_grace_{expiry.year}_r{n}", REGISTERED_ON, expiry, _RENEWAL_GRACE_LABEL,
                   _RENEWAL_BASIS, months=6, which=which, **common),
        ]  # fmt: skip
    return found


def _patent_annual_fee(facts: LegalFacts, common: dict[str, Any]) -> list[Deadline]:
    """For each patent right with its own ``filed_on``: this year's annual fee (due on the filing
    date's anniversary, as CNIPA counts it) and its 6-month late-payment period; codes end in the
    year and the right's number. A case stored before rights had dates, a patent case whose rights
    give no ``filed_on``, keeps the case-level date and its codes without a right's number (so the
    notices already raised for it are not raised again): a filing date never meant another
    party's patent, unlike a registration date."""
    if not facts.in_china:
        return []
    own = [(n, day, _right_note(facts, n)) for n, day in facts.right_dates("patent", FILED_ON)]
    if not own and facts.right_type == "patent" and FILED_ON in facts.dates:
        own = [(0, facts.dates[FILED_ON], None)]
    found: list[Deadline] = []
    for n, filed_on, which in own:
        year_start, due = current_term(filed_on, years=1, grace_months=6, today=facts.today, counts_first_day=False)
        suffix = f"_r{n}" if n else ""
        found += [
            _legal(f"patent_annual_fee_{due.year}{suffix}", FILED_ON, year_start, _ANNUAL_FEE_LABEL,
                   _ANNUAL_FEE_BASIS, last_day=due, notes=(_ANNUAL_FEE_NOTE,), which=which, **common),
            _legal(f"patent_annual_fee_late_{due.year}{suffix}", FILED_ON, due, _ANNUAL_FEE_LATE_LABEL,
                   _ANNUAL_FEE_BASIS, months=6, which=which, **common),
        ]  # fmt: skip
    return found


_RIGHT_NOTE = N_("Right %(n)s named on the case: %(right)s.")


def _right_note(facts: LegalFacts, n: int) -> Text:
    """Which right a renewal or an annual fee is of: its number on the case, registration number and mark."""
    right = facts.rights[n - 1]
    named = " ".join(str(right.get(key) or "").strip() for key in ("number", "mark_text")).strip()
    return in_every_language(_RIGHT_NOTE, n=n, right=named or "—")


def _limitation(facts: LegalFacts, common: dict[str, Any]) -> list[Deadline]:
    if KNOWN_ON not in facts.dates:
        return []
    known_on = facts.dates[KNOWN_ON]
    rule, basis = limitation_rule(known_on, common["calendar"])
    notes: tuple[str, ...] = (_LIMITATION_NOTE,)
    if facts.right_type == "patent" and rule.years == 3 and known_on + timedelta(days=1) < _PATENT_LAW_2020_FROM:
        notes = (_PATENT_LIMITATION_NOTE, _LIMITATION_NOTE)
    return [_legal("infringement_limitation", KNOWN_ON, known_on, _LIMITATION_LABEL, basis, years=rule.years,
                   notes=notes, rule_from=rule.effective_from, **common)]  # fmt: skip


def _official_notice(facts: LegalFacts, common: dict[str, Any]) -> list[Deadline]:
    if facts.notice_kind is None or NOTICE_RECEIVED_ON not in facts.dates:
        return []
    notice = NOTICE_RULES[facts.notice_kind]
    return [_legal(f"notice_{notice.kind}", NOTICE_RECEIVED_ON, facts.dates[NOTICE_RECEIVED_ON], notice.label,
                   notice.basis, months=notice.months, days=notice.days, notes=(_NOTICE_NOTE,), **common)]  # fmt: skip


def _activity_date(facts: LegalFacts, common: dict[str, Any]) -> list[Deadline]:
    """The activity's own date, as the enterprise gave it: not moved off a weekend or a holiday
    (the parties chose it, no rule counts it). It runs from the submission, so the notices before
    it (``NOTICE_THRESHOLDS``) reach only those the time left still allows."""
    if facts.activity_date is None:
        return []
    start = min(facts.submitted_on or facts.activity_date, facts.activity_date)
    return [
        Deadline(
            code=ACTIVITY_DATE,
            kind=LEGAL,
            due=facts.activity_date,
            label=in_every_language(_ACTIVITY_LABEL),
            basis=in_every_language(_ACTIVITY_BASIS),
            starts_from=SUBMITTED_AT,
            start=start,
            timezone=common["timezone_name"],
        )
    ]


@dataclass(frozen=True)
class DeclarationWait:
    """When a declaration of non-infringement may be sought after the written demand to sue
    (``declaration_wait``): the rights holder's time ends on ``last_day`` (its raw last day
    ``extended_from`` when moved off days off), counted from ``start``, the demand's receipt
    (``DEMAND_RECEIVED_ON``) or its dispatch (``DEMAND_SENT_ON``): whichever ends first."""

    counted_from: str
    start: date
    last_day: date
    extended_from: date | None = None
    provisional: bool = False

    @property
    def may_sue_from(self) -> date:
        """The first day the declaratory action may be filed (if the holder did nothing)."""
        return self.last_day + timedelta(days=1)


#: Fa Shi [2009] No. 21 art. 18: the months the rights holder has from each event (see the texts above).
DECLARATION_MONTHS = {DEMAND_RECEIVED_ON: 1, DEMAND_SENT_ON: 2}


def declaration_wait(
    demand_sent_on: date | None, demand_received_on: date | None, calendar: WorkCalendar | None = None
) -> DeclarationWait | None:
    """The waiting period after a written demand (催告) to a rights holder who sent a warning: 1
    month from the holder's receipt of the demand or 2 months from its dispatch, whichever ends
    first (either suffices; the dispatch covers a receipt that cannot be proved or came late).
    Counted as the Civil Code counts periods (arts. 201-203): a last day that is not a working day
    moves to the next, the holder keeps that day, and the action may be filed the day after. None
    when neither date is known (no demand yet: the first step to advise)."""
    calendar = OFFICIAL_CALENDAR if calendar is None else calendar
    found: list[DeclarationWait] = []
    for key, start in ((DEMAND_RECEIVED_ON, demand_received_on), (DEMAND_SENT_ON, demand_sent_on)):
        if start is None:
            continue
        raw = period_last_day(start, months=DECLARATION_MONTHS[key])
        last = first_working_day_from(raw, calendar)
        provisional = any(not calendar.is_official(y) for y in range(raw.year, last.year + 1))
        found.append(DeclarationWait(key, start, last, raw if raw != last else None, provisional))
    return min(found, key=lambda wait: wait.last_day) if found else None


def _litigation_dates(facts: LegalFacts, common: dict[str, Any]) -> list[Deadline]:
    """A litigation advice's periods (``cases.litigation``): the end of the rights holder's time to
    answer a demand to sue (a declaration of non-infringement), and a suit's defence period."""
    matter = facts.litigation or {}
    found: list[Deadline] = []
    if matter.get("kind") == "non_infringement_declaration":
        sent, received = (date.fromisoformat(matter[k]) if matter.get(k) else None
                          for k in (DEMAND_SENT_ON, DEMAND_RECEIVED_ON))  # fmt: skip
        wait = declaration_wait(sent, received, common["calendar"])
        if wait is not None:
            found.append(_declaration_deadline(wait, facts.right_type, common["timezone_name"]))
    if matter.get("abuse") == "malicious_suit" and matter.get(SUIT_SERVED_ON) and facts.in_china:
        found.append(_legal(SUIT_DEFENCE, SUIT_SERVED_ON, date.fromisoformat(matter[SUIT_SERVED_ON]),
                            _SUIT_DEFENCE_LABEL, _SUIT_DEFENCE_BASIS, days=15, notes=(_SUIT_DEFENCE_NOTE,),
                            **common))  # fmt: skip
    return found


def _declaration_deadline(wait: DeclarationWait, right_type: str, timezone_name: str) -> Deadline:
    note = in_every_language(_DECLARATION_NOTE, day=wait.may_sue_from.isoformat())
    if right_type != "patent":
        note = _joined([note, in_every_language(_DECLARATION_BY_ANALOGY)])
    return Deadline(
        code=DECLARATION_WAIT,
        kind=LEGAL,
        due=wait.last_day,
        label=in_every_language(_DECLARATION_LABEL),
        basis=in_every_language(_DECLARATION_BASIS),
        starts_from=wait.counted_from,
        start=wait.start,
        timezone=timezone_name,
        note=note,
        extended_from=wait.extended_from,
        provisional=wait.provisional,
    )


#: The legal rules ``legal_deadlines`` applies, each one function: a new period is one more entry.
_LEGAL_RULES: tuple[LegalRule, ...] = (
    _opposition,
    _foreign_opposition,
    _gi_objection,
    _invalidation,
    _trademark_renewal,
    _patent_annual_fee,
    _limitation,
    _official_notice,
    _activity_date,
    _litigation_dates,
)


def current_term(
    first: date, *, years: int, grace_months: int, today: date | None, counts_first_day: bool = True
) -> tuple[date, date]:
    """(start, last day) of the current term of a period that renews every ``years`` from
    ``first``. A term that counts ``first`` itself ends the day before the anniversary (a 10-year
    registration of 2016-03-07 runs to 2026-03-06); otherwise on the anniversary (a patent's
    annual fee is due on the filing date's anniversary). The current term is the first whose grace
    period has not ended by ``today`` (the first term when ``today`` is not given)."""
    anchor = first - timedelta(days=1) if counts_first_day else first
    n = 1
    while True:
        last_day = period_last_day(anchor, years=years * n)
        if today is None or period_last_day(last_day, months=grace_months) >= today:
            return add_months(first, 12 * years * (n - 1)), last_day
        n += 1


# --- SLAs ------------------------------------------------------------------------------------

#: (status, entered at, left at or None while the case is still in it); datetimes timezone-aware.
StatusInterval = tuple[str, datetime, datetime | None]


@dataclass(frozen=True)
class SlaTarget:
    code: str
    #: entering any of these statuses meets the SLA
    met_by: frozenset[str]
    label: str
    basis: str  # with %(n)s: the number of working days


_AFTER_ACCEPTANCE = frozenset({ACCEPTED, IN_PROGRESS, AWAITING_APPLICANT, OPINION_ISSUED, CLOSED})

SLA_TARGETS: dict[str, SlaTarget] = {
    t.code: t
    for t in (
        SlaTarget(
            "assignment",
            frozenset({ASSIGNED}) | _AFTER_ACCEPTANCE,
            N_("Assign an expert"),
            N_("Workstation commitment: an expert is assigned within %(n)s working day(s) of submission."),
        ),
        SlaTarget(
            "acceptance",
            _AFTER_ACCEPTANCE,
            N_("Expert accepts the case"),
            N_("Workstation commitment: an expert accepts the case within %(n)s working day(s) of submission."),
        ),
        SlaTarget(
            "opinion",
            frozenset({OPINION_ISSUED, CLOSED}),
            # Not through the catalog: the msgid "Opinion issued" is the status's name (已出具意见), and
            # this is the task (出具意见); the catalogs have no context to tell the two apart.
            Localized({"zh": "出具意见", "en": "Opinion issued"}),
            N_(
                "Workstation commitment: the opinion is issued within %(n)s working day(s) of submission (the clock "
                "stops while waiting for the applicant)."
            ),
        ),
    )
}  # fmt: skip

DEFAULT_SLA_WORKING_DAYS: dict[str, int] = {"assignment": 1, "acceptance": 2, "opinion": 15}

#: Entering one of these before an SLA is met stops its clock for good.
STOP_STATUSES = frozenset({WITHDRAWN})


@dataclass(frozen=True)
class SlaConfig:
    """Which SLAs apply and how many working days each allows; leave one out to drop it."""

    working_days: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_SLA_WORKING_DAYS))
    timezone: str = DEFAULT_TIMEZONE
    paused_statuses: frozenset[str] = frozenset({AWAITING_APPLICANT})

    def __post_init__(self) -> None:
        for code, days in self.working_days.items():
            if code not in SLA_TARGETS:
                raise ValueError(f"unknown SLA {code!r}: expected one of {', '.join(SLA_TARGETS)}")
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                raise ValueError(f"SLA {code!r}: working days must be a whole number of at least 1, not {days!r}")
        zone(self.timezone)  # fails now, not during a sweep


#: The SLAs when the caller gives none: built once (with its checks), not for every case's deadlines
#: (read-only: it is everyone's).
_DEFAULT_SLA_CONFIG = SlaConfig(working_days=MappingProxyType(dict(DEFAULT_SLA_WORKING_DAYS)))


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value.astimezone(UTC)


def intervals_from_transitions(transitions: Iterable[tuple[str, datetime]]) -> list[StatusInterval]:
    """Status intervals from (status entered, at) pairs, e.g. the ``to_status`` and ``created_at`` of case events."""
    ordered = sorted(((s, _aware(at, "transition time")) for s, at in transitions), key=lambda t: t[1])
    return [(status, at, ordered[i + 1][1] if i + 1 < len(ordered) else None) for i, (status, at) in enumerate(ordered)]


def _merge(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(s for s in spans if s[0] < s[1]):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


def _working_time_due(
    clock_start: datetime,
    budget: timedelta,
    pauses: Sequence[tuple[datetime, datetime]],
    calendar: WorkCalendar,
    tz: tzinfo,
) -> tuple[datetime, bool]:
    """When ``budget`` of running time has passed: time counts on working days and outside ``pauses``.

    Returns the instant (UTC) and whether a calendar year without a published arrangement was used.
    """
    if not pauses and calendar is OFFICIAL_CALENDAR:
        return _official_working_time_due(clock_start, budget, tz)
    return _count_working_time(clock_start, budget, pauses, calendar, tz)


# Every case's SLAs start at a midnight and most have no pause yet: the same few answers each day,
# which every API answer and page of a case computes (a day-by-day walk that cost about a third of
# the intake's answer). The calendar is the official one, which does not change while we run.
@functools.lru_cache(maxsize=1024)
def _official_working_time_due(clock_start: datetime, budget: timedelta, tz: tzinfo) -> tuple[datetime, bool]:
    return _count_working_time(clock_start, budget, (), OFFICIAL_CALENDAR, tz)


def _count_working_time(
    clock_start: datetime,
    budget: timedelta,
    pauses: Sequence[tuple[datetime, datetime]],
    calendar: WorkCalendar,
    tz: tzinfo,
) -> tuple[datetime, bool]:
    remaining, provisional = budget, False
    day = clock_start.astimezone(tz).date()
    for _ in range(366 * 30):
        if calendar.is_working_day(day):
            provisional = provisional or not calendar.is_official(day.year)
            lo, hi = max(_midnight(day, tz), clock_start), _midnight(day + timedelta(days=1), tz)
            for p_lo, p_hi in pauses:  # sorted and disjoint
                if p_hi <= lo or p_lo >= hi:
                    continue
                if p_lo > lo:
                    if p_lo - lo >= remaining:
                        return lo + remaining, provisional
                    remaining -= p_lo - lo
                lo = max(lo, p_hi)
                if lo >= hi:
                    break
            if lo < hi:
                if hi - lo >= remaining:
                    return lo + remaining, provisional
                remaining -= hi - lo
        day += timedelta(days=1)
    raise ValueError("an SLA clock ran for 30 years without running out: check the status intervals")


# (Every case's SLAs say the same few things: looking them up again in both languages was a fifth of
# working out a new case's deadlines. Deadlines are frozen; nothing changes their texts.)
@functools.lru_cache(maxsize=256)
def _sla_texts(code: str, days: int) -> tuple[Text, Text]:
    """The label and basis of the SLA ``code`` of ``days`` working days, in every language."""
    target = SLA_TARGETS[code]
    return in_every_language(target.label), in_every_language(target.basis, n=days)


def sla_deadlines(
    submitted_at: datetime,
    intervals: Iterable[StatusInterval],
    now: datetime,
    config: SlaConfig | None = None,
    calendar: WorkCalendar | None = None,
) -> list[Deadline]:
    """The workstation's SLAs for a case, each with its due moment and whether it is breached at ``now``.

    ``intervals`` is the case's status history since ``submitted_at`` (see ``intervals_from_transitions``).
    An SLA is met when the case first enters a status of its target (``SLA_TARGETS``) and stopped if the
    case is withdrawn first; it is breached when met, stopped or ``now`` is at or after its due moment.
    Time in a paused status is added to the due moment; while the case is still paused, ``due`` assumes
    the pause ends at ``now`` (so it moves later as the pause goes on) and ``paused`` is True.
    For a reopened case, pass the reopening as ``submitted_at`` and the intervals since.
    """
    config = _DEFAULT_SLA_CONFIG if config is None else config
    calendar = OFFICIAL_CALENDAR if calendar is None else calendar
    tz = zone(config.timezone)
    submitted, now_utc = _aware(submitted_at, "submitted_at"), _aware(now, "now")
    history = sorted(
        (
            (status, _aware(start, "interval start"), None if end is None else _aware(end, "interval end"))
            for status, start, end in intervals
        ),
        key=lambda iv: iv[1],
    )
    clock_start = _midnight(submitted.astimezone(tz).date() + timedelta(days=1), tz)
    stopped_at = next((s for status, s, _ in history if status in STOP_STATUSES and s >= submitted), None)
    out: list[Deadline] = []
    for code, days in config.working_days.items():
        target = SLA_TARGETS[code]
        met_at = next((s for status, s, _ in history if status in target.met_by and s >= submitted), None)
        if met_at is not None and stopped_at is not None and stopped_at < met_at:
            met_at = None
        stopped = stopped_at if met_at is None else None
        clock_end = met_at or stopped or now_utc
        pauses = _merge(
            (start, min(end or clock_end, clock_end))
            for status, start, end in history
            if status in config.paused_statuses and start < clock_end
        )
        due, provisional = _working_time_due(clock_start, timedelta(days=days), pauses, calendar, tz)
        label, basis = _sla_texts(code, days)
        paused = (
            met_at is None
            and stopped is None
            and any(
                status in config.paused_statuses and start <= now_utc and (end is None or now_utc < end)
                for status, start, end in history
            )
        )
        out.append(
            Deadline(
                code=f"sla_{code}",
                kind=SLA,
                due=due.astimezone(tz),
                label=label,
                basis=basis,
                starts_from=SUBMITTED_AT,
                start=submitted.astimezone(tz),
                timezone=config.timezone,
                provisional=provisional,
                met_at=met_at.astimezone(tz) if met_at else None,
                stopped_at=stopped.astimezone(tz) if stopped else None,
                paused=paused,
                breached=clock_end >= due,
            )
        )
    return out


# --- all of a case's deadlines, and the notices they call for --------------------------------


def case_deadlines(
    right_type: str,
    key_dates: Mapping[str, str | date],
    *,
    submitted_at: datetime | None = None,
    intervals: Iterable[StatusInterval] = (),
    now: datetime | None = None,
    notice_kind: str | None = None,
    jurisdiction: str = "CN",
    rights: Sequence[Mapping[str, Any]] = (),
    config: SlaConfig | None = None,
    calendar: WorkCalendar | None = None,
    activity: Mapping[str, Any] | None = None,
    litigation: Mapping[str, Any] | None = None,
) -> list[Deadline]:
    """Every deadline of a case, soonest first: the legal periods (and the ``activity``'s date, the
    ``litigation``'s periods), then (given ``submitted_at``) the SLAs."""
    config = _DEFAULT_SLA_CONFIG if config is None else config
    today = None if now is None else _aware(now, "now").astimezone(zone(config.timezone)).date()
    submitted_on = None if submitted_at is None else _aware(submitted_at, "submitted_at").astimezone(
        zone(config.timezone)).date()  # fmt: skip
    found = legal_deadlines(
        right_type, key_dates, notice_kind=notice_kind, jurisdiction=jurisdiction, rights=rights,
        today=today, calendar=calendar, timezone_name=config.timezone, activity=activity, submitted_on=submitted_on,
        litigation=litigation,
    )  # fmt: skip
    if submitted_at is not None:
        if now is None:
            raise ValueError("now is needed to tell whether an SLA is breached")
        found += sla_deadlines(submitted_at, intervals, now, config, calendar)
    return sorted(found, key=lambda d: (d.due_at, d.code))


#: Days before a deadline's last day at which a notice goes out.
NOTICE_THRESHOLDS = (30, 7, 1)
OVERDUE = "overdue"


def notice_thresholds(
    deadline: Deadline, now: datetime, thresholds: Iterable[int] = NOTICE_THRESHOLDS
) -> tuple[str, ...]:
    """The notice thresholds ``deadline`` has reached at ``now``, least urgent first: e.g. ("30d", "7d").

    Keys are stable ("30d", "7d", "1d", "overdue"), so a sweep can raise each notice exactly once by
    remembering the keys it has raised; when several are new at once, the last is the one to send.
    "Nd" is reached once at most N days remain until the last day, counted in local calendar days
    ("1d" on the day before it); a threshold at least as long as the whole period is skipped (no
    "30 days left" for a 15-working-day SLA). "overdue" is reached at ``due_at``. An SLA that is met
    or stopped reaches none, and a paused one only "overdue" (its clock is not running).
    """
    now_utc = _aware(now, "now")
    if deadline.kind == SLA and not deadline.running:
        return ()
    tz = zone(deadline.timezone)
    today = now_utc.astimezone(tz).date()
    start = deadline.start.astimezone(tz).date() if isinstance(deadline.start, datetime) else deadline.start
    reached: list[str] = []
    if not deadline.paused:
        for n in sorted(set(thresholds), reverse=True):
            if (deadline.last_day - start).days > n and (deadline.last_day - today).days <= n:
                reached.append(f"{n}d")
    if now_utc >= deadline.due_at:
        reached.append(OVERDUE)
    return tuple(reached)


def deadlines_for(case: Any, now: datetime | None = None) -> list[Deadline]:
    """A stored case's legal deadlines (from its key dates, kind of notice, jurisdiction and the
    rights it relies on) and SLAs (from its timeline), soonest first. ``case`` is anything with a
    case's attributes: ``right_type``, ``key_dates``, ``notice_kind``, ``jurisdiction``, ``rights``,
    ``activity``, ``litigation``, ``created_at`` and ``events`` (each with ``to_status`` and
    ``created_at``)."""
    now = now or datetime.now(UTC)
    transitions = [(event.to_status, event.created_at) for event in case.events]
    try:
        return case_deadlines(
            case.right_type,
            case.key_dates or {},
            submitted_at=case.created_at,
            intervals=intervals_from_transitions(transitions) if transitions else (),
            now=now,
            notice_kind=case.notice_kind,
            jurisdiction=case.jurisdiction or "CN",
            rights=[right for right in case.rights or () if isinstance(right, Mapping)],
            activity=case.activity,
            litigation=case.litigation,
        )
    except ValueError:
        return []  # key dates the rules cannot use (kept as entered) give no deadline


def next_deadline(deadlines: list[Deadline]) -> Deadline | None:
    return next((d for d in deadlines if d.running), None)
