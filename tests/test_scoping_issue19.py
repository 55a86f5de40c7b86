"""Review of issue 19: another enterprise (and people not on a case) never reach a case through the
endpoints issue 19 added: difficult, panel, panel views, drafts, reviews, referrals, the referral
letter, and a litigation matter's details."""

from __future__ import annotations

from sqlalchemy import select

from tests.test_training import COMMENTS, DRAFT, RATINGS, shadowed_case
from tests.test_web import csrf_token, login
from workstation.services.models import Case, Partner, User

LITIGATION = {
    "kind": "non_infringement_declaration",
    "opponent": {"name": "某某专利运营有限公司"},
    "warning_received_on": "2026-10-09",
    "demand_sent_on": "2026-10-20",
    "accused_subject": "型号X-200的控制器",
}


def api(client, people, who, method, path, **body):  # noqa: ANN001, ANN201
    return client.open(path, method=method, json=body if body else None, headers=people.headers(who))


def test_nobody_off_the_case_reaches_it_through_issue_19s_endpoints(client, app, people, sessions) -> None:  # noqa: ANN001
    lead = people.add("lead", "expert", language="en")
    trainee = people.add("trainee", "expert", profile={"is_trainee": True, "supervisor_id": lead.id})
    people.add("m1", "expert")
    people.add("m2", "expert")
    people.add("stranger", "expert")
    people.add("other_trainee", "expert", profile={"is_trainee": True})
    reference = shadowed_case(client, people, sessions, lead, trainee, service="litigation_advice",
                              right_type="patent", litigation=LITIGATION)  # fmt: skip
    base = f"/api/v1/cases/{reference}"
    draft = api(client, people, "trainee", "POST", f"{base}/drafts", kind="opinion", body=DRAFT).get_json()
    assert api(client, people, "lead", "POST", f"{base}/difficult", reason="疑难").status_code == 200
    convened = api(client, people, "coordinator", "POST", f"{base}/panel",
                   expert_ids=[people.m1.id, people.m2.id])  # fmt: skip
    assert convened.status_code in (200, 201), convened.get_json()
    view = api(client, people, "m1", "POST", f"{base}/panel/views", body="成员意见：不侵权可能性大")
    assert view.status_code in (200, 201)
    with sessions.begin() as s:
        partner = Partner(name="某调解中心", kind="mediation", languages=["zh"], fields=["patent"])
        s.add(partner)
        s.flush()
        partner_id = partner.id
    question = {"partner_id": partner_id, "question": "请调解"}
    referral = api(client, people, "lead", "POST", f"{base}/referrals", **question).get_json()

    for who in ("other_enterprise", "stranger", "other_trainee"):
        for method, path, body in (
            ("GET", base, {}),
            ("GET", f"{base}/events", {}),
            ("GET", f"{base}/panel", {}),
            ("POST", f"{base}/panel/views", {"body": "x"}),
            ("POST", f"{base}/difficult", {"reason": "x"}),
            ("GET", f"{base}/drafts", {}),
            ("POST", f"{base}/drafts", {"kind": "note", "body": "x"}),
            ("POST", f"/api/v1/drafts/{draft['id']}/review", {"comments": COMMENTS, "ratings": RATINGS}),
            ("GET", f"{base}/referrals", {}),
            ("PATCH", f"{base}/referrals/{referral['id']}", {"status": "closed"}),
        ):
            got = api(client, people, who, method, path, **body)
            assert got.status_code in (403, 404), (who, method, path, got.status_code, got.get_data(as_text=True)[:300])
            assert "某某专利运营" not in got.get_data(as_text=True)

    # the enterprise of the case: no panel, no drafts, no views, no question
    own = [api(client, people, "enterprise", "GET", p).get_data(as_text=True)
           for p in (base, f"{base}/events", f"{base}/messages", f"{base}/referrals")]  # fmt: skip
    assert api(client, people, "enterprise", "GET", f"{base}/panel").status_code == 403
    assert api(client, people, "enterprise", "GET", f"{base}/drafts").status_code == 403
    web = app.test_client()
    login(web, people.enterprise.email)
    own.append(web.get(f"/cases/{reference}").get_data(as_text=True))
    own.append(web.get(f"/cases/{reference}/referrals/{referral['id']}/letter").get_data(as_text=True))
    for seen in own:
        assert "成员意见" not in seen and DRAFT not in seen and "请调解" not in seen and "疑难" not in seen, seen[:2000]

    # web pages, for the other enterprise and a stranger expert
    for who in ("other_enterprise", "stranger"):
        page = app.test_client()
        login(page, people.users[who].email)
        token = csrf_token(page.get("/account").get_data(as_text=True))
        for path in (
            f"/cases/{reference}",
            f"/cases/{reference}/referrals/{referral['id']}/letter",
            f"/cases/{reference}/opinion",
        ):
            got = page.get(path)
            assert got.status_code == 404, (who, path, got.status_code)
        for path, form in ((f"/cases/{reference}/difficult", {"reason": "x"}),
                           (f"/cases/{reference}/panel/views", {"body": "x"}),
                           (f"/cases/{reference}/drafts", {"kind": "note", "body": "x"}),
                           (f"/cases/{reference}/drafts/{draft['id']}/review", {"comments": "x"}),
                           (f"/cases/{reference}/referrals", {"partner_id": partner_id, "question": "x"}),
                           (f"/cases/{reference}/referrals/{referral['id']}", {"status": "closed"}),
                           (f"/cases/{reference}/panel", {"expert_ids": str(people.stranger.id)}),
                           (f"/cases/{reference}/panel/dissolve", {})):  # fmt: skip
            got = page.post(path, data={**form, "csrf_token": token})
            assert got.status_code in (403, 404), (who, path, got.status_code)
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        assert case.difficult_reason == "疑难"
        assert s.get(User, people.stranger.id).expert.active_cases == 0
