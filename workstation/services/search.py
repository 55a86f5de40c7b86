"""Searching cases: the search syntax (``workstation.search_syntax``) as a query of the cases the
searcher may see. Every search starts from ``cases.visible_cases``, so it shows exactly the cases
the case pages would; a message counts only if the searcher may read it (an enterprise never
finds its case by the words of an internal note).

A word matches a case when it is part of the case's own text (reference, title, description,
parties' names and credit codes, rights' numbers and marks), of its enterprise's or its expert's
name or organisation (and the enterprise's credit code), or of a message of its thread.

PostgreSQL answers from the gram indexes (``rpa_search_grams``; a case's in ``case_grams``, written
by the watch worker after the submission, ``index_cases``): the word's grams select the candidates,
and a word longer than one gram is then looked for in their text.
SQLite reads the text itself (an embedded instance holds few cases); both match the same cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time

from sqlalchemy import ColumnElement, Select, String, bindparam, cast, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from workstation.deadlines import zone
from workstation.search_syntax import Query, fold, needs_recheck, tsquery
from workstation.services.cases import visible_cases
from workstation.services.models import Case, CaseGrams, CaseMessage, User

#: The case's own text on SQLite (``rpa_case_text`` on PostgreSQL), folded by SQLite's ``lower``,
#: which changes A-Z only, as ``search_syntax.fold`` does.
_SQLITE_CASE_TEXT = literal_column(
    "lower(coalesce(cases.reference, '') || char(10) || cases.title || char(10) || cases.description || char(10)"
    " || coalesce((SELECT group_concat(coalesce(json_extract(p.value, '$.name'), '') || ' '"
    " || coalesce(json_extract(p.value, '$.credit_code'), ''), char(10)) FROM json_each(cases.parties) AS p), '')"
    " || char(10) || coalesce((SELECT group_concat(coalesce(json_extract(r.value, '$.number'), '') || ' '"
    " || coalesce(json_extract(r.value, '$.mark_text'), ''), char(10)) FROM json_each(cases.rights) AS r), ''))",
    String,
)


#: How far below the newest indexed case a case not indexed yet is still looked for (batches of
#: the watch workers can finish out of order; a worker down for longer is caught up on restart).
UNINDEXED_MARGIN = 1000

#: The most cases one page of a listing holds (``GET /api/v1/cases?limit=``), and how many without a limit.
PAGE_MAX, PAGE_DEFAULT = 200, 50


def _case_text() -> ColumnElement[str]:
    return func.rpa_case_text(Case.reference, Case.title, Case.description, Case.parties, Case.rights)


def _contains(text: ColumnElement[str], folded: str, postgresql: bool) -> ColumnElement[bool]:
    """``folded`` is part of ``text`` (folded here on PostgreSQL; already by the caller on SQLite)."""
    if postgresql:
        return func.strpos(func.rpa_search_fold(text), folded) > 0
    return func.instr(text, folded) > 0


def _people(words: tuple[str, ...] | str, role: str, postgresql: bool, with_code: bool) -> Select[tuple[int]]:
    """Ids of the users of ``role`` whose name or organisation (and credit code, ``with_code``)
    holds any of ``words``."""
    words = (words,) if isinstance(words, str) else words
    parts = [User.name, User.organisation, *([func.coalesce(User.credit_code, "")] if with_code else [])]
    text = parts[0]
    for part in parts[1:]:
        text = text + "\n" + part
    text = text if postgresql else func.lower(text)
    return select(User.id).where(User.role == role, or_(*(_contains(text, fold(w), postgresql) for w in words)))


def _matching(user: User, term: str, postgresql: bool) -> list[ColumnElement[bool]]:
    """What a case must satisfy to hold ``term`` (anywhere it may be).

    On PostgreSQL: its id is in the union of one indexable query per place: the rows the gram
    indexes give, checked for the term itself when the grams alone can be wrong (``needs_recheck``).
    (Checking on the outer rows instead let the planner read every case's text: seconds.)"""
    folded, recheck = fold(term), needs_recheck(term)
    messages = select(CaseMessage.case_id)
    if user.role == "enterprise":
        messages = messages.where(CaseMessage.internal.is_(False))
    enterprises = _people(term, "enterprise", postgresql, True)
    experts = _people(term, "expert", postgresql, False)
    by_people = [Case.enterprise_id.in_(enterprises), Case.assigned_expert_id.in_(experts)]
    if not postgresql:
        own = func.instr(_SQLITE_CASE_TEXT, folded) > 0
        said = messages.where(CaseMessage.case_id == Case.id, func.instr(func.lower(CaseMessage.body), folded) > 0)
        return [or_(own, said.exists(), *by_people)]
    grams = cast(bindparam("q", tsquery(term), String, unique=True), TSQUERY)
    said = messages.where(func.rpa_search_grams(CaseMessage.body).op("@@")(grams))
    if recheck:  # (a message is short: checked where it is found)
        said = said.where(_contains(CaseMessage.body, folded, True))
    # Each place looks among the searcher's own cases only: an enterprise's or an expert's few
    # cases are checked one by one instead of collecting every case in the centre holding the word.
    mine = visible_cases(user).with_only_columns(Case.id)
    if user.role != "coordinator":
        said = said.where(CaseMessage.case_id.in_(mine))
    own = mine.where(Case.id.in_(select(CaseGrams.case_id).where(CaseGrams.grams.op("@@")(grams))))
    # The title and description first (most matches are there; reading them is cheap), then
    # the whole text with the parties and rights (JSON: about 100 us a case).
    plain = Case.title + "\n" + Case.description + "\n" + func.coalesce(Case.reference, "")
    in_text = or_(_contains(plain, folded, True), _contains(_case_text(), folded, True))
    if recheck:
        own = own.where(in_text)
    # A case the watch worker has not indexed yet (a few milliseconds after its submission) is
    # read whole, so a search does not miss a case for being new. Such cases are the newest: they
    # are looked for among the ids above the newest indexed one, less a margin for batches indexed
    # out of order (a range of the primary key, not a scan of every case).
    newest = select(func.coalesce(func.max(CaseGrams.case_id), 0)).scalar_subquery()
    not_indexed = ~select(CaseGrams.case_id).where(CaseGrams.case_id == Case.id).exists()
    new = mine.where(Case.id > newest - UNINDEXED_MARGIN, not_indexed, in_text)
    return [Case.id.in_(own.union(new, said, mine.where(by_people[0]), mine.where(by_people[1])))]


def index_cases(session: Session, case_ids: Sequence[int] | None) -> None:
    """Write the grams of ``case_ids``' text (None: every case's; PostgreSQL only, SQLite searches
    the text itself): the watch worker's, for the cases it is told were submitted."""
    if case_ids == [] or session.get_bind().dialect.name != "postgresql":
        return
    rows = select(Case.id, func.rpa_search_grams(_case_text()))
    if case_ids is not None:
        rows = rows.where(Case.id.in_(case_ids))
    statement = pg_insert(CaseGrams).from_select(["case_id", "grams"], rows)
    session.execute(
        statement.on_conflict_do_update(index_elements=["case_id"], set_={"grams": statement.excluded.grams})
    )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone())


