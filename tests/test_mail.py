"""Mail through a real SMTP server (aiosmtpd on loopback), including an SMTP outage."""

from __future__ import annotations

import email
import io
import smtplib
import time
from email.header import decode_header, make_header

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from tests.conftest import HoldingInbox, Inbox, Processes, free_port, serving_smtp, wait_for
from workstation.services.mail import MAIL_POLICY, Sending, SmtpSender, render_email
from workstation.services.models import DeliveryFailure

pytestmark = pytest.mark.slow


def subject(message: email.message.Message) -> str:
    return str(make_header(decode_header(message["Subject"])))


class Case:
    reference, title, right_type, service = "RPA-2026-000042", "专利侵权", "patent", "compensation_estimate"


class Person:
    name = "王工"


def assigned_email(config, key: str):  # noqa: ANN001, ANN201
    return render_email(
        "enterprise_case_assigned",
        "zh",
        "王工 <wang@example.cn>",
        config,
        key,
        case=Case,
        recipient=Person,
        expert=Person,
    )


@pytest.mark.pure
def test_our_mail_policy_writes_the_same_bytes_as_the_default(config) -> None:  # noqa: ANN001
    from email.header import Header
    from email.policy import compat32

    for title in ("专利侵权", "x" * 300, "Acme  Co.,   Ltd. v. Foo"):
        Case.title = title
        try:
            message = assigned_email(config, "7:1:x")
        finally:
            Case.title = "专利侵权"
        message["X-Short"] = "a  b,  c"
        message["X-Spaced"] = " padded "
        message["X-Long"] = "word " * 40
        message["X-Header"] = Header("很长的中文标题" * 10, "utf-8")
        assert message.policy is MAIL_POLICY
        assert message.as_bytes() == message.as_bytes(policy=compat32)
        assert message.as_string() == message.as_string(policy=compat32)


@pytest.mark.pure
def test_an_ascii_subject_is_written_as_it_is_and_any_other_in_utf8_words_that_fit_a_line(config) -> None:  # noqa: ANN001
    from workstation.services.mail import _encoded_words

    english = render_email(
        "enterprise_case_assigned", "en", "Wang <wang@example.cn>", config, "7:1:x", case=Case, recipient=Person,
        expert=Person,
    )  # fmt: skip
    assert b"\nSubject: Your case RPA-2026-000042 has an expert\n" in english.as_bytes()
    chinese = assigned_email(config, "7:1:x")
    assert subject(email.message_from_bytes(chinese.as_bytes())) == "您的案件 RPA-2026-000042 已指派专家"
    for text in ("您的案件 RPA-2026-000042 已指派专家", "商标侵权" * 40, "é" * 99, "a😀" * 50, "=?utf-8?q?x?= ok"):
        folded = f"Subject: {_encoded_words(text)}"
        assert str(make_header(decode_header(_encoded_words(text)))) == text
        message = email.message_from_string(folded + "\n\n")  # as a reader gets it: folded at the spaces
        assert subject(message) == text
        assert all(len(word) <= 64 for word in folded.split()), "each word and 'Subject: ' fit a line of 78"


@pytest.mark.pure
def test_our_flattening_writes_the_bytes_of_the_email_package(config) -> None:  # noqa: ANN001
    from email.generator import BytesGenerator
    from email.mime.text import MIMEText

    from workstation.services.mail import _flatten, about_case

    def generated(message: email.message.Message, linesep: str) -> bytes:
        flat = io.BytesIO()
        BytesGenerator(flat).flatten(message, linesep=linesep)
        return flat.getvalue()

    english = render_email("expert_case_assigned", "en", "Wang <wang@example.cn>", config, "7:2:x", case=Case,
                           recipient=Person, replyable=True)  # fmt: skip
    messages = [assigned_email(config, "7:1:x"), about_case(english, config, Case.reference, 2)]
    long = assigned_email(config, "7:3:x")
    long["X-Long"] = "word " * 40
    messages += [long, MIMEText("From here\n中文", "plain", "utf-8"), MIMEText("x\nFrom y", "plain")]
    for message in messages:
        for linesep in ("\r\n", "\n"):
            assert _flatten(message, linesep) == generated(message, linesep)


@pytest.mark.pure
def test_our_mail_and_rcpt_commands_are_smtplibs(config) -> None:  # noqa: ANN001
    from workstation.services.mail import _Smtp

    def commands(client_class: type[smtplib.SMTP], address: str, options: tuple[str, ...]) -> list[tuple]:
        class Recording(client_class):  # no connection: what would be sent
            def putcmd(self, cmd: str, args: str = "") -> None:
                self.sent.append((cmd, args, self.command_encoding))

            def getreply(self) -> tuple[int, bytes]:
                return 250, b"ok"

            def has_extn(self, _name: str) -> bool:
                return True

        client = Recording()
        client.sent, client.does_esmtp = [], True
        client.mail(address, options)
        client.rcpt(address, options)
        return client.sent

    addresses = ["wang@example.cn", "reply+rpa-2026-000042.12.u6nve57t@rpa.localhost", "a.b-c_d@x-y.example.com",
                 "王工 <wang@example.cn>", '"a b"@example.cn', "a..b@example.cn", "<x@example.cn>", "",
                 "张@例子.中国"]  # fmt: skip
    for address in addresses:
        for options in ((), ("size=1234",), ("SMTPUTF8", "size=9")):
            assert commands(_Smtp, address, options) == commands(smtplib.SMTP, address, options), (address, options)


