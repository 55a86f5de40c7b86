"""Writing a submission: the one function that does it, whoever submits and on either database.

``write_submission`` writes the case, its submit event, its outbox row (``case.submitted``), its
indexed parties and its evidence together. Intake is the hot path, so they are written with SQL
built here from the tables' metadata rather than by the ORM's unit of work, which cost several
times more than the statements themselves:

- on PostgreSQL in **one statement** (data-modifying CTEs): one round trip, atomic by itself, so
  it may run in autocommit; it can also find the enterprise from a bearer token itself (the token
  policy is ``auth``'s), and then writes nothing unless the token is an active enterprise's;
- elsewhere (SQLite: no INSERT inside WITH) in a few statements in the caller's transaction,
  built from the same definitions over the case row just written.

Every column not computed from another (ids, the reference, the payload) is a parameter named
after its column, so a column added to a table is a parameter the caller must give (an error
at the first submission, on either database), never one silently left out by one of the paths.
``tests/test_intake_parity.py`` compares what every entry point writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import psycopg
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    FromClause,
    Insert,
    Integer,
    Table,
    Text,
    bindparam,
    cast,
    column,
    func,
    insert,
    literal,
    select,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from workstation import lifecycle
from workstation.evidence import StoredFile
from workstation.services.auth import enterprise_for_token, token_parameters
from workstation.services.db import DriverStatement, detached_as_loaded
from workstation.services.models import Case, CaseEvent, CaseParty, Evidence, OutboxMessage, User, utcnow
from workstation.services.respondents import party_rows

# --- the reference and the outbox payload: one definition each --------------------------------

REFERENCE_PREFIX = "RPA"
REFERENCE_DIGITS = 6


def reference_for(case_id: int, year: int) -> str:
    """A case's reference: RPA-<year>-<id, at least 6 digits>. What ``case_reference`` writes in SQL."""
    return f"{REFERENCE_PREFIX}-{year}-{case_id:0{REFERENCE_DIGITS}d}"


class case_reference(FunctionElement[str]):  # noqa: N801 - used as a SQL function
    """``reference_for(case_id, year)`` in SQL, so that the reference is written with the row on
    PostgreSQL (where the id is drawn in the statement) and from the row on SQLite."""

    type = Text()
    name = "case_reference"
    inherit_cache = True


