"""A case is a conversation (issue 18, part 1): messages and internal notes in one thread, on the
API and the case page; a request for information and its answer are part of it; each message is
an event mailed to the others on the case; "new activity" in the queue and the case list."""

from __future__ import annotations

import hashlib
import io
from email.header import decode_header, make_header

import pytest
from sqlalchemy import func, select

from tests import test_batches
from tests.test_api import PDF
from tests.test_batches import outbox, run
from tests.test_web import csrf_token, login
from workers import notify
from workers.routing import assign_expert
from workstation import lifecycle
from workstation.evidence import path_of
from workstation.services.cases import transition
from workstation.services.conversation import MAX_BODY
from workstation.services.models import Case, CaseEvent, CaseMessage, Evidence, OutboxMessage, User

#: the notify consumer's context, run in this process (a real SMTP server on loopback)
ctx = test_batches.ctx


@pytest.fixture
def on_case(people, sessions, submit):  # noqa: ANN001, ANN201
    """The enterprise's case, assigned to ``expert`` (English) and accepted and started, shadowed by
    ``trainee``; another enterprise, another expert. Returns the reference."""
    expert = people.add("expert", "expert", language="en", capacity=10)
    people.add("trainee", "expert", profile={"is_trainee": True, "supervisor_id": expert.id})
    people.add("other_expert", "expert")
    reference = submit()["reference"]
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        assign_expert(s, case)
        case.assigned_expert_id, case.shadow_expert_id = expert.id, people.trainee.id
        for action in ("accept", "start"):
            transition(s, case, action, s.get(User, expert.id))
    return reference


def post(client, people, reference: str, who: str, **body):  # noqa: ANN001, ANN201
    return client.post(f"/api/v1/cases/{reference}/messages", json=body, headers=people.headers(who))


def listed(client, people, reference: str, who: str, query: str = "") -> list[dict]:  # noqa: ANN001
    response = client.get(f"/api/v1/cases/{reference}/messages{query}", headers=people.headers(who))
    assert response.status_code == 200, response.get_json()
    return response.get_json()["messages"]


def case_of(sessions, reference: str) -> Case:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(Case).where(Case.reference == reference))


@pytest.mark.pure
def test_what_writing_in_the_thread_does_is_the_lifecycles_decision() -> None:
    decide, L = lifecycle.decide_message, lifecycle  # noqa: N806
    assert decide(L.IN_PROGRESS, L.OWNER, internal=False) == L.MESSAGE
    assert decide(L.AWAITING_APPLICANT, L.OWNER, internal=False) == "provide_info"
    assert decide(L.AWAITING_APPLICANT, L.ASSIGNEE, internal=False) == L.MESSAGE
    assert decide(L.AWAITING_APPLICANT, L.COORDINATOR, internal=True) == L.NOTE
    assert decide(L.IN_PROGRESS, L.ASSIGNEE, internal=False, asks=True) == "request_info"
    for status in L.FINISHED:  # kept; nothing moves
        assert decide(status, L.OWNER, internal=False) == L.MESSAGE
        assert decide(status, L.ASSIGNEE, internal=True) == L.NOTE
    refusals = [
        ((L.IN_PROGRESS, None, False), "forbidden"),  # a shadowing trainee, or nobody on the case
        ((L.IN_PROGRESS, L.SYSTEM, False), "forbidden"),
        ((L.IN_PROGRESS, L.OWNER, True), "forbidden"),
        ((L.ACCEPTED, L.ASSIGNEE, False, True), "conflict"),
        ((L.IN_PROGRESS, L.COORDINATOR, False, True), "forbidden"),
        ((L.IN_PROGRESS, L.ASSIGNEE, True, True), "invalid"),
    ]
    for args, code in refusals:
        with pytest.raises(L.TransitionError) as refused:
            decide(*args)
        assert refused.value.code == code, args


# --- the API --------------------------------------------------------------------------------------