@pytest.mark.pure
def test_smtp_sender_delivers_a_multipart_message_in_chinese(smtp_server, config) -> None:  # noqa: ANN001
    controller, inbox = smtp_server
    message = assigned_email(config, "7:1:x")
    SmtpSender(f"smtp://127.0.0.1:{controller.port}").send(message, "7:1:x")
    received = wait_for(lambda: inbox.messages, timeout=5)[0]
    assert subject(received) == "您的案件 RPA-2026-000042 已指派专家"
    text = received.get_payload()[0].get_payload(decode=True).decode()
    assert "专利" in text and "赔偿数额" in text and "RPA-2026-000042" in text
    assert received["Message-ID"] == "<7.1.x@rpa-workstation>"


@pytest.mark.pure
def test_the_smtp_sender_keeps_one_connection_and_reconnects_when_the_server_restarts(config) -> None:  # noqa: ANN001
    inbox, port = Inbox(), free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    sender = SmtpSender(f"smtp://127.0.0.1:{port}")
    try:
        for i in range(3):
            sender.send(assigned_email(config, f"k{i}"), f"k{i}")
        assert len(inbox.messages) == 3 and len(set(inbox.peers)) == 1, "one connection for the three"
        server.stop()  # the kept connection dies with it
        server = Controller(inbox, hostname="127.0.0.1", port=port)
        server.start()
        sender.send(assigned_email(config, "k3"), "k3")
        assert len(inbox.messages) == 4 and len(set(inbox.peers)) == 2, "sent at once on a new connection"
        server.stop()
        with pytest.raises(OSError):  # down for good: the failure reaches the caller (who retries later)
            sender.send(assigned_email(config, "k4"), "k4")
    finally:
        sender.close()
        if server.loop.is_running():
            server.stop()


@pytest.fixture
def holding_server():  # noqa: ANN201
    """A real SMTP server on loopback that holds each message a moment (``HoldingInbox``)."""
    with serving_smtp(inbox := HoldingInbox()) as controller:
        yield controller, inbox


@pytest.mark.pure
def test_emails_go_out_over_up_to_the_senders_connections_at_once_and_stay_open(config, holding_server) -> None:  # noqa: ANN001
    controller, inbox = holding_server
    sender = SmtpSender(f"smtp://127.0.0.1:{controller.port}", connections=3)
    try:
        with Sending(sender) as sending:
            for i in range(9):
                sending.submit(assigned_email(config, f"k{i}"), f"k{i}")
        assert sending.sent == {f"k{i}" for i in range(9)}
        assert sorted(m["Message-ID"] for m in inbox.messages) == [f"<k{i}@rpa-workstation>" for i in range(9)]
        assert 1 < inbox.most_at_once <= 3, "up to three connections, each with an email on its way"
        assert len(set(inbox.peers)) == 3
        with Sending(sender) as sending:  # the next batch: on the connections kept open
            for i in range(9, 12):
                sending.submit(assigned_email(config, f"k{i}"), f"k{i}")
        assert len(inbox.messages) == 12 and len(set(inbox.peers)) == 3
    finally:
        sender.close()


@pytest.mark.pure
def test_a_refused_email_among_those_on_their_way_is_raised_and_every_other_accounted_for(
    config, holding_server
) -> None:  # noqa: ANN001
    controller, inbox = holding_server
    inbox.refuse = {"<k3@rpa-workstation>"}
    sender = SmtpSender(f"smtp://127.0.0.1:{controller.port}", connections=3)
    handed_over = []
    try:
        with pytest.raises(smtplib.SMTPDataError), Sending(sender) as sending:
            for i in range(24):
                sending.check()  # raises k3's refusal once it is back: nothing more is handed over
                sending.submit(assigned_email(config, f"k{i}"), f"k{i}")
                handed_over.append(f"k{i}")
        received = {m["Message-ID"].strip("<>").split("@")[0] for m in inbox.messages}
        assert sending.sent == received and "k3" not in received, "sent: exactly those the server took"
        # (those handed over while k3's answer was on its way go out; then nothing more)
        assert len(handed_over) < 24, "the failure stopped the batch"
        count = len(inbox.messages)
        time.sleep(0.3)
        assert len(inbox.messages) == count, "nothing left on its way once the block is left"
    finally:
        sender.close()


