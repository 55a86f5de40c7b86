"""The expert pool: the coordinators' API and pages, CSV import, and what routing reads from it."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import wait_for
from tests.test_pipeline import mails_for
from tests.test_web import csrf_token, login
from workstation.services.models import Case, CaseEvent, ExpertImport, ExpertProfile, OutboxMessage, User
from workstation.services.pool import run_import

EXPERT = {
    "email": "Li.Ming@NWU.edu.cn",
    "name": "李明",
    "language": "zh",
    "organisation": "西北大学知识产权研究院",
    "affiliation_kind": "university",
    "right_types": ["patent", "trademark"],
    "services": ["infringement_judgment", "compensation_estimate"],
    "jurisdictions": ["cn", "US"],
    "technical_fields": ["new_materials"],
    "competence": {"legal": 3, "technical": 2},
    "capacity": 6,
    "confidential_ok": True,
}


def api(client, people, method: str, path: str, who: str = "coordinator", **kwargs):  # noqa: ANN001, ANN201
    return client.open(f"/api/v1{path}", method=method, headers=people.headers(who), **kwargs)


def events(sessions, routing_key: str) -> list[dict]:  # noqa: ANN001
    with sessions() as s:
        return [r.payload for r in s.scalars(select(OutboxMessage).where(OutboxMessage.routing_key == routing_key))]


# --- the API ------------------------------------------------------------------------------------


def test_a_coordinator_creates_reads_lists_and_edits_an_expert(client, people) -> None:  # noqa: ANN001
    created = api(client, people, "POST", "/experts", json=EXPERT)
    assert created.status_code == 201, created.get_json()
    expert = created.get_json()
    assert created.headers["Location"] == f"/api/v1/experts/{expert['id']}"
    assert expert["email"] == "li.ming@nwu.edu.cn" and expert["jurisdictions"] == ["CN", "US"]
    assert expert["competence"] == {"legal": 3, "technical": 2, "management": 0, "commercialization": 0}
    assert expert["active_cases"] == 0
    assert "password" not in expert
    assert api(client, people, "GET", f"/experts/{expert['id']}").get_json() == expert
    listed = api(client, people, "GET", "/experts").get_json()["experts"]
    assert [e["email"] for e in listed] == ["li.ming@nwu.edu.cn"]

    edited = api(client, people, "PATCH", f"/experts/{expert['id']}", json={"capacity": 8, "services": None})
    assert edited.status_code == 200, edited.get_json()
    assert edited.get_json()["capacity"] == 8 and edited.get_json()["services"] is None
    assert edited.get_json()["right_types"] == ["patent", "trademark"], "a PATCH changes only what it names"


def test_bad_expert_input_is_a_400_per_field_and_nothing_is_written(client, people, sessions) -> None:  # noqa: ANN001
    bad = {**EXPERT, "right_types": ["patent", "poetry"], "competence": {"legal": 5}, "capacity": 0, "extra": 1}
    response = api(client, people, "POST", "/experts", json=bad)
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert set(errors) == {"right_types", "competence", "capacity", "extra"}
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ExpertProfile)) == 0
    assert api(client, people, "POST", "/experts", json=EXPERT).status_code == 201
    again = api(client, people, "POST", "/experts", json={**EXPERT, "email": "li.ming@nwu.edu.cn"})
    assert again.status_code == 200 and again.get_json()["name"] == "李明", "the same expert again changes nothing"
    taken = api(client, people, "POST", "/experts", json={**EXPERT, "email": people.enterprise.email})
    assert taken.status_code == 400 and "email" in taken.get_json()["errors"]


@pytest.mark.parametrize("who", ["enterprise", "expert"])
def test_only_coordinators_manage_the_pool(client, people, who: str) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    for method, path in [("GET", "/experts"), ("POST", "/experts"), ("GET", f"/experts/{people.expert.id}"),
                         ("PATCH", f"/experts/{people.expert.id}"), ("POST", "/experts/imports")]:  # fmt: skip
        response = api(client, people, method, path, who=who, json={})
        assert response.status_code == 403, (method, path)
        assert response.get_json()["errors"]["_request"]


def test_an_unknown_expert_is_a_404(client, people) -> None:  # noqa: ANN001
    assert api(client, people, "GET", f"/experts/{people.enterprise.id}").status_code == 404
    assert api(client, people, "PATCH", "/experts/99999", json={"capacity": 2}).status_code == 404


def test_leave_or_deactivation_asks_routing_to_move_unaccepted_cases(client, people, sessions) -> None:  # noqa: ANN001
    expert = people.add("expert", "expert")
    api(client, people, "PATCH", f"/experts/{expert.id}", json={"capacity": 9})
    assert events(sessions, "expert.unavailable") == [], "an edit that keeps the expert routable moves nothing"
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    api(client, people, "PATCH", f"/experts/{expert.id}", json={"on_leave_until": yesterday})
    assert events(sessions, "expert.unavailable") == [], "leave that is over is no leave"
    until = (date.today() + timedelta(days=14)).isoformat()
    response = api(client, people, "PATCH", f"/experts/{expert.id}", json={"on_leave_until": until})
    assert response.status_code == 200 and response.get_json()["on_leave_until"] == until
    assert events(sessions, "expert.unavailable") == [{"expert_id": expert.id}]
    api(client, people, "PATCH", f"/experts/{expert.id}", json={"is_active": False})
    assert len(events(sessions, "expert.unavailable")) == 1, "already unavailable: nothing more to move"
    assert api(client, people, "GET", "/experts?active=false").get_json()["experts"][0]["id"] == expert.id


# --- CSV import ---------------------------------------------------------------------------------

HEADER = "email,name,organisation,right_types,services,jurisdictions,legal,technical,capacity,confidential_ok,is_trainee,supervisor_email\n"  # noqa: E501


def expert_csv(n: int, bad_rows: dict[int, str] | None = None) -> str:
    lines = [HEADER]
    for i in range(n):
        profile = f"patent;trademark,infringement_judgment,CN;US,3,{i % 4},{5 + i % 3},是,否,"
        line = f"expert{i}@pool.cn,专家{i},西北大学,{profile}\n"
        lines.append((bad_rows or {}).get(i, line))
    return "".join(lines)


def import_now(client, people, sessions, text: str, encoding: str = "utf-8") -> dict:  # noqa: ANN001
    response = api(
        client, people, "POST", "/experts/imports",
        data={"file": (io.BytesIO(text.encode(encoding)), "experts.csv")}, content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["status"] == "queued"
    run_import(sessions, response.get_json()["id"], date.today(), chunk=7)
    return api(client, people, "GET", f"/experts/imports/{response.get_json()['id']}").get_json()


def test_an_import_reports_bad_rows_imports_the_good_ones_and_a_second_run_changes_nothing(client, people, sessions):  # noqa: ANN001
    bad = {
        3: "not-an-email,x,,patent,,,,,,,,\n",
        5: "expert5@pool.cn,专家5,,patent;poetry,,,4,,0,,,\n",
        8: "trainee8@pool.cn,见习8,,patent,,,,,,,是,nobody@pool.cn\n",
    }
    job = import_now(client, people, sessions, expert_csv(20, bad))
    assert job["status"] == "done" and job["total"] == 20 and job["processed"] == 20
    assert (job["created"], job["updated"], job["unchanged"], job["failed"]) == (17, 0, 0, 3)
    by_row: dict[int, set[str]] = {}
    for error in job["errors"]:
        by_row.setdefault(error["row"], set()).add(error["field"])
    # the header is row 1, so data row i is row i + 2, as a spreadsheet numbers it
    assert by_row == {5: {"email"}, 7: {"right_types", "legal", "capacity"}, 10: {"supervisor_email"}}
    with sessions() as s:
        imported = s.scalar(select(User).where(User.email == "expert1@pool.cn"))
        assert imported.expert.right_types == ["patent", "trademark"] and imported.expert.jurisdictions == ["CN", "US"]
        assert imported.expert.competence == {"legal": 3, "technical": 1, "management": 0, "commercialization": 0}
        assert imported.expert.confidential_ok is True and imported.expert.capacity == 6
        assert imported.password_hash == "!", "no password yet: nobody can log in as an imported expert"

    again = import_now(client, people, sessions, expert_csv(20, bad))
    assert (again["created"], again["updated"], again["unchanged"], again["failed"]) == (0, 0, 17, 3)
    changed = expert_csv(20, bad).replace("expert2@pool.cn,专家2,西北大学", "expert2@pool.cn,专家2,西安交通大学")
    third = import_now(client, people, sessions, changed)
    assert (third["created"], third["updated"], third["unchanged"]) == (0, 1, 16)


def test_an_import_resumes_after_the_last_committed_chunk(client, people, sessions) -> None:  # noqa: ANN001
    response = api(client, people, "POST", "/experts/imports", data=expert_csv(30), content_type="text/csv")
    job_id = response.get_json()["id"]
    run_import(sessions, job_id, date.today(), chunk=10)
    with sessions.begin() as s:  # as if the worker had died after the first chunk of 10
        job = s.get(ExpertImport, job_id)
        job.processed, job.created, job.status, job.finished_at = 10, 10, "running", None
    run_import(sessions, job_id, date.today(), chunk=10)
    job = api(client, people, "GET", f"/experts/imports/{job_id}").get_json()
    assert (job["status"], job["created"], job["unchanged"]) == ("done", 10, 20)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ExpertProfile)) == 30


def test_an_excel_csv_in_gb18030_with_chinese_yes_imports(client, people, sessions) -> None:  # noqa: ANN001
    job = import_now(client, people, sessions, expert_csv(3), encoding="gb18030")
    assert job["created"] == 3 and job["failed"] == 0
    with sessions() as s:
        assert s.scalar(select(User.name).where(User.email == "expert0@pool.cn")) == "专家0"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "file"),
        (b"name,capacity\nx,3\n", "Missing columns: email, right_types"),
        (b"email,right_types,salary\n", "Unknown columns: salary"),
        (b"\x00\x01\x02\xff\xfe" * 10, "not text"),
    ],
)
def test_a_file_that_is_not_an_expert_csv_is_refused_at_once(client, people, body: bytes, problem: str) -> None:  # noqa: ANN001
    response = api(client, people, "POST", "/experts/imports", data=body, content_type="text/csv")
    # no file is a 400; a file that says what cannot be imported, a 422
    assert response.status_code == (400 if problem == "file" else 422)
    assert problem in " ".join(response.get_json()["errors"]["file"]) or problem == "file"


# --- the pages ----------------------------------------------------------------------------------


def test_a_coordinator_manages_experts_through_the_pages(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    page = client.get("/coordinator/experts")
    assert page.status_code == 200 and "专家库" in page.get_data(as_text=True)
    form = client.get("/coordinator/experts/new").get_data(as_text=True)
    fields = {
        "csrf_token": csrf_token(form), "email": "wang@example.cn", "name": "王芳", "language": "en",
        "right_types": ["copyright", "trade_secret"], "services": [], "technical_fields": ["biomedicine"],
        "legal": "2", "technical": "0", "management": "1", "commercialization": "3", "capacity": "4",
        "available": "true", "is_active": "true", "confidential_ok": "true",
    }  # fmt: skip
    created = client.post("/coordinator/experts/new", data=fields)
    assert created.status_code == 302, created.get_data(as_text=True)
    with sessions() as s:
        user = s.scalar(select(User).where(User.email == "wang@example.cn"))
        assert user.expert.right_types == ["copyright", "trade_secret"] and user.expert.services is None
        assert user.expert.competence == {"legal": 2, "technical": 0, "management": 1, "commercialization": 3}
    listing = client.get("/coordinator/experts?q=王").get_data(as_text=True)
    assert "王芳" in listing and "0 / 4" in listing

    edit = client.get(f"/coordinator/experts/{user.id}").get_data(as_text=True)
    assert 'value="copyright" checked' in edit and 'value="3" selected' in edit
    leave = (date.today() + timedelta(days=7)).isoformat()
    bad = client.post(f"/coordinator/experts/{user.id}", data={**fields, "csrf_token": csrf_token(edit),
                                                               "capacity": "0", "on_leave_until": leave})  # fmt: skip
    assert bad.status_code == 400 and 'aria-invalid="true" aria-describedby="capacity-error"' in bad.get_data(
        as_text=True
    )
    saved = client.post(f"/coordinator/experts/{user.id}", data={**fields, "csrf_token": csrf_token(edit),
                                                                 "on_leave_until": leave})  # fmt: skip
    assert saved.status_code == 302
    assert f"休假至 {leave}" in client.get("/coordinator/experts").get_data(as_text=True)
    assert events(sessions, "expert.unavailable") == [{"expert_id": user.id}]


def test_the_import_page_shows_progress_and_row_errors_in_the_page_language(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    token = csrf_token(client.get("/coordinator/experts").get_data(as_text=True))
    text = expert_csv(4, {2: "expert2@pool.cn,x,,patent,,,,,,,否,boss@pool.cn\n"})
    queued = client.post(
        "/coordinator/experts/import",
        data={"csrf_token": token, "file": (io.BytesIO(text.encode()), "专家名单.csv")},
        content_type="multipart/form-data",
    )
    assert queued.status_code == 302
    page = client.get(queued.headers["Location"]).get_data(as_text=True)
    assert 'http-equiv="refresh"' in page and "排队中" in page, "a queued import refreshes itself"
    job_id = int(queued.headers["Location"].rsplit("/", 1)[1])
    run_import(sessions, job_id, date.today())
    page = client.get(queued.headers["Location"]).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page and "已完成" in page
    assert "没有邮箱为 boss@pool.cn 的专家" in page and "<td>4</td>" in page

    refused = client.post(
        "/coordinator/experts/import",
        data={"csrf_token": token, "file": (io.BytesIO(b"name\nx\n"), "x.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "缺少列：email, right_types" in refused.get_data(as_text=True)


def test_the_pool_pages_are_for_coordinators_only(client, people) -> None:  # noqa: ANN001
    assert client.get("/coordinator/experts").status_code == 302, "anonymous: to the login page"
    login(client, people.enterprise.email)
    assert client.get("/coordinator/experts").status_code == 403
    token = csrf_token(client.get("/cases/new").get_data(as_text=True))
    assert client.post("/coordinator/experts/new", data={"csrf_token": token}).status_code == 403


# --- what routing reads from the pool -----------------------------------------------------------


def test_an_expert_who_acted_for_the_respondent_in_an_earlier_case_is_not_chosen(people, sessions) -> None:  # noqa: ANN001
    from workers.routing import assign_expert

    earlier = people.add("earlier_client", "enterprise", organisation="Xi'an Huaxing Trading Co., Ltd.",
                         credit_code="91610131MA6TXXXX15")  # fmt: skip
    acted = people.add("acted", "expert", capacity=10, profile={"competence": {"legal": 3, "technical": 3}})
    other = people.add("other", "expert", capacity=10)
    with sessions.begin() as s:
        s.add(Case(enterprise_id=earlier.id, right_type="trademark", service="infringement_judgment", title="t",
                   description="d", status="closed", assigned_expert_id=acted.id))  # fmt: skip
    for respondent in ({"name": "西安华星贸易", "credit_code": "91610131MA6TXXXX15"},
                       {"name": "Xi'an Huaxing Trading Company Limited"}):  # fmt: skip
        with sessions.begin() as s:
            parties = [{"role": "respondent", **respondent}]
            case = Case(enterprise_id=people.enterprise.id, right_type="trademark", service="infringement_judgment",
                        title="t", description="d", status="submitted", parties=parties)  # fmt: skip
            s.add(case)
            s.flush()
            assign_expert(s, case)
            assert case.assigned_expert_id == other.id, respondent


def test_a_trainee_shadows_a_case_of_their_supervisor_and_sees_it(client, people, sessions) -> None:  # noqa: ANN001
    from workers.routing import assign_expert

    supervisor = people.add("supervisor", "expert", capacity=10, profile={"confidential_ok": True})
    trainee = people.add("trainee", "expert", profile={"is_trainee": True, "supervisor_id": supervisor.id})
    with sessions.begin() as s:
        open_case = Case(
            enterprise_id=people.enterprise.id,
            right_type="trademark",
            service="consultation",
            title="公开案件",
            description="d",
            status="submitted",
            reference="RPA-2026-900001",
        )
        secret = Case(enterprise_id=people.enterprise.id, right_type="trademark", service="consultation",
                      title="保密案件", description="d", status="submitted", confidential=True,
                      reference="RPA-2026-900002")  # fmt: skip
        s.add_all([open_case, secret])
        s.flush()
        assign_expert(s, open_case)
        assign_expert(s, secret)
        assert open_case.assigned_expert_id == secret.assigned_expert_id == supervisor.id
        assert open_case.shadow_expert_id == trainee.id and secret.shadow_expert_id is None
        shadow_event = open_case.events[-1] if open_case.events else None
    assert events(sessions, "case.assigned")[0]["shadow_expert_id"] == trainee.id
    assert shadow_event is None or shadow_event.detail.get("shadow_expert_id") == trainee.id
    seen = client.get("/api/v1/cases/RPA-2026-900001", headers=people.headers("trainee"))
    assert seen.status_code == 200
    assert client.get("/api/v1/cases/RPA-2026-900002", headers=people.headers("trainee")).status_code == 404
    act = client.post("/api/v1/cases/RPA-2026-900001/transitions", json={"action": "accept"},
                      headers=people.headers("trainee"))  # fmt: skip
    assert act.status_code == 403, "a trainee follows, the assignee acts"


def test_going_on_leave_moves_unaccepted_cases_and_keeps_accepted_ones(people, sessions) -> None:  # noqa: ANN001
    from workers.routing import assign_expert, reroute_cases_of

    leaving = people.add("leaving", "expert", capacity=10, profile={"competence": {"legal": 3, "management": 3}})
    people.add("staying", "expert", capacity=10)
    with sessions.begin() as s:
        cases = [Case(enterprise_id=people.enterprise.id, right_type="trademark", service="consultation",
                      title=f"c{i}", description="d", status="submitted") for i in range(3)]  # fmt: skip
        s.add_all(cases)
        s.flush()
        for case in cases:
            assign_expert(s, case)
        assert {c.assigned_expert_id for c in cases} == {leaving.id}
        cases[0].status = "accepted"
        s.get(ExpertProfile, leaving.id).on_leave_until = date.today() + timedelta(days=30)
    with sessions.begin() as s:
        assert reroute_cases_of(s, leaving.id) == 2
    with sessions() as s:
        rows = s.execute(select(Case.title, Case.status, Case.assigned_expert_id).order_by(Case.id)).all()
        loads = dict(s.execute(select(ExpertProfile.user_id, ExpertProfile.active_cases)).all())
    assert rows[0] == ("c0", "accepted", leaving.id)
    assert {r.assigned_expert_id for r in rows[1:]} == {people.staying.id}
    assert loads == {leaving.id: 1, people.staying.id: 2}


def test_a_reroute_whose_first_choice_is_full_moves_the_load_once(people, sessions) -> None:  # noqa: ANN001
    """The chosen expert's last slot went to another routing worker: the case goes to the next
    one, and the expert it leaves loses one case from their count, not two."""
    from workers.routing import Pool, assign_expert

    leaving = people.add("leaving", "expert", capacity=10)
    full = people.add("full", "expert", capacity=1)
    spare = people.add("spare", "expert", capacity=10)
    with sessions.begin() as s:
        case = Case(enterprise_id=people.enterprise.id, right_type="trademark", service="consultation",
                    title="c", description="d", status="submitted")  # fmt: skip
        s.add(case)
        s.flush()
        everyone = Pool.read(s)
        assign_expert(s, case, pool=Pool([e for e in everyone.experts if e.id == leaving.id], None))
        s.get(ExpertProfile, full.id).active_cases = 1  # taken by "another worker" just now
        case_id = case.id
    with sessions.begin() as s:
        case = s.get(Case, case_id)
        read = Pool.read(s)
        pool = Pool([e for e in read.experts if e.id != leaving.id], None)  # (on leave)
        pool.set_load(full.id, lambda e: 0)  # what this worker read before the other took the slot
        pool.set_load(spare.id, lambda e: 5)
        assign_expert(s, case, action="reroute", pool=pool)
        assert case.assigned_expert_id == spare.id
    with sessions() as s:
        loads = dict(s.execute(select(ExpertProfile.user_id, ExpertProfile.active_cases)).all())
    assert loads == {leaving.id: 0, full.id: 1, spare.id: 1}


def test_the_sessions_copy_of_an_expert_moves_with_the_slots_taken_and_given_back(people, sessions) -> None:  # noqa: ANN001
    """The load UPDATEs move the row; a profile already loaded in the session shows the same load
    (a page or a check reading it later in the transaction must not see the old one)."""
    from workstation.services.cases import _move_load, take_slot

    one, other = people.add("one", "expert", capacity=2), people.add("other", "expert", capacity=5)
    with sessions.begin() as s:
        mine, theirs = s.get(ExpertProfile, one.id), s.get(ExpertProfile, other.id)
        assert take_slot(s, one.id) and take_slot(s, one.id) and not take_slot(s, one.id)
        assert (mine.active_cases, theirs.active_cases) == (2, 0)
        _move_load(s, "assigned", "assigned", one.id, other.id, enforce_capacity=True)
        assert (mine.active_cases, theirs.active_cases) == (1, 1)
    with sessions() as s:
        loads = dict(s.execute(select(ExpertProfile.user_id, ExpertProfile.active_cases)).all())
    assert (loads[one.id], loads[other.id]) == (1, 1)


# --- with the workers running (both deployments) ------------------------------------------------


def case_of(client, people, reference: str) -> dict:  # noqa: ANN001
    return client.get(f"/api/v1/cases/{reference}", headers=people.headers("coordinator")).get_json()


def assigned_to(client, people, reference: str, expert_id: int | None = None, status: str = "assigned"):  # noqa: ANN001, ANN201
    def check() -> dict | None:
        case = case_of(client, people, reference)
        ok = case["status"] == status and (expert_id is None or (case["assigned_expert"] or {}).get("id") == expert_id)
        return case if ok else None

    return wait_for(check, message=f"{reference} {status} {expert_id}")


@pytest.mark.slow
def test_three_declines_send_the_case_to_the_coordinators(client, people, submit, pipeline, sessions) -> None:  # noqa: ANN001
    experts = [people.add(f"expert{i}", "expert", capacity=5 + i) for i in range(4)]
    reference = submit()["reference"]
    declined: set[int] = set()
    for _ in range(3):
        case = assigned_to(client, people, reference)
        expert_id = case["assigned_expert"]["id"]
        assert expert_id not in declined, "an expert who declined is never asked again"
        key = next(f"expert{i}" for i, e in enumerate(experts) if e.id == expert_id)
        decline = {"action": "decline", "reason": "利益冲突"}
        response = client.post(f"/api/v1/cases/{reference}/transitions", json=decline, headers=people.headers(key))
        assert response.status_code == 200, response.get_json()
        declined.add(expert_id)
        wait_for(lambda: case_of(client, people, reference)["status"] != "declined", message="re-routed")
    case = assigned_to(client, people, reference, status="awaiting_expert")
    assert case["assigned_expert"] is None
    timeline = client.get(f"/api/v1/cases/{reference}/events", headers=people.headers("coordinator")).get_json()
    assert [e["action"] for e in timeline["events"]][-1] == "escalate"
    assert "declined by 3 experts" in timeline["events"][-1]["detail"]["reasons"][0]
    wait_for(lambda: len(mails_for(sessions, "coordinator_no_expert")) == 1, message="coordinators told")
    with sessions() as s:
        assert sum(s.scalars(select(ExpertProfile.active_cases))) == 0


@pytest.mark.slow
def test_an_expert_going_on_leave_has_unaccepted_cases_moved_by_the_workers(
    client, people, submit, pipeline, sessions
) -> None:  # noqa: ANN001, E501
    leaving = people.add("leaving", "expert", capacity=10, profile={"competence": {"legal": 3, "technical": 3}})
    staying = people.add("staying", "expert", capacity=10)
    references = [submit()["reference"] for _ in range(2)]
    for reference in references:
        assigned_to(client, people, reference, leaving.id)
    accepted = client.post(f"/api/v1/cases/{references[0]}/transitions", json={"action": "accept"},
                           headers=people.headers("leaving"))  # fmt: skip
    assert accepted.status_code == 200
    until = (date.today() + timedelta(days=10)).isoformat()
    assert api(client, people, "PATCH", f"/experts/{leaving.id}", json={"on_leave_until": until}).status_code == 200
    moved = assigned_to(client, people, references[1], staying.id)
    assert moved["status"] == "assigned"
    assert case_of(client, people, references[0])["assigned_expert"]["id"] == leaving.id, "accepted work stays"
    timeline = client.get(f"/api/v1/cases/{references[1]}/events", headers=people.headers("coordinator")).get_json()
    assert [e["action"] for e in timeline["events"]] == ["submit", "assign", "reroute"]
    wait_for(lambda: any(n.recipient_id == staying.id for n in mails_for(sessions, "expert_case_assigned")))


@pytest.mark.slow
def test_an_import_runs_in_the_workers_and_reports_progress(client, people, pipeline, sessions) -> None:  # noqa: ANN001
    response = api(client, people, "POST", "/experts/imports", data=expert_csv(600, {7: "bad,,,,,,,,,,,\n"}),
                   content_type="text/csv")  # fmt: skip
    assert response.status_code == 202
    job = wait_for(
        lambda: (
            (j := client.get(response.headers["Location"], headers=people.headers("coordinator")).get_json())
            and j["status"] == "done"
            and j
        ),
        timeout=60,
        message="import done",
    )
    assert (job["created"], job["failed"], job["processed"]) == (599, 1, 600)
    assert job["errors"][0]["row"] == 9


@pytest.mark.slow
def test_a_trainee_is_attached_and_mailed(client, people, submit, pipeline, sessions) -> None:  # noqa: ANN001
    supervisor = people.add("supervisor", "expert")
    trainee = people.add("trainee", "expert", language="en",
                         profile={"is_trainee": True, "supervisor_id": supervisor.id})  # fmt: skip
    reference = submit()["reference"]
    assigned_to(client, people, reference, supervisor.id)
    sent = wait_for(lambda: mails_for(sessions, "trainee_shadow_attached"), message="trainee mailed")
    assert [n.recipient_id for n in sent] == [trainee.id]
    assert client.get(f"/api/v1/cases/{reference}", headers=people.headers("trainee")).status_code == 200


@pytest.mark.slow
def test_in_a_browser_a_coordinator_imports_and_edits_experts(browser, people, pipeline, tmp_path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    csv_file = tmp_path / "专家名单.csv"
    csv_file.write_text(expert_csv(300, {4: "expert4@pool.cn,x,,patent;poetry,,,,,,,,\n"}), encoding="utf-8")
    browser.login(people.coordinator.email)
    browser.open("/coordinator/experts")
    assert "专家库" in browser.text()
    browser.driver.find_element(By.NAME, "file").send_keys(str(csv_file))
    browser.click("form[enctype] button[type=submit]")
    assert "专家导入" in browser.text()
    # The page refreshes itself (no JavaScript) until the workers are done.
    wait_for(lambda: "已完成" in browser.text(), timeout=60, message="import finished in the page")
    assert "right_types" in browser.text() and "<td>" not in browser.text()
    browser.screenshot("coordinator-import-done")

    browser.open("/coordinator/experts?q=expert7@")
    browser.click("table a")
    capacity = browser.driver.find_element(By.NAME, "capacity")
    capacity.clear()
    capacity.send_keys("12")
    browser.screenshot("coordinator-expert-edit")
    browser.click("button.primary")
    assert "已更新专家 专家7" in browser.text()
    browser.screenshot("coordinator-experts")
    browser.open("/coordinator/experts?q=expert7@")
    assert "0 / 12" in browser.text()


def test_the_pool_is_priced_so_a_scarce_expert_is_kept_for_the_cases_only_they_can_take(people, sessions) -> None:  # noqa: ANN001, E501
    from workers.routing import assign_expert, price_the_pool

    scarce = people.add("scarce", "expert", right_types=["patent", "trade_secret"], capacity=4,
                        profile={"confidential_ok": True, "competence": {"legal": 3, "technical": 3}})  # fmt: skip
    common = people.add("common", "expert", right_types=["patent"], capacity=40,
                        profile={"competence": {"legal": 2, "technical": 2}})  # fmt: skip
    with sessions.begin() as s:
        for i in range(30):  # the recent mix: trade secrets that only `scarce` may take, and patents
            s.add(Case(enterprise_id=people.enterprise.id, right_type="trade_secret" if i % 3 else "patent",
                       service="infringement_judgment", title="t", description="d", status="closed",
                       confidential=bool(i % 3)))  # fmt: skip
        s.get(ExpertProfile, scarce.id).active_cases = 3  # the pool is busy: capacity is contested
        s.get(ExpertProfile, common.id).active_cases = 10
    assert price_the_pool(sessions) >= 1
    with sessions() as s:
        prices = dict(s.execute(select(ExpertProfile.user_id, ExpertProfile.scarcity)).all())
    assert prices[scarce.id] > prices[common.id]
    with sessions.begin() as s:
        case = Case(enterprise_id=people.enterprise.id, right_type="patent", service="infringement_judgment",
                    title="t", description="d", status="submitted")  # fmt: skip
        s.add(case)
        s.flush()
        assign_expert(s, case)
        assert case.assigned_expert_id == common.id, "the last slot able to take a trade secret is kept"


def test_the_pile_job_gives_a_freed_slot_to_the_waiting_case_it_serves_best(people, sessions) -> None:  # noqa: ANN001
    """The scheduler's ``route-the-pile`` job: of the cases waiting for an expert, the one the
    freed slot serves best gets it, even if another waited longer; a case nobody eligible has room
    for, and one the coordinators got after ``MAX_DECLINES`` declines, stay waiting."""
    from workers.routing import MAX_DECLINES, route_the_pile

    freed = people.add("freed", "expert", right_types=["patent"], capacity=1,
                       profile={"competence": {"legal": 3, "technical": 3}})  # fmt: skip
    decliners = [people.add(f"d{i}", "expert", right_types=["copyright"], capacity=1) for i in range(MAX_DECLINES)]

    def waiting(s, service: str, right_type: str = "patent") -> Case:  # noqa: ANN001
        case = Case(enterprise_id=people.enterprise.id, right_type=right_type, service=service, title="t",
                    description="d", status="awaiting_expert")  # fmt: skip
        s.add(case)
        s.flush()
        return case

    with sessions.begin() as s:
        declined = waiting(s, "infringement_judgment")  # (oldest) declined by three: the coordinators'
        for who in decliners:
            s.add(CaseEvent(case_id=declined.id, action="decline", from_status="assigned", to_status="declined",
                            actor_id=who.id, actor_role="expert"))  # fmt: skip
        poor = waiting(s, "risk_warning")  # the freed expert has no management or commerce
        nobody = waiting(s, "consultation", right_type="trademark")
        good = waiting(s, "infringement_judgment")  # legal and technical: the freed expert's best
    assert route_the_pile(sessions, date(2026, 11, 24)) == 1
    with sessions() as s:
        status = {c.id: (c.status, c.assigned_expert_id) for c in s.scalars(select(Case))}
    assert status[good.id] == ("assigned", freed.id)
    assert status[poor.id] == status[nobody.id] == status[declined.id] == ("awaiting_expert", None)


def test_the_benchmark_prices_the_pool_with_the_function_and_arguments_of_the_scheduler_job(
    people, sessions, monkeypatch
) -> None:  # noqa: ANN001, E501
    """``benchmarks/routing.py`` measures the router with the pricing that ships: on the same state
    (the pool with its loads, the cases in the order they came, the day) its scheduler step calls
    the job's ``price_pool`` with equal arguments, and never with a case that has not arrived."""
    import importlib.util
    import sys
    from pathlib import Path

    import numpy as np
    from sqlalchemy.orm import joinedload

    import workers.routing as job
    from workstation.vocabulary import SERVICES

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "routing.py"
    spec = importlib.util.spec_from_file_location("benchmark_routing", path)
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "benchmark_routing", bench)
    spec.loader.exec_module(bench)
    assert bench.price_pool is job.price_pool and bench.prices_as_read is job.prices_as_read
    calls, real = [], job.price_pool
    monkeypatch.setattr(job, "price_pool", lambda *args: calls.append(args) or real(*args))
    monkeypatch.setattr(bench, "price_pool", lambda *args: calls.append(args) or real(*args))
    for module in (job, bench):  # fewer cases than the sample would not show which ones are taken
        monkeypatch.setattr(module, "PRICING_SAMPLE", 12)

    for i in range(6):
        people.add(f"x{i}", "expert", right_types=["patent", "trademark", "trade_secret"][: 1 + i % 3], capacity=3 + i,
                   profile={"confidential_ok": i % 2 == 0, "languages": ["zh", "en"],
                            "competence": {"legal": i % 4, "technical": 3 - i % 4},
                            "jurisdictions": ["CN", "US"] if i % 3 == 0 else ["CN"]})  # fmt: skip
    with sessions.begin() as s:
        for i in range(20):
            s.add(Case(enterprise_id=(people.enterprise if i % 2 else people.other_enterprise).id,
                       right_type=["patent", "trademark", "trade_secret"][i % 3], service=SERVICES[i % 5],
                       jurisdiction="US" if i % 4 == 0 else "CN", language="en" if i % 5 == 0 else "zh",
                       confidential=i % 3 == 2, urgency="high" if i % 6 == 0 else "normal", title="t",
                       description="d", status=["closed", "assigned", "submitted"][i % 3],
                       parties=[{"name": f"对方{i}有限公司", "credit_code": f"91610000{i:010d}"}]))  # fmt: skip
        for i, profile in enumerate(s.scalars(select(ExpertProfile).order_by(ExpertProfile.user_id))):
            profile.active_cases = i % 4
    today = date(2026, 11, 24)
    assert job.price_the_pool(sessions, today) >= 0

    with sessions() as s:
        experts, _ = job.candidate_experts(s)
        cases = s.scalars(select(Case).options(joinedload(Case.enterprise)).order_by(Case.id)).all()
        facts = [job.case_facts(case, set()) for case in cases]
    days = bench.working_days()
    d = days.index(today)
    # the same cases arriving in the same order during the day, and three more after the tick
    arrive = np.array([d + k / 100 for k in range(len(facts))] + [d + 0.9] * 3)
    stream = bench.Stream(facts + facts[:3], arrive, np.ones(len(arrive)), days)
    bench.scheduler_prices(experts, stream, d + (len(facts) - 1) / 100)
    assert len(calls) == 2
    assert calls[1] == calls[0]
    assert len(calls[0][1]) == 12 and calls[0][1][0] == facts[-1]  # the latest 12, newest first
