"""Replies by email (issue 18): the Reply-To that names a case and a person and cannot be forged,
one receipt path (Maildir, ``receive-mail``, IMAP) and the ``mailin`` consumer, replies as
messages without their quotes (real-looking samples of each client in ``tests/data/mail``), the
quarantine, no loops and no backscatter, and hostile mail."""

from __future__ import annotations

import base64
import os
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from tests import test_batches, test_messages
from tests.conftest import IN_CI, wait_for
from tests.dovecot import dovecot_missing, running_dovecot
from tests.test_batches import outbox, run
from tests.test_messages import post, subject_of, text_of
from workers import mailin, notify
from workstation.config import Config
from workstation.mailrules import FORGED, NOT_OURS, ReplyTarget, read_reply_address, reply_address, why_automatic
from workstation.replies import html_to_text, parse, strip_quote
from workstation.services.mailin import poll_maildir, receive_committed
from workstation.services.models import AdminAudit, Case, CaseMessage, Evidence, OutboxMessage, ReceivedMail, User

ctx = test_batches.ctx
on_case = test_messages.on_case
SAMPLES = Path(__file__).parent / "data" / "mail"
SECRET, DOMAIN = "test-secret-key", "rpa.localhost"


# --- pure rules -------------------------------------------------------------------------------------


@pytest.mark.pure
def test_a_reply_address_names_the_case_and_the_person_and_cannot_be_forged_or_altered() -> None:
    address = reply_address(SECRET, DOMAIN, "RPA-2026-000123", 42)
    assert address.startswith("reply+rpa-2026-000123.42.") and address.endswith("@rpa.localhost")
    assert read_reply_address(SECRET, DOMAIN, address) == ReplyTarget("RPA-2026-000123", 42)
    assert read_reply_address(SECRET, DOMAIN, address.upper()) == ReplyTarget("RPA-2026-000123", 42), "case folded"
    local = address.split("@")[0]
    mac = local.rsplit(".", 1)[1]
    altered = [
        f"reply+rpa-2026-000124.42.{mac}@{DOMAIN}",  # another case
        f"reply+rpa-2026-000123.43.{mac}@{DOMAIN}",  # another person
        f"reply+rpa-2026-000123.42.{'a' * len(mac)}@{DOMAIN}",  # made up
        f"reply+rpa-2026-000123.42@{DOMAIN}",  # no MAC
        f"reply+rpa-2026-000123.42.{mac[:-1]}@{DOMAIN}",  # shortened
    ]
    for forged in altered:
        assert read_reply_address(SECRET, DOMAIN, forged) == FORGED, forged
    assert read_reply_address("another-key", DOMAIN, address) == FORGED, "another instance's key"
    assert read_reply_address(SECRET, DOMAIN, address.replace(DOMAIN, "evil.example")) == NOT_OURS
    assert read_reply_address(SECRET, DOMAIN, f"intake@{DOMAIN}") == NOT_OURS


def _mail(**headers: str) -> Message:
    message = MIMEText("我现在不在办公室。", "plain", "utf-8")
    for name, value in {"From": "someone@example.cn", "Subject": "Re: 案件", **headers}.items():
        message[name] = value
    return message


@pytest.mark.pure
def test_automatic_mail_is_recognised_and_mail_people_write_is_not() -> None:
    automatic = [
        ({"Auto-Submitted": "auto-replied"}, "auto_reply"),
        ({"Auto-Submitted": "auto-generated; owner-email=x@y"}, "auto_reply"),
        ({"X-Autoreply": "yes"}, "auto_reply"),
        ({"Precedence": "bulk"}, "auto_reply"),
        ({"Precedence": "junk"}, "auto_reply"),
        ({"Precedence": "auto_reply"}, "auto_reply"),
        ({"Subject": "自动回复: 案件 RPA-2026-000001 有新留言"}, "auto_reply"),
        ({"Subject": "Automatic reply: New message on case"}, "auto_reply"),
        ({"Subject": "Out of Office: New message"}, "auto_reply"),
        ({"From": "MAILER-DAEMON@mx.example.cn"}, "bounce"),
        ({"Subject": "Undeliverable: New message on case"}, "bounce"),
        ({"Return-Path": "<>"}, "bounce"),
        ({"From": "RPA <noreply@rpa.localhost>"}, "own_address"),
    ]
    for headers, reason in automatic:
        assert why_automatic(_mail(**headers), frozenset({"noreply@rpa.localhost"})) == reason, headers
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "postmaster-not@example.cn"
    assert why_automatic(report) == "bounce"
    for headers in ({}, {"Auto-Submitted": "no"}, {"Precedence": "normal"}, {"Subject": "Re: 外出调研的报告"}):
        assert why_automatic(_mail(**headers)) is None, headers


