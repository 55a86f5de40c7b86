"""Searching cases: the search syntax (``workstation.search_syntax``) as a query of the cases the
searcher may see. Every search starts from ``cases.visible_cases``, so it shows exactly the cases
the case pages would; a message counts only if the searcher may read it (an enterprise never
finds its case by the words of an internal note).

A word matches a case when it is part of the case's own text (reference, title, description,
parties' names and credit codes, rights' numbers and marks), of its enterprise's or its expert's
name or organisation (and the enterprise's credit code), or of a message of its thread.

PostgreSQL answers from the gram indexes (``rpa_search_grams``; a case's in ``case_grams``, written
by the watch worker after the submission, ``index_cases``): the word's grams select the candidates,
and a word longer than one gram is then looked for in their text. A case's document there also
holds its messages' grams (migration 0025; an internal note's marked, ``search_syntax.NOTE_MARK``),
so that the words of a search are one GIN query, their posting lists intersected in the index (two
common words rarely together: 1-2 s when each word's cases were collected apart). SQLite does the same with its
FTS5 table of the same grams (``case_fts``, also written by ``index_cases``); both match the same
cases. (Not FTS5's own trigram tokenizer: a two-character Chinese word, most searches, has no
trigram, and SQLite then reads every row.)

A page of the newest first (``search_page``) is found in two tries: the newest ``WINDOW`` cases
the searcher may see that the filters let through, each read for the words (a word in a tenth of
the cases or more fills a page from a few hundred of them, where the indexes would collect and
sort every case holding it); and only when those hold less than a page, the older ones through
the indexes (``search_cases``), which is quick then because the words are rare.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    cast,
    column,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import LoaderOption

from workstation.deadlines import zone
from workstation.search_syntax import Query, fold, fts_document, fts_query, needs_recheck, tsquery, tsvector
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

#: The case's own text on PostgreSQL (migration 0012).
_PG_CASE_TEXT = func.rpa_case_text(Case.reference, Case.title, Case.description, Case.parties, Case.rights)

#: A batch of cases' documents: their own grams (made in Python) and their messages' (the
#: database's), for the ids and ``tsvector`` literals given as two arrays.
_WRITE_CASE_GRAMS = text(
    "INSERT INTO case_grams (case_id, grams)"
    " SELECT d.id, CAST(d.grams AS tsvector) || rpa_case_message_grams(d.id)"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:grams AS text[])) AS d(id, grams)"
    " ON CONFLICT (case_id) DO UPDATE SET grams = EXCLUDED.grams"
)

#: How many cases ``index_cases`` reads and writes at a time (every case's: a reindex).
INDEX_CHUNK = 1000

#: SQLite's FTS5 table of the cases' grams (migration 0024; no model: a virtual table), each
#: case's row under its id: what ``case_grams`` is on PostgreSQL.
CASE_FTS = table("case_fts", column("rowid"), column("grams"))


#: How far below the newest indexed case a case not indexed yet is still looked for (batches of
#: the watch workers can finish out of order; a worker down for longer is caught up on restart).
UNINDEXED_MARGIN = 1000

#: How many of the searcher's newest cases (that the filters let through) the first try of
#: ``search_page`` reads one by one: about 10 us each on PostgreSQL.
WINDOW = 1000

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


def _people_ids(session: Session, words: tuple[str, ...] | str, role: str, with_code: bool) -> list[int]:
    """``_people``, looked up first, so that the planner of a search knows how many (as a
    subquery of the union in ``_matching`` it guessed a third of the enterprises, and read every
    case to join them)."""
    return list(session.scalars(_people(words, role, _postgresql(session), with_code)))


def _messages(user: User) -> Select[tuple[int]]:
    """The messages ``user`` may read the words of (an enterprise never an internal note's)."""
    messages = select(CaseMessage.case_id)
    return messages.where(CaseMessage.internal.is_(False)) if user.role == "enterprise" else messages


def _in_text(folded: str) -> ColumnElement[bool]:
    """PostgreSQL: the case's own text holds ``folded``: the title and description first (most
    matches are there; reading them is cheap), then the whole text with the parties and rights
    (JSON: about 100 us a case)."""
    plain = (_contains(column, folded, True) for column in (Case.title, Case.description, Case.reference))
    return or_(*plain, _contains(_case_text(), folded, True))


def _grams_query(term: str) -> ColumnElement:
    return cast(bindparam("q", tsquery(term), String, unique=True), TSQUERY)


def _matching_each(user: User, term: str) -> ColumnElement[bool]:
    """PostgreSQL: what a case, read on its own, must satisfy to hold ``term`` (anywhere it may
    be): ``_matching`` for a walk along the cases (``search_page``'s first try), the query
    joined to ``case_grams`` (outer: a case not indexed yet is read whole)."""
    folded = fold(term)
    in_text = _in_text(folded)
    indexed = CaseGrams.grams.op("@@")(_grams_query(term)) & (in_text if needs_recheck(term) else true())
    own = or_(indexed, and_(CaseGrams.case_id.is_(None), in_text))
    # Whether any of its messages holds the word, as a value (an EXISTS here is planned as a
    # hash of every message holding it, for a walk that reads a hundred cases).
    said = _messages(user).where(CaseMessage.case_id == Case.id)
    said = said.with_only_columns(func.bool_or(_contains(CaseMessage.body, folded, True))).scalar_subquery()
    return or_(
        own,
        func.coalesce(said, False),
        Case.enterprise_id.in_(_people(term, "enterprise", True, True)),
        Case.assigned_expert_id.in_(_people(term, "expert", True, False)),
    )


def _matching(
    session: Session, user: User, term: str, unindexed: list[int], within: tuple[int, int] | None = None
) -> list[ColumnElement[bool]]:
    """What a case must satisfy to hold ``term`` (anywhere it may be).

    On PostgreSQL: its id is in the union of one indexable query per place: the rows the gram
    indexes give, checked for the term itself when the grams alone can be wrong (``needs_recheck``).
    (Checking on the outer rows instead let the planner read every case's text: seconds.)
    ``unindexed``: the cases the watch worker has not indexed yet (``_unindexed``). ``within``: on
    SQLite, the lowest and highest id the FTS5 matches are taken from (``search_page``'s window:
    all of a common word's would be collected first)."""
    folded, recheck = fold(term), needs_recheck(term)
    messages = _messages(user)
    enterprises = _people_ids(session, term, "enterprise", True)
    experts = _people_ids(session, term, "expert", False)
    by_people = [Case.enterprise_id.in_(enterprises), Case.assigned_expert_id.in_(experts)]
    if not _postgresql(session):
        # The FTS5 index gives the candidates; only they are read for the term itself.
        in_text = func.instr(_SQLITE_CASE_TEXT, folded) > 0
        indexed = select(CASE_FTS.c.rowid).where(literal_column("case_fts").op("MATCH")(fts_query(term)))
        if within is not None:
            indexed = indexed.where(CASE_FTS.c.rowid.between(*within))
        own = Case.id.in_(indexed) & (in_text if recheck else true())
        new = [Case.id.in_(unindexed) & in_text] if unindexed else []
        said = messages.where(CaseMessage.case_id == Case.id, func.instr(func.lower(CaseMessage.body), folded) > 0)
        return [or_(own, *new, said.exists(), *by_people)]
    grams = _grams_query(term)
    said = messages.where(func.rpa_search_grams(CaseMessage.body).op("@@")(grams))
    if recheck:  # (a message is short: checked where it is found)
        said = said.where(_contains(CaseMessage.body, folded, True))
    # Each place looks among the searcher's own cases only: an enterprise's or an expert's few
    # cases are checked one by one instead of collecting every case in the centre holding the word.
    mine = visible_cases(user).with_only_columns(Case.id)
    if user.role != "coordinator":
        said = said.where(CaseMessage.case_id.in_(mine))
    indexed = select(CaseGrams.case_id).where(CaseGrams.grams.op("@@")(grams))
    in_text = _in_text(folded)
    if recheck:
        own = mine.where(Case.id.in_(indexed), in_text)
    elif user.role == "coordinator":  # (every case is theirs: no join of every matching one to cases)
        own = indexed
    else:
        own = mine.where(Case.id.in_(indexed))
    # A case not indexed yet is read whole, so a search does not miss a case for being new.
    new = [mine.where(Case.id.in_(unindexed), in_text)] if unindexed else []
    people = [mine.where(by) for by, ids in zip(by_people, (enterprises, experts), strict=True) if ids]
    return [Case.id.in_(own.union(*new, said, *people))]


def _unindexed(session: Session) -> list[int]:
    """The cases the watch worker has not indexed yet (a few milliseconds after their submission).
    They are the newest: looked for among the ids above the newest indexed one, less a margin for
    batches indexed out of order (a range of the primary key, not every case; a list of numbers
    the planner reads, where as a subquery PostgreSQL's hashed every indexed case)."""
    key = CaseGrams.case_id if _postgresql(session) else CASE_FTS.c.rowid
    # (The newest looked up first: as a subquery, the planner guessed a third of the rows above
    # it and read every row of case_grams, ~25 ms.)
    newest = session.scalar(select(func.coalesce(func.max(key), 0))) or 0
    recent = select(Case.id).where(Case.id > newest - UNINDEXED_MARGIN)
    indexed = select(key).where(key > newest - UNINDEXED_MARGIN)
    return list(session.scalars(recent.except_(indexed)))


def index_cases(session: Session, case_ids: Sequence[int] | None) -> None:
    """Write the grams of ``case_ids``' text (None: every case's): the watch worker's, for the
    cases it is told were submitted. The grams are cut here (``search_syntax``) on both databases:
    PostgreSQL's own function cost it ten times the CPU; only a case's messages' grams are the
    database's (``rpa_case_message_grams``, kept up to date by a trigger on ``case_messages``)."""
    if case_ids is None:
        case_ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    postgresql = _postgresql(session)
    text_of = _PG_CASE_TEXT if postgresql else _SQLITE_CASE_TEXT
    for start in range(0, len(case_ids), INDEX_CHUNK):
        chunk = case_ids[start : start + INDEX_CHUNK]
        texts = session.execute(select(Case.id, text_of).where(Case.id.in_(chunk))).all()
        if postgresql:
            if texts:
                grams = [tsvector(body or "") for _case_id, body in texts]
                session.execute(_WRITE_CASE_GRAMS, {"ids": [case_id for case_id, _body in texts], "grams": grams})
        else:
            session.execute(delete(CASE_FTS).where(CASE_FTS.c.rowid.in_(chunk)))
            if texts:
                rows = [{"rowid": case_id, "grams": fts_document(body or "")} for case_id, body in texts]
                session.execute(insert(CASE_FTS), rows)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone())


