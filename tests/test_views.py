"""Saved views (issue 20 item 2), on both databases: a view's count and cases are the viewer's
own (never another expert's cases), private views stay private, shared ones reach the owner's
role only; saving, renaming and deleting through the pages and the API; a query the search
syntax cannot run is refused naming the field."""

from __future__ import annotations

import re

import pytest

from tests.conftest import People
from tests.test_web import csrf_token, login
from workstation.services.models import SavedView
from workstation.services.views import MAX_VIEWS


@pytest.fixture
def world(client, people: People, submit) -> dict[str, str]:  # noqa: ANN001
    """Three trademark cases: two held by the expert, one by a second expert; a patent case unassigned."""
    people.add("expert", "expert")
    people.add("second", "expert")
    made = {key: submit(right_type=kind)["reference"]
            for key, kind in (("a", "trademark"), ("b", "trademark"), ("c", "trademark"), ("p", "patent"))}  # fmt: skip
    for key, expert in (("a", "expert"), ("b", "expert"), ("c", "second")):
        moved = client.post(f"/api/v1/cases/{made[key]}/transitions", headers=people.headers("coordinator"),
                            json={"action": "reassign", "expert_id": people.users[expert].id})  # fmt: skip
        assert moved.status_code == 200, moved.get_json()
    return made


def views(client, people: People, who: str) -> dict[str, dict]:  # noqa: ANN001
    answer = client.get("/api/v1/views", headers=people.headers(who))
    assert answer.status_code == 200, answer.get_json()
    return {v["name"]: v for v in answer.get_json()["views"]}


def save(client, people: People, who: str, **body) -> dict:  # noqa: ANN001, ANN003
    answer = client.post("/api/v1/views", json=body, headers=people.headers(who))
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_counts_are_the_viewers_own_cases_and_shared_views_reach_the_same_role_only(client, people, world) -> None:  # noqa: ANN001
    saved = save(client, people, "expert", name="商标", query="type:trademark", shared=True)
    assert saved["count"] == 2 and saved["mine"] and saved["shared"]
    save(client, people, "expert", name="私人", query="status:assigned")
    # the second expert sees the shared view, counted over their own case only, not the private one
    seen = views(client, people, "second")
    assert set(seen) == {"商标"} and seen["商标"]["count"] == 1 and not seen["商标"]["mine"]
    assert views(client, people, "expert")["私人"]["count"] == 2
    # a coordinator's shared view is not an expert's; the coordinator counts every case
    save(client, people, "coordinator", name="全部商标", query="type:trademark", shared=True)
    assert "全部商标" not in views(client, people, "expert")
    assert views(client, people, "coordinator")["全部商标"]["count"] == 3
    assert "商标" not in views(client, people, "coordinator")
    # enterprises have no views
    assert client.get("/api/v1/views", headers=people.headers("enterprise")).status_code == 403
    refused = client.post("/api/v1/views", json={"name": "x"}, headers=people.headers("enterprise"))
    assert refused.status_code == 403


def test_the_api_refuses_what_it_cannot_save_naming_the_field(client, people, world) -> None:  # noqa: ANN001
    bad = client.post("/api/v1/views", json={"name": "坏", "query": "status:nonsense"},
                      headers=people.headers("coordinator"))  # fmt: skip
    assert bad.status_code == 400 and "query" in bad.get_json()["errors"]
    for body, field in (({"name": "x", "sort": "sideways"}, "sort"), ({"name": "  "}, "name"),
                        ({"name": "x", "colour": "red"}, "colour"), ({}, "name")):  # fmt: skip
        answer = client.post("/api/v1/views", json=body, headers=people.headers("coordinator"))
        assert answer.status_code == 400 and field in answer.get_json()["errors"], (body, answer.get_json())
    save(client, people, "coordinator", name="同名")
    again = client.post("/api/v1/views", json={"name": " 同名 "}, headers=people.headers("coordinator"))
    assert again.status_code == 409 and "name" in again.get_json()["errors"]
    for n in range(MAX_VIEWS - 1):
        save(client, people, "coordinator", name=f"v{n}")
    assert client.post("/api/v1/views", json={"name": "one too many"},
                       headers=people.headers("coordinator")).status_code == 409  # fmt: skip