@pytest.mark.pure
def test_quotes_of_chinese_and_western_clients_are_cut() -> None:
    wrote = {
        "在 2026年12月7日周一 10:00，专家 <x@y.cn> 写道：\n> 请补充证据。": "Gmail zh",
        '在 2026-12-07 10:00:00，"专家" <x@y.cn> 写道：\n>请补充证据。': "163",
        "> 2026年12月7日 10:00，专家 <x@y.cn> 写道：\n> \n> 请补充证据。": "Apple Mail",
        "专家 <x@y.cn> 于2026年12月7日周一 10:00写道：\n\n> 请确认。": "Gmail web zh",
        "-----原始邮件-----\n发件人: 专家 <x@y.cn>\n发送时间: 2026年12月7日 10:00\n主题: 案件": "Outlook zh",
        '------------------ 原始邮件 ------------------\n发件人: "专家"<x@y.cn>;\n发送时间: 2026年12月7日': "QQ Mail",
        "寄件者: 專家 <x@y.cn>\n寄件日期: 2026年12月7日 10:00\n收件者: a@b.cn\n主旨: 案件": "Outlook zh-TW",
        "发件人： 专家 <x@y.cn>\n发送时间： 2026年12月7日 10:00\n收件人： a@b.cn": "full-width colons",
        "On Mon, Dec 7, 2026 at 10:00 AM Expert <x@y.cn> wrote:\n> please": "Gmail en",
        "From: Expert <x@y.cn>\nSent: Monday, December 7, 2026 10:00 AM\nTo: a@b.cn\nSubject: case": "Outlook en",
    }
    for quote, client in wrote.items():
        assert strip_quote(f"好的，已补充。\n\n{quote}") == "好的，已补充。", client
    assert strip_quote("已寄出。\n\n发自我的iPhone") == "已寄出。"
    assert strip_quote("已寄出。\n\n发自网易邮箱大师") == "已寄出。"
    kept = "清单：\n- 购买凭证\n- 商标注册证\n\n发自内心感谢各位专家。"
    assert strip_quote(kept) == kept, "a hyphen list and an ordinary sentence stay"
    html = '<div>你好<script>alert(1)</script><style>p{}</style></div><div class="gmail_quote">旧的</div>'
    assert html_to_text(html) == "你好"


# --- the mail side ---------------------------------------------------------------------------------


def reply_to(config: Config, reference: str, user: User) -> str:
    return reply_address(config.secret_key, config.reply_domain, reference, user.id)


def sample(name: str, to: str, sender: str) -> bytes:
    raw = (SAMPLES / name).read_bytes()
    return raw.replace(b"{{TO}}", to.encode()).replace(b"{{FROM}}", sender.encode())


def simple_reply(
    to: str, sender: str, body: str = "好的，已补充。", subject: str = "Re: 案件", **headers: str
) -> bytes:  # noqa: E501
    message = MIMEText(body, "plain", "utf-8")
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Message-ID"] = headers.pop("message_id", f"<{os.urandom(8).hex()}@example.cn>")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return message.as_bytes()


def deliver(ctx, raw: bytes) -> ReceivedMail:  # noqa: ANN001
    """``raw`` received (as the pipe does) and read by the mailin consumer: its row afterwards."""
    received = receive_committed(ctx.sessions, ctx.config, raw, "pipe")
    events = [e for e in outbox(ctx.sessions, "mail.received") if e.body["received_id"] == received.id]
    assert run(ctx, mailin, events) == ["done"] * len(events)
    with ctx.sessions() as s:
        return s.get(ReceivedMail, received.id)


def messages_of(sessions, reference: str) -> list[CaseMessage]:  # noqa: ANN001
    with sessions() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        return list(s.scalars(select(CaseMessage).where(CaseMessage.case_id == case.id).order_by(CaseMessage.id)))