def search_cases(session: Session, user: User, query: Query) -> Select[tuple[Case]]:
    """The cases ``user`` may see that ``query`` finds, newest first (by id: cases are numbered
    as they come). Not run: the caller pages it or counts it."""
    postgresql = session.get_bind().dialect.name == "postgresql"
    found = visible_cases(user)
    for term in query.terms:
        found = found.where(*_matching(user, term, postgresql))
    if query.statuses:
        found = found.where(Case.status.in_(query.statuses))
    if query.right_types:
        found = found.where(Case.right_type.in_(query.right_types))
    if query.services:
        found = found.where(Case.service.in_(query.services))
    if query.confidential is not None:
        found = found.where(Case.confidential.is_(query.confidential))
    if query.after is not None:
        found = found.where(Case.created_at >= _day_start(query.after))
    if query.before is not None:
        found = found.where(Case.created_at < _day_start(query.before))
    if query.experts:
        found = found.where(Case.assigned_expert_id.in_(_people(query.experts, "expert", postgresql, False)))
    if query.enterprises:
        found = found.where(Case.enterprise_id.in_(_people(query.enterprises, "enterprise", postgresql, True)))
    return found.order_by(Case.id.desc())


def page_after(
    session: Session, query: Select[tuple[Case]], cursor: int | None, limit: int
) -> tuple[list[Case], int | None]:
    """Up to ``limit`` cases of ``query`` (newest first) after the one with id ``cursor``, and the
    cursor of the next page (None: this is the last)."""
    if cursor is not None:
        query = query.where(Case.id < cursor)
    rows = list(session.scalars(query.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)
