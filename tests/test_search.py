"""Searching, listing and exporting cases (GET /api/v1/cases, /cases/export, the desk's box), on
both databases: what a search finds, and that it never finds a case the searcher may not open."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text

from tests.conftest import CASE, People
from workstation.search_syntax import grams
from workstation.services.models import AccessLog, AdminAudit, Case, CaseGrams
from workstation.services.search import CASE_FTS, index_cases

CODE = "91610131MA6TXR7K3C"  # (not checked here: stored by a coordinator's hand below)


@pytest.fixture
def world(client, people: People) -> dict[str, str]:  # noqa: ANN001
    """Cases that all say 星河: two of the enterprise's (one confidential) and one of the other
    enterprise's; the expert holds the first and the other enterprise's, a second expert the
    confidential one; a trainee shadows the first. Messages and an internal note on the first."""
    people.add("expert", "expert", organisation="秦川律师事务所", name="王专家")
    cleared = {"right_types": ["trade_secret", "trademark"], "profile": {"confidential_ok": True}}
    people.add("cleared", "expert", name="李专家", **cleared)
    people.add("trainee", "expert", profile={"is_trainee": True, "supervisor_id": people.expert.id})
    made = {}
    for key, who, extra in (
        ("open", "enterprise", {"parties": [{"name": "深圳鼎盛电子有限公司"}],
                                "rights": [{"kind": "trademark", "number": "第12345678号", "mark_text": "鼎盛"}]}),
        ("secret", "enterprise", {"right_type": "trade_secret", "title": "星河客户名单泄露"}),
        ("others", "other_enterprise", {"rights": [{"kind": "patent", "number": "ZL201910123456.7"}]}),
    ):  # fmt: skip
        answer = client.post("/api/v1/cases", json={**CASE, **extra}, headers=people.headers(who))
        assert answer.status_code == 201, answer.get_json()
        made[key] = answer.get_json()["reference"]
    for key, expert in (("open", "expert"), ("secret", "cleared"), ("others", "expert")):
        moved = client.post(f"/api/v1/cases/{made[key]}/transitions", headers=people.headers("coordinator"),
                            json={"action": "reassign", "expert_id": people.users[expert].id})  # fmt: skip
        assert moved.status_code == 200, moved.get_json()
    with people.sessions.begin() as session:
        session.execute(text("UPDATE cases SET shadow_expert_id = :t WHERE reference IN (:a, :b)"),
                        {"t": people.trainee.id, "a": made["open"], "b": made["secret"]})  # fmt: skip
        session.execute(text("UPDATE users SET credit_code = :c WHERE id = :e"), {"c": CODE, "e": people.enterprise.id})
    for body, internal, who in (("请补充公证书", False, "expert"), ("内部评估：胜诉可能较大", True, "expert")):
        said = client.post(f"/api/v1/cases/{made['open']}/messages", json={"body": body, "internal": internal},
                           headers=people.headers(who))  # fmt: skip
        assert said.status_code == 201, said.get_json()
    with people.sessions.begin() as session:  # as the watch worker does after each submission
        index_cases(session, list(session.scalars(select(Case.id))))
    return made


def found(client, people: People, who: str, q: str, **params: str) -> list[str]:  # noqa: ANN001
    answer = client.get("/api/v1/cases", query_string={"q": q, **params}, headers=people.headers(who))
    assert answer.status_code == 200, answer.get_json()
    return [c["reference"] for c in answer.get_json()["cases"]]


def exported(client, people: People, who: str, q: str) -> list[str]:  # noqa: ANN001
    answer = client.get("/api/v1/cases/export", query_string={"q": q, "format": "csv"}, headers=people.headers(who))
    assert answer.status_code == 200, answer.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    return [r[0] for r in rows[1:]]


def test_searches_and_exports_never_include_a_case_the_searcher_cannot_open(client, people, world) -> None:  # noqa: ANN001
    people.add("stranger", "expert")
    may_open = {}
    for who in ("enterprise", "other_enterprise", "expert", "cleared", "trainee", "stranger", "coordinator"):
        opens = lambda ref, who=who: client.get(f"/api/v1/cases/{ref}", headers=people.headers(who)).status_code  # noqa: E731
        may_open[who] = {ref for ref in world.values() if opens(ref) == 200}
    assert may_open["enterprise"] == {world["open"], world["secret"]}
    assert may_open["trainee"] == {world["open"]}, "a trainee never sees the confidential case it shadows"
    assert may_open["stranger"] == set()
    for who, cases in may_open.items():
        for q in ("星河", "", "status:assigned", "confidential:yes", "商标 星河"):
            listed, file = set(found(client, people, who, q)), set(exported(client, people, who, q))
            assert listed <= cases and file <= cases, (who, q)
        assert set(found(client, people, who, "")) == cases == set(exported(client, people, who, "")), who


def test_a_word_is_found_wherever_the_case_holds_it(client, people, world) -> None:  # noqa: ANN001
    as_coordinator = lambda q: set(found(client, people, "coordinator", q))  # noqa: E731
    assert as_coordinator("鼎盛电子") == {world["open"]}, "a party's name"
    assert as_coordinator('"深圳鼎盛电子有限公司"') == {world["open"]}, "a quoted phrase"
    assert as_coordinator("12345678") == {world["open"]}, "part of a registration number"
    assert as_coordinator("zl2019101") == {world["others"]}, "a patent number, letters in either case"
    assert as_coordinator(world["secret"]) == {world["secret"]}, "a reference"
    assert as_coordinator(CODE.lower()) == set(world.values()) - {world["others"]}, "the enterprise's credit code"
    assert as_coordinator("秦川律师") == {world["open"], world["others"]}, "the expert's organisation"
    assert as_coordinator("李专家") == {world["secret"]}, "the expert's name"
    assert as_coordinator("公证书") == {world["open"]}, "a message"
    assert as_coordinator("客户名单 星河") == {world["secret"]}, "all the words"
    assert as_coordinator("商 标") == set(world.values()), "single characters"
    assert as_coordinator("客户名单 鼎盛") == set()
    assert as_coordinator("type:trade_secret") == {world["secret"]}
    assert as_coordinator("expert:王专家 鼎盛") == {world["open"]}
    assert as_coordinator("after:2000-01-01 before:2100-01-01 status:assigned,closed") == set(world.values())
    assert as_coordinator("before:2000-01-01") == set()
    assert set(found(client, people, "coordinator", "星河", right_type="patent")) == set()


def test_an_internal_note_never_finds_a_case_for_the_enterprise(client, people, world) -> None:  # noqa: ANN001
    assert found(client, people, "coordinator", "胜诉可能") == [world["open"]]
    assert found(client, people, "expert", "胜诉可能") == [world["open"]]
    assert found(client, people, "enterprise", "胜诉可能") == []
    assert found(client, people, "enterprise", "公证书") == [world["open"]]


def test_a_message_written_after_its_case_was_indexed_finds_it_with_the_cases_own_words(
    client, people, world, monkeypatch
) -> None:  # noqa: ANN001
    # PostgreSQL: a case's document holds its messages' grams (a trigger adds a new one's), so
    # that all the words of a search are one index query; an internal note's only for those who may
    # read it. (A window of one case: the first case is found through the indexes.)
    from workstation.services import search

    monkeypatch.setattr(search, "WINDOW", 1)
    for body, internal in (("瓷砖样品已寄出", False), ("利益冲突核查", True)):
        said = client.post(f"/api/v1/cases/{world['open']}/messages", json={"body": body, "internal": internal},
                           headers=people.headers("expert"))  # fmt: skip
        assert said.status_code == 201, said.get_json()
    for who in ("coordinator", "expert", "enterprise"):
        assert found(client, people, who, "瓷砖") == [world["open"]], who
        assert found(client, people, who, "鼎盛 瓷砖样品") == [world["open"]], who
        assert found(client, people, who, "瓷砖 客户名单") == [], who
    for q in ("冲突", "利益冲突 鼎盛", "冲突 公证书"):
        assert found(client, people, "coordinator", q) == found(client, people, "expert", q) == [world["open"]], q
        assert found(client, people, "enterprise", q) == [], q


def test_a_search_that_cannot_run_is_a_400_naming_q(client, people) -> None:  # noqa: ANN001
    for q in ("status:nonsense", "after:2026-13-01", "x" * 501):
        answer = client.get("/api/v1/cases", query_string={"q": q}, headers=people.headers("coordinator"))
        assert answer.status_code == 400 and "q" in answer.get_json()["errors"], q
    answer = client.get("/api/v1/cases?cursor=0", headers=people.headers("coordinator"))
    assert answer.status_code == 400 and "cursor" in answer.get_json()["errors"]
    answer = client.get("/api/v1/cases/export?format=pdf", headers=people.headers("coordinator"))
    assert answer.status_code == 400 and "format" in answer.get_json()["errors"]


def test_pages_follow_the_cursor_and_an_unchanged_page_is_a_304(client, people, submit) -> None:  # noqa: ANN001
    references = [submit()["reference"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": str(cursor)} if cursor else {})}
        answer = client.get("/api/v1/cases", query_string=params, headers=people.headers("enterprise"))
        body = answer.get_json()
        seen += [c["reference"] for c in body["cases"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == references[::-1], "newest first, each once"
    first = client.get("/api/v1/cases", headers=people.headers("enterprise"))
    if_changed = {**people.headers("enterprise"), "If-None-Match": first.headers["ETag"]}
    again = client.get("/api/v1/cases", headers=if_changed)
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"]
    submit()
    changed = client.get("/api/v1/cases", headers=if_changed)
    assert changed.status_code == 200 and len(changed.get_json()["cases"]) == 6


def test_exports_have_headers_in_the_readers_language_and_confidential_ones_are_audited(
    client, people, world, sessions  # noqa: ANN001
) -> None:  # fmt: skip
    answer = client.get("/api/v1/cases/export?format=xlsx", headers=people.headers("enterprise"))
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    sheet = load_workbook(io.BytesIO(answer.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("案件编号", "标题", "状态"), "a zh reader's headers"
    assert {r[0] for r in rows[1:]} == {world["open"], world["secret"]}
    english = client.get("/api/v1/cases/export", headers=people.headers("other_enterprise")).get_data(as_text=True)
    assert english.startswith("\ufeffReference,Title,Status")
    with sessions() as session:
        audits = session.scalars(select(AdminAudit).where(AdminAudit.action == "cases_exported")).all()
        assert [(a.actor_id, a.detail["confidential"]) for a in audits] == [(people.enterprise.id, [world["secret"]])]
        reads = session.scalars(select(AccessLog).where(AccessLog.target == "cases export api")).all()
        assert [(r.user_id, r.action) for r in reads] == [(people.enterprise.id, "download")]


def test_a_formula_in_a_title_is_not_run_by_the_spreadsheet(client, people, submit) -> None:  # noqa: ANN001
    submit(title='=HYPERLINK("http://evil")')
    rows = list(csv.reader(io.StringIO(client.get("/api/v1/cases/export", headers=people.headers("enterprise"))
                                       .get_data(as_text=True).lstrip("\ufeff"))))  # fmt: skip
    assert rows[1][1].startswith("'=")


def test_the_databases_grams_are_the_pure_modules(sessions, backend) -> None:  # noqa: ANN001
    if backend != "services":
        pytest.skip("the gram function is PostgreSQL's")
    samples = ["陕西某科技有限公司，商标 ZL2019-123.4（注册号）iPhone手机", "A", "", "——", "Ab·cd 星\t河\n科技",
               "x'y\\z", "全角：ＡＢＣ１２３", "emoji😀商标"]  # fmt: skip
    with sessions() as session:
        for sample in samples:
            held = session.execute(text("SELECT tsvector_to_array(rpa_search_grams(:s))"), {"s": sample}).scalar()
            assert set(held) == grams(sample), sample


def test_the_watch_workers_document_of_a_case_is_what_the_databases_function_makes(
    client, people, world, sessions, backend
) -> None:  # noqa: ANN001
    # The worker cuts a case's own grams in Python (a tsvector literal: quotes and backslashes
    # escaped) and adds its messages' from the database; the database's rpa_case_grams, which
    # recomputes a document when a message is erased, must come to the same document.
    if backend != "services":
        pytest.skip("the gram document is PostgreSQL's")
    reference = client.post("/api/v1/cases", headers=people.headers("enterprise"), json={
        **CASE, "title": "x'y\\z 全角：ＡＢＣ emoji😀商标", "parties": [{"name": "O'Brien \\ 某某 Ltd."}]}
    ).get_json()["reference"]  # fmt: skip
    with people.sessions.begin() as session:
        ids = list(session.scalars(select(Case.id).where(Case.reference.in_([world["open"], reference]))))
        index_cases(session, ids)
    with sessions() as session:
        for case_id in ids:
            written, computed = session.execute(
                text("SELECT tsvector_to_array(grams), tsvector_to_array(rpa_case_grams(case_id))"
                     " FROM case_grams WHERE case_id = :id"), {"id": case_id}).one()  # fmt: skip
            assert sorted(written) == sorted(computed) and len(written) > 50
        noted = session.scalar(text("SELECT grams FROM case_grams WHERE case_id = :id"), {"id": min(ids)})
        assert "'!胜诉'" in noted and "'公证'" in noted, "messages' grams, an internal note's marked"


def test_the_desk_searches_in_the_syntax_and_exports_its_view(client, people, world, sessions) -> None:  # noqa: ANN001
    from tests.test_web import login

    login(client, people.coordinator.email)
    page = client.get("/coordinator/", query_string={"q": "鼎盛"}).get_data(as_text=True)
    table = page[page.index("<tbody>") :]
    assert world["open"] in table and world["others"] not in table and world["secret"] not in table
    wrong = client.get("/coordinator/", query_string={"q": "status:nonsense"}).get_data(as_text=True)
    assert "status: 的值应为以下之一" in wrong and world["open"] not in wrong[wrong.index("<tbody>") :]
    view = client.get("/coordinator/", query_string={"q": "星河", "right_type": "trade_secret"}).get_data(as_text=True)
    link = view[view.index("/coordinator/export?") : view.index('"', view.index("/coordinator/export?"))]
    assert "format=csv" in link and "right_type=trade_secret" in link
    download = client.get(link.replace("&amp;", "&"))
    assert download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "案件编号" and [r[0] for r in rows[1:]] == [world["secret"]]
    with sessions() as session:
        audits = session.scalars(select(AdminAudit).where(AdminAudit.action == "cases_exported")).all()
        assert [(a.actor_id, a.detail["via"]) for a in audits] == [(people.coordinator.id, "desk")]
    assert client.get("/coordinator/export?format=pdf").status_code == 400
    login(client, people.enterprise.email)
    assert client.get("/coordinator/export?format=csv").status_code == 403


def test_the_desk_and_a_views_tab_count_up_to_their_cap_and_say_there_are_more(
    client, people, world, monkeypatch
) -> None:  # noqa: ANN001
    # (Counting every case a common word finds took seconds: the counts stop at a cap.)
    from tests.test_web import login
    from workstation.services import views
    from workstation.web import coordinator

    monkeypatch.setattr(views, "COUNT_MAX", 2)
    monkeypatch.setattr(coordinator, "DESK_COUNT_MAX", 2)
    saved = client.post("/api/v1/views", json={"name": "星河", "query": "星河"}, headers=people.headers("coordinator"))
    assert saved.status_code == 201, saved.get_json()
    assert (saved.get_json()["count"], saved.get_json()["more"]) == (2, True)
    login(client, people.coordinator.email)
    page = client.get("/coordinator/", query_string={"q": "星河"}).get_data(as_text=True)
    assert "超过 2 件案件（只计数到此）" in page and "(2+)" in page
    page = client.get("/coordinator/", query_string={"q": "鼎盛"}).get_data(as_text=True)
    assert "共 1 件案件" in page


def test_a_case_is_found_before_and_after_the_watch_worker_indexes_its_text(client, people, submit, backend) -> None:  # noqa: ANN001
    # The grams are written after the submission (not in intake's statement): a case not indexed
    # yet is read whole, so a search never misses a new case; once indexed, the index finds it.
    reference = submit(description="仿冒瓷砖在展会上销售")["reference"]
    assert found(client, people, "coordinator", "瓷砖") == [reference]
    key = CaseGrams.case_id if backend == "services" else CASE_FTS.c.rowid  # (PostgreSQL's, SQLite's FTS5)
    with people.sessions.begin() as session:
        case_id = session.scalars(select(Case.id).where(Case.reference == reference)).one()
        assert session.scalar(select(key).where(key == case_id)) is None, "intake does not compute the grams"
        index_cases(session, [case_id])
    with people.sessions() as session:
        assert session.scalar(select(key).where(key == case_id)) == case_id
    assert found(client, people, "coordinator", "瓷砖") == [reference]
    assert found(client, people, "coordinator", "地毯") == []
    assert found(client, people, "coordinator", "瓷") == [reference], "one character: a prefix of a gram"


def test_a_page_found_in_two_tries_holds_what_the_whole_search_finds(client, people, world, monkeypatch) -> None:  # noqa: ANN001
    # search_page reads the newest WINDOW cases one by one, then the older ones through the
    # indexes: with a window of one case, every page is made of both tries.
    from workstation.services import search

    asked = [(who, q) for who in ("coordinator", "enterprise", "expert", "cleared")
             for q in ("星河", "公证书", "胜诉可能", "秦川律师", "商 标", "status:assigned 星河", "鼎盛")]  # fmt: skip
    whole = {(who, q): found(client, people, who, q) for who, q in asked}
    assert whole[("coordinator", "星河")] == sorted(world.values(), reverse=True), "newest first"
    monkeypatch.setattr(search, "WINDOW", 1)
    for who, q in asked:
        pages, cursor = [], None
        while True:
            params = {"limit": "1", **({"cursor": str(cursor)} if cursor else {})}
            answer = client.get("/api/v1/cases", query_string={"q": q, **params}, headers=people.headers(who))
            pages += [c["reference"] for c in answer.get_json()["cases"]]
            if (cursor := answer.get_json()["next"]) is None:
                break
        assert pages == whole[(who, q)], (who, q)