def test_every_case_email_carries_a_reply_to_for_its_recipient_and_thread_headers(
    ctx, client, people, sessions, smtp_server, on_case
) -> None:  # noqa: ANN001
    _controller, inbox = smtp_server
    assert post(client, people, on_case, "expert", body="请补充购买凭证。").status_code == 201
    assert run(ctx, notify, outbox(sessions, "case.message")) == ["done"]
    assert len(inbox.messages) == 2  # the enterprise and the trainee
    for mail in inbox.messages:
        user = people.enterprise if mail["To"].endswith("<enterprise@example.cn>") else people.trainee
        assert read_reply_address(ctx.config.secret_key, "rpa.localhost", mail["Reply-To"]) == ReplyTarget(
            on_case, user.id
        )
        root = f"<case.{on_case}@rpa-workstation>"
        assert mail["In-Reply-To"] == root and mail["References"] == root
        assert mail["Message-ID"] != root and mail["Auto-Submitted"] == "auto-generated"


@pytest.mark.parametrize(
    ("name", "text", "files"),
    [
        ("outlook_zh.eml", "您好，\n\n补充材料已上传，请查收。\n\n张伟\n陕西星河科技有限公司", []),
        ("outlook_zh_html_only.eml", "同意，谢谢专家。", []),
        ("outlook_en.eml", "Hello,\n\nThe purchase receipt is attached. The seller removed two listings yesterday.",
         ["receipt.pdf"]),
        ("gmail_zh.eml", "好的，我们同意调解方案。", []),
        ("html_only.eml", "请看说明：对方已停止销售。", []),
        ("qq.eml", "收到，合同扫描件见附件。", ["许可合同.jpg"]),
        ("netease_163.eml", "明天把样品寄出，快递单号另告。", []),
        ("apple_mail.eml", "已补充商标注册证。", ["registration.png"]),
    ],
)  # fmt: skip
def test_a_reply_from_each_client_becomes_a_message_without_its_quote(
    ctx, people, sessions, on_case, name, text, files
) -> None:  # noqa: ANN001
    raw = sample(name, reply_to(ctx.config, on_case, people.enterprise), people.enterprise.email)
    row = deliver(ctx, raw)
    assert (row.status, row.reason) == ("message", ""), row.detail
    (message,) = messages_of(sessions, on_case)
    assert message.body == text and message.source == "mail" and message.author_id == people.enterprise.id
    assert message.mail_message_id == parse(raw)["Message-ID"].strip("<>")
    with sessions() as s:
        stored = s.scalars(select(Evidence.filename).where(Evidence.message_id == message.id)).all()
    assert sorted(stored) == files
    assert len(outbox(sessions, "case.message")) == 1, "mailed to the others like any message"


def test_a_reply_answers_a_request_for_information_and_the_same_mail_twice_is_one_message(
    ctx, client, people, sessions, on_case
) -> None:  # noqa: ANN001
    assert post(client, people, on_case, "expert", body="请补充购买凭证。", request_info=True).status_code == 201
    assert messages_of(sessions, on_case)[0].kind == "request"
    raw = simple_reply(reply_to(ctx.config, on_case, people.enterprise), people.enterprise.email,
                       message_id="<answer-1@example.cn>")  # fmt: skip
    assert deliver(ctx, raw).status == "message"
    with sessions() as s:
        assert s.scalar(select(Case.status).where(Case.reference == on_case)) == "in_progress"
    assert [m.kind for m in messages_of(sessions, on_case)] == ["request", "answer"]
    again = deliver(ctx, raw)  # the same bytes: the same row, nothing new
    fetched_again = deliver(ctx, b"X-Fetched-By: imap\r\n" + raw)  # other bytes, the same Message-ID
    assert again.status == "message" and fetched_again.status == "duplicate"
    assert len(messages_of(sessions, on_case)) == 2


def test_a_mail_without_a_message_id_gets_one_from_its_hash(ctx, people, sessions, on_case) -> None:  # noqa: ANN001
    raw = simple_reply(reply_to(ctx.config, on_case, people.enterprise), people.enterprise.email)
    raw = b"\r\n".join(line for line in raw.split(b"\n") if not line.startswith(b"Message-ID")).replace(b"\r\r", b"\r")
    row = deliver(ctx, raw)
    assert row.status == "message" and row.message_id == f"{row.sha256}@hash.rpa-workstation"


