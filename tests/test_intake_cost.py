"""What intake's hot path (``POST /api/v1/cases``, JSON, bearer token) no longer does on every
request, and that what it answers stayed the same (``benchmarks/intakecost.py`` measures it)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CASE
from tests.test_web import login
from workstation.web import session as web_session
from workstation.web import support


@pytest.fixture
def serializers_built(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every itsdangerous serializer Flask's session interface builds, from now on."""
    import flask.sessions

    built: list[object] = []
    real = flask.sessions.URLSafeTimedSerializer

    def counting(*args: Any, **kwargs: Any) -> object:
        serializer = real(*args, **kwargs)
        built.append(serializer)
        return serializer

    monkeypatch.setattr(flask.sessions, "URLSafeTimedSerializer", counting)
    return built


def test_an_api_request_builds_no_session_serializer(client, people, serializers_built) -> None:  # noqa: ANN001
    for _ in range(3):
        response = client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise"))
        assert response.status_code == 201
    assert serializers_built == []
    assert "Set-Cookie" not in response.headers


def test_the_session_serializer_is_built_once_for_pages(client, people, serializers_built) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    for _ in range(3):
        assert client.get("/cases/new").status_code == 200
    assert len(serializers_built) == 1


def test_a_new_secret_key_builds_a_new_serializer(app: Flask) -> None:
    sessions = app.session_interface
    first = sessions.get_signing_serializer(app)
    assert sessions.get_signing_serializer(app) is first
    app.secret_key = "another-secret-key"
    assert sessions.get_signing_serializer(app) is not first


def _headers_of_each(app: Flask, client, people) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """The headers (but the per-answer ones) of an API answer, a page without a session and a
    logged-in page, on ``app`` as it is."""
    answer = client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise"))
    anonymous = client.get("/login")
    login(client, people.enterprise.email)
    logged_in = client.get("/cases/new")
    varying = {"Location", "Content-Length", "Set-Cookie", "Content-Security-Policy"}  # (its nonce)

    def kept(response) -> dict[str, Any]:  # noqa: ANN001
        headers = {k: v for k, v in response.headers.items() if k not in varying}
        return headers | {"sets a cookie": "Set-Cookie" in response.headers}

    return {"answer": kept(answer), "anonymous": kept(anonymous), "logged_in": kept(logged_in)}


def test_sessions_answer_as_flasks_own(app: Flask, people) -> None:  # noqa: ANN001
    assert isinstance(app.session_interface, web_session.CookieSessions)
    ours = _headers_of_each(app, app.test_client(), people)
    app.session_interface = SecureCookieSessionInterface()
    flasks = _headers_of_each(app, app.test_client(), people)
    assert ours == flasks


