"""Referrals to partner bodies (issue 19, item 4): the coordinators' directory, a referral's states
(pure rules, the pages and the API), the letter in the case's language, the partner's answer with
its files, a reminder once when a referral waits too long, the desk and the digest, and what the
enterprise (and anyone else) sees of it."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from email.header import decode_header, make_header

import pytest
from sqlalchemy import select

from tests.test_audit import audits
from tests.test_web import csrf_token, login
from workers.notify import notice_emails
from workers.sweep import sweep_referrals
from workstation import lifecycle
from workstation import referrals as rules
from workstation.services.digest import Period, build_digest
from workstation.services.mail import render_email
from workstation.services.models import Case, CaseEvent, Evidence, Notice, OutboxMessage, Partner, Referral, User

PARTNER = {
    "name": "陕西省知识产权保护中心",
    "kind": "ip_administration",
    "contact_name": "李主任",
    "email": "ipc@example.cn",
    "languages": ["zh"],
    "fields": ["trademark", "patent"],
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# --- the pure rules -----------------------------------------------------------------------------


class Weekdays:
    """A calendar of Monday to Friday, no holidays (the official one is tested in test_deadlines)."""

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5


@pytest.mark.pure
def test_a_referral_moves_sent_acknowledged_answered_closed_and_no_other_way() -> None:
    expert, coordinator = lifecycle.ASSIGNEE, lifecycle.COORDINATOR
    assert rules.decide_move("sent", "acknowledged", expert).target == "acknowledged"
    assert rules.decide_move("sent", "answered", coordinator, "已受理并调解").target == "answered"
    assert rules.decide_move("acknowledged", "answered", expert, "答复").target == "answered"
    for status in ("sent", "acknowledged", "answered"):
        assert rules.decide_move(status, "closed", expert).target == "closed"
    refusals = [
        (("answered", "acknowledged", expert, None), "conflict"),
        (("closed", "closed", expert, None), "conflict"),
        (("closed", "answered", expert, "x"), "conflict"),
        (("sent", "answered", expert, "  "), "invalid"),  # an answer is recorded with what was said
        (("sent", "acknowledged", lifecycle.OWNER, None), "forbidden"),
        (("sent", "acknowledged", None, None), "forbidden"),  # a trainee, another expert
        (("sent", "sent", expert, None), "unknown"),
    ]
    for args, code in refusals:
        with pytest.raises(lifecycle.TransitionError) as refused:
            rules.decide_move(*args)
        assert refused.value.code == code, args
    rules.decide_refer("in_progress", expert, partner_active=True)
    for args, code in ((("closed", expert, True), "conflict"), (("in_progress", lifecycle.OWNER, True), "forbidden"),
                       (("in_progress", coordinator, False), "invalid")):  # fmt: skip
        with pytest.raises(lifecycle.TransitionError) as refused:
            rules.decide_refer(*args)
        assert refused.value.code == code, args


@pytest.mark.pure
def test_waiting_is_counted_in_working_days() -> None:
    friday = date(2026, 12, 4)
    assert rules.working_days_after(friday, friday, Weekdays()) == 0
    assert rules.working_days_after(friday, date(2026, 12, 7), Weekdays()) == 1  # Monday
    assert rules.working_days_after(friday, date(2026, 12, 11), Weekdays()) == 5
    assert not rules.waits_too_long("sent", friday, date(2026, 12, 11), 5, Weekdays())
    assert rules.waits_too_long("sent", friday, date(2026, 12, 14), 5, Weekdays())
    assert rules.waits_too_long("acknowledged", friday, date(2026, 12, 14), 5, Weekdays())
    assert not rules.waits_too_long("answered", friday, date(2026, 12, 31), 5, Weekdays()), "nothing to wait for"
    # the official calendar: 2026-10-01..07 is the National Day holiday, Saturday 2026-10-10 a working day
    assert rules.working_days_after(date(2026, 9, 30), date(2026, 10, 7)) == 0
    assert rules.working_days_after(date(2026, 9, 30), date(2026, 10, 11)) == 3


# --- helpers ------------------------------------------------------------------------------------


def a_partner(client, people, **overrides) -> int:  # noqa: ANN001
    response = client.post("/api/v1/partners", json={**PARTNER, **overrides}, headers=people.headers("coordinator"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def assigned_case(client, people, submit, **overrides) -> str:  # noqa: ANN001
    """A case of the enterprise, assigned to ``people.expert``."""
    if "expert" not in people.users:
        people.add("expert", "expert")
    reference = submit(**overrides)["reference"]
    moved = client.post(f"/api/v1/cases/{reference}/transitions", json={"action": "reassign",
                        "expert_id": people.expert.id, "override_clearance": True},
                        headers=people.headers("coordinator"))  # fmt: skip
    assert moved.status_code == 200, moved.get_json()
    return reference


def referrals_url(reference: str, referral_id: int | None = None) -> str:
    return f"/api/v1/cases/{reference}/referrals" + (f"/{referral_id}" if referral_id else "")


def events(sessions, reference: str) -> list[str]:  # noqa: ANN001
    with sessions() as s:
        rows = s.scalars(select(CaseEvent).join(CaseEvent.case).order_by(CaseEvent.id)).all()
        return [e.action for e in rows if e.case.reference == reference]


# --- the directory ------------------------------------------------------------------------------


def test_coordinators_keep_the_directory_on_its_pages(client, people, sessions) -> None:  # noqa: ANN001
    login(client, people.coordinator.email)
    page = client.get("/coordinator/partners")
    assert page.status_code == 200 and "合作机构" in page.get_data(as_text=True)
    form = {"name": "西安仲裁委员会", "kind": "arbitration", "languages": "zh， en", "fields": ["patent"],
            "email": "", "phone": "029-1234"}  # fmt: skip
    assert client.post("/coordinator/partners", data=form).status_code == 400, "no CSRF token, no partner"
    token = csrf_token(page.get_data(as_text=True))
    bad = client.post("/coordinator/partners", data={**form, "kind": "bank", "csrf_token": token})
    assert bad.status_code == 400 and 'id="kind-error"' in bad.get_data(as_text=True)
    assert client.post("/coordinator/partners", data={**form, "csrf_token": token}).status_code == 303
    with sessions() as s:
        (partner,) = s.scalars(select(Partner)).all()
        assert (partner.languages, partner.fields, partner.is_active) == (["zh", "en"], ["patent"], True)
    edit = client.get(f"/coordinator/partners/{partner.id}").get_data(as_text=True)
    assert 'value="zh, en"' in edit
    changed = {**form, "name": "西安仲裁委员会（高新区）", "is_active": "true", "csrf_token": token}
    assert client.post(f"/coordinator/partners/{partner.id}", data=changed).status_code == 303
    assert client.post(f"/coordinator/partners/{partner.id}/deactivate", data={"csrf_token": token}).status_code == 303
    listing = client.get("/coordinator/partners").get_data(as_text=True)
    assert "西安仲裁委员会（高新区）" in listing and "已停用" in listing
    assert [a.action for a in audits(sessions) if a.action.startswith("partner_")] == [
        "partner_saved", "partner_saved", "partner_deactivated"
    ]  # fmt: skip
    # an expert (or an enterprise) gets no page of it
    people.add("expert", "expert")
    client.get("/logout")
    login(client, people.expert.email)
    assert client.get("/coordinator/partners").status_code == 403


def test_the_directory_through_the_api(client, people, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    active = a_partner(client, people)
    overseas = {"name": "海外知识产权纠纷应对指导中心", "kind": "overseas_help_desk", "languages": ["en", "ja"]}
    gone = a_partner(client, people, **overseas)
    coordinator = people.headers("coordinator")
    refused = client.post("/api/v1/partners", json={**PARTNER, "kind": "bank", "email": "nope"}, headers=coordinator)
    assert refused.status_code == 400 and set(refused.get_json()["errors"]) == {"kind", "email"}
    off = client.patch(f"/api/v1/partners/{gone}", json={"is_active": False}, headers=coordinator)
    assert off.status_code == 200 and off.get_json()["is_active"] is False
    assert client.patch("/api/v1/partners/999999", json={}, headers=coordinator).status_code == 404
    everyone = client.get("/api/v1/partners", headers=coordinator).get_json()["partners"]
    assert {p["id"] for p in everyone} == {active, gone}
    to_choose = client.get("/api/v1/partners", headers=people.headers("expert")).get_json()["partners"]
    assert [p["id"] for p in to_choose] == [active], "experts choose from the active partners"
    assert client.get("/api/v1/partners", headers=people.headers("enterprise")).status_code == 403
    assert client.post("/api/v1/partners", json=PARTNER, headers=people.headers("expert")).status_code == 403
    assert client.patch(f"/api/v1/partners/{active}", json={}, headers=people.headers("expert")).status_code == 403
    assert [a.action for a in audits(sessions) if a.action.startswith("partner_")] == [
        "partner_saved", "partner_saved", "partner_deactivated"
    ]  # fmt: skip


# --- a referral ---------------------------------------------------------------------------------


def test_a_referral_through_the_api_and_who_sees_what(client, people, sessions, submit) -> None:  # noqa: ANN001
    partner = a_partner(client, people)
    reference = assigned_case(client, people, submit)
    expert, enterprise = people.headers("expert"), people.headers("enterprise")
    question = {"partner_id": partner, "question": "请协助核查被诉侵权网店的经营主体并组织调解。"}
    assert client.post(referrals_url(reference), json=question, headers=enterprise).status_code == 403
    assert client.post(referrals_url(reference), json={"partner_id": 999999, "question": "q"},
                       headers=expert).status_code == 409  # fmt: skip
    sent = client.post(referrals_url(reference), json=question, headers=expert)
    assert sent.status_code == 201, sent.get_json()
    referral = sent.get_json()
    assert (referral["status"], referral["partner"]["name"], referral["referred_by"]) == ("sent", PARTNER["name"],
                                                                                          "expert")  # fmt: skip
    url = referrals_url(reference, referral["id"])
    assert client.patch(url, json={"status": "answered"}, headers=expert).status_code == 400, "say what was answered"
    assert client.patch(url, json={"status": "acknowledged"}, headers=expert).get_json()["status"] == "acknowledged"
    assert client.patch(url, json={"status": "acknowledged"}, headers=expert).status_code == 409
    answer = {"status": "answered", "answer": "经核查，该网店经营者为某贸易公司，已立案调解。"}
    answered = client.patch(url, json=answer, headers=people.headers("coordinator"))
    assert answered.status_code == 200 and answered.get_json()["answered_at"]
    assert client.patch(url, json={"status": "closed"}, headers=enterprise).status_code == 403
    assert client.patch(url, json={"status": "closed"}, headers=expert).get_json()["closed_at"]
    assert events(sessions, reference)[-4:] == ["refer", "referral_acknowledged", "referral_answered",
                                                "referral_closed"]  # fmt: skip
    with sessions() as s:
        keys = s.scalars(select(OutboxMessage.payload).where(OutboxMessage.routing_key == "case.referral")).all()
        assert [p["status"] for p in keys] == ["sent", "acknowledged", "answered", "closed"]
    recorded = [a for a in audits(sessions, "referral_recorded")]
    assert [a.detail["status"] for a in recorded] == ["answered"], "the coordinator's step is audited"

    # the enterprise: to whom and where it stands, not the question nor the answer
    (seen,) = client.get(referrals_url(reference), headers=enterprise).get_json()["referrals"]
    assert seen["status"] == "closed" and seen["partner"]["name"] == PARTNER["name"]
    assert not {"question", "answer", "answer_files", "referred_by"} & set(seen)
    timeline = client.get(f"/api/v1/cases/{reference}/events", headers=enterprise).get_json()
    assert "refer" in str(timeline)
    (full,) = client.get(referrals_url(reference), headers=expert).get_json()["referrals"]
    assert full["question"] == question["question"] and full["answer"] == answer["answer"]
    # a trainee shadowing the case reads it all, as it reads the internal notes, and records nothing
    people.add("trainee", "expert", profile={"is_trainee": True, "supervisor_id": people.expert.id})
    with sessions.begin() as s:
        s.scalar(select(Case).where(Case.reference == reference)).shadow_expert_id = people.trainee.id
    trainee = people.headers("trainee")
    (read,) = client.get(referrals_url(reference), headers=trainee).get_json()["referrals"]
    assert read["answer"] == answer["answer"]
    assert client.post(referrals_url(reference), json=question, headers=trainee).status_code == 403
    # anyone not on the case: no such case
    other = people.headers("other_enterprise")
    assert client.get(referrals_url(reference), headers=other).status_code == 404
    assert client.post(referrals_url(reference), json=question, headers=other).status_code == 404
    assert client.patch(url, json={"status": "closed"}, headers=other).status_code == 404


def test_the_api_records_an_answer_with_its_files_checked_like_evidence(client, people, sessions, submit) -> None:  # noqa: ANN001
    partner = a_partner(client, people)
    reference = assigned_case(client, people, submit)
    expert = people.headers("expert")
    referral = client.post(referrals_url(reference), json={"partner_id": partner, "question": "q"}, headers=expert)
    url = referrals_url(reference, referral.get_json()["id"])
    answer = {"status": "answered", "answer": "已查询，见附件。"}
    bad = client.patch(url, data={**answer, "files": [(io.BytesIO(b"MZ\x90\x00"), "reply.pdf")]}, headers=expert,
                       content_type="multipart/form-data")  # fmt: skip
    assert bad.status_code == 415 and "files" in bad.get_json()["errors"]
    good = client.patch(url, data={**answer, "files": [(io.BytesIO(PDF), "查询结果.pdf")]}, headers=expert,
                        content_type="multipart/form-data")  # fmt: skip
    assert good.status_code == 200, good.get_json()
    (kept,) = good.get_json()["answer_files"]
    assert kept["filename"] == "查询结果.pdf" and kept["content_type"] == "application/pdf"
    download = client.get(f"/api/v1/cases/{reference}/files/{kept['sha256']}", headers=expert)
    assert download.status_code == 200 and download.data == PDF
    hidden = client.get(f"/api/v1/cases/{reference}/files/{kept['sha256']}", headers=people.headers("enterprise"))
    assert hidden.status_code == 404, "not the enterprise's to read"


def test_a_finished_case_or_an_inactive_partner_cannot_be_referred(client, people, submit) -> None:  # noqa: ANN001
    partner = a_partner(client, people)
    reference = assigned_case(client, people, submit)
    client.patch(f"/api/v1/partners/{partner}", json={"is_active": False}, headers=people.headers("coordinator"))
    refused = client.post(referrals_url(reference), json={"partner_id": partner, "question": "q"},
                          headers=people.headers("expert"))  # fmt: skip
    assert refused.status_code == 400 and "partner_id" in refused.get_json()["errors"]
    withdrawn = client.post(f"/api/v1/cases/{reference}/transitions", json={"action": "withdraw"},
                            headers=people.headers("enterprise"))  # fmt: skip
    assert withdrawn.status_code == 200
    client.patch(f"/api/v1/partners/{partner}", json={"is_active": True}, headers=people.headers("coordinator"))
    late = client.post(referrals_url(reference), json={"partner_id": partner, "question": "q"},
                       headers=people.headers("coordinator"))  # fmt: skip
    assert late.status_code == 409


def test_a_referral_on_the_case_page_with_the_letter_and_an_answer_with_files(
    client, people, sessions, submit, config
) -> None:  # noqa: ANN001
    partner = a_partner(client, people)
    reference = assigned_case(client, people, submit, confidential=False)
    login(client, people.expert.email)
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert 'id="referrals"' in page and PARTNER["name"] in page
    token = csrf_token(page)
    question = "请协助确认涉案商标在陕西省的行政查处记录。"
    for bad in ({"partner_id": partner, "question": " "}, {"partner_id": 999999, "question": question},
                {"partner_id": partner, "question": "长" * 4001}):  # fmt: skip
        assert client.post(f"/cases/{reference}/referrals", data={"csrf_token": token, **bad}).status_code == 303
    with sessions() as s:
        assert s.scalar(select(Referral.id)) is None, "no partner or no question, no referral"
    sent = client.post(f"/cases/{reference}/referrals", data={"csrf_token": token, "partner_id": partner,
                                                              "question": question})  # fmt: skip
    assert sent.status_code == 303 and "/letter" in sent.headers["Location"]
    letter = client.get(sent.headers["Location"]).get_data(as_text=True)
    letterhead = "知识产权维权援助工作站"
    for words in ("转交函", PARTNER["name"], "李主任", reference, question, "陕西星河科技有限公司", letterhead):
        assert words in letter, words
    with sessions() as s:
        referral_id = s.scalar(select(Referral.id))
    step = f"/cases/{reference}/referrals/{referral_id}"
    wrong = client.post(step, data={"csrf_token": token, "status": "answered", "answer": "答复",
                                    "files": [(io.BytesIO(b"MZ\x90\x00"), "reply.pdf")]},
                        content_type="multipart/form-data")  # fmt: skip
    assert wrong.status_code == 303
    with sessions() as s:
        assert s.get(Referral, referral_id).status == "sent", "a file that is not what it says: nothing recorded"
    answered = client.post(step, data={"csrf_token": token, "status": "answered", "answer": "已查询，无行政处罚记录。",
                                       "files": [(io.BytesIO(PDF), "查询结果.pdf")]},
                           content_type="multipart/form-data")  # fmt: skip
    assert answered.status_code == 303
    with sessions() as s:
        referral = s.get(Referral, referral_id)
        assert referral.status == "answered" and referral.answer_files[0]["filename"] == "查询结果.pdf"
        (kept,) = s.scalars(select(Evidence).where(Evidence.kind == "referral")).all()
        assert kept.sha256 == referral.answer_files[0]["sha256"]
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "已查询，无行政处罚记录。" in page and "查询结果.pdf" in page and "转交给" in page
    # the enterprise: the referral and its status, no question, answer, file or letter
    client.get("/logout")
    login(client, people.enterprise.email)
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert PARTNER["name"] in page and "已答复" in page
    assert question not in page and "已查询" not in page and "查询结果.pdf" not in page
    assert client.get(f"/cases/{reference}/files/{kept.sha256}").status_code == 404
    assert client.get(f"/cases/{reference}/referrals/{referral_id}/letter").status_code == 404
    token = csrf_token(page)
    assert client.post(step, data={"csrf_token": token, "status": "closed"}).status_code == 303
    with sessions() as s:
        assert s.get(Referral, referral_id).status == "answered", "the enterprise records nothing"


def test_the_letter_is_in_the_case_language_whoever_prints_it(client, people, submit) -> None:  # noqa: ANN001
    partner = a_partner(client, people, contact_name="Ms Chen")
    reference = assigned_case(client, people, submit, language="en", confidential=True)
    sent = client.post(referrals_url(reference), json={"partner_id": partner, "question": "Please check the seller."},
                       headers=people.headers("coordinator"))  # fmt: skip
    login(client, people.coordinator.email)  # (a coordinator reading Chinese pages)
    letter = client.get(f"/cases/{reference}/referrals/{sent.get_json()['id']}/letter").get_data(as_text=True)
    for words in ("Referral letter", "To: " + PARTNER["name"], "Ms Chen", "Please check the seller.", reference,
                  "IP rights-protection workstation", "The case is confidential"):  # fmt: skip
        assert words in letter, words
    assert "转交函" not in letter
    assert "陕西星河科技有限公司" not in letter, "a confidential case's enterprise stays unnamed"


# --- reminders, the desk, the digest ------------------------------------------------------------


def sent_on(sessions, referral_id: int, moment: datetime) -> None:  # noqa: ANN001
    with sessions.begin() as s:
        s.get(Referral, referral_id).sent_at = moment


def test_a_referral_waiting_too_long_is_reminded_once_and_again_after_its_next_step(
    client, people, sessions, submit, config
) -> None:  # noqa: ANN001
    partner = a_partner(client, people)
    reference = assigned_case(client, people, submit)
    with sessions.begin() as s:
        s.get(User, people.expert.id).language = "en"
    referral = client.post(referrals_url(reference), json={"partner_id": partner, "question": "q"},
                           headers=people.headers("expert")).get_json()  # fmt: skip
    monday = datetime(2026, 11, 30, 2, tzinfo=UTC)  # 10:00 in China
    sent_on(sessions, referral["id"], monday)
    assert sweep_referrals(sessions, 5, monday + timedelta(days=7)) == 0, "5 working days: not yet"
    assert sweep_referrals(sessions, 5, monday + timedelta(days=8)) == 1
    assert sweep_referrals(sessions, 5, monday + timedelta(days=9)) == 0, "once"
    assert sweep_referrals(sessions, 5, monday + timedelta(days=30)) == 0
    with sessions() as s:
        (notice,) = s.scalars(select(Notice).where(Notice.kind == "referral")).all()
        assert notice.recipient_id == people.expert.id and notice.body["since"] == "2026-11-30"
        ((user, template, extra),) = notice_emails(s, {"notice_ids": [notice.id]})
        message = render_email(template, "en", user.email, config, "k", recipient=user, **extra)
        assert str(make_header(decode_header(message["Subject"]))) == (
            f"Referral waiting on case {reference}: {PARTNER['name']} has not replied"
        )
        zh = render_email(template, "zh", user.email, config, "k", recipient=user, **extra)
        assert "转交" in str(make_header(decode_header(zh["Subject"])))
    login(client, people.expert.email)
    assert PARTNER["name"] in client.get("/notices").get_data(as_text=True)
    # acknowledged, then silent again: one more reminder; answered: none
    with sessions.begin() as s:
        s.get(Referral, referral["id"]).acknowledged_at = monday + timedelta(days=10)
        s.get(Referral, referral["id"]).status = "acknowledged"
    assert sweep_referrals(sessions, 5, monday + timedelta(days=14)) == 0
    assert sweep_referrals(sessions, 5, monday + timedelta(days=20)) == 1
    assert sweep_referrals(sessions, 5, monday + timedelta(days=21)) == 0
    # the case passed to another expert, and the partner silent again: the new expert is reminded
    other = people.add("expert2", "expert")
    client.post(f"/api/v1/cases/{reference}/transitions", json={"action": "reassign", "expert_id": other.id,
                "override_clearance": True}, headers=people.headers("coordinator"))  # fmt: skip
    with sessions.begin() as s:
        s.get(Referral, referral["id"]).status = "sent"
    assert sweep_referrals(sessions, 5, monday + timedelta(days=22)) == 1
    with sessions() as s:
        last = s.scalars(select(Notice).where(Notice.kind == "referral").order_by(Notice.id.desc())).first()
        assert last.recipient_id == other.id


def test_a_reminder_is_listed_by_the_notices_api_as_a_kind_its_document_names(client, people, sessions, submit) -> None:  # noqa: ANN001
    from workstation.web.openapi import openapi_document

    partner = a_partner(client, people)
    reference = assigned_case(client, people, submit)
    referral = client.post(referrals_url(reference), json={"partner_id": partner, "question": "q"},
                           headers=people.headers("expert")).get_json()  # fmt: skip
    monday = datetime(2026, 11, 30, 2, tzinfo=UTC)
    sent_on(sessions, referral["id"], monday)
    assert sweep_referrals(sessions, 5, monday + timedelta(days=8)) == 1
    listed = client.get("/api/v1/notices", headers=people.headers("expert")).get_json()["notices"]
    assert [(n["kind"], n["case"]) for n in listed] == [("referral", reference)]
    assert client.get("/api/v1/notices?kind=referral", headers=people.headers("expert")).get_json()["total"] == 1
    paths = openapi_document()["paths"]
    notice = paths["/api/v1/notices"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "referral" in notice["properties"]["notices"]["items"]["properties"]["kind"]["enum"]


def test_the_desk_lists_open_referrals_late_first_and_the_digest_counts_them(
    client, people, sessions, submit, config
) -> None:  # noqa: ANN001
    partner = a_partner(client, people)
    reference = assigned_case(client, people, submit)
    expert = people.headers("expert")
    ids = [client.post(referrals_url(reference), json={"partner_id": partner, "question": f"q{n}"},
                       headers=expert).get_json()["id"] for n in range(3)]  # fmt: skip
    now = datetime.now(UTC)
    sent_on(sessions, ids[1], now - timedelta(days=30))  # waiting too long
    client.patch(referrals_url(reference, ids[2]), json={"status": "answered", "answer": "a"}, headers=expert)
    login(client, people.coordinator.email)
    desk = client.get("/coordinator/").get_data(as_text=True)
    listed = desk[desk.index('id="open-referrals"') : desk.index("</section>", desk.index('id="open-referrals"'))]
    assert listed.count('class="referral') == 3 and listed.count("等待过久") == 1
    assert listed.index('class="referral breached"') < listed.index('class="referral"'), "the late one first"
    with sessions() as s:
        digest = build_digest(s, Period("daily:x", now - timedelta(days=1), now + timedelta(minutes=1)), now,
                              config.referral_wait_days)  # fmt: skip
    assert (digest.referrals_sent, digest.referrals_answered, digest.referrals_overdue) == (2, 1, 1)


@pytest.mark.slow
def test_referring_and_printing_the_letter_in_the_browser(browser, client, people, submit) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    a_partner(client, people)
    reference = assigned_case(client, people, submit)
    browser.login(people.expert.email)
    browser.open(f"/cases/{reference}")
    Select(browser.driver.find_element(By.NAME, "partner_id")).select_by_visible_text(
        f"{PARTNER['name']} (知识产权管理部门; zh)"
    )
    browser.fill({"question": "请协助核查被诉侵权网店的经营主体。"})
    browser.click("form[action$='/referrals'] button.primary")
    text = browser.text()
    assert "转交函" in text and "致：陕西省知识产权保护中心（李主任）" in text and reference in text
    browser.screenshot("referral-letter")
    browser.open(f"/cases/{reference}")
    assert "请协助核查被诉侵权网店的经营主体。" in browser.text()
    browser.click("button[value=acknowledged]")
    assert "已确认收到" in browser.text()
    browser.screenshot("referral-on-the-case-page")
    assert browser.csp_violations() == []