# --- the quarantine and hostile mail ----------------------------------------------------------------


def test_forged_altered_unknown_or_another_senders_mail_enters_no_case(ctx, people, sessions, on_case) -> None:  # noqa: ANN001
    genuine = reply_to(ctx.config, on_case, people.enterprise)
    mac = genuine.split("@")[0].rsplit(".", 1)[1]
    other_case = on_case[:-1] + str((int(on_case[-1]) + 1) % 10)
    cases = {
        "forged": genuine.replace(mac, "a" * len(mac)),
        "altered person": genuine.replace(f".{people.enterprise.id}.", f".{people.other_enterprise.id}."),
        "altered case": genuine.replace(on_case.lower(), other_case.lower()),
        "no address of ours": "info@rpa.localhost",
    }
    for what, to in cases.items():
        row = deliver(ctx, simple_reply(to, people.enterprise.email, body=f"{what}"))
        assert row.status == "quarantined", what
        assert row.reason == ("no_case" if what == "no address of ours" else "forged"), what
    other = deliver(ctx, simple_reply(genuine, people.other_enterprise.email, body="我是另一家企业"))
    assert (other.status, other.reason) == ("quarantined", "wrong_sender")
    trainee = deliver(ctx, simple_reply(reply_to(ctx.config, on_case, people.trainee), people.trainee.email))
    assert (trainee.status, trainee.reason) == ("quarantined", "not_allowed"), "a shadowing trainee reads only"
    assert messages_of(sessions, on_case) == []
    assert outbox(sessions, "case.message") == []


def test_auto_replies_bounces_and_our_own_mail_never_become_messages_nor_cause_mail(
    ctx, people, sessions, on_case
) -> None:  # noqa: ANN001
    to = reply_to(ctx.config, on_case, people.enterprise)
    sender = people.enterprise.email
    ignored = [
        simple_reply(to, sender, "我在休假", Auto_Submitted="auto-replied"),
        simple_reply(to, sender, "我在休假", X_Autoreply="yes"),
        simple_reply(to, sender, "我在休假", Precedence="bulk"),
        simple_reply(to, sender, "我在休假", subject="Automatic reply: Re: 案件"),
        simple_reply(to, "MAILER-DAEMON@mx.example.cn", "Delivery failed"),
        simple_reply(to, "RPA Workstation <noreply@rpa.localhost>", "a loop"),
    ]
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"], report["To"], report["Subject"] = sender, to, "Re: 案件"
    report.attach(MIMEText("Your message could not be delivered.", "plain"))
    report.attach(MIMEApplication(b"Reporting-MTA: dns; mx.example.cn\n", "delivery-status"))
    ignored.append(report.as_bytes())
    events = other_events(sessions)
    for raw in ignored:
        row = deliver(ctx, raw)
        assert row.status == "ignored" and row.reason in ("auto_reply", "bounce", "own_address"), raw[:300]
    assert messages_of(sessions, on_case) == []
    assert other_events(sessions) == events, "nothing to mail anyone"


def other_events(sessions) -> int:  # noqa: ANN001
    with sessions() as s:
        query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.routing_key != "mail.received")
        return s.scalar(query)


def test_a_ping_pong_with_an_auto_responder_stops_after_one_mail(
    ctx, client, people, sessions, smtp_server, on_case
) -> None:  # noqa: ANN001
    """The enterprise's mailbox answers every mail it gets, once with RFC 3834's headers and once
    with only an out-of-office subject; neither answer is a message or causes a mail."""
    _controller, inbox = smtp_server
    assert post(client, people, on_case, "expert", body="请补充购买凭证。").status_code == 201
    for _round in range(3):
        assert run(ctx, notify, [e for e in outbox(sessions, "case.message")]) in (["done"], ["done"] * 2, ["done"] * 3)
        to_enterprise = [m for m in inbox.messages if "enterprise@" in m["To"]]
        for mail in to_enterprise:
            for headers in ({"Auto_Submitted": "auto-replied"}, {}):
                away = "我正在休假，12月15日回来。"
                answer = simple_reply(mail["Reply-To"], people.enterprise.email, away, "自动回复: 案件", **headers)
                assert deliver(ctx, answer).status == "ignored"
    assert len([m for m in inbox.messages if "enterprise@" in m["To"]]) == 1
    assert len(messages_of(sessions, on_case)) == 1