def test_a_message_is_an_event_with_its_outbox_row_and_everyone_on_the_case_reads_it(
    client, people, sessions, on_case
) -> None:  # noqa: ANN001
    answered = post(client, people, on_case, "enterprise", body="  对方已下架部分商品。  ")
    assert answered.status_code == 201, answered.get_json()
    message = answered.get_json()
    assert message["body"] == "对方已下架部分商品。" and message["kind"] == "message" and not message["internal"]
    assert message["source"] == "api" and message["author"]["name"] == "enterprise" and message["attachments"] == []
    with sessions() as s:
        row = s.get(CaseMessage, message["id"])
        event = s.get(CaseEvent, row.event_id)
        assert (event.action, event.from_status, event.to_status) == ("message", "in_progress", "in_progress")
        payload = s.scalar(select(OutboxMessage.payload).where(OutboxMessage.routing_key == "case.message"))
    assert payload["event_id"] == event.id and payload["message_id"] == row.id and payload["internal"] is False
    for who in ("enterprise", "expert", "trainee", "coordinator"):
        assert [m["id"] for m in listed(client, people, on_case, who)] == [message["id"]], who
    assert case_of(sessions, on_case).status == "in_progress", "a message moves nothing"


def test_an_internal_note_is_never_the_enterprises_to_see(client, people, sessions, on_case) -> None:  # noqa: ANN001
    note = post(client, people, on_case, "expert", body="对方可能是惯犯，先查其他案件。", internal=True)
    assert note.status_code == 201 and note.get_json()["kind"] == "note" and note.get_json()["internal"]
    public = post(client, people, on_case, "coordinator", body="已联系平台。")
    assert public.status_code == 201
    assert [m["id"] for m in listed(client, people, on_case, "enterprise")] == [public.get_json()["id"]]
    for who in ("expert", "trainee", "coordinator"):  # a trainee of a non-confidential case learns from notes
        assert len(listed(client, people, on_case, who)) == 2, who
    events = client.get(f"/api/v1/cases/{on_case}/events", headers=people.headers("enterprise")).get_json()["events"]
    assert "note" not in [e["action"] for e in events] and "message" in [e["action"] for e in events]
    login(client, people.enterprise.email)
    page = client.get(f"/cases/{on_case}").get_data(as_text=True)
    assert "已联系平台。" in page and "惯犯" not in page
    login(client, people.trainee.email)
    page = client.get(f"/cases/{on_case}").get_data(as_text=True)
    assert "惯犯" in page and "内部备注" in page


def test_who_may_write_and_who_is_told_there_is_no_such_case(client, people, on_case) -> None:  # noqa: ANN001
    for who in ("other_enterprise", "other_expert"):
        for response in (post(client, people, on_case, who, body="你好"),
                         client.get(f"/api/v1/cases/{on_case}/messages", headers=people.headers(who))):  # fmt: skip
            assert response.status_code == 404, who
            assert response.get_json() == {"errors": {"_request": ["No such case."]}}
    trainee = post(client, people, on_case, "trainee", body="我能说话吗？")
    assert trainee.status_code == 403 and "not write" in trainee.get_json()["errors"]["_request"][0]
    enterprise_note = post(client, people, on_case, "enterprise", body="内部", internal=True)
    assert enterprise_note.status_code == 403, "who may write a note is not a matter of the input"
    (why,) = enterprise_note.get_json()["errors"]["_request"]
    assert "Internal notes are for the expert and the coordinators" in why
    assert listed(client, people, on_case, "coordinator") == [], "nothing was written"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"body": ""}, "body"), ({"body": " \n\t"}, "body"), ({"body": "字" * (MAX_BODY + 1)}, "body"), ({}, "body"),
     ({"body": "x", "internal": "perhaps"}, "internal"), ({"body": "x", "colour": "red"}, "colour"),
     ({"body": 7}, "body")],
)  # fmt: skip
def test_an_empty_oversized_or_malformed_message_is_a_400_naming_the_field(
    client, people, on_case, body: dict, field: str
) -> None:  # noqa: ANN001
    response = client.post(f"/api/v1/cases/{on_case}/messages", json=body, headers=people.headers("enterprise"))
    assert response.status_code == 400 and list(response.get_json()["errors"]) == [field], response.get_json()
    not_json = client.post(f"/api/v1/cases/{on_case}/messages", data="hello", headers=people.headers("enterprise"))
    assert not_json.status_code == 400 and "errors" in not_json.get_json()
    assert post(client, people, on_case, "enterprise", body="字" * MAX_BODY).status_code == 201