def search_cases(session: Session, user: User, query: Query) -> Select[tuple[Case]]:
    """The cases ``user`` may see that ``query`` finds, newest first (by id: cases are numbered
    as they come). Not run (only the people its words name and the newest indexed case are
    looked up): the caller pages it or counts it."""
    found = _filtered(session, user, query)
    unindexed = _unindexed(session) if query.terms else []
    alone: list[str] = []  # (PostgreSQL: the terms its documents alone answer for)
    for term in query.terms:
        if _postgresql(session) and tsquery(term) and not _names_people(session, term):
            alone.append(term)
        else:
            found = found.where(*_matching(session, user, term, unindexed))
    if alone:
        found = found.where(Case.id.in_(_documents_holding(user, alone, unindexed)))
    return found.order_by(Case.id.desc())


def _names_people(session: Session, term: str) -> bool:
    return bool(_people_ids(session, term, "enterprise", True) or _people_ids(session, term, "expert", False))


def _documents_holding(user: User, terms: list[str], unindexed: list[int]) -> Select[tuple[int]]:
    """PostgreSQL: the ids of the cases holding every one of ``terms`` (none of which names
    people) in their text or in a message ``user`` may read: one GIN query of all the terms'
    grams in the cases' documents (their text's and messages' grams, an internal note's marked
    with ``NOTE_MARK``: looked for unless ``user`` is an enterprise), its posting lists
    intersected in the index (two common words rarely together are cheap), then the text checked
    where the grams alone can be wrong; and the cases not indexed yet, read whole."""
    notes = user.role != "enterprise"
    grams = " & ".join(f"({tsquery(term, notes)})" for term in terms)
    grams_query = cast(bindparam("q", grams, String, unique=True), TSQUERY)
    # (rpa_cases_holding: the GIN index always, as a function the planner does not see into: it
    # guessed thousands of cases for two common words rarely together, and read every case.)
    holding = func.rpa_cases_holding(grams_query).column_valued("holding")
    indexed = select(holding)
    if checks := [_held(user, term) for term in terms if needs_recheck(term)]:
        indexed = indexed.join(Case, Case.id == holding).where(*checks)
    if not unindexed:
        return indexed
    return indexed.union(select(Case.id).where(Case.id.in_(unindexed), *(_held(user, term) for term in terms)))