@pytest.mark.pure
def test_an_email_is_handed_over_only_while_under_two_per_connection_are_out(config, holding_server) -> None:  # noqa: ANN001
    """A batch's time limit counts sends, not emails queued: an email is handed over only while
    fewer than two per connection are on their way, so with each held 0.05 s, the last two of six
    over two connections wait for the first two."""
    controller, inbox = holding_server
    sender = SmtpSender(f"smtp://127.0.0.1:{controller.port}", connections=2)
    try:
        started = time.monotonic()
        with Sending(sender) as sending:
            for i in range(6):
                sending.submit(assigned_email(config, f"k{i}"), f"k{i}")
            handed_over_in = time.monotonic() - started
        assert handed_over_in >= inbox.hold, "the last two waited for the first two"
        assert len(inbox.messages) == 6 and inbox.most_at_once == 2
    finally:
        sender.close()


def test_a_failed_retry_on_a_new_connection_leaves_no_connection_behind(config) -> None:  # noqa: ANN001
    class RefusesOnce(Inbox):
        refuse = False

        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
            if self.refuse:
                self.refuse, self.refused_on = False, session.peer
                return "554 refused"
            return await super().handle_DATA(server, session, envelope)

    inbox, port = RefusesOnce(), free_port()
    server = Controller(inbox, hostname="127.0.0.1", port=port)
    server.start()
    sender = SmtpSender(f"smtp://127.0.0.1:{port}")
    try:
        sender.send(assigned_email(config, "k0"), "k0")
        server.stop()  # the kept connection dies; the new server refuses the retry
        inbox.refuse = True
        server = Controller(inbox, hostname="127.0.0.1", port=port)
        server.start()
        with pytest.raises(smtplib.SMTPDataError):
            sender.send(assigned_email(config, "k1"), "k1")
        sender.send(assigned_email(config, "k2"), "k2")
        assert len(inbox.messages) == 2 and inbox.peers[-1] != inbox.refused_on, "the refused session was not reused"
    finally:
        sender.close()
        server.stop()


def notify_failures(sessions) -> list:  # noqa: ANN001
    with sessions() as session:
        return list(session.scalars(select(DeliveryFailure).where(DeliveryFailure.consumer == "notify")))


def test_the_pipeline_mails_through_smtp_and_survives_an_smtp_outage(client, people, submit, env, tmp_path, sessions):  # noqa: ANN001, E501
    port = free_port()
    running = Processes({**env, "WORKSTATION_SMTP_URL": f"smtp://127.0.0.1:{port}"}, tmp_path)
    running.start()
    running.start("scheduler")
    try:
        people.add("expert", "expert", language="en")
        reference = submit()["reference"]
        # Nothing listens on the SMTP port yet: the case is routed, the mail waits for a retry.
        wait_for(
            lambda: (
                client.get(f"/api/v1/cases/{reference}", headers=people.headers("enterprise")).get_json()["status"]
                == "assigned"
            )
        )
        # The outage is real: the notify worker tried, failed, and recorded why (for its back-off).
        failed = wait_for(lambda: notify_failures(sessions), timeout=20, message="a send failed during the outage")
        assert any("refused" in f.last_error.lower() or "connect" in f.last_error.lower() for f in failed), failed
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            wait_for(lambda: len(inbox.messages) >= 2, timeout=30, message="mail after the SMTP server is back")
            subjects = sorted(subject(m) for m in inbox.messages)
            assert subjects == sorted([f"New case {reference} assigned to you", f"您的案件 {reference} 已指派专家"])
            import time

            time.sleep(3)  # a later retry must not send again
            assert len(inbox.messages) == 2
        finally:
            controller.stop()
    finally:
        running.stop_all()


@pytest.mark.pure
def test_our_text_parts_and_smtp_envelope_are_those_of_the_email_package(config) -> None:  # noqa: ANN001
    from email.mime.text import MIMEText

    from workstation.services.mail import _send_on, _text_part

    for text in ("", "plain\n", "中文 " * 200 + "\n-- \nfooter\n", "<p>é</p>"):
        for subtype in ("plain", "html"):
            assert _text_part(text, subtype).as_bytes() == MIMEText(text, subtype, "utf-8").as_bytes()

    class Recorder(smtplib.SMTP):  # no connection: what would be given to the server
        def ehlo_or_helo_if_needed(self) -> None:
            pass

        def sendmail(self, *args, **_kwargs) -> None:  # noqa: ANN002, ANN003
            self.sent = args[:3]

    class Fast(Recorder):
        def send_message(self, *_args, **_kwargs) -> None:  # noqa: ANN002, ANN003
            raise AssertionError("our emails take the short way")

    message = assigned_email(config, "7:1:x")
    reference, ours = Recorder(), Fast()
    reference.send_message(message)
    _send_on(ours, message)
    assert ours.sent == reference.sent and ours.sent[1] == ["wang@example.cn"]