@compiles(case_reference)
def _case_reference_portable(element: case_reference, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's printf pads to a minimum width, as Python's format does.
    case_id, year = element.clauses
    pattern = f"{REFERENCE_PREFIX}-%d-%0{REFERENCE_DIGITS}d"
    return compiler.process(func.printf(pattern, year, case_id), **kw)


@compiles(case_reference, "postgresql")
def _case_reference_postgresql(element: case_reference, compiler: SQLCompiler, **kw: Any) -> str:
    # lpad cuts what is longer than the width: the width is at least the number's own length
    case_id, year = element.clauses
    digits = cast(case_id, Text)
    padded = func.lpad(digits, func.greatest(REFERENCE_DIGITS, func.length(digits)), "0")
    return compiler.process(literal(f"{REFERENCE_PREFIX}-") + cast(year, Text) + "-" + padded, **kw)


class json_object(FunctionElement[Any]):  # noqa: N801 - used as a SQL function
    """A JSON object from key, value, key, value... (``json_build_object`` on PostgreSQL)."""

    type = JSON()
    name = "json_object"
    inherit_cache = True


@compiles(json_object)
def _json_object_portable(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(func.json_object(*element.clauses), **kw)


@compiles(json_object, "postgresql")
def _json_object_postgresql(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(func.json_build_object(*element.clauses), **kw)


def _outbox_payload(case_row: FromClause) -> ColumnElement[Any]:
    """The ``case.submitted`` message: the case's id and reference (consumers load the rest)."""
    return json_object(literal("case_id"), case_row.c.id, literal("reference"), case_row.c.reference)


# --- the statements, from the tables' metadata -------------------------------------------------

_cases, _events, _outbox, _parties, _evidence = (
    m.__table__ for m in (Case, CaseEvent, OutboxMessage, CaseParty, Evidence)
)
#: PostgreSQL's name for the sequence of a serial column
_CASE_ID_SEQUENCE = f"{_cases.name}_{_cases.c.id.name}_seq"
#: What a submission's elements (its parties, its files) go in as: a JSON array of objects,
#: one per row, keyed by column. Per dialect: the function that makes rows of it, with ordering.
ElementsOf = Callable[[str], tuple[FromClause, ColumnElement[Any]]]


def _postgresql_elements(parameter: str) -> tuple[FromClause, ColumnElement[Any]]:
    rows = func.json_array_elements(bindparam(parameter, type_=JSON))
    table = rows.table_valued(column("value", JSON), with_ordinality="n").render_derived().alias("element")
    return table, table.c.n


def _sqlite_elements(parameter: str) -> tuple[FromClause, ColumnElement[Any]]:
    rows = func.json_each(bindparam(parameter, type_=JSON))
    table = rows.table_valued(column("value", JSON), column("key")).alias("element")
    return table, table.c.key


def _insert_from(
    table: Table,
    source: FromClause,
    computed: dict[str, ColumnElement[Any]],
    given: Callable[[Column[Any]], ColumnElement[Any]],
    *order_by: ColumnElement[Any],
) -> Insert:
    """``INSERT INTO table`` every column (but a generated id) ``SELECT``ed from ``source``: the
    ``computed`` value, or else ``given(column)`` (a parameter, an element's field)."""
    names = [c.name for c in table.columns if c.name in computed or not c.primary_key]
    values = [computed[name] if name in computed else given(table.c[name]) for name in names]
    return insert(table).from_select(names, select(*values).select_from(source).order_by(*order_by))


def _parameter(prefix: str = "") -> Callable[[Column[Any]], ColumnElement[Any]]:
    """A column's value from the parameter named after it (after ``prefix``)."""
    return lambda c: bindparam(f"{prefix}{c.name}", type_=c.type)


def _field(value: ColumnElement[Any]) -> Callable[[Column[Any]], ColumnElement[Any]]:
    """A column's value from the JSON object ``value``, by the column's name."""

    def field(c: Column[Any]) -> ColumnElement[Any]:
        text = value[c.name].as_string()
        return cast(text, c.type) if isinstance(c.type, Integer) else text

    return field


def _case_insert(new_case: FromClause) -> Insert:
    """The case's row, from ``new_case`` (its ``id`` and ``enterprise_id``) and the parameters
    named after the other columns (``year``: for the reference)."""
    computed = {
        "id": new_case.c.id,
        "reference": case_reference(new_case.c.id, bindparam("year", type_=Integer)),
        "enterprise_id": new_case.c.enterprise_id,
    }
    insert_case = _insert_from(_cases, new_case, computed, _parameter())
    return insert_case.returning(_cases.c.id, _cases.c.reference, _cases.c.enterprise_id)


def _followers(case_row: FromClause, elements_of: ElementsOf) -> tuple[Insert, Insert, Insert, Insert]:
    """The rows written with the case, from ``case_row`` (its ``id``, ``reference`` and
    ``enterprise_id``): its submit event (returning its id; parameters ``event_<column>``, the actor
    the enterprise when ``event_actor_id`` is None), its outbox row (``outbox_<column>``), its
    indexed parties (``party_index``) and its evidence (``files``, returning the ids; rows are
    inserted in the order of the select, each drawing its id then: ascending ids are the files'
    order)."""
    by = case_row.c
    actor = func.coalesce(bindparam("event_actor_id", type_=BigInteger), by.enterprise_id)
    event = _insert_from(_events, case_row, {"case_id": by.id, "actor_id": actor}, _parameter("event_"))
    outbox = _insert_from(_outbox, case_row, {"payload": _outbox_payload(case_row)}, _parameter("outbox_"))
    parties, parties_order = elements_of("party_index")
    party = {"case_id": by.id, "enterprise_id": by.enterprise_id}
    party_index = _insert_from(_parties, case_row.join(parties, true()), party, _field(parties.c.value), parties_order)
    files, files_order = elements_of("files")
    uploaded_at = bindparam("created_at", type_=_evidence.c.uploaded_at.type)  # the case's
    uploaded = {"case_id": by.id, "uploaded_by": by.enterprise_id, "uploaded_at": uploaded_at}
    evidence = _insert_from(_evidence, case_row.join(files, true()), uploaded, _field(files.c.value), files_order)
    return event.returning(_events.c.id), outbox, party_index, evidence.returning(_evidence.c.id)


def _postgresql_statement(by_token: bool) -> DriverStatement:
    """All of it in one statement, for the enterprise ``enterprise_id`` or (``by_token``) the
    active enterprise holding the token (``auth.token_parameters``; none: nothing written, no
    row). The id is drawn first so that the reference is written with the row. Returns the case's
    id, reference and enterprise, the event's id and the evidence's ids."""
    case_id = func.nextval(_CASE_ID_SEQUENCE).label("id")
    if by_token:
        holder, used = enterprise_for_token()
        new_case, recorded = select(case_id, holder.c.id.label("enterprise_id")).select_from(holder), [used]
    else:
        new_case, recorded = select(case_id, bindparam("enterprise_id", type_=BigInteger).label("enterprise_id")), []
    case_row = _case_insert(new_case.cte("new_case")).cte("case_row")
    event, outbox, parties, evidence = _followers(case_row, _postgresql_elements)
    event_row, evidence_rows = event.cte("event_row"), evidence.cte("evidence_rows")
    evidence_ids = func.array(select(evidence_rows.c.id).order_by(evidence_rows.c.id).scalar_subquery())
    return DriverStatement.compile(
        select(case_row.c.id, case_row.c.reference, case_row.c.enterprise_id, event_row.c.id, evidence_ids)
        .select_from(case_row, event_row)
        .add_cte(outbox.cte("outbox_row"), parties.cte("party_index"), *recorded)
    )


# Built once: building and compiling them cost more than running them. psycopg prepares each of
# the two texts on the server after a few uses, so PostgreSQL plans it once per connection.
_FOR_ENTERPRISE = _postgresql_statement(by_token=False)
_FOR_TOKEN = _postgresql_statement(by_token=True)
# Elsewhere: the case first (its id as SQLite itself would choose it, one more than the largest,
# drawn in the statement that writes it so that the reference is written with the row), then the
# rest from it, by id.
_NEXT_CASE = select(
    (select(func.coalesce(func.max(_cases.c.id), 0) + 1).scalar_subquery()).label("id"),
    bindparam("enterprise_id", type_=BigInteger).label("enterprise_id"),
).subquery("new_case")
_CASE_IN_STEPS = _case_insert(_NEXT_CASE)
_FOLLOWERS_IN_STEPS = _followers(
    select(_cases.c.id, _cases.c.reference, _cases.c.enterprise_id)
    .where(_cases.c.id == bindparam("case_id"))
    .subquery("case_row"),
    _sqlite_elements,
)


# --- writing ---------------------------------------------------------------------------------


def write_submission(
    connection: Connection,
    data: dict[str, Any],
    files: Sequence[StoredFile] = (),
    *,
    enterprise_id: int,
    actor: User | None = None,
    detail: dict[str, Any] | None = None,
) -> Case:
    """Write a case for the enterprise ``enterprise_id`` from validated input (``CaseInputSchema``)
    and its already stored ``files``, on ``connection``: in its transaction, or on PostgreSQL in
    autocommit if it is in that mode (the one statement is atomic by itself). The caller commits.
    ``actor``: who submits it when not the enterprise itself (a coordinator opening a case for
    it); ``detail`` goes into the submit event.

    The case returned is detached, as if loaded from its rows (``_as_written``).
    """
    case, event, parameters = _submission(data, files, actor, detail)
    parameters["enterprise_id"] = enterprise_id
    if connection.dialect.name == "postgresql":
        written = _FOR_ENTERPRISE.execute(connection, parameters)
    else:
        written = _write_in_steps(connection, parameters)
    assert written is not None  # (the statement for an enterprise always writes its row)
    return _as_written(case, event, files, *written)


def write_by_token(driver: psycopg.Connection, data: dict[str, Any], token_hash: str) -> WrittenCase | None:
    """The API's hot path (PostgreSQL only): write a case from validated input, without files,
    for the active enterprise holding the bearer token whose hash is ``token_hash``, on
    ``driver`` in autocommit (``db.autocommit_driver``): the one statement checks the token and
    writes everything, atomic by itself. None when no such enterprise: nothing is written. The
    case comes back as a ``WrittenCase`` (the caller only answers with it)."""
    case, event, parameters = _submission(data, (), None, None)
    parameters.update(token_parameters(token_hash, case["created_at"]))
    written = _FOR_TOKEN.run(driver, parameters)
    return None if written is None else _as_record(case, event, (), *written)


def _submission(
    data: dict[str, Any], files: Sequence[StoredFile], actor: User | None, detail: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The case's row (without its id, reference and enterprise), its submit event's (``actor_id``
    None: the enterprise, once known), and the statements' parameters."""
    move = lifecycle.decide(None, "submit", lifecycle.OWNER)
    now = utcnow()
    case = {**data, "status": move.target, "assigned_expert_id": None, "shadow_expert_id": None,
            "difficult_reason": None, "created_at": now, "updated_at": now,
            # a case opened by mail (``services.mailin``) waits for a coordinator to classify it
            "to_classify": bool((detail or {}).get("to_classify"))}  # fmt: skip
    event = {
        "action": "submit",
        "from_status": None,
        "to_status": move.target,
        "actor_id": actor.id if actor else None,
        "actor_role": actor.role if actor else "enterprise",
        "detail": {**(detail or {}), **({"evidence": [f.sha256 for f in files]} if files else {})},
        "created_at": now,
    }
    outbox = {"routing_key": move.emits, "created_at": now, "published_at": None, "publish_count": 0}
    parameters = {
        **case,
        **{f"event_{key}": value for key, value in event.items()},
        **{f"outbox_{key}": value for key, value in outbox.items()},
        "year": now.year,
        "party_index": party_rows(data.get("parties")),
        "files": _evidence_rows(files),
    }
    return case, event, parameters


def _evidence_rows(files: Sequence[StoredFile]) -> list[dict[str, Any]]:
    """The evidence rows of a submission's files (without the case, who uploaded them and when)."""
    return [{"sha256": f.sha256, "filename": f.filename, "content_type": f.content_type, "size": f.size,
             "kind": "evidence"} for f in files]  # fmt: skip


def _write_in_steps(connection: Connection, parameters: dict[str, Any]) -> tuple[int, str, int, int, list[int]]:
    """The statement's rows one statement at a time, in the connection's transaction (SQLite)."""
    case_id, reference, enterprise_id = connection.execute(_CASE_IN_STEPS, parameters).one()
    parameters = {**parameters, "case_id": case_id}
    event, outbox, parties, evidence = _FOLLOWERS_IN_STEPS
    event_id = connection.execute(event, parameters).scalar_one()
    connection.execute(outbox, parameters)
    connection.execute(parties, parameters)
    return case_id, reference, enterprise_id, event_id, sorted(connection.execute(evidence, parameters).scalars())


class WrittenCase(SimpleNamespace):
    """A case just written, as its rows say (``_as_record``): its columns as attributes, its submit
    event in ``events``, its evidence in ``evidence``, no expert yet. It is what answering with the
    case reads (the API's ``case_to_dict``, with ``deadlines_for``), without the ORM instance
    ``_as_written`` makes, whose state and relationships cost a fifteenth of intake's request.
    It is no model: nothing else can be read of it, and it is in no session."""


def _as_record(
    case: dict[str, Any],
    event: dict[str, Any],
    files: Sequence[StoredFile],
    case_id: int,
    reference: str,
    enterprise_id: int,
    event_id: int,
    evidence_ids: list[int],
) -> WrittenCase:
    """What ``_as_written`` makes of the rows, as a ``WrittenCase`` (``tests/test_intake_cost.py``
    checks that the API answers both the same)."""
    evidence = [
        SimpleNamespace(id=i, case_id=case_id, uploaded_by=enterprise_id, uploaded_at=case["created_at"], **f)
        for i, f in zip(evidence_ids, _evidence_rows(files), strict=True)
    ]
    submit = SimpleNamespace(id=event_id, case_id=case_id, **{**event, "actor_id": event["actor_id"] or enterprise_id})
    return WrittenCase(id=case_id, reference=reference, enterprise_id=enterprise_id, **case, events=[submit],
                       evidence=evidence, assigned_expert=None, shadow_expert=None)  # fmt: skip


def _as_written(
    case: dict[str, Any],
    event: dict[str, Any],
    files: Sequence[StoredFile],
    case_id: int,
    reference: str,
    enterprise_id: int,
    event_id: int,
    evidence_ids: list[int],
) -> Case:
    """The case just written, as if loaded from its rows and then detached: with its event and
    evidence, and its expert and shadow (None), as loaded relationships (set_committed_value
    records no change, and costs a fraction of setting them through the constructor), so that
    answering with it needs no query. It stays out of any session: the identity map, the cascade
    and the commit going over it would be CPU spent for nothing. Its other relationships (its
    enterprise, messages, opinion...) are not loaded, and reading one raises
    DetachedInstanceError: a caller that needs them loads the case again."""
    evidence = [
        detached_as_loaded(Evidence, id=i, case_id=case_id, uploaded_by=enterprise_id,
                           uploaded_at=case["created_at"], **f)
        for i, f in zip(evidence_ids, _evidence_rows(files), strict=True)
    ]  # fmt: skip
    submit = detached_as_loaded(
        CaseEvent, id=event_id, case_id=case_id, **{**event, "actor_id": event["actor_id"] or enterprise_id}
    )
    written = detached_as_loaded(Case, id=case_id, reference=reference, enterprise_id=enterprise_id, **case)
    set_committed_value(written, "events", [submit])
    set_committed_value(written, "evidence", evidence)
    set_committed_value(written, "assigned_expert", None)
    set_committed_value(written, "shadow_expert", None)
    for child in (submit, *evidence):
        set_committed_value(child, "case", written)
    return written