def test_hostile_mail_ends_as_a_message_a_quarantine_entry_or_a_refusal(ctx, people, sessions, on_case) -> None:  # noqa: ANN001
    to, sender = reply_to(ctx.config, on_case, people.enterprise), people.enterprise.email
    # GBK headers and body, raw 8-bit (no MIME encoding at all)
    gbk = (f"From: {sender}\r\nTo: {to}\r\nSubject: 回复：样品\r\nMessage-ID: <gbk-1@example.cn>\r\n"
           "Content-Type: text/plain; charset=gbk\r\n\r\n样品已寄出。\r\n").encode("gbk")  # fmt: skip
    row = deliver(ctx, gbk)
    assert row.status == "message" and row.subject == "回复：样品"
    # NUL and unpaired surrogates
    head = (f"From: {sender}\r\nTo: {to}\r\nMessage-ID: <nul-1@example.cn>\r\nSubject: =?utf-16be?b?2AA=?= 案\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")  # fmt: skip
    row = deliver(ctx, head.encode() + "前".encode() + b"\x00\xed\xa0\x80" + "后".encode())
    assert row.status == "message" and "\x00" not in row.subject
    assert messages_of(sessions, on_case)[-1].body == "前\ufffd\ufffd\ufffd后", "NUL dropped, the surrogate replaced"
    # HTML-only with script: the script never reaches the text
    html = MIMEText('<p>看这里</p><script>alert("x")</script><img src=x onerror=alert(1)>', "html", "utf-8")
    html["From"], html["To"], html["Message-ID"] = sender, to, "<html-1@example.cn>"
    row = deliver(ctx, html.as_bytes())
    assert row.status == "message" and messages_of(sessions, on_case)[-1].body == "看这里"
    # a truncated MIME message: read as far as it goes
    truncated = simple_reply(to, sender, "完整的正文" * 50)
    whole = MIMEMultipart()
    whole["From"], whole["To"], whole["Message-ID"] = sender, to, "<truncated-1@example.cn>"
    whole.attach(MIMEText("截断的邮件", "plain", "utf-8"))
    whole.attach(MIMEApplication(b"%PDF-1.4\n" + b"x" * 5000, "pdf", Name="a.pdf"))
    cut = whole.as_bytes()[: len(whole.as_bytes()) - 3000]
    row = deliver(ctx, cut)
    body = messages_of(sessions, on_case)[-1].body
    assert row.status == "message" and body.startswith("截断的邮件\n\n") and "a.pdf" in body, "its cut file refused"
    assert deliver(ctx, truncated[: len(truncated) // 2]).status == "message", "a plain one loses its end"
    # garbage that is not a mail at all: refused at receipt (the pipe's 65)
    from workstation.services.mailin import MailRefusedError

    with pytest.raises(MailRefusedError):
        receive_committed(ctx.sessions, ctx.config, b"\x00\x01\x02 binary", "pipe")


def test_500_attachments_keep_the_first_ten_and_say_so(ctx, people, sessions, on_case) -> None:  # noqa: ANN001
    mail = MIMEMultipart()
    mail["From"], mail["To"], mail["Message-ID"] = (
        people.enterprise.email,
        reply_to(ctx.config, on_case, people.enterprise),
        "<many@x>",
    )  # noqa: E501
    mail.attach(MIMEText("附件很多。", "plain", "utf-8"))
    for i in range(500):
        mail.attach(MIMEApplication(f"line {i}\n".encode(), Name=f"note-{i}.txt"))
    row = deliver(ctx, mail.as_bytes())
    assert row.status == "message" and row.detail["more_files_count"] == 490
    (message,) = messages_of(sessions, on_case)
    assert message.body.startswith("附件很多。") and "490" in message.body
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Evidence).where(Evidence.message_id == message.id)) == 10