def test_the_thread_is_paged_oldest_first_from_an_id(client, people, on_case) -> None:  # noqa: ANN001
    ids = [post(client, people, on_case, "enterprise", body=f"第{n}条").get_json()["id"] for n in range(5)]
    page = client.get(f"/api/v1/cases/{on_case}/messages?limit=2", headers=people.headers("expert")).get_json()
    assert [m["id"] for m in page["messages"]] == ids[:2] and page["next"] == ids[1]
    rest = listed(client, people, on_case, "expert", f"?since={page['next']}&limit=3")
    assert [m["id"] for m in rest] == ids[2:]
    last = client.get(f"/api/v1/cases/{on_case}/messages?since={ids[2]}&limit=2", headers=people.headers("expert"))
    assert [m["id"] for m in last.get_json()["messages"]] == ids[3:] and last.get_json()["next"] is None
    assert listed(client, people, on_case, "expert", f"?since={ids[-1]}") == []
    for query, field in (("?since=-1", "since"), ("?since=abc", "since"), ("?limit=0", "limit"),
                         ("?limit=201", "limit"), (f"?since={2**63}", "since")):  # fmt: skip
        bad = client.get(f"/api/v1/cases/{on_case}/messages{query}", headers=people.headers("expert"))
        assert bad.status_code == 400 and list(bad.get_json()["errors"]) == [field], query


def test_attachments_pass_the_evidence_checks_and_a_notes_files_stay_internal(
    client, people, sessions, config, on_case
) -> None:  # noqa: ANN001
    sent = client.post(
        f"/api/v1/cases/{on_case}/messages",
        data={"body": "发票见附件。", "files": [(io.BytesIO(PDF), "发票.pdf")]},
        content_type="multipart/form-data",
        headers=people.headers("enterprise"),
    )
    assert sent.status_code == 201, sent.get_json()
    (attachment,) = sent.get_json()["attachments"]
    digest = hashlib.sha256(PDF).hexdigest()
    assert attachment == {"filename": "发票.pdf", "content_type": "application/pdf", "size": len(PDF), "sha256": digest}
    assert path_of(config.evidence_dir, digest).read_bytes() == PDF
    fake = client.post(
        f"/api/v1/cases/{on_case}/messages",
        data={"body": "看这个", "files": [(io.BytesIO(b"MZ\x90\x00not a pdf"), "x.pdf")]},
        content_type="multipart/form-data",
        headers=people.headers("enterprise"),
    )
    assert fake.status_code == 415 and "does not match" in fake.get_json()["errors"]["files"][0]
    bad_flag = client.post(f"/api/v1/cases/{on_case}/messages", data={"body": "x", "internal": "maybe"},
                           content_type="multipart/form-data", headers=people.headers("expert"))  # fmt: skip
    assert bad_flag.status_code == 400 and list(bad_flag.get_json()["errors"]) == ["internal"]
    secret = b"internal working notes\n"
    note = client.post(
        f"/api/v1/cases/{on_case}/messages",
        data={"body": "比对底稿", "internal": "true", "files": [(io.BytesIO(secret), "底稿.txt")]},
        content_type="multipart/form-data",
        headers=people.headers("expert"),
    )
    assert note.status_code == 201 and note.get_json()["internal"]
    note_digest = hashlib.sha256(secret).hexdigest()
    with sessions() as s:
        kinds = dict(s.execute(select(Evidence.sha256, Evidence.kind).where(Evidence.message_id.is_not(None))).all())
    assert kinds == {digest: "message", note_digest: "note"}
    shown = client.get(f"/api/v1/cases/{on_case}", headers=people.headers("enterprise")).get_json()["evidence"]
    assert [e["sha256"] for e in shown] == [digest]
    expert_sees = client.get(f"/api/v1/cases/{on_case}", headers=people.headers("expert")).get_json()["evidence"]
    assert {e["sha256"] for e in expert_sees} == {digest, note_digest}
    login(client, people.enterprise.email)
    assert client.get(f"/cases/{on_case}/files/{note_digest}").status_code == 404
    assert client.get(f"/cases/{on_case}/files/{digest}").status_code == 200
    assert "底稿.txt" not in client.get(f"/cases/{on_case}").get_data(as_text=True)
    login(client, people.coordinator.email)
    assert client.get(f"/cases/{on_case}/files/{note_digest}").status_code == 200


