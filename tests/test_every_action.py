"""Every button, for everyone, in every status: for each status a case can be in, each person who
stands to it (the enterprise that owns it, the assigned expert, the trainee shadowing them, a
coordinator) and each action the case page or ``available_actions`` offers them, performing it
(through the page, and through the API for the lifecycle's actions) never answers a 500 and leaves
the case consistent: an opinion exists when the status says one was issued, and every expert's
``active_cases`` counts the cases they hold."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from tests.test_opinions import GOOD
from tests.test_web import csrf_token, login
from workstation import lifecycle
from workstation.opinions import load_opinion
from workstation.services.cases import available_actions, transition
from workstation.services.models import Case, ExpertProfile, Opinion, User

ROLES = ("owner", "assignee", "shadow", "coordinator")
#: who plays each role (``people`` keys)
PLAYERS = {"owner": "enterprise", "assignee": "expert", "shadow": "trainee", "coordinator": "coordinator"}
REASON = "请补充被诉产品的购买凭证。"

#: How to bring a new case to each status: the actions after submission, each (action, by whom).
PATHS: dict[str, list[tuple[str, str | None]]] = {
    lifecycle.SUBMITTED: [],
    lifecycle.ASSIGNED: [("assign", None)],
    lifecycle.ACCEPTED: [("assign", None), ("accept", "expert")],
    lifecycle.IN_PROGRESS: [("assign", None), ("accept", "expert"), ("start", "expert")],
    lifecycle.AWAITING_APPLICANT: [("assign", None), ("accept", "expert"), ("start", "expert"),
                                   ("request_info", "expert")],
    lifecycle.OPINION_ISSUED: [("assign", None), ("accept", "expert"), ("start", "expert"), ("opinion", "expert")],
    lifecycle.CLOSED: [("assign", None), ("accept", "expert"), ("start", "expert"), ("opinion", "expert"),
                       ("close", "enterprise")],
    lifecycle.DECLINED: [("assign", None), ("decline", "expert")],
    lifecycle.AWAITING_EXPERT: [("escalate", None)],
    lifecycle.WITHDRAWN: [("withdraw", "enterprise")],
    lifecycle.REOPENED: [("assign", None), ("accept", "expert"), ("start", "expert"), ("opinion", "expert"),
                         ("close", "enterprise"), ("reopen", "coordinator")],
}  # fmt: skip


def test_every_status_has_a_path() -> None:
    assert set(PATHS) == set(lifecycle.STATUSES)


@pytest.fixture
def cast(people):  # noqa: ANN001, ANN201
    expert = people.add("expert", "expert", capacity=50)
    people.add("trainee", "expert", capacity=50, profile={"is_trainee": True, "supervisor_id": expert.id})
    people.add("other_expert", "expert", capacity=50)
    return people


def case_in(sessions, submit, people, status: str) -> str:  # noqa: ANN001
    """A new case of the enterprise's, brought to ``status`` as the lifecycle moves it there, with
    the trainee shadowing once it is assigned; its reference."""
    reference = submit()["reference"]
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        for action, who in PATHS[status]:
            actor = s.get(User, people.users[who].id) if who else None
            if action == "opinion":
                body = load_opinion(case.service, GOOD[case.service], case.right_type)
                s.add(Opinion(case_id=case.id, service=case.service, body=body, issued_by=actor.id))
                transition(s, case, "issue_opinion", actor)
                continue
            needs_reason = lifecycle.TRANSITIONS[action].needs_reason
            transition(s, case, action, actor, reason=REASON if needs_reason else None, expert_id=people.expert.id)
            if action == "assign":
                case.shadow_expert_id = people.trainee.id
    return reference


def offered(client: FlaskClient, sessions, people, reference: str, role: str) -> set[str]:  # noqa: ANN001
    """What the case page offers ``role`` (its buttons, the opinion form, rating, documents),
    with what ``available_actions`` offers them."""
    page = client.get(f"/cases/{reference}")
    assert page.status_code in (200, 404), (role, page.status_code)
    html = page.get_data(as_text=True) if page.status_code == 200 else ""
    found = set(re.findall(r'name="action" value="(\w+)"', html))
    extras = {"opinion_form": "/opinion/new", "rate": "/rating", "upload": "/documents", "message": "/messages",
              "classify": "/classify"}  # fmt: skip
    found |= {name for name, path in extras.items() if f'{reference}{path}"' in html}
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        found |= set(available_actions(case, s.get(User, people.users[PLAYERS[role]].id)))
    return found


def fields_for(action: str, people) -> dict[str, Any]:  # noqa: ANN001
    return {"reason": REASON, **({"expert_id": people.other_expert.id} if action == "reassign" else {})}


def by_page(client: FlaskClient, reference: str, action: str, people) -> int:  # noqa: ANN001
    token = csrf_token(client.get("/login").get_data(as_text=True))
    if action == "opinion_form":
        data = {**GOOD["infringement_judgment"], "csrf_token": token}
        return client.post(f"/cases/{reference}/opinion/new", data=data).status_code
    if action == "rate":
        return client.post(f"/cases/{reference}/rating", data={"csrf_token": token, "score": "5"}).status_code
    if action == "message":  # writing in the thread, with a file
        data = {"csrf_token": token, "body": REASON, "files": [(io.BytesIO("补充说明".encode()), "说明.txt")]}
        return client.post(f"/cases/{reference}/messages", data=data, content_type="multipart/form-data").status_code
    if action == "classify":  # (a coordinator's: the right type and service)
        data = {"csrf_token": token, "right_type": "patent", "service": "consultation", "back": "case"}
        return client.post(f"/coordinator/cases/{reference}/classify", data=data).status_code
    if action == "upload":
        files = [(io.BytesIO("工作底稿".encode()), "notes.txt")]
        data = {"csrf_token": token, "files": files}
        return client.post(f"/cases/{reference}/documents", data=data, content_type="multipart/form-data").status_code
    data = {"csrf_token": token, "action": action, **fields_for(action, people)}
    return client.post(f"/cases/{reference}/actions", data=data).status_code


def assert_consistent(sessions, reference: str, where: str) -> None:  # noqa: ANN001
    """The case: an opinion if it was issued one, no trainee holding it; and every expert's count
    of active cases right."""
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        issued = any(e.action == "issue_opinion" for e in case.events)
        if case.status == lifecycle.OPINION_ISSUED or issued:
            assert case.opinion is not None, f"{where}: {case.status} without an opinion"
        if case.assigned_expert_id is not None:
            assert not case.assigned_expert.expert.is_trainee, f"{where}: a trainee holds the case"
        held = dict(
            s.execute(
                select(Case.assigned_expert_id, func.count())
                .where(Case.status.in_(lifecycle.ACTIVE_FOR_EXPERT), Case.assigned_expert_id.is_not(None))
                .group_by(Case.assigned_expert_id)
            ).all()
        )
        counted = dict(s.execute(select(ExpertProfile.user_id, ExpertProfile.active_cases)).all())
    assert counted == {user_id: held.get(user_id, 0) for user_id in counted}, f"{where}: active_cases {counted}"


def by_api(client: FlaskClient, reference: str, action: str, people, role: str) -> int:  # noqa: ANN001
    headers = people.headers(PLAYERS[role])
    if action == "message":  # (201 Created: answered as 200 for the check below)
        said = client.post(f"/api/v1/cases/{reference}/messages", json={"body": REASON}, headers=headers)
        return 200 if said.status_code == 201 else said.status_code
    body = {"action": action, **fields_for(action, people)}
    return client.post(f"/api/v1/cases/{reference}/transitions", json=body, headers=headers).status_code


@pytest.mark.parametrize("status", lifecycle.STATUSES)
def test_every_offered_action_works_without_a_500_and_leaves_the_case_consistent(
    app, cast, sessions, submit, status: str
) -> None:  # noqa: ANN001
    people = cast
    clients: dict[str, FlaskClient] = {}
    for role in ROLES:
        clients[role] = app.test_client()
        login(clients[role], people.users[PLAYERS[role]].email)
    probe = case_in(sessions, submit, people, status)
    done = []
    for role in ROLES:
        client = clients[role]
        for action in sorted(offered(client, sessions, people, probe, role)):
            ways = ("page", "api") if action in (*lifecycle.USER_ACTIONS, "message") else ("page",)
            for way in ways:
                where = f"{status} / {role} / {action} by {way}"
                reference = case_in(sessions, submit, people, status)
                if way == "page":
                    answered = by_page(client, reference, action, people)
                    assert answered < 500, f"{where}: {answered}"
                else:
                    answered = by_api(client, reference, action, people, role)
                    assert answered == 200, f"{where}: an offered action is refused ({answered})"
                for path in (f"/cases/{reference}", f"/cases/{reference}/opinion"):  # the case's pages still answer
                    for viewer in (role, "coordinator"):
                        shown = clients[viewer].get(path).status_code
                        assert shown in (200, 404), f"{where}: {viewer} GET {path} -> {shown}"
                assert_consistent(sessions, reference, where)
                done.append(where)
    assert done, f"{status}: nothing is offered to anyone"