def test_a_30_mb_attachment_is_refused_and_the_reply_kept(ctx, people, sessions, on_case) -> None:  # noqa: ANN001
    to = reply_to(ctx.config, on_case, people.enterprise)
    # (written by hand: the email package takes seconds to write 40 MB)
    raw = (
        f"From: {people.enterprise.email}\r\nTo: {to}\r\nMessage-ID: <big@x>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode("视频太大了。".encode()).decode() + "\r\n"
        '--b\r\nContent-Type: application/pdf; name="video.pdf"\r\n'
        'Content-Disposition: attachment; filename="video.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    ).encode()
    raw += base64.encodebytes(b"%PDF-1.4\n" + os.urandom(30 * 1024 * 1024)).replace(b"\n", b"\r\n") + b"--b--\r\n"
    assert len(raw) > 40 * 1024 * 1024
    row = deliver(ctx, raw)
    assert row.status == "message"
    (message,) = messages_of(sessions, on_case)
    assert message.body.startswith("视频太大了。") and "video.pdf" in message.body and "20 MB" in message.body
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Evidence).where(Evidence.message_id == message.id)) == 0


def test_receive_mail_exits_as_sendmail_does(env, people, on_case, sessions, monkeypatch) -> None:  # noqa: ANN001
    from workstation.__main__ import cli

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config = Config.from_env(env)
    raw = simple_reply(reply_to(config, on_case, people.enterprise), people.enterprise.email)
    assert CliRunner().invoke(cli, ["receive-mail"], input=raw).exit_code == 0
    assert CliRunner().invoke(cli, ["receive-mail"], input=raw).exit_code == 0, "the same mail again: taken, once"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ReceivedMail)) == 1
    assert CliRunner().invoke(cli, ["receive-mail"], input=b"").exit_code == 65
    assert CliRunner().invoke(cli, ["receive-mail"], input=b"\x00garbage").exit_code == 65
    monkeypatch.setenv("WORKSTATION_MAX_MAIL_BYTES", "100")
    assert CliRunner().invoke(cli, ["receive-mail"], input=raw).exit_code == 65
    monkeypatch.delenv("WORKSTATION_MAX_MAIL_BYTES")
    monkeypatch.setenv("WORKSTATION_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=1")
    down = CliRunner().invoke(cli, ["receive-mail"], input=raw)
    assert down.exit_code == 75, down.output


def test_the_maildir_takes_each_file_once_and_sets_aside_what_can_never_be_taken(ctx, people, on_case) -> None:  # noqa: ANN001
    new = ctx.config.mail_in_dir / "new"
    poll_maildir(ctx.sessions, ctx.config)  # makes the folders
    raw = simple_reply(reply_to(ctx.config, on_case, people.enterprise), people.enterprise.email)
    (new / "1.eml").write_bytes(raw)
    (new / "2.eml").write_bytes(b"not a mail")
    assert poll_maildir(ctx.sessions, ctx.config) == 1
    assert list(new.iterdir()) == [] and (ctx.config.mail_in_dir / "refused" / "2.eml").exists()
    assert run(ctx, mailin, outbox(ctx.sessions, "mail.received")) == ["done"]
    assert run(ctx, mailin, outbox(ctx.sessions, "mail.received")) == ["done"], "given again: nothing more"
    with ctx.sessions() as s:
        assert s.scalar(select(func.count()).select_from(CaseMessage)) == 1


def test_a_reply_dropped_in_the_maildir_appears_in_the_thread_with_the_workers_running(
    client, people, sessions, env, on_case, pipeline
) -> None:  # noqa: ANN001
    # (``on_case`` before ``pipeline``: the case assigned by hand before the workers start, or the
    # routing worker may assign it first and the fixture's assignment is refused)
    config = Config.from_env(env)
    new = config.mail_in_dir / "new"
    new.mkdir(parents=True, exist_ok=True)
    tmp = config.mail_in_dir / "tmp"
    tmp.mkdir(exist_ok=True)
    raw = sample("outlook_zh.eml", reply_to(config, on_case, people.enterprise), people.enterprise.email)
    (tmp / "reply.eml").write_bytes(raw)
    os.replace(tmp / "reply.eml", new / "reply.eml")

    def thread() -> list[dict]:
        response = client.get(f"/api/v1/cases/{on_case}/messages", headers=people.headers("expert"))
        return response.get_json()["messages"]

    (message,) = wait_for(thread, timeout=30, message="the reply in the thread")
    assert message["source"] == "mail" and message["body"].startswith("您好") and "原始邮件" not in message["body"]


