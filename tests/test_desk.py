"""The coordinators' desk: all cases with filters, the piles that need them, figures, accounts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.test_web import csrf_token, login
from workstation.services.models import Case, CaseEvent, Rating, User, utcnow


def seed(people, sessions) -> dict[str, str]:  # noqa: ANN001
    """A case waiting for an expert, one overdue for assignment, one closed and rated."""
    now = utcnow()
    made = {}
    with sessions.begin() as s:
        for key, status, age, right in (
            ("waiting", "awaiting_expert", 1, "copyright"),
            ("late", "submitted", 10, "patent"),
            ("done", "closed", 3, "trademark"),
        ):
            created = now - timedelta(days=age)
            case = Case(enterprise_id=people.enterprise.id, right_type=right, service="consultation",
                        title=f"案件{key}", description="d", status=status, created_at=created)  # fmt: skip
            s.add(case)
            s.flush()
            case.reference = f"RPA-2026-9{case.id:05d}"
            s.add(CaseEvent(case_id=case.id, action="submit", to_status="submitted", actor_role="enterprise",
                            created_at=case.created_at))  # fmt: skip
            made[key] = case.reference
            if key == "done":
                s.add(CaseEvent(case_id=case.id, action="assign", from_status="submitted", to_status="assigned",
                                actor_role="system", created_at=case.created_at + timedelta(hours=2)))  # fmt: skip
                s.add(Rating(case_id=case.id, score=4, comment="好", rated_by=people.enterprise.id))
    return made


def test_the_desk_shows_the_piles_the_cases_and_the_figures(client, people, sessions) -> None:  # noqa: ANN001
    refs = seed(people, sessions)
    login(client, people.coordinator.email)
    page = client.get("/coordinator/").get_data(as_text=True)
    pile = page[page.index('id="pile-title"') : page.index('id="breach-title"')]
    assert refs["waiting"] in pile and refs["late"] not in pile
    breaches = page[page.index('id="breach-title"') : page.index("全部案件")]
    assert refs["late"] in breaches and "分派专家" in breaches and refs["done"] not in breaches
    assert all(ref in page for ref in refs.values())
    assert "平均 4.0 分（共 1 条评价）" in page, "satisfaction"
    assert 'class="bar r-patent"' in page and "2.0" in page, "cases per week and 2 hours to assignment"
    only_closed = client.get("/coordinator/?status=closed").get_data(as_text=True)
    table = only_closed[only_closed.index("全部案件") :]
    assert refs["done"] in table and refs["waiting"] not in table[table.index("<tbody>") :]
    assert refs["late"] in client.get(f"/coordinator/?q={refs['late']}").get_data(as_text=True)


def test_coordinators_manage_enterprise_and_coordinator_accounts(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    page = client.get("/coordinator/users").get_data(as_text=True)
    assert people.enterprise.email in page
    new = {"csrf_token": csrf_token(page), "role": "enterprise", "email": "new@corp.cn", "name": "西安新企业",
           "language": "zh", "organisation": "西安新企业有限公司", "password": "long-enough-1"}  # fmt: skip
    assert client.post("/coordinator/users", data=new).status_code == 303
    again = client.post("/coordinator/users", data=new)
    assert again.status_code == 400 and "已存在" in again.get_data(as_text=True)
    short = client.post("/coordinator/users", data={**new, "email": "x@corp.cn", "password": "short"})
    assert short.status_code == 400 and 'id="password-error"' in short.get_data(as_text=True)
    with sessions() as s:
        created = s.scalar(select(User).where(User.email == "new@corp.cn"))
        assert created.role == "enterprise" and created.organisation_key
    token = csrf_token(client.get("/coordinator/users").get_data(as_text=True))
    client.post(f"/coordinator/users/{created.id}/active", data={"csrf_token": token, "active": "false"})
    with sessions() as s:
        assert s.get(User, created.id).is_active is False
    client.post(f"/coordinator/users/{people.coordinator.id}/active", data={"csrf_token": token, "active": "false"})
    with sessions() as s:
        assert s.get(User, people.coordinator.id).is_active is True, "nobody locks themselves out"
    expert = people.add("expert", "expert")
    response = client.post(f"/coordinator/users/{expert.id}/active", data={"csrf_token": token, "active": "false"})
    assert response.status_code == 404, "experts are managed in the pool"


def test_the_desk_is_for_coordinators_only(client, people) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    assert client.get("/coordinator/").status_code == 403
    assert client.get("/coordinator/users").status_code == 403
