"""The audit trail: every read of a confidential case's content is logged wherever it is shown
(one row per case per request, in one statement); administrative acts are written to
``admin_audit``; coordinators read both on /coordinator/audit; the rows are append-only."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import BACKEND
from tests.helpers import statements_run
from tests.test_web import csrf_token, login
from workers.routing import assign_expert
from workstation.services.models import (
    AccessLog,
    AdminAudit,
    Case,
    LookalikeMatch,
    Notice,
    Opinion,
    User,
    WatchedMark,
    utcnow,
)
from workstation.services.pool import run_import

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cases(people, sessions, submit) -> dict[str, Any]:  # noqa: ANN001
    """A confidential (trade-secret) case and an ordinary one, both the enterprise's, both assigned
    to ``expert`` (cleared for confidential work): {"secret": (id, reference), "plain": ...}."""
    people.add("expert", "expert", right_types=["trademark", "trade_secret"], capacity=10,
               profile={"confidential_ok": True})  # fmt: skip
    found = {}
    for key, right_type in (("secret", "trade_secret"), ("plain", "trademark")):
        reference = submit(right_type=right_type)["reference"]
        with sessions.begin() as s:
            case = s.scalar(select(Case).where(Case.reference == reference))
            assign_expert(s, case)
            assert case.assigned_expert_id == people.expert.id and case.confidential == (key == "secret")
            found[key] = (case.id, reference)
    return found


def reads(sessions, target: str | None = None) -> list[tuple[int, int, str, str]]:  # noqa: ANN001
    with sessions() as s:
        query = select(AccessLog.case_id, AccessLog.user_id, AccessLog.action, AccessLog.target).order_by(AccessLog.id)
        if target is not None:
            query = query.where(AccessLog.target == target)
        return [tuple(row) for row in s.execute(query)]


def set_status(sessions, case_id: int, status: str) -> None:  # noqa: ANN001
    with sessions.begin() as s:
        s.get(Case, case_id).status = status


# --- every surface that shows a confidential case's content -------------------------------------
# (who reads, what they do given (client, people, cases, sessions), the target logged)


def _page(path: str) -> Callable[..., Any]:
    def read(client, people, cases, sessions, who):  # noqa: ANN001, ANN202
        login(client, getattr(people, who).email)
        response = client.get(path.format(secret=cases["secret"][1], plain=cases["plain"][1]))
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
        return response

    return read


def _api(method: str, path: str, **kwargs: Any) -> Callable[..., Any]:
    def read(client, people, cases, sessions, who):  # noqa: ANN001, ANN202
        for key in ("secret", "plain"):
            if "{ref}" not in path and key == "plain":
                break
            response = client.open(path.format(ref=cases[key][1]), method=method, headers=people.headers(who), **kwargs)
            assert response.status_code == 200, response.get_json()
        return response

    return read


def _both_pages(path: str) -> Callable[..., Any]:
    def read(client, people, cases, sessions, who):  # noqa: ANN001, ANN202
        for key in ("secret", "plain"):
            _page(path.replace("{ref}", cases[key][1]))(client, people, cases, sessions, who)

    return read


def _with_opinions(read: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(client, people, cases, sessions, who):  # noqa: ANN001, ANN202
        with sessions.begin() as s:
            for case_id, _ in cases.values():
                s.add(Opinion(case_id=case_id, service="infringement_judgment", body={}, issued_by=people.expert.id))
        return read(client, people, cases, sessions, who)

    return wrapped


def _in_progress(read: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(client, people, cases, sessions, who):  # noqa: ANN001, ANN202
        for case_id, _ in cases.values():
            set_status(sessions, case_id, "in_progress")
        return read(client, people, cases, sessions, who)

    return wrapped


def _awaiting(read: Callable[..., Any]) -> Callable[..., Any]:
    """Both cases waiting for an expert: on the desk's list and its pile, and in the digest."""

    def wrapped(client, people, cases, sessions, who):  # noqa: ANN001, ANN202
        for case_id, _ in cases.values():
            set_status(sessions, case_id, "awaiting_expert")
        return read(client, people, cases, sessions, who)

    return wrapped