# --- the quarantine page ----------------------------------------------------------------------------


def test_coordinators_attach_or_discard_quarantined_mail_and_both_are_audited(
    ctx, client, people, sessions, on_case
) -> None:  # noqa: ANN001
    from tests.test_web import csrf_token, login

    lost = deliver(ctx, simple_reply("info@rpa.localhost", people.enterprise.email, "请问案件进展？"))
    spam = deliver(ctx, simple_reply("info@rpa.localhost", "spam@example.net", "cheap watches"))
    login(client, people.enterprise.email)
    assert client.get("/coordinator/quarantine").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").get_data(as_text=True))})
    login(client, people.coordinator.email)
    page = client.get("/coordinator/quarantine").get_data(as_text=True)
    assert "请问案件进展？" in page and "spam@example.net" in page
    token = csrf_token(page)
    assert client.post(f"/coordinator/quarantine/{lost.id}/attach", data={"reference": on_case}).status_code == 400
    refused = client.post(f"/coordinator/quarantine/{spam.id}/attach", data={"csrf_token": token, "reference": on_case})
    assert refused.status_code == 303
    done = client.post(f"/coordinator/quarantine/{lost.id}/attach", data={"csrf_token": token, "reference": on_case})
    assert done.status_code == 303
    assert client.post(f"/coordinator/quarantine/{spam.id}/discard", data={"csrf_token": token}).status_code == 303
    (message,) = messages_of(sessions, on_case)
    assert message.author_id == people.enterprise.id and message.body == "请问案件进展？" and message.source == "mail"
    with sessions() as s:
        assert s.get(ReceivedMail, lost.id).status == "attached" and s.get(ReceivedMail, spam.id).status == "discarded"
        actions = s.scalars(select(AdminAudit.action).order_by(AdminAudit.id)).all()
    assert actions[-2:] == ["mail_attached", "mail_discarded"]
    assert "请问案件进展？" not in client.get("/coordinator/quarantine").get_data(as_text=True)


# --- IMAP against a real Dovecot ----------------------------------------------------------------------