def test_an_api_request_asks_inspect_nothing(client, people, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Flask asks whether each hook and view is a coroutine function, every request: plain
    functions are told apart without ``inspect``, which took its time to say no."""
    import flask.app

    asked: list[object] = []
    real = flask.app.iscoroutinefunction
    monkeypatch.setattr(flask.app, "iscoroutinefunction", lambda func: asked.append(func) or real(func))
    response = client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise"))
    assert response.status_code == 201
    assert asked == []


def test_coroutine_functions_are_still_flasks_to_run(app: Flask) -> None:  # noqa: ANN001
    async def view() -> str:
        return "done"

    def plain() -> str:
        return "done"

    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(app.ensure_sync) == app.ensure_sync  # a bound method
    with pytest.raises(RuntimeError, match="async"):  # (Flask's async extra, asgiref, is not installed)
        app.ensure_sync(view)


class _CountingPattern:
    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern, self.searched = pattern, 0

    def search(self, body: bytes) -> re.Match[bytes] | None:
        self.searched += 1
        return self.pattern.search(body)


def test_a_utf8_body_is_not_searched_for_text_the_databases_refuse(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = _CountingPattern(support._MAY_BE_REFUSED)  # noqa: SLF001
    monkeypatch.setattr(support, "_MAY_BE_REFUSED", counting)
    assert not support._may_be_refused(json.dumps(CASE, ensure_ascii=False).encode())  # noqa: SLF001
    assert counting.searched == 0
    assert not support._may_be_refused(json.dumps(CASE).encode())  # (\\u escapes: searched)  # noqa: SLF001
    assert counting.searched == 1


@given(st.binary(max_size=40) | st.text(max_size=20).map(lambda t: json.dumps(t).encode()))
def test_the_check_before_the_search_finds_what_the_search_finds(body: bytes) -> None:
    assert support._may_be_refused(body) == (support._MAY_BE_REFUSED.search(body) is not None)  # noqa: SLF001


def test_a_written_case_configures_no_mappers_once_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    from workstation.services import db
    from workstation.services.models import Case

    db.detached_as_loaded(Case, id=1)  # (configures them if nothing did yet)
    configured: list[bool] = []
    monkeypatch.setattr(db, "configure_mappers", lambda: configured.append(True))
    case = db.detached_as_loaded(Case, id=2, reference="RPA-2026-000002")
    assert configured == [] and (case.id, case.reference) == (2, "RPA-2026-000002")


_RICH = {
    **CASE,
    "parties": [{"role": "respondent", "name": "深圳市某某电子商务有限公司", "credit_code": "91440300MA5F1234XC"}],
    "rights": [{"kind": "trademark", "number": "34567890", "mark_text": "星河", "registered_on": "2019-05-07"}],
    "key_dates": {"known_on": "2026-10-12", "published_on": "2026-09-01", "registered_on": "2024-01-05"},
    "notice_kind": None,
    "urgency": "high",
}
_BODIES = [
    CASE,
    _RICH,
    {**_RICH, "right_type": "patent", "service": "ip_analysis", "key_dates": {"filed_on": "2020-02-29"},
     "rights": [{"kind": "patent", "number": "ZL2020", "filed_on": "2020-02-29"}],
     "activity": {"kind": "trade", "date": "2027-03-01", "target_markets": ["US", "DE"]}},
    {**CASE, "right_type": "patent", "service": "litigation_advice",
     "litigation": {"kind": "non_infringement_declaration", "opponent": {"name": "某某电子", "credit_code": None},
                    "warning_received_on": "2026-02-10", "accused_subject": "X1 型充电器",
                    "demand_sent_on": "2026-03-02", "demand_received_on": "2026-03-05"}},
    {**CASE, "right_type": "trade_secret", "service": "infringement_judgment"},
]  # fmt: skip


@pytest.mark.parametrize("body", _BODIES, ids=["plain", "rich", "activity", "litigation", "trade_secret"])
@pytest.mark.parametrize("files", [0, 2])
def test_the_api_answers_a_written_record_as_the_written_case(app: Flask, body: dict[str, Any], files: int) -> None:
    """``accept_by_token`` answers with a ``WrittenCase``, not the ORM's ``Case`` the other ways in
    make of the same rows: the answer (``case_to_dict``, its deadlines included) is the same."""
    from workstation.evidence import StoredFile
    from workstation.services import submission
    from workstation.services.schemas import case_input_schema
    from workstation.web.api import case_to_dict

    data = case_input_schema.load(body)
    stored = [StoredFile(f"{n:064x}", f"证据{n}.pdf", "application/pdf", 100 + n) for n in range(files)]
    case, event, _ = submission._submission(data, stored, None, {"via": "test"})  # noqa: SLF001
    rows = (case, event, stored, 41, "RPA-2026-000041", 7, 93, list(range(500, 500 + files)))
    with app.test_request_context("/api/v1/cases", method="POST"):
        as_model = case_to_dict(submission._as_written(*rows))  # noqa: SLF001
        as_record = case_to_dict(submission._as_record(*rows))  # noqa: SLF001
    assert as_record["deadlines"] and as_record["reference"] == "RPA-2026-000041"
    assert json.dumps(as_record, sort_keys=True) == json.dumps(as_model, sort_keys=True)


def test_the_hot_path_makes_no_orm_instance(client, people, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from workstation.services import submission

    if backend != "services":
        pytest.skip("the one-statement hot path is PostgreSQL's")
    made: list[object] = []
    real = submission._as_written  # noqa: SLF001
    monkeypatch.setattr(submission, "_as_written", lambda *rows: made.append(rows) or real(*rows))
    response = client.post("/api/v1/cases", json=_RICH, headers=people.headers("enterprise"))
    assert response.status_code == 201 and response.get_json()["parties"] == _RICH["parties"]
    assert made == []


def test_the_hot_path_puts_its_connection_back_out_of_autocommit(
    client,
    people,
    app,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
) -> None:
    """``accept_by_token`` sets psycopg's autocommit on a pooled connection itself
    (``db.autocommit_driver``), not through SQLAlchemy's isolation level (its set and reset cost
    more than the flag): the connection goes back to the pool as it came, and the next session's
    work there runs in a transaction again."""
    if backend != "services":
        pytest.skip("the one-statement hot path is PostgreSQL's")
    engine = app.extensions["workstation"]["engine"]
    asked: list[str] = []
    for name in ("set_isolation_level", "reset_isolation_level"):
        real = getattr(engine.dialect, name)
        monkeypatch.setattr(engine.dialect, name, lambda *a, real=real, name=name: asked.append(name) or real(*a))
    response = client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise"))
    assert response.status_code == 201 and asked == []
    assert engine.pool.checkedout() == 0
    fairy = engine.raw_connection()
    try:
        assert fairy.driver_connection.autocommit is False
    finally:
        fairy.close()
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
        assert connection.connection.driver_connection.pgconn.transaction_status == 2  # (INTRANS)


def test_a_broken_hot_path_connection_is_dropped_and_the_pool_renewed(app, people, backend: str) -> None:  # noqa: ANN001
    """A statement on ``autocommit_driver``'s connection that fails because the connection broke
    (here: its backend terminated) invalidates it and renews the pool, as SQLAlchemy does for its
    own statements, so that the next request gets a working connection."""
    if backend != "services":
        pytest.skip("PostgreSQL's driver connections")
    from workstation.services.db import autocommit_driver
    from workstation.services.intake import accept_by_token
    from workstation.services.schemas import case_input_schema

    engine = app.extensions["workstation"]["engine"]
    token = people.tokens["enterprise"]
    assert accept_by_token(engine, token, CASE) is not None
    with autocommit_driver(engine) as driver:
        pid = driver.info.backend_pid
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as other:  # (not from the pool: it would hand out the same)
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(psycopg.OperationalError):
        accept_by_token(engine, token, CASE)
    assert case_input_schema.load(CASE)  # (the input was good: the connection was the fault)
    written = accept_by_token(engine, token, CASE)
    assert written is not None and written.reference.startswith("RPA-")
    with autocommit_driver(engine) as driver:
        assert driver.info.backend_pid != pid


def test_a_case_s_legal_deadlines_are_worked_out_once_a_day_for_the_same_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    """``legal_deadlines`` keeps what it found for the same facts on the same day (the official
    calendar): the rules run once; other facts, another day, or facts that are not JSON's own
    values (a date object) run them again, and every answer is the one the rules give."""
    from datetime import date

    from workstation import deadlines

    runs: list[object] = []
    rules = deadlines._LEGAL_RULES  # noqa: SLF001
    monkeypatch.setattr(deadlines, "_LEGAL_RULES", [lambda facts, common: runs.append(facts) or [], *rules])
    monkeypatch.setattr(deadlines, "_LEGAL_FOUND", {})
    facts = {"key_dates": {"known_on": "2026-10-12", "published_on": "2026-09-01"}, "jurisdiction": "CN",
             "rights": [{"kind": "trademark", "number": "1", "registered_on": "2016-05-07"}]}  # fmt: skip
    first = deadlines.legal_deadlines("trademark", today=date(2026, 12, 7), **facts)
    again = deadlines.legal_deadlines("trademark", today=date(2026, 12, 7), **facts)
    assert first == again and first and len(runs) == 1
    deadlines.legal_deadlines("trademark", today=date(2027, 6, 1), **facts)
    assert len(runs) == 2
    other = {**facts, "key_dates": {"known_on": "2026-10-13", "published_on": "2026-09-01"}}
    assert deadlines.legal_deadlines("trademark", today=date(2026, 12, 7), **other) != first and len(runs) == 3
    as_dates = {**facts, "key_dates": {"known_on": date(2026, 10, 12), "published_on": date(2026, 9, 1)}}
    for _ in range(2):
        assert deadlines.legal_deadlines("trademark", today=date(2026, 12, 7), **as_dates) == first
    assert len(runs) == 5


@pytest.mark.parametrize("body", _BODIES, ids=["plain", "rich", "activity", "litigation", "trade_secret"])
@pytest.mark.parametrize("files", [0, 2])
def test_the_quick_dump_of_a_case_is_marshmallows(app: Flask, body: dict[str, Any], files: int) -> None:
    """``schemas.quick_dump`` (the API's case answers) gives what ``schema.dump`` gives, for the
    written record and for the model, with and without the deadlines, and with values of other
    types than the field's (marshmallow's own conversion) and None."""
    from workstation.evidence import StoredFile
    from workstation.services import submission
    from workstation.services.schemas import (
        case_input_schema,
        case_schema,
        case_schema_without_deadlines,
        quick_dump,
    )

    data = case_input_schema.load(body)
    stored = [StoredFile(f"{n:064x}", f"证据{n}.pdf", "application/pdf", 100 + n) for n in range(files)]
    case, event, _ = submission._submission(data, stored, None, {"via": "test"})  # noqa: SLF001
    rows = (case, event, stored, 41, "RPA-2026-000041", 7, 93, list(range(500, 500 + files)))
    for written in (submission._as_record(*rows), submission._as_written(*rows)):  # noqa: SLF001
        for schema in (case_schema, case_schema_without_deadlines):
            expected = schema.dump(written)
            assert quick_dump(schema, written) == expected and list(quick_dump(schema, written)) == list(expected)
    odd = submission._as_record(*rows)  # noqa: SLF001
    odd.title, odd.confidential, odd.notice_kind = 12345, 1, None
    odd.updated_at = None
    assert quick_dump(case_schema, odd) == case_schema.dump(odd)
    del odd.description
    assert quick_dump(case_schema, odd) == case_schema.dump(odd) and "description" not in quick_dump(case_schema, odd)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_quick_dump_of_any_case_is_marshmallows(data: st.DataObject) -> None:
    """``schemas.quick_dump`` gives what ``schema.dump`` gives, keys in the same order, for written
    cases whose attributes, and the objects and lists in them (parties, rights, key dates, the
    activity, the expert, evidence), are set to values of other types, None, or removed."""
    from workstation.services import submission
    from workstation.services.schemas import case_input_schema, case_schema_without_deadlines, quick_dump

    body = data.draw(st.sampled_from(_BODIES))
    case, event, _ = submission._submission(case_input_schema.load(body), [], None, {"via": "test"})  # noqa: SLF001
    written = submission._as_record(case, event, [], 41, "RPA-2026-000041", 7, 93, [])  # noqa: SLF001
    for _ in range(data.draw(st.integers(0, 4))):
        name = data.draw(st.sampled_from(_DUMP_KEYS))
        inside = getattr(written, name, None)
        objects = [o for o in ([inside] if isinstance(inside, dict) else inside if isinstance(inside, list) else [])
                   if isinstance(o, dict)]  # fmt: skip
        if objects and data.draw(st.booleans()):
            target = data.draw(st.sampled_from(objects))
            target[data.draw(st.sampled_from(sorted({*_DUMP_KEYS, *target})))] = data.draw(_DUMPED)
        else:
            setattr(written, name, data.draw(_DUMPED))
    expected = _dump_outcome(lambda: case_schema_without_deadlines.dump(written))
    assert _dump_outcome(lambda: quick_dump(case_schema_without_deadlines, written)) == expected


def test_the_quick_dump_leaves_what_marshmallow_converts_to_it() -> None:
    """Values of a subtype or another type than the field's (a bool as an Integer, a number as a
    String, a date in the key dates) are written as marshmallow converts them, at any depth."""
    from workstation.services import submission
    from workstation.services.schemas import case_input_schema, case_schema_without_deadlines, quick_dump

    case, event, _ = submission._submission(case_input_schema.load(_RICH), [], None, {"via": "test"})  # noqa: SLF001
    written = submission._as_record(case, event, [], 41, "RPA-2026-000041", 7, 93, [])  # noqa: SLF001
    written.assigned_expert = SimpleNamespace(id=True, name=7, organisation=None)
    written.parties = [{"role": None, "name": 5}, None]
    written.key_dates = {"known_on": date(2026, 10, 12)}
    written.evidence = [SimpleNamespace(filename="证据.pdf", sha256="ab", size=False, content_type=None,
                                        uploaded_at=datetime(2026, 12, 7, 9, 30, tzinfo=UTC))]  # fmt: skip
    expected = case_schema_without_deadlines.dump(written)
    assert expected["assigned_expert"]["id"] == 1 and expected["parties"][0]["name"] == "5"
    assert json.dumps(quick_dump(case_schema_without_deadlines, written)) == json.dumps(expected)


def _dump_outcome(dump: Any) -> tuple[Any, ...]:
    """What a dump gave, keys in order, or the kind of error it raised (marshmallow's own, for a
    value its field cannot write: a list as a date)."""
    try:
        found = dump()
    except (TypeError, ValueError, AttributeError) as err:
        return ("raised", type(err))
    return ("dumped", json.dumps(found, default=repr))  # (as JSON: True is not 1, keys in order)


# Words a body's fields take (and nearly take), the keys its objects have (and one none has):
# mutated bodies are refused by marshmallow often, and loaded often enough.
_WORDS = ["trademark", "patent", "trade_secret", "infringement_judgment", "ip_analysis", "litigation_advice",
          "risk_warning", "CN", "cn", "zh", "en", "high", "normal", "respondent", "claimant", "trade",
          "non_infringement_declaration", "US", "某某", "", " ", "x" * 201, "2026-10-12", "2026-02-30", "20261012",
          "91440300MA5F1234XC", "91440300MA5F1234XD", "true", "1"]  # fmt: skip
_KEYS = sorted({*CASE, *_RICH, "activity", "litigation", "kind", "date", "name", "role", "credit_code", "number",
                "mark_text", "registered_on", "filed_on", "known_on", "published_on", "opponent",
                "target_markets", "counterparties", "warning_received_on", "demand_sent_on", "accused_subject",
                "no_such_field"})  # fmt: skip
_DUMP_KEYS = sorted({"title", "confidential", "parties", "rights", "key_dates", "activity", "litigation",
                     "assigned_expert", "evidence", "created_at", "role", "name", "credit_code", "kind", "number",
                     "registered_on", "known_on", "date", "opponent", "counterparties", "id", "organisation",
                     "filename", "size", "uploaded_at"})  # fmt: skip
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-1, 2) | st.sampled_from(_WORDS),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3),
    max_leaves=5,
)

# Values a written case's attributes, and the objects in them, are set to: of the field's own type
# or of another (marshmallow converts those), None, nested objects and lists of them.
_DUMPED = st.recursive(
    st.none() | st.booleans() | st.integers(-1, 2) | st.sampled_from(["星河", "", "2026-10-12", "91440300MA5F1234XC"])
    | st.just(datetime(2026, 12, 7, 9, 30, tzinfo=UTC)) | st.just(date(2026, 12, 7)),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.sampled_from(_DUMP_KEYS), inner, max_size=3)
    | st.builds(SimpleNamespace, id=inner, name=inner, organisation=inner),
    max_leaves=6,
)  # fmt: skip


def _objects_in(value: Any) -> list[dict[str, Any]]:
    """Every JSON object in ``value``, itself included."""
    found = [value] if isinstance(value, dict) else []
    for each in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        found += _objects_in(each)
    return found


def _load_outcome(load: Any) -> tuple[Any, ...]:
    from marshmallow import ValidationError

    try:
        data = load()
    except ValidationError as err:
        return ("refused", err.normalized_messages())
    return ("loaded", data, list(data))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_the_quick_load_of_a_body_is_marshmallows(data: st.DataObject) -> None:
    """``schemas.quick_load`` (intake's check of every body) gives what ``schema.load`` gives, the
    same dict with its keys in the same order, or refuses with the same messages, for bodies of
    every kind with fields set to other values, removed or added, at any depth."""
    from workstation.services.schemas import case_input_schema, mark_warning_input_schema, quick_load

    body = json.loads(json.dumps(data.draw(st.sampled_from(_BODIES))))
    for _ in range(data.draw(st.integers(0, 3))):
        target = data.draw(st.sampled_from(_objects_in(body)))
        # (mostly a field the object has, set to a word: a value of the right type, often refused)
        key = data.draw(st.sampled_from(sorted(target)) | st.sampled_from(_KEYS) if target else st.sampled_from(_KEYS))
        if data.draw(st.integers(0, 3)):
            target[key] = data.draw(st.sampled_from(_WORDS) | _VALUES)
        else:
            target.pop(key, None)
    schema = data.draw(st.sampled_from([case_input_schema, mark_warning_input_schema]))
    expected = _load_outcome(lambda: schema.load(json.loads(json.dumps(body))))
    assert _load_outcome(lambda: quick_load(schema, body)) == expected


@pytest.mark.parametrize("body", _BODIES, ids=["plain", "rich", "activity", "litigation", "trade_secret"])
def test_a_valid_body_is_loaded_without_marshmallows_load(
    body: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: E501
    """The bodies intake takes are read by the plan made from the schema: marshmallow's ``load``
    (the cost ``quick_load`` is there to save) is not called, for the case or a nested object."""
    from marshmallow import Schema

    from workstation.services.schemas import case_input_schema, quick_load

    expected = case_input_schema.load(body)
    monkeypatch.setattr(Schema, "load", lambda *_a, **_k: pytest.fail("marshmallow's load was called"))
    assert quick_load(case_input_schema, body) == expected


def test_a_schema_the_plan_does_not_copy_is_marshmallows_to_load() -> None:
    """A schema with a hook the plan does not run (pre_load), or a field of a kind it does not
    read (Integer), is loaded by marshmallow, its conversions included."""
    from marshmallow import Schema, fields, pre_load

    from workstation.services.schemas import quick_load

    class Stripped(Schema):
        name = fields.String()

        @pre_load
        def _strip(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
            return {k: v.strip() for k, v in data.items()}

    class Counted(Schema):
        count = fields.Integer()

    assert quick_load(Stripped(), {"name": " 星河 "}) == {"name": "星河"}
    assert quick_load(Counted(), {"count": "3"}) == {"count": 3}


@pytest.mark.parametrize("script_root", ["", "/desk", "/省/desk"])
def test_a_case_s_links_are_url_for_s(app: Flask, script_root: str) -> None:
    """``api.case_links`` (templates made once) gives what ``url_for`` gives, under any script
    root, and a reference with other characters goes through ``url_for`` itself."""
    from flask import url_for

    from workstation.web.api import case_links

    for reference in ("RPA-2026-000041", "RPA-2027-1234567", "rpa-2026-000001", "RPA 2026/1", "RPA-案-1"):
        for _ in range(2):  # (the second time from the templates)
            with app.test_request_context(
                f"{script_root}/api/v1/cases", method="POST", base_url=f"http://x{script_root}"
            ):
                expected = {
                    "self": url_for("api.get_case", reference=reference),
                    "page": url_for("web.case_page", reference=reference),
                }
                assert case_links(reference) == expected
                assert expected["self"].startswith(f"{script_root}/api/v1/cases/")
