"""``benchmarks/peers.py``'s SMTP server: the end-to-end rounds count a case done from what it says.

Each email must be credited to its case: ours by the thread root in ``References``, the helpdesk's
by the ``[ip-<id>]`` of its (RFC 2047 encoded) subject. An email credited to no case counts for none.
"""

from __future__ import annotations

import smtplib
import sys
from email.header import Header
from email.mime.text import MIMEText

import pytest

from tests.conftest import ROOT
from workstation.mailrules import thread_root

sys.path.insert(0, str(ROOT / "benchmarks"))
import peers  # noqa: E402

pytestmark = pytest.mark.pure  # a server of its own, whatever the pass's backend


def _mail(subject: str, references: str | None = None) -> MIMEText:
    message = MIMEText("正文", "plain", "utf-8")
    message["Subject"] = Header(subject, "utf-8")
    message["From"], message["To"] = "a@example.com", "b@example.com"
    if references:
        message["References"] = references
    return message


def test_the_smtp_server_credits_each_email_to_its_case_or_ticket(tmp_path) -> None:  # noqa: ANN001
    sink = peers.SmtpSink(tmp_path)
    try:
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as client:
            for _ in range(2):
                client.send_message(_mail("案件已分配", thread_root("RPA-2026-000007")))
            client.send_message(_mail("[ip-12] 网店销售仿冒“星河”商标的蓝牙耳机 (Opened)"))
            client.send_message(_mail("no case named"))
        sink.update()
    finally:
        peers.stop(sink.proc)
    assert sink.count == {"RPA-2026-000007": 2, "ip-12": 1, "-": 1}
    assert sink.last["RPA-2026-000007"] <= sink.last["ip-12"]