def _with_notices(read: Callable[..., Any]) -> Callable[..., Any]:
    """A deadline notice about each case to the enterprise; to the coordinator, a repeat-respondent
    notice about the ordinary case listing the confidential one (with its title)."""

    def wrapped(client, people, cases, sessions, who):  # noqa: ANN001, ANN202
        with sessions.begin() as s:
            for key, (case_id, _) in cases.items():
                s.add(Notice(key=f"deadline:{key}", recipient_id=people.enterprise.id, kind="deadline",
                             case_id=case_id, body={"label": "x", "last_day": "2027-01-01", "threshold": "7d",
                                                    "basis": "x"}))  # fmt: skip
            others = [{"reference": cases["secret"][1], "title": "t", "enterprise": "e", "named_as": "n",
                       "confidential": True}]  # fmt: skip
            s.add(Notice(key="repeat:c", recipient_id=people.coordinator.id, kind="repeat_respondent",
                         case_id=cases["plain"][0], body={"audience": "coordinator", "respondent": "r",
                         "reference": cases["plain"][1], "enterprises": 1, "others": others}))  # fmt: skip
        return read(client, people, cases, sessions, who)

    return wrapped


def _with_lookalikes(read: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(client, people, cases, sessions, who):  # noqa: ANN001, ANN202
        with sessions.begin() as s:
            mark = WatchedMark(enterprise_id=people.other_enterprise.id, text="星河", classes=[9])
            s.add(mark)
            s.flush()
            for key, (case_id, _) in cases.items():
                s.add(LookalikeMatch(key=f"case:{key}", watched_mark_id=mark.id, enterprise_id=mark.enterprise_id,
                                     source="case", case_id=case_id, candidate_text="星河", candidate_classes=[9],
                                     score=0.9, level="high", class_relation="same", reasons=[]))  # fmt: skip
        return read(client, people, cases, sessions, who)

    return wrapped


SURFACES = {
    "events api": ("expert", _api("GET", "/api/v1/cases/{ref}/events")),
    "transitions api": ("expert", _api("POST", "/api/v1/cases/{ref}/transitions", json={"action": "accept"})),
    "queue api": ("expert", _api("GET", "/api/v1/queue")),
    "queue page": ("expert", _page("/queue")),
    "case list": ("enterprise", _page("/")),
    "desk page": ("coordinator", _awaiting(_page("/coordinator/"))),
    "digest preview": ("coordinator", _awaiting(_page("/coordinator/digest/preview"))),
    "lookalikes page": ("coordinator", _with_lookalikes(_page("/coordinator/lookalikes"))),
    "opinion": ("enterprise", _with_opinions(_both_pages("/cases/{ref}/opinion"))),
    "opinion form": ("expert", _in_progress(_both_pages("/cases/{ref}/opinion/new"))),
    "notices page": ("enterprise", _with_notices(_page("/notices"))),
    "notices api": ("enterprise", _with_notices(_api("GET", "/api/v1/notices"))),
    "page": ("coordinator", _both_pages("/cases/{ref}")),
    "api": ("expert", _api("GET", "/api/v1/cases/{ref}")),
}


@pytest.mark.parametrize("target", sorted(SURFACES))
def test_every_surface_logs_the_confidential_cases_it_shows_and_only_those(
    client, people, sessions, cases, target: str
) -> None:  # noqa: ANN001
    who, read = SURFACES[target]
    read(client, people, cases, sessions, who)
    user_id = getattr(people, who).id
    assert reads(sessions, target) == [(cases["secret"][0], user_id, "view", target)], "one row, this case"
    assert [r for r in reads(sessions) if r[0] == cases["plain"][0]] == [], "an ordinary case leaves none"


def test_the_coordinators_repeat_respondent_notice_logs_the_confidential_case_it_lists(
    client, people, sessions, cases
) -> None:  # noqa: ANN001
    _with_notices(_page("/notices"))(client, people, cases, sessions, "coordinator")
    assert reads(sessions, "notices page") == [(cases["secret"][0], people.coordinator.id, "view", "notices page")]


def test_a_list_writes_its_reads_in_one_statement_and_nothing_for_ordinary_cases(
    app, client, people, sessions, submit, cases
) -> None:  # noqa: ANN001
    for _ in range(2):  # two more confidential cases in the expert's queue
        with sessions.begin() as s:
            case = s.scalar(select(Case).where(Case.reference == submit(right_type="trade_secret")["reference"]))
            assign_expert(s, case)

    def logged(statements: list[str]) -> list[str]:
        return [s for s in statements if "access_log" in s.lower() and s.lstrip().upper().startswith("INSERT")]

    with statements_run(app.extensions["workstation"]["engine"]) as statements:
        assert client.get("/api/v1/queue", headers=people.headers("expert")).status_code == 200
        assert len(logged(statements)) == 1 and len(reads(sessions, "queue api")) == 3
        statements.clear()
        assert client.get("/api/v1/queue?right_type=trademark", headers=people.headers("expert")).status_code == 200
        assert logged(statements) == [], "a list of ordinary cases costs no statement"


# --- administrative acts ------------------------------------------------------------------------


def audits(sessions, action: str | None = None) -> list[AdminAudit]:  # noqa: ANN001
    with sessions() as s:
        query = select(AdminAudit).order_by(AdminAudit.id)
        if action is not None:
            query = query.where(AdminAudit.action == action)
        rows = s.scalars(query).all()
        s.expunge_all()
        return rows


def test_create_user_on_the_command_line_is_audited(cli_run, sessions) -> None:  # noqa: ANN001
    result = cli_run("create-user", "--role", "coordinator", "--email", "li@example.cn", "--password", "password123")
    assert result.exit_code == 0, result.output
    [row] = audits(sessions, "user_created")
    with sessions() as s:
        user_id = s.scalar(select(User.id).where(User.email == "li@example.cn"))
    assert (row.actor_id, row.subject_id, row.detail) == (None, user_id, {"role": "coordinator", "via": "cli"})


def test_accounts_created_deactivated_and_reactivated_by_a_coordinator_are_audited(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    token = csrf_token(client.get("/coordinator/users").get_data(as_text=True))
    created = client.post("/coordinator/users", data={"csrf_token": token, "email": "new@example.cn",
                                                      "password": "password123", "role": "enterprise"})  # fmt: skip
    assert created.status_code == 303
    [row] = audits(sessions, "user_created")
    new_id = row.subject_id
    assert (row.actor_id, row.detail) == (people.coordinator.id, {"role": "enterprise", "via": "form"})
    for active in ("false", "false", "true"):  # the second changes nothing, and is not written
        client.post(f"/coordinator/users/{new_id}/active", data={"csrf_token": token, "active": active})
    assert [(r.action, r.actor_id, r.subject_id) for r in audits(sessions) if r.action.startswith("user_")] == [
        ("user_created", people.coordinator.id, new_id),
        ("user_deactivated", people.coordinator.id, new_id),
        ("user_reactivated", people.coordinator.id, new_id),
    ]


def test_the_expert_pool_audits_creation_edits_and_deactivation(client, people, sessions) -> None:  # noqa: ANN001
    headers = people.headers("coordinator")
    body = {"email": "zhao@example.cn", "name": "赵", "right_types": ["patent"], "capacity": 5}
    expert_id = client.post("/api/v1/experts", json=body, headers=headers).get_json()["id"]
    leave = (date.today() + timedelta(days=3)).isoformat()
    patched = client.patch(f"/api/v1/experts/{expert_id}", json={"capacity": 7, "on_leave_until": leave},
                           headers=headers)  # fmt: skip
    assert patched.status_code == 200
    client.patch(f"/api/v1/experts/{expert_id}", json={"capacity": 7}, headers=headers)  # nothing changes
    client.patch(f"/api/v1/experts/{expert_id}", json={"is_active": False}, headers=headers)
    rows = [(r.action, r.actor_id, r.subject_id, r.detail) for r in audits(sessions) if r.subject_id == expert_id]
    coordinator = people.coordinator.id
    assert rows == [
        ("user_created", coordinator, expert_id, {"role": "expert", "via": "api", "is_active": True}),
        ("expert_profile_edited", coordinator, expert_id,
         {"via": "api", "changes": {"capacity": [5, 7], "on_leave_until": [None, leave]}}),
        ("user_deactivated", coordinator, expert_id, {"via": "api"}),
    ]  # fmt: skip

    login(client, people.coordinator.email)
    form = client.get("/coordinator/experts/new").get_data(as_text=True)
    fields = {"csrf_token": csrf_token(form), "email": "qian@example.cn", "name": "钱", "language": "zh",
              "right_types": ["copyright"], "capacity": "3", "available": "true", "is_active": "true"}  # fmt: skip
    assert client.post("/coordinator/experts/new", data=fields).status_code == 302
    assert audits(sessions, "user_created")[-1].detail == {"role": "expert", "via": "form", "is_active": True}


def test_an_import_audits_each_expert_it_creates_as_done_by_the_coordinator_who_sent_it(
    client, people, sessions
) -> None:  # noqa: ANN001
    csv = "email,name,right_types\nsun@example.cn,孙,patent\nzhou@example.cn,周,trademark\n"
    response = client.post("/api/v1/experts/imports", headers=people.headers("coordinator"),
                           data={"file": (io.BytesIO(csv.encode()), "experts.csv")},
                           content_type="multipart/form-data")  # fmt: skip
    run_import(sessions, response.get_json()["id"], date.today())
    rows = audits(sessions, "user_created")
    assert [(r.actor_id, r.detail["via"]) for r in rows] == [(people.coordinator.id, "import")] * 2


def test_digest_settings_changes_are_audited_with_what_changed(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    token = csrf_token(client.get("/coordinator/digest").get_data(as_text=True))
    form = {"frequency": "weekly", "hour": "7", "timezone": "Asia/Shanghai", "csrf_token": token}
    for _ in range(2):  # the second saves the same: nothing to audit
        assert client.post("/coordinator/digest", data=form).status_code == 303
    [row] = audits(sessions, "digest_settings_changed")
    assert (row.actor_id, row.subject_id) == (people.coordinator.id, people.coordinator.id)
    assert row.detail == {"changes": {"frequency": ["daily", "weekly"], "hour": [8, 7]}}


def test_a_reassignment_is_audited(client, people, sessions, cases) -> None:  # noqa: ANN001
    other = people.add("other_expert", "expert", right_types=["trademark"], capacity=10)
    answer = client.post(f"/api/v1/cases/{cases['plain'][1]}/transitions", headers=people.headers("coordinator"),
                         json={"action": "reassign", "expert_id": other.id, "reason": "workload"})  # fmt: skip
    assert answer.status_code == 200, answer.get_json()
    [row] = audits(sessions, "case_reassigned")
    assert (row.actor_id, row.subject_id, row.case_id) == (people.coordinator.id, other.id, cases["plain"][0])
    assert row.detail == {"reference": cases["plain"][1], "previous_expert_id": people.expert.id, "reason": "workload"}


def test_every_admin_audit_row_is_written_by_the_one_helper() -> None:
    """``services.audit.audit`` is the one way to write ``admin_audit`` (and ``record_reads`` the one
    way to write ``access_log``); nothing changes or deletes either."""
    sources = [p for folder in ("workstation", "workers") for p in (ROOT / folder).rglob("*.py")]
    for path in sources:
        source = path.read_text()
        if path.name != "audit.py" or path.parent.name != "services":
            assert not re.search(r"(?<!class )\b(AdminAudit|AccessLog)\(", source), path
        assert not re.search(r"(update|delete)\(\s*(AdminAudit|AccessLog)\b", source), path
        assert not re.search(r"(UPDATE|DELETE FROM)\s+\"?(admin_audit|access_log)\b", source, re.I), path


# --- the coordinators' audit page ---------------------------------------------------------------


def admin_table(client, query: str) -> str:  # noqa: ANN001
    """The administrative acts' table of the audit page asked with ``query``."""
    return client.get(f"/coordinator/audit?{query}").get_data(as_text=True).split('id="admin-audit"')[1]


@pytest.mark.parametrize("who", ["enterprise", "expert"])
def test_only_coordinators_see_the_audit_page(client, people, cases, who: str) -> None:  # noqa: ANN001
    login(client, getattr(people, who).email)
    assert client.get("/coordinator/audit").status_code == 403
    assert client.get("/coordinator/audit?tab=reads").status_code == 403


def test_the_audit_page_lists_both_logs_newest_first_filtered_and_named_in_the_readers_language(
    client, people, sessions, cases
) -> None:  # noqa: ANN001
    secret = cases["secret"][1]
    assert client.get(f"/api/v1/cases/{secret}", headers=people.headers("expert")).status_code == 200
    assert client.get(f"/api/v1/cases/{secret}/events", headers=people.headers("expert")).status_code == 200
    other = people.add("other_expert", "expert", right_types=["trademark"], capacity=10)
    client.post(f"/api/v1/cases/{cases['plain'][1]}/transitions", headers=people.headers("coordinator"),
                json={"action": "reassign", "expert_id": other.id})  # fmt: skip
    login(client, people.coordinator.email)
    assert "/coordinator/audit" in client.get("/coordinator/").get_data(as_text=True), "linked from the navigation"

    page = client.get("/coordinator/audit").get_data(as_text=True)
    table = page.split('id="admin-audit"')[1]
    assert "审计日志" in page and "改派案件" in table and "创建 API 令牌" in table
    assert table.index("改派案件") < table.index("创建 API 令牌"), "newest first"
    only = admin_table(client, f"case={cases['plain'][1]}")
    assert "改派案件" in only and "创建 API 令牌" not in only
    by_person = admin_table(client, "person=other_expert@")
    assert "改派案件" in by_person and "创建 API 令牌" in by_person, "as the subject: a token, a case given"
    assert "enterprise@example.cn" not in by_person
    by_action = admin_table(client, "action=case_reassigned")
    assert "改派案件" in by_action and "创建 API 令牌" not in by_action

    reads_page = client.get("/coordinator/audit?tab=reads").get_data(as_text=True)
    table = reads_page.split('id="access-log"')[1]
    assert table.index("时间线接口") < table.index("案件接口"), "newest first"
    assert secret in table and cases["plain"][1] not in table
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    later = client.get(f"/coordinator/audit?tab=reads&from={tomorrow}").get_data(as_text=True)
    assert "暂无记录" in later
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    window = client.get(f"/coordinator/audit?tab=reads&from={yesterday}&to={tomorrow}&person=expert@example")
    assert "时间线接口" in window.get_data(as_text=True)
    assert client.get("/coordinator/audit?from=tomorrow").status_code == 400

    with sessions.begin() as s:
        s.get(User, people.coordinator.id).language = "en"
    english = client.get("/coordinator/audit").get_data(as_text=True)
    assert "Audit log" in english and "Case reassigned" in english and "API token created" in english


def test_the_audit_page_is_paged(client, people, sessions) -> None:  # noqa: ANN001
    with sessions.begin() as s:
        s.add_all(AdminAudit(actor_id=people.coordinator.id, action="token_created", subject_id=people.enterprise.id,
                             detail={"n": n}, at=utcnow() - timedelta(minutes=n)) for n in range(60))  # fmt: skip
    login(client, people.coordinator.email)
    first = client.get("/coordinator/audit").get_data(as_text=True)
    second = client.get("/coordinator/audit?page=2").get_data(as_text=True)
    assert "n: 0<br>" in first and "n: 59<br>" in second and "n: 59<br>" not in first and "n: 0<br>" not in second
    # the people's 3 tokens, then these 60: 50 on the first page, 13 on the second
    assert first.count("<tr><td>") == 50 and second.count("<tr><td>") == 13
    assert "?page=2" in first


# --- append-only --------------------------------------------------------------------------------


@pytest.mark.skipif(BACKEND != "services", reason="the append-only trigger is PostgreSQL's (migration 0007)")
@pytest.mark.parametrize("table", ["access_log", "admin_audit"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET id = id", "DELETE FROM {table}"])
def test_postgresql_refuses_to_change_or_delete_audit_rows(
    client, people, sessions, cases, table: str, statement: str
) -> None:  # noqa: ANN001
    assert client.get(f"/api/v1/cases/{cases['secret'][1]}", headers=people.headers("expert")).status_code == 200
    with sessions() as s:
        assert s.scalar(text(f"SELECT count(*) FROM {table}")) >= 1
        with pytest.raises(DBAPIError, match="append-only"):
            s.execute(text(statement.format(table=table)))
        s.rollback()
        assert s.scalar(text(f"SELECT count(*) FROM {table}")) >= 1