def test_only_the_owner_deletes_a_view(client, people, world, sessions) -> None:  # noqa: ANN001
    shared = save(client, people, "expert", name="共享", shared=True)
    private = save(client, people, "expert", name="私有")
    for view_id in (shared["id"], private["id"]):
        answer = client.delete(f"/api/v1/views/{view_id}", headers=people.headers("second"))
        assert answer.status_code == 404 and set(answer.get_json()) == {"errors"}
    assert client.delete(f"/api/v1/views/{private['id']}", headers=people.headers("expert")).status_code == 204
    assert set(views(client, people, "expert")) == {"共享"}
    with sessions() as session:
        assert session.get(SavedView, private["id"]) is None


def test_the_desk_shows_tabs_with_counts_and_saves_renames_and_deletes_a_view(client, people, world, sessions) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    page = client.get("/coordinator/").get_data(as_text=True)
    token = csrf_token(page)
    refused = client.post("/views", data={"name": "无令牌", "query": "type:patent"})
    assert refused.status_code == 400, "a form without its CSRF token is refused"
    saved = client.post("/views", data={"csrf_token": token, "name": "专利", "query": "type:patent", "sort": "oldest"})
    assert saved.status_code == 302 and "sort=oldest" in saved.headers["Location"]
    page = client.get(saved.headers["Location"]).get_data(as_text=True)
    tab = r'aria-current="page">专利 <span class="count">\(1\)</span>'
    assert re.search(tab, page), "the tab, current, with its count"
    assert world["p"] in page and world["a"] not in page, "the view's cases only"
    wrong = {"csrf_token": token, "name": "坏", "query": "status:nonsense"}
    bad = client.post("/views", data=wrong, follow_redirects=True)
    assert "status:" in bad.get_data(as_text=True), "the search syntax's complaint, shown"
    with sessions() as session:
        view = session.query(SavedView).filter_by(name="专利").one()
        assert session.query(SavedView).filter_by(name="坏").count() == 0
    assert f'action="/views/{view.id}/rename"' in client.get("/coordinator/").get_data(as_text=True)
    client.post(f"/views/{view.id}/rename", data={"csrf_token": token, "name": "发明专利"})
    assert "发明专利 <span" in client.get("/coordinator/").get_data(as_text=True)
    # another coordinator may neither delete nor rename it
    people.add("coordinator2", "coordinator")
    other = client.application.test_client()
    login(other, people.coordinator2.email)
    other_token = csrf_token(other.get("/coordinator/").get_data(as_text=True))
    assert other.post(f"/views/{view.id}/delete", data={"csrf_token": other_token}).status_code == 404
    client.post(f"/views/{view.id}/delete", data={"csrf_token": token})
    assert "发明专利 <span" not in client.get("/coordinator/").get_data(as_text=True)


def test_the_queue_shows_an_experts_tabs_and_a_tab_shows_only_their_cases(client, people, world) -> None:  # noqa: ANN001
    save(client, people, "coordinator", name="协调员的", query="type:trademark", shared=True)
    save(client, people, "second", name="商标案件", query="type:trademark", shared=True)
    login(client, people.expert.email)
    page = client.get("/queue").get_data(as_text=True)
    assert '商标案件 <span class="count">(2)</span>' in page and "协调员的" not in page
    shown = client.get("/queue", query_string={"q": "type:trademark", "sort": "newest"}).get_data(as_text=True)
    assert world["a"] in shown and world["b"] in shown and world["c"] not in shown
    token = csrf_token(page)
    saved = client.post("/views", data={"csrf_token": token, "name": "我的", "query": "type:trademark"})
    assert saved.status_code == 302 and saved.headers["Location"].startswith("/queue")
    broken = client.get("/queue", query_string={"q": "status:nonsense"})
    assert broken.status_code == 200 and 'role="alert"' in broken.get_data(as_text=True)


def test_a_body_that_is_not_an_object_is_a_400_for_the_request(client, people) -> None:  # noqa: ANN001
    for body in (None, [], "name"):
        answer = client.post("/api/v1/views", json=body, headers=people.headers("coordinator"))
        assert answer.status_code == 400 and "_request" in answer.get_json()["errors"], (body, answer.get_json())


def test_a_retried_save_with_its_idempotency_key_makes_one_view(client, people, sessions) -> None:  # noqa: ANN001
    headers = {**people.headers("coordinator"), "Idempotency-Key": "view-1"}
    first = client.post("/api/v1/views", json={"name": "重试"}, headers=headers)
    again = client.post("/api/v1/views", json={"name": "重试"}, headers=headers)
    assert first.status_code == again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert first.get_json() == again.get_json()
    with sessions() as session:
        assert session.query(SavedView).filter_by(name="重试").count() == 1
