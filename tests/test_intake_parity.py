"""One intake: every way a case comes in writes the same rows for the same case.

The same case goes in through every entry point (the API's JSON, which on PostgreSQL is the
one-statement path that checks the token itself; the API's multipart; the web form; with files
where the entry point takes them; a coordinator's risk-warning case), and every column written
in cases, case_events, outbox, case_parties and evidence is compared, read generically from the
tables' metadata: only ids, timestamps (whether set or NULL still counts) and the reference's
number are left out, and the submit event's actor where the coordinator legitimately differs.
Runs on both backends. Also: the reference written in SQL is ``reference_for``'s.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, DateTime, Table, literal, select

from tests.test_watch import FEED, csrf, login, watch_via_api
from workstation.routing import normalise_name
from workstation.services.intake import accept_submission
from workstation.services.marks import risk_case_input
from workstation.services.models import Case, CaseEvent, CaseParty, Evidence, LookalikeMatch, OutboxMessage, User
from workstation.services.submission import case_reference, reference_for

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000") + b"\x00" * 32

#: A case using every input the form has too: a respondent with a credit code, a right, key
#: dates, confidential, and non-default field, jurisdiction, language and urgency.
CASE = {
    "right_type": "patent",
    "service": "compensation_estimate",
    "title": "发明专利被仿制",
    "description": "竞争对手生产的设备落入我司专利权利要求1的保护范围。",
    "technical_field": "intelligent_manufacturing",
    "jurisdiction": "US",
    "language": "en",
    "urgency": "high",
    "confidential": True,
    "parties": [
        {"role": "respondent", "name": "某某机械有限公司", "credit_code": "91610131MA6TXXXX15"},
        {"role": "respondent", "name": "某某贸易商行", "credit_code": None},
        {"role": "third_party", "name": "某某电商平台有限公司", "credit_code": None},
    ],
    "rights": [
        {"kind": "patent", "number": "ZL202010000000.1", "mark_text": "", "filed_on": "2020-05-10"},
        {"kind": "trademark", "number": "12345678", "mark_text": "鼎盛", "registered_on": "2016-03-07"},
        {"kind": "gi", "number": "", "mark_text": ""},
    ],
    "key_dates": {
        "known_on": "2026-09-15",
        "published_on": "2026-03-02",
        "notice_received_on": "2026-03-31",
        "filed_on": "2020-05-10",
    },
    "notice_kind": "patent_rejection",
}
#: The same case as the intake form's fields.
FORM = {
    "right_type": "patent",
    "service": "compensation_estimate",
    "title": "发明专利被仿制",
    "description": "竞争对手生产的设备落入我司专利权利要求1的保护范围。",
    "technical_field": "intelligent_manufacturing",
    "jurisdiction": "US",
    "language": "en",
    "urgency": "high",
    "confidential": "true",
    # rows in any order of numbers, blank rows between them (what a script's removals leave)
    "party_role_0": "respondent",
    "party_name_0": "某某机械有限公司",
    "party_credit_code_0": "91610131ma6txxxx15",
    "party_role_1": "applicant",
    "party_name_1": " ",
    "party_role_2": "respondent",
    "party_name_2": "某某贸易商行",
    "party_role_11": "third_party",
    "party_name_11": "某某电商平台有限公司",
    "right_kind_0": "patent",
    "right_number_0": "ZL202010000000.1",
    "right_filed_on_0": "2020-05-10",
    "right_kind_1": "",
    "right_kind_3": "trademark",
    "right_number_3": "12345678",
    "right_mark_text_3": "鼎盛",
    "right_registered_on_3": "2016-03-07",
    "right_kind_12": "gi",
    "known_on": "2026-09-15",
    "published_on": "2026-03-02",
    "notice_received_on": "2026-03-31",
    "filed_on": "2020-05-10",
    "notice_kind": "patent_rejection",
}
TABLES: tuple[Table, ...] = tuple(m.__table__ for m in (Case, CaseEvent, OutboxMessage, CaseParty, Evidence))


def files() -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(PDF), "公证书.pdf"), (io.BytesIO(PNG), "photo.png")]


# --- the entry points ---------------------------------------------------------------------------


def by_api_json(client, people, case: dict[str, Any]) -> str:  # noqa: ANN001
    response = client.post("/api/v1/cases", json=case, headers=people.headers("enterprise"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def by_api_multipart(client, people, case: dict[str, Any], uploads: list) -> str:  # noqa: ANN001
    response = client.post(
        "/api/v1/cases",
        content_type="multipart/form-data",
        data={"case": json.dumps(case), "evidence": uploads},
        headers=people.headers("enterprise"),
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def by_web_form(app, form: dict[str, str], uploads: list) -> str:  # noqa: ANN001
    browser = app.test_client()
    login(browser, "enterprise")
    token = csrf(browser.get("/cases/new").text)
    response = browser.post(
        "/cases/new", data={**form, "csrf_token": token, "evidence": uploads}, content_type="multipart/form-data"
    )
    assert response.status_code == 302, response.text
    return response.headers["Location"].rsplit("/", 1)[-1]


# --- what was written ---------------------------------------------------------------------------


def written(sessions, reference: str) -> dict[str, list[dict[str, Any]]]:  # noqa: ANN001
    """Every row the submission of ``reference`` wrote, table by table, every column but the ids,
    timestamps as whether they are set, the reference without its number."""
    with sessions() as s:
        case_id, created_at = s.execute(select(Case.id, Case.created_at).where(Case.reference == reference)).one()
        assert reference == reference_for(case_id, created_at.year)  # exactly, before it is left out
        rows = {}
        for table in TABLES:
            query = select(table).order_by(table.c.id)
            if table is Case.__table__:
                query = query.where(table.c.id == case_id)
            elif "case_id" in table.c:
                query = query.where(table.c.case_id == case_id)
            found = [dict(r._mapping) for r in s.execute(query)]
            if table is OutboxMessage.__table__:  # its rows name their case in the payload
                found = [r for r in found if r["payload"].get("case_id") == case_id]
                assert [r["payload"] for r in found] == [{"case_id": case_id, "reference": reference}]
            rows[table.name] = [comparable(table, r) for r in found]
    return rows


def comparable(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in row.items():
        column = table.c[name]
        if column.primary_key or name == "case_id":
            continue
        if isinstance(getattr(column.type, "impl", column.type), DateTime):  # (UTCDateTime decorates one)
            value = value is not None
        out[name] = without_numbers(value)
    return out


def without_numbers(value: Any) -> Any:
    """A reference with its year and number replaced (and a payload's case id)."""
    if isinstance(value, str):
        return re.sub(r"^RPA-\d{4}-\d{6,}$", "RPA-YYYY-N", value)
    if isinstance(value, dict) and set(value) == {"case_id", "reference"}:
        return {"case_id": "N", "reference": without_numbers(value["reference"])}
    return value


def assert_same(of: dict[str, dict[str, list[dict[str, Any]]]]) -> None:
    """Each entry point's rows against the first's, table by table and row by row, naming any
    column that differs."""
    (first, expected), *others = of.items()
    for name, rows in others:
        for table, want in expected.items():
            got = rows[table]
            assert len(got) == len(want), f"{name}: {len(got)} {table} rows, {first}: {len(want)}"
            for i, (g, w) in enumerate(zip(got, want, strict=True)):
                differ = {c: (g.get(c), w.get(c)) for c in set(g) | set(w) if g.get(c) != w.get(c)}
                assert not differ, f"{name} against {first}, {table}[{i}]: {differ}"


# --- the tests ----------------------------------------------------------------------------------


def test_every_entry_point_without_files_writes_the_same_rows(app, client, people, sessions) -> None:  # noqa: ANN001
    of = {
        "api json": written(sessions, by_api_json(client, people, CASE)),
        "api multipart": written(sessions, by_api_multipart(client, people, CASE, [])),
        "web form": written(sessions, by_web_form(app, FORM, [])),
    }
    assert_same(of)
    # What all wrote is the case as given, not rows equally wrong everywhere; and the same on
    # both backends (the SQL of one and of the other are not the same statements).
    assert of["api json"] == expected_rows(people.enterprise.id)


#: A risk warning about a technology transfer, every activity input the form has.
ACTIVITY_CASE = {
    **{k: v for k, v in CASE.items() if k not in ("notice_kind", "key_dates")},
    "service": "risk_warning",
    "activity": {
        "kind": "technology_transfer",
        "date": "2027-01-15",
        "direction": "out",
        "counterparty": {"name": "Acme Batteries GmbH", "credit_code": None},
        "technology": "固态电解质制备方法",
        "counterparties": [{"name": "某某投资有限公司", "credit_code": "91610131MA6TXXXX15"}],
    },
}
ACTIVITY_FORM = {
    **{k: v for k, v in FORM.items() if k not in ("notice_kind", "known_on", "published_on", "notice_received_on",
                                                  "filed_on")},
    "service": "risk_warning",
    "activity_kind": "technology_transfer",
    "activity_date": "2027-01-15",
    "transfer_direction": "out",
    "transfer_counterparty_name": "Acme Batteries GmbH",
    "technology": "固态电解质制备方法",
    "counterparty_name_0": "某某投资有限公司",
    "counterparty_credit_code_0": "91610131MA6TXXXX15",
    "target_markets": "US",  # another kind's part: not taken
}  # fmt: skip


def test_every_entry_point_writes_the_same_activity(app, client, people, sessions) -> None:  # noqa: ANN001
    of = {
        "api json": written(sessions, by_api_json(client, people, ACTIVITY_CASE)),
        "api multipart": written(sessions, by_api_multipart(client, people, ACTIVITY_CASE, [])),
        "web form": written(sessions, by_web_form(app, ACTIVITY_FORM, [])),
    }
    assert_same(of)
    assert of["api json"]["cases"][0]["activity"] == ACTIVITY_CASE["activity"]


#: Litigation advice for a declaration of non-infringement, every litigation input the form has.
LITIGATION_CASE = {
    **{k: v for k, v in CASE.items() if k not in ("notice_kind", "key_dates")},
    "service": "litigation_advice",
    "litigation": {
        "kind": "non_infringement_declaration",
        "opponent": {"name": "某某电子有限公司", "credit_code": "91610131MA6TXXXX15"},
        "warning_received_on": "2026-02-10",
        "accused_subject": "X1 型充电器",
        "demand_sent_on": "2026-03-02",
        "demand_received_on": "2026-03-05",
    },
}
LITIGATION_FORM = {
    **{k: v for k, v in FORM.items() if k not in ("notice_kind", "known_on", "published_on", "notice_received_on",
                                                  "filed_on")},
    "service": "litigation_advice",
    "litigation_kind": "non_infringement_declaration",
    "opponent_name": "某某电子有限公司",
    "opponent_credit_code": "91610131ma6txxxx15",
    "warning_received_on": "2026-02-10",
    "accused_subject": "X1 型充电器",
    "demand_sent_on": "2026-03-02",
    "demand_received_on": "2026-03-05",
    "squatted_mark": "秦川",  # another matter's part: not taken
}  # fmt: skip


def test_every_entry_point_writes_the_same_litigation_matter(app, client, people, sessions) -> None:  # noqa: ANN001
    of = {
        "api json": written(sessions, by_api_json(client, people, LITIGATION_CASE)),
        "api multipart": written(sessions, by_api_multipart(client, people, LITIGATION_CASE, [])),
        "web form": written(sessions, by_web_form(app, LITIGATION_FORM, [])),
    }
    assert_same(of)
    assert of["api json"]["cases"][0]["litigation"] == LITIGATION_CASE["litigation"]


def expected_rows(enterprise_id: int) -> dict[str, list[dict[str, Any]]]:
    """What ``written`` finds of ``CASE`` submitted by ``enterprise_id`` (no files)."""
    written_at = True  # (timestamps: set)
    case = {
        "reference": "RPA-YYYY-N",
        "enterprise_id": enterprise_id,
        **CASE,
        "activity": None,
        "litigation": None,
        "status": "submitted",
        "to_classify": False,
        "difficult_reason": None,
        "assigned_expert_id": None,
        "shadow_expert_id": None,
        "created_at": written_at,
        "updated_at": written_at,
    }
    event = {
        "action": "submit",
        "from_status": None,
        "to_status": "submitted",
        "actor_id": enterprise_id,
        "actor_role": "enterprise",
        "detail": {},
        "created_at": written_at,
    }
    outbox = {
        "routing_key": "case.submitted",
        "payload": {"case_id": "N", "reference": "RPA-YYYY-N"},
        "created_at": written_at,
        "published_at": False,
        "publish_count": 0,
    }
    parties = [
        {
            "enterprise_id": enterprise_id,
            "role": party["role"],
            "name": party["name"],
            "name_key": normalise_name(party["name"]),
            "credit_code": party.get("credit_code"),
        }
        for party in CASE["parties"]
    ]
    return {"cases": [case], "case_events": [event], "outbox": [outbox], "case_parties": parties, "evidence": []}


def test_every_entry_point_taking_files_writes_the_same_rows(app, client, people, sessions) -> None:  # noqa: ANN001
    of = {
        "api multipart": written(sessions, by_api_multipart(client, people, CASE, files())),
        "web form": written(sessions, by_web_form(app, FORM, files())),
    }
    assert_same(of)
    rows = of["api multipart"]
    assert [(e["filename"], e["content_type"], e["size"], e["kind"], e["uploaded_by"]) for e in rows["evidence"]] == [
        ("公证书.pdf", "application/pdf", len(PDF), "evidence", people.enterprise.id),
        ("photo.png", "image/png", len(PNG), "evidence", people.enterprise.id),
    ]
    assert rows["case_events"][0]["detail"] == {"evidence": [e["sha256"] for e in rows["evidence"]]}
    # and apart from the files, as a case without any
    without = written(sessions, by_api_json(client, people, CASE))
    without["evidence"] = rows["evidence"]
    without["case_events"][0]["detail"] = rows["case_events"][0]["detail"]
    assert_same({"with files": rows, "without": without})


def test_a_coordinators_case_is_written_as_the_enterprises_own_but_for_who_submitted_it(
    app, client, people, sessions, cli_run, tmp_path
) -> None:  # noqa: ANN001
    watch_via_api(client, people, "enterprise", "星河", "9")
    feed = tmp_path / "feed.csv"
    feed.write_text("\n".join(FEED.splitlines()[:2]) + "\n", encoding="utf-8")
    assert cli_run("import-marks", str(feed)).exit_code == 0
    coordinator = app.test_client()
    login(coordinator, "coordinator")
    with sessions() as s:
        match = s.scalars(select(LookalikeMatch)).one()
        case = {**risk_case_input(match), "language": s.get(User, people.enterprise.id).language}
    token = csrf(coordinator.get("/coordinator/lookalikes").text)
    response = coordinator.post(f"/coordinator/lookalikes/{match.id}/case", data={"csrf_token": token})
    assert response.status_code == 303
    opened = written(sessions, response.headers["Location"].rsplit("/", 1)[-1])
    (event,) = opened["case_events"]
    assert (event["actor_id"], event["actor_role"], event["detail"]) == (
        people.coordinator.id,
        "coordinator",
        {"lookalike_match": match.id},
    )
    # An enterprise's own risk warning names its activity; the coordinator's, about a mark someone
    # else published, has none (schemas.MarkWarningInputSchema): the rest is written alike.
    assert opened["cases"][0]["activity"] is None
    own = {**case, "activity": ACTIVITY_CASE["activity"]}
    of = {"coordinator": opened, "api json": written(sessions, by_api_json(client, people, own))}
    of["api multipart"] = written(sessions, by_api_multipart(client, people, own, []))
    for rows in of.values():
        rows["case_events"][0].update(actor_id=None, actor_role=None, detail=None)
        rows["cases"][0]["activity"] = None
    assert_same(of)
    assert (
        opened["cases"][0]["service"] == "risk_warning" and opened["cases"][0]["enterprise_id"] == people.enterprise.id
    )


@pytest.mark.parametrize("case_id", [1, 999_999, 1_000_000, 123_456_789])
def test_the_reference_written_in_sql_is_reference_for(sessions, case_id: int) -> None:  # noqa: ANN001
    with sessions() as s:
        written = s.scalar(select(case_reference(literal(case_id, BigInteger), literal(2026))))
    assert written == reference_for(case_id, 2026)
    assert reference_for(case_id, 2026) == f"RPA-2026-{case_id:06d}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case_id=st.integers(1, 2**63 - 1), year=st.integers(2000, 9999))
@example(case_id=2**63 - 1, year=2026)
def test_the_reference_in_sql_is_reference_for_for_any_id(sessions, case_id: int, year: int) -> None:  # noqa: ANN001
    with sessions() as s:
        written = s.scalar(select(case_reference(literal(case_id, BigInteger), literal(year))))
    assert written == reference_for(case_id, year)


def test_with_no_transaction_open_a_submission_on_postgresql_is_one_statement_in_autocommit(
    backend, config, people, sessions
) -> None:  # noqa: ANN001
    """The API's checked path (multipart, and JSON on another database) after its token look-up,
    which leaves no transaction open: no BEGIN and COMMIT around the one statement."""
    if backend != "services":
        pytest.skip("PostgreSQL only: elsewhere the submission is several statements in a transaction")
    with sessions() as session:
        enterprise = session.get(User, people.enterprise.id)
        session.commit()
        case = accept_submission(session, config, enterprise, CASE)
        with sessions() as other:  # committed already, before this session commits or rolls back
            assert other.scalar(select(Case.id).where(Case.reference == case.reference)) == case.id
        session.rollback()