# --- the request for information and its answer ----------------------------------------------------


def test_the_experts_request_is_a_message_and_the_enterprises_next_message_answers_it(
    client, people, sessions, on_case
) -> None:  # noqa: ANN001
    early = post(client, people, on_case, "enterprise", body="补充一点背景。")
    assert early.get_json()["kind"] == "message", "no request yet: a plain message"
    asked = post(client, people, on_case, "expert", body="请提供销售发票。", request_info=True)
    assert asked.status_code == 201 and asked.get_json()["kind"] == "request"
    case = case_of(sessions, on_case)
    assert case.status == "awaiting_applicant"
    opinion_sla = lambda c: next(d for d in c["deadlines"] if d["code"] == "sla_opinion")  # noqa: E731
    before = client.get(f"/api/v1/cases/{on_case}", headers=people.headers("expert")).get_json()
    assert opinion_sla(before)["paused"]
    note = post(client, people, on_case, "expert", body="等企业答复。", internal=True)
    assert note.get_json()["kind"] == "note" and case_of(sessions, on_case).status == "awaiting_applicant"
    again = post(client, people, on_case, "expert", body="再问一次", request_info=True)
    assert again.status_code == 409, "the case already waits for the enterprise"
    coordinator_asks = post(client, people, on_case, "coordinator", body="请提供", request_info=True)
    assert coordinator_asks.status_code == 403 and list(coordinator_asks.get_json()["errors"]) == ["_request"]
    answer = post(client, people, on_case, "enterprise", body="发票见附件。")
    assert answer.status_code == 201 and answer.get_json()["kind"] == "answer"
    after = client.get(f"/api/v1/cases/{on_case}", headers=people.headers("expert")).get_json()
    assert after["status"] == "in_progress" and not opinion_sla(after)["paused"], "the clock runs again"
    with sessions() as s:
        events = [(e.action, e.to_status) for e in s.scalars(select(CaseEvent).order_by(CaseEvent.id))][-5:]
        keys = list(s.scalars(select(OutboxMessage.routing_key).order_by(OutboxMessage.id)))[-5:]
    assert events[-4:] == [("message", "in_progress"), ("request_info", "awaiting_applicant"),
                           ("note", "awaiting_applicant"), ("provide_info", "in_progress")]  # fmt: skip
    assert keys[-4:] == ["case.message", "case.info_requested", "case.message", "case.info_provided"]
    kinds = [(m["kind"], m["body"]) for m in listed(client, people, on_case, "enterprise")]
    assert kinds == [("message", "补充一点背景。"), ("request", "请提供销售发票。"), ("answer", "发票见附件。")]
    later = post(client, people, on_case, "enterprise", body="还有一件事。")
    assert later.get_json()["kind"] == "message" and case_of(sessions, on_case).status == "in_progress"


def test_a_request_through_the_transitions_api_is_in_the_thread_too(client, people, on_case) -> None:  # noqa: ANN001
    moved = client.post(f"/api/v1/cases/{on_case}/transitions", json={"action": "request_info", "reason": "请补充。"},
                        headers=people.headers("expert"))  # fmt: skip
    assert moved.status_code == 200
    (request,) = listed(client, people, on_case, "enterprise")
    assert (request["kind"], request["body"], request["source"]) == ("request", "请补充。", "api")


def test_a_message_on_a_closed_case_is_kept_and_moves_nothing(client, people, sessions, on_case) -> None:  # noqa: ANN001
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == on_case))
        case.status = lifecycle.CLOSED
    said = post(client, people, on_case, "enterprise", body="结案后又发现新的侵权链接。")
    assert said.status_code == 201
    assert case_of(sessions, on_case).status == "closed", "reopening stays an explicit action"
    with sessions() as s:
        payload = s.scalar(select(OutboxMessage.payload).where(OutboxMessage.routing_key == "case.message"))
    assert payload["finished"] is True


# --- the mail -------------------------------------------------------------------------------------


def subject_of(message) -> str:  # noqa: ANN001
    return str(make_header(decode_header(message["Subject"])))


def text_of(message) -> str:  # noqa: ANN001
    return message.get_payload()[0].get_payload(decode=True).decode()