def test_imap_moves_a_message_only_after_its_receipt_is_committed(dovecot, ctx, people, on_case) -> None:  # noqa: ANN001
    from dataclasses import replace

    from imap_tools import MailBoxUnencrypted

    from workstation.services.mailin import poll_imap

    url, deliver_to_inbox = dovecot
    first = simple_reply(reply_to(ctx.config, on_case, people.enterprise), people.enterprise.email, "第一封")
    deliver_to_inbox(first)
    config = replace(ctx.config, imap_url=url)
    with pytest.raises(OperationalError):
        poll_imap(_unreachable_sessions(), config, timeout=5)
    with MailBoxUnencrypted("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])).login("rpa", "secret") as box:
        assert len(box.uids()) == 1, "the database was down: the message stays on the server"
    deliver_to_inbox(simple_reply(reply_to(config, on_case, people.enterprise), people.enterprise.email, "第二封"))
    assert poll_imap(ctx.sessions, config) == 2
    with MailBoxUnencrypted("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])).login("rpa", "secret") as box:
        assert box.uids() == []
        box.folder.set("Processed")
        assert len(box.uids()) == 2
    assert run(ctx, mailin, outbox(ctx.sessions, "mail.received")) == ["done"] * 2
    with ctx.sessions() as s:
        assert sorted(s.scalars(select(CaseMessage.body))) == ["第一封", "第二封"]


def test_the_imap_watch_takes_a_mail_in_as_it_arrives_through_idle(dovecot, ctx, people, on_case) -> None:  # noqa: ANN001
    """The scheduler's IMAP loop waits in IDLE: a delivered mail is received within seconds
    although the polling interval is a minute; a message that is not a mail goes to Refused."""
    import threading
    import time
    from dataclasses import replace

    from imap_tools import MailBoxUnencrypted

    from workstation.services.mailin import watch_imap

    url, deliver_to_inbox = dovecot
    config = replace(ctx.config, imap_url=url, imap_interval=60.0)
    stop = threading.Event()
    watcher = threading.Thread(target=watch_imap, args=(ctx.sessions, config, stop), daemon=True)
    watcher.start()
    try:
        time.sleep(0.5)  # the first look at the empty INBOX is done: what follows arrives in IDLE
        deliver_to_inbox(simple_reply(reply_to(config, on_case, people.enterprise), people.enterprise.email, "即时"))
        deliver_to_inbox(b"\x00\x01 not a mail at all")

        def received() -> int:
            with ctx.sessions() as s:
                return s.scalar(select(func.count()).select_from(ReceivedMail))

        wait_for(lambda: received() == 1, timeout=4)
    finally:
        stop.set()
    watcher.join(10)
    assert not watcher.is_alive(), "the watch stops when the scheduler steps down"
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with MailBoxUnencrypted("127.0.0.1", port).login("rpa", "secret") as box:
        wait_for(lambda: box.uids() == [], timeout=2)
        box.folder.set("Processed/Refused")
        assert len(box.uids()) == 1


def _unreachable_sessions():  # noqa: ANN202
    from workstation.services.db import make_engine, make_session_factory

    return make_session_factory(make_engine("postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=1"))


@pytest.fixture
def dovecot():  # noqa: ANN201
    """A real Dovecot (``tests/dovecot.py``) on a loopback port: (its IMAP URL, a function
    delivering a mail to its INBOX)."""
    why = dovecot_missing()
    if why:
        if IN_CI:
            pytest.fail(f"CI=true and {why}: the IMAP test must run")
        pytest.skip(why)
    with running_dovecot() as server:
        yield server.url, server.deliver


# --- new cases by email -------------------------------------------------------------------------------


def test_a_mail_to_the_intake_address_opens_a_case_to_be_classified_and_mails_its_reference(
    ctx, people, sessions, smtp_server
) -> None:  # noqa: ANN001
    from workers import routing
    from workstation.services.models import CaseEvent

    _controller, inbox = smtp_server
    raw = sample("apple_mail.eml", "intake@rpa.localhost", people.enterprise.email)
    raw = raw.replace(b"Subject: =?utf-8?", b"X-Was-Subject: =?utf-8?").replace(
        b"X-Mailer", b"Subject: =?utf-8?b?" + base64.b64encode("网店仿冒我司商标".encode()) + b"?=\r\nX-Mailer"
    )
    row = deliver(ctx, raw)
    assert row.status == "opened" and row.case_id is not None
    with sessions() as s:
        case = s.get(Case, row.case_id)
        submitted = s.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "submit"))
        files = s.scalars(select(Evidence.filename).where(Evidence.case_id == case.id)).all()
    assert (case.right_type, case.service, case.enterprise_id) == ("other", "consultation", people.enterprise.id)
    assert case.title == "网店仿冒我司商标" and case.description == "已补充商标注册证。"
    assert files == ["registration.png"]
    assert submitted.detail["to_classify"] is True and submitted.detail["via"] == "mail"
    assert case.to_classify is True, "on the desk's first pile until a coordinator classifies it"
    assert run(ctx, notify, outbox(sessions, "case.opened_by_mail")) == ["done"]
    (mail,) = inbox.messages
    assert case.reference in subject_of(mail) and case.reference in text_of(mail)
    assert read_reply_address(ctx.config.secret_key, "rpa.localhost", mail["Reply-To"]) == ReplyTarget(
        case.reference, people.enterprise.id
    ), "a reply to it goes into the new case"
    assert run(ctx, routing, outbox(sessions, "case.submitted")) == ["done"], "routed like any case"
    assert deliver(ctx, raw).status == "opened" and deliver(ctx, b"X-Again: 1\r\n" + raw).status == "duplicate"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 1, "the same mail twice opens one case"


def test_a_mail_to_the_intake_address_from_anyone_else_opens_nothing_and_is_not_answered(
    ctx, people, sessions, smtp_server
) -> None:  # noqa: ANN001
    _controller, inbox = smtp_server
    with sessions.begin() as s:
        s.get(User, people.other_enterprise.id).approval = "pending"
    for sender in ("stranger@example.net", people.other_enterprise.email, people.coordinator.email):
        row = deliver(ctx, simple_reply("intake@rpa.localhost", sender, "请帮我们看看这个商标。", "商标咨询"))
        assert (row.status, row.reason) == ("quarantined", "unknown_sender"), sender
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Case)) == 0
    assert other_events(sessions) == 0 and inbox.messages == []