def _held(user: User, term: str) -> ColumnElement[bool]:
    """PostgreSQL: the case's text or a message of it ``user`` may read holds ``term``."""
    folded = fold(term)
    said = _messages(user).where(CaseMessage.case_id == Case.id, _contains(CaseMessage.body, folded, True))
    return or_(_in_text(folded), said.exists())


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _filtered(session: Session, user: User, query: Query) -> Select[tuple[Case]]:
    """The cases ``user`` may see that ``query``'s filters (not its words) let through."""
    found = visible_cases(user)
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
        found = found.where(Case.assigned_expert_id.in_(_people_ids(session, query.experts, "expert", False)))
    if query.enterprises:
        found = found.where(Case.enterprise_id.in_(_people_ids(session, query.enterprises, "enterprise", True)))
    return found


def search_page(
    session: Session, user: User, query: Query, cursor: int | None, limit: int, *options: LoaderOption
) -> tuple[list[Case], int | None]:
    """``page_after`` of ``search_cases`` (the same cases), in two tries (the module's
    docstring): the newest ``WINDOW`` cases first, read one by one; the older ones through the
    indexes only when those did not fill the page."""
    if not query.terms:
        return page_after(session, search_cases(session, user, query).options(*options), cursor, limit)
    base = _filtered(session, user, query)
    if cursor is not None:
        base = base.where(Case.id < cursor)
    ids = list(session.scalars(base.with_only_columns(Case.id).order_by(Case.id.desc()).limit(WINDOW)))
    if not ids:
        return [], None
    floor, seen = ids[-1], len(ids)
    # A centre's newest cases are a range of ids, read along the primary key until a page is
    # found; an enterprise's or an expert's are spread over all of them: looked up one by one.
    window = Case.id.between(floor, ids[0]) if ids[0] - floor < 2 * seen else Case.id.in_(ids)
    if _postgresql(session):
        walk = base.outerjoin(CaseGrams, CaseGrams.case_id == Case.id).where(window)
        walk = walk.where(*(_matching_each(user, term) for term in query.terms)).options(*options)
    else:  # SQLite: the FTS5 matches among the window's ids only, then their text
        unindexed, within = _unindexed(session), (floor, ids[0])
        terms = (_matching(session, user, term, unindexed, within)[0] for term in query.terms)
        walk = base.where(window, *terms).options(*options)
    rows = list(session.scalars(walk.order_by(Case.id.desc()).limit(limit + 1)).unique())
    if len(rows) <= limit and seen == WINDOW:  # the window is not all there is
        older = search_cases(session, user, query).where(Case.id < floor).with_only_columns(Case.id)
        # The ids first, sorted after the match (id + 0: not the primary key's order): the
        # planner, counting on the LIMIT, walked the key back from the window to merge with the
        # few matches (half the cases read to find one far back), or, guessing thousands of
        # matches, read every case to hash-join them; then the cases by their ids.
        older = older.order_by(None).order_by((Case.id + 0).desc()).limit(limit + 1 - len(rows))
        if ids := list(session.scalars(older)):
            more_rows = select(Case).where(Case.id.in_(ids)).order_by(Case.id.desc()).options(*options)
            rows += session.scalars(more_rows).unique()
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


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