def mailed(inbox) -> dict[str, object]:  # noqa: ANN001
    return {m["To"].rsplit("<", 1)[-1].rstrip(">").split("@")[0]: m for m in inbox.messages}


def test_a_message_is_mailed_to_the_others_on_the_case_each_in_their_language_once(
    ctx, client, people, sessions, smtp_server, on_case
) -> None:  # noqa: ANN001
    _controller, inbox = smtp_server
    sent = client.post(
        f"/api/v1/cases/{on_case}/messages",
        data={"body": "对方已下架部分商品。", "files": [(io.BytesIO(PDF), "截图.pdf")]},
        content_type="multipart/form-data",
        headers=people.headers("enterprise"),
    )
    assert sent.status_code == 201
    events = outbox(sessions, "case.message")
    assert run(ctx, notify, events) == ["done"]
    assert run(ctx, notify, events) == ["done"], "given again: nothing more"
    by = mailed(inbox)
    assert set(by) == {"expert", "trainee"}, "the others on the case, never the author"
    assert len(inbox.messages) == 2
    to_expert, to_trainee = by["expert"], by["trainee"]
    assert subject_of(to_expert) == f"New message on case {on_case} from enterprise"
    assert "有新留言" in subject_of(to_trainee)
    for message in (to_expert, to_trainee):
        text = text_of(message)
        assert "对方已下架部分商品。" in text and "截图.pdf" in text and f"({len(PDF)} B)" in text


def test_an_internal_note_is_never_mailed_to_the_enterprise(
    ctx, client, people, smtp_server, sessions, on_case
) -> None:  # noqa: ANN001, E501
    _controller, inbox = smtp_server
    assert post(client, people, on_case, "coordinator", body="已与平台联系。").status_code == 201
    assert post(client, people, on_case, "expert", body="可能是惯犯。", internal=True).status_code == 201
    first, note = outbox(sessions, "case.message")
    assert run(ctx, notify, [first]) == ["done"]
    assert set(mailed(inbox)) == {"enterprise", "expert", "trainee"}
    inbox.messages.clear()
    assert run(ctx, notify, [note]) == ["done"]
    by = mailed(inbox)
    assert set(by) == {"coordinator", "trainee"}, "the coordinator who wrote in the thread; not the enterprise"
    assert "内部备注" in subject_of(by["coordinator"]) and "可能是惯犯。" in text_of(by["coordinator"])


def test_a_message_on_a_closed_case_tells_the_expert_and_every_coordinator(
    ctx, client, people, sessions, smtp_server, on_case
) -> None:  # noqa: ANN001
    _controller, inbox = smtp_server
    people.add("second_coordinator", "coordinator", language="en")
    with sessions.begin() as s:
        s.scalar(select(Case).where(Case.reference == on_case)).status = lifecycle.WITHDRAWN
    assert post(client, people, on_case, "enterprise", body="我们想继续。").status_code == 201
    assert run(ctx, notify, outbox(sessions, "case.message")) == ["done"]
    by = mailed(inbox)
    assert {"expert", "coordinator", "second_coordinator"} <= set(by) and "enterprise" not in by
    assert "reopening the case is a coordinator's decision" in text_of(by["second_coordinator"])


def test_the_requests_mail_lists_its_files(ctx, client, people, sessions, smtp_server, on_case) -> None:  # noqa: ANN001
    _controller, inbox = smtp_server
    asked = client.post(
        f"/api/v1/cases/{on_case}/messages",
        data={"body": "请按此表格补充。", "request_info": "true", "files": [(io.BytesIO(PDF), "清单.pdf")]},
        content_type="multipart/form-data",
        headers=people.headers("expert"),
    )
    assert asked.status_code == 201 and asked.get_json()["kind"] == "request"
    assert run(ctx, notify, outbox(sessions, "case.info_requested")) == ["done"]
    (mail,) = inbox.messages
    assert "请按此表格补充。" in text_of(mail) and "清单.pdf" in text_of(mail)


# --- the case page ----------------------------------------------------------------------------------


def write(client, reference: str, **fields):  # noqa: ANN001, ANN201
    token = csrf_token(client.get(f"/cases/{reference}").get_data(as_text=True))
    return client.post(f"/cases/{reference}/messages", data={"csrf_token": token, **fields},
                       content_type="multipart/form-data")  # fmt: skip


def test_the_case_page_shows_one_thread_with_the_timeline_and_a_form_with_files(
    client, people, sessions, on_case
) -> None:  # noqa: ANN001
    login(client, people.enterprise.email)
    page = client.get(f"/cases/{on_case}").get_data(as_text=True)
    assert f'action="/cases/{on_case}/messages"' in page and 'name="internal"' not in page
    written = write(client, on_case, body="附上购买记录。", files=(io.BytesIO(PDF), "购买记录.pdf"))
    assert written.status_code == 303
    page = client.get(f"/cases/{on_case}").get_data(as_text=True)
    assert "您的留言已添加到案件中" in page
    thread = page[page.index('id="thread"') :]
    assert thread.index("接受了案件") < thread.index("附上购买记录。") and "购买记录.pdf" in thread
    assert write(client, on_case, body="  ").status_code == 303
    assert "留言不能为空" in client.get(f"/cases/{on_case}").get_data(as_text=True)
    assert write(client, on_case, body="内部", internal="true").status_code == 303
    assert "内部备注仅供专家和协调员使用" in client.get(f"/cases/{on_case}").get_data(as_text=True)
    missing = client.post(f"/cases/{on_case}/messages", data={"body": "no token"})
    assert missing.status_code == 400, "CSRF"

    login(client, people.expert.email)
    page = client.get(f"/cases/{on_case}").get_data(as_text=True)
    assert 'name="internal"' in page and 'name="request_info"' in page
    assert write(client, on_case, body="Checking the seller's other listings.", internal="true").status_code == 303
    page = client.get(f"/cases/{on_case}").get_data(as_text=True)
    assert 'class="said internal"' in page and "the enterprise does not see it" in page
    assert write(client, on_case, body="Please send the purchase receipt.", request_info="true").status_code == 303
    assert case_of(sessions, on_case).status == "awaiting_applicant"

    login(client, people.trainee.email)
    page = client.get(f"/cases/{on_case}").get_data(as_text=True)
    assert "Checking the seller" in page and f'action="/cases/{on_case}/messages"' not in page
    assert write(client, on_case, body="我也想说").status_code == 403
    login(client, people.other_enterprise.email)
    assert write(client, on_case, body="hello").status_code == 404
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(CaseMessage)) == 3


def test_new_activity_since_you_last_looked_in_the_queue_and_the_case_list(client, people, sessions, on_case) -> None:  # noqa: ANN001
    def queue_news() -> bool:
        data = client.get("/api/v1/queue", headers=people.headers("expert")).get_json()
        return next(c for c in data["cases"] if c["reference"] == on_case)["new_activity"]

    login(client, people.expert.email)
    assert queue_news(), "a case never opened is news"
    client.get(f"/cases/{on_case}")
    assert not queue_news()
    assert "有新动态" not in client.get("/queue").get_data(as_text=True).replace("New activity", "")
    assert post(client, people, on_case, "expert", body="我自己写的").status_code == 201
    assert not queue_news(), "what you wrote yourself is not news to you"
    assert post(client, people, on_case, "enterprise", body="新情况").status_code == 201
    assert queue_news() and "New activity" in client.get("/queue").get_data(as_text=True)
    assert listed(client, people, on_case, "expert")
    assert not queue_news(), "reading the whole thread through the API counts as a look"

    login(client, people.enterprise.email)
    client.get(f"/cases/{on_case}")
    assert "有新动态" not in client.get("/").get_data(as_text=True)
    assert post(client, people, on_case, "expert", body="内部分析", internal=True).status_code == 201
    assert "有新动态" not in client.get("/").get_data(as_text=True), "a note is not news to the enterprise"
    assert post(client, people, on_case, "expert", body="已收到").status_code == 201
    assert "有新动态" in client.get("/").get_data(as_text=True)
    client.get(f"/cases/{on_case}")
    assert "有新动态" not in client.get("/").get_data(as_text=True)
    with sessions() as s:  # one mark per person and case, moved on each look
        from workstation.services.models import LastSeen

        assert s.scalar(select(func.count()).select_from(LastSeen).where(LastSeen.case_id.is_not(None))) == 2
