"""End to end in a real browser (headless Debian chromium), with the workers running: a case from
the intake form to the enterprise's rating. Screenshots of each main page go to
``test-output/screenshots/``."""

from __future__ import annotations

import os
import time
from email.header import Header
from email.mime.text import MIMEText
from email.utils import make_msgid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from tests.conftest import CASE, Processes, wait_for
from tests.test_api import PDF
from tests.test_messages import subject_of, text_of
from tests.test_pipeline import mails_for
from workstation.config import Config
from workstation.services.models import Case

pytestmark = pytest.mark.slow

#: The case page's button that sends what is written in the thread's form.
SEND = "form[action$='/messages'] button.primary"


def test_a_case_from_the_intake_form_to_the_rating(browser, people, pipeline, tmp_path, sessions) -> None:  # noqa: ANN001
    people.add("expert", "expert", name="李明", right_types=["patent"], organisation="西北大学",
               profile={"competence": {"legal": 3, "commercialization": 2}})  # fmt: skip
    evidence = tmp_path / "侵权产品照片.pdf"
    evidence.write_bytes(PDF)
    b = browser

    # The enterprise submits a case with an evidence file.
    b.login(people.enterprise.email)
    b.open("/cases/new")
    Select(b.driver.find_element(By.NAME, "right_type")).select_by_value("patent")
    Select(b.driver.find_element(By.NAME, "service")).select_by_value("compensation_estimate")
    b.fill({"title": "发明专利被仿制", "description": "竞争对手的设备落入我司专利权利要求1的保护范围。",
            "party_name_0": "某某机械有限公司", "known_on": "2026-09-15"})  # fmt: skip
    b.driver.find_element(By.NAME, "evidence").send_keys(str(evidence))
    b.screenshot("1-enterprise-intake-form")
    b.click("button.primary")
    assert "已提交" in b.text()
    reference = b.driver.find_element(By.TAG_NAME, "h1").text.split(" ")[0]
    assert reference.startswith("RPA-")

    # The routing worker assigns it; the expert finds it in the queue.
    b.login(people.expert.email)
    b.open("/queue")
    wait_for(lambda: b.open("/queue") or reference in b.text(), message="case in the queue")
    assert "1 件案件待您处理" in b.text()
    b.screenshot("2-expert-queue")
    b.click(f"a[href='/cases/{reference}']")
    b.screenshot("3-expert-case-page")
    b.click("button[value=accept]")
    assert "您已接受该案件" in b.text()
    b.click("button[value=start]")
    # The request for information is a message of the thread that asks.
    b.fill({"body": "请提供被诉侵权产品的销售发票。"})
    b.driver.find_element(By.CSS_SELECTOR, "input[name=request_info]").click()
    b.click(SEND)
    assert "您的请求已发送给企业" in b.text()

    # The enterprise answers on its status page: its next message is the answer.
    b.login(people.enterprise.email)
    b.open(f"/cases/{reference}")
    assert "请提供被诉侵权产品的销售发票。" in b.text() and "您的留言即为答复" in b.text()
    b.fill({"body": "发票已上传。"})
    b.driver.find_element(By.ID, "message-files").send_keys(str(evidence))
    b.screenshot("4-enterprise-answers")
    b.click(SEND)
    assert "您的答复已发送给专家" in b.text()

    # The expert issues a compensation estimate.
    b.login(people.expert.email)
    b.open(f"/cases/{reference}")
    b.click("a.button")
    opinion = {"summary": "被诉产品落入专利权保护范围，建议按法定赔偿主张。", "statutory_amount": "200000",
               "reasonable_expenses": "15000", "infringement_start": "2022-01-01",
               "infringement_end": "2022-12-31"}  # fmt: skip
    b.fill(opinion)
    b.driver.find_element(By.CSS_SELECTOR, "input[name=method][value=statutory]").click()
    b.screenshot("5-expert-opinion-form")
    b.click("form button.primary")
    assert "意见已出具" in b.text(), b.text()[:500]
    b.screenshot("6-opinion-printable")

    for template in ("expert_case_assigned", "enterprise_info_requested", "expert_info_provided",
                     "enterprise_opinion_issued"):  # fmt: skip
        wait_for(lambda t=template: mails_for(sessions, t), message=f"{template} mailed")

    # The enterprise reads it, closes the case and rates the service.
    b.login(people.enterprise.email)
    b.open(f"/cases/{reference}/opinion")
    assert "第七十一条" in b.text() and "200,000.00" in b.text()
    assert b.driver.find_element(By.ID, "print-opinion").is_displayed()  # its script ran under the CSP
    b.open(f"/cases/{reference}")
    b.click("button[value=close]")
    b.driver.find_element(By.CSS_SELECTOR, "input[name=score][value='5']").click()
    b.fill({"comment": "专家答复及时、专业。"})
    b.click("form[action$=rating] button")
    assert "感谢您的评价" in b.text() and "★★★★★" in b.text()
    b.screenshot("7-enterprise-case-closed-and-rated")
    b.screenshot("7-enterprise-case-on-a-phone", width=390)
    assert b.driver.execute_script("return document.documentElement.scrollWidth") <= 400, "no sideways scrolling"

    b.login(people.coordinator.email)
    b.open("/coordinator/")
    assert reference in b.text() and "满意度评价" in b.text()
    bars = b.driver.find_elements(By.CSS_SELECTOR, "table.chart .bar-stack")
    assert max(bar.size["width"] for bar in bars) > 10, "the chart's bars get their lengths under the CSP"
    b.screenshot("8-coordinator-desk")
    assert b.csp_violations() == []
    header = b.driver.find_element(By.TAG_NAME, "header")
    assert header.value_of_css_property("background-color") == "rgba(29, 53, 87, 1)"  # the page's style applies


def test_early_warning_from_a_watched_mark_to_a_risk_warning_case(browser, people, pipeline, client) -> None:  # noqa: ANN001
    b = browser
    # The enterprise watches its mark on /marks.
    b.login(people.enterprise.email)
    b.open("/marks")
    b.fill({"text": "星河 XINGHE", "classes": "9, 42"})
    b.click("main button.primary")
    assert "已开始监测" in b.text() and "星河 XINGHE" in b.text()
    b.screenshot("9-enterprise-watched-marks")

    # Another enterprise's case names a look-alike: the watch worker notices it.
    response = client.post(
        "/api/v1/cases",
        json={"right_type": "trademark", "service": "consultation", "title": "Brand check",
              "description": "Is our mark free to use?", "rights": [{"kind": "trademark", "mark_text": "兴和"}]},
        headers=people.headers("other_enterprise"),
    )  # fmt: skip
    assert response.status_code == 201

    def noticed() -> bool:
        b.open("/notices")
        return "兴和" in b.text()

    wait_for(noticed, message="the look-alike notice on the page")
    assert "读音相同" in b.text() and "Brand check" not in b.text()  # the other case stays private
    b.screenshot("10-enterprise-notices")

    # A coordinator opens a risk-warning case for the enterprise in one click.
    b.login(people.coordinator.email)
    b.open("/coordinator/lookalikes")
    b.screenshot("11-coordinator-lookalikes")
    b.click("#lookalikes button")
    assert "风险预警" in b.text() and "兴和" in b.text()
    b.open("/coordinator/digest/preview")
    b.screenshot("12-coordinator-digest-preview")
    assert b.csp_violations() == []


@pytest.fixture
def mailing_pipeline(env, smtp_server, tmp_path):  # noqa: ANN001, ANN201
    """The workers and the scheduler, mailing through a real SMTP server on loopback (aiosmtpd):
    its inbox."""
    controller, inbox = smtp_server
    running = Processes({**env, "WORKSTATION_SMTP_URL": f"smtp://127.0.0.1:{controller.port}"}, tmp_path)
    running.start()
    running.start("scheduler")
    yield inbox
    running.stop_all()
    print(running.logs())  # captured: shown only when the test failed


def mail_to(inbox, email: str, text: str):  # noqa: ANN001, ANN201
    """The mail to ``email`` whose text holds ``text`` (None: not arrived yet)."""
    with inbox.lock:
        arrived = list(inbox.messages)
    return next((m for m in arrived if email in m["To"] and text in text_of(m)), None)


def reply_with_outlook_quote(received, sender: str, answer: str) -> bytes:  # noqa: ANN001
    """What the enterprise's Chinese Outlook sends when it answers ``received``: to its Reply-To,
    in its thread, the answer above "-----原始邮件-----" and the quoted mail."""
    quoted = text_of(received)
    body = (f"{answer}\n\n-----原始邮件-----\n发件人: {received['From']}\n发送时间: 2026年12月7日 10:00\n"
            f"收件人: {sender}\n主题: {subject_of(received)}\n\n{quoted}\n")  # fmt: skip
    reply = MIMEText(body, "plain", "utf-8")
    reply["From"], reply["To"] = sender, received["Reply-To"]
    reply["Subject"] = Header(f"回复: {subject_of(received)}", "utf-8")
    reply["Message-ID"] = make_msgid(domain="example.cn")
    reply["In-Reply-To"] = received["Message-ID"]
    reply["References"] = f"{received.get('References', '')} {received['Message-ID']}".strip()
    reply["X-Mailer"] = "Microsoft Outlook 16.0"
    return reply.as_bytes()


def test_a_conversation_on_the_web_and_by_mail(browser, people, mailing_pipeline, client, env, tmp_path) -> None:  # noqa: ANN001
    """Issue 18's "done means": a message with a PDF, new activity in the queue, an internal note
    nobody outside sees, a public reply mailed through SMTP, and the reply to that mail, dropped in
    the Maildir, in the thread without its quote within seconds, mailed to the expert."""
    inbox, b = mailing_pipeline, browser
    expert = people.add("expert", "expert", name="王律师", right_types=["trademark"])
    reference = client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise")).get_json()["reference"]
    case_url = f"/api/v1/cases/{reference}"
    wait_for(lambda: client.get(case_url, headers=people.headers("expert")).status_code == 200, message="routed")
    for action in ("accept", "start"):
        moved = client.post(f"{case_url}/transitions", json={"action": action}, headers=people.headers("expert"))
        assert moved.status_code == 200, moved.get_json()
    b.login(expert.email)
    b.open(f"/cases/{reference}")  # seen: nothing new for the expert now
    b.open("/queue")
    assert reference in b.text() and "有新动态" not in b.text()

    # The enterprise writes on its case, with a PDF.
    evidence = tmp_path / "购买凭证.pdf"
    evidence.write_bytes(PDF)
    b.login(people.enterprise.email)
    b.open(f"/cases/{reference}")
    b.fill({"body": "补充证据：网店购买凭证见附件。"})
    b.driver.find_element(By.ID, "message-files").send_keys(str(evidence))
    b.click(SEND)
    assert "补充证据：网店购买凭证见附件。" in b.text() and "购买凭证.pdf" in b.text()

    # The expert sees new activity, adds an internal note and answers in public.
    b.login(expert.email)
    b.open("/queue")
    row = b.driver.find_element(By.XPATH, f"//tr[.//a[@href='/cases/{reference}']]")
    assert "有新动态" in row.text
    b.screenshot("13-expert-queue-new-activity")
    b.click(f"a[href='/cases/{reference}']")
    assert "购买凭证.pdf" in b.text()
    note, answer = "内部备注：凭证日期早于商标注册日，需核实。", "已收到凭证，请问贵司是否保留了网店页面的公证？"
    b.fill({"body": note})
    b.driver.find_element(By.CSS_SELECTOR, "input[name=internal]").click()
    b.click(SEND)
    b.fill({"body": answer})
    b.click(SEND)
    assert note in b.text() and answer in b.text()
    b.screenshot("14-expert-thread-with-note")

    # The enterprise sees the answer, never the note: on its page, in the API, in its mail.
    b.login(people.enterprise.email)
    b.open(f"/cases/{reference}")
    assert answer in b.text() and note not in b.text()
    said = client.get(f"{case_url}/messages", headers=people.headers("enterprise")).get_json()["messages"]
    assert [m["body"] for m in said] == ["补充证据：网店购买凭证见附件。", answer]
    assert note not in client.get(case_url, headers=people.headers("enterprise")).get_data(as_text=True)
    mail = wait_for(lambda: mail_to(inbox, people.enterprise.email, answer), message="the answer mailed over SMTP")
    assert not any(note in text_of(m) for m in inbox.messages if people.enterprise.email in m["To"])

    # The enterprise answers that mail from Outlook; the reply lands in the Maildir.
    config = Config.from_env(env)
    for folder in ("tmp", "new"):
        (config.mail_in_dir / folder).mkdir(parents=True, exist_ok=True)
    reply = "已公证，公证书稍后补交。"
    (config.mail_in_dir / "tmp" / "reply.eml").write_bytes(reply_with_outlook_quote(mail, people.enterprise.email,
                                                                                   reply))  # fmt: skip
    dropped = time.monotonic()
    os.replace(config.mail_in_dir / "tmp" / "reply.eml", config.mail_in_dir / "new" / "reply.eml")

    def arrived() -> dict | None:
        said = client.get(f"{case_url}/messages", headers=people.headers("expert")).get_json()["messages"]
        return next((m for m in said if m["source"] == "mail"), None)

    message = wait_for(arrived, timeout=15, message="the mailed reply in the thread")
    assert time.monotonic() - dropped < 10, "within seconds"
    assert message["body"] == reply and message["author"]["id"] == people.enterprise.id, "without the quote"
    wait_for(lambda: mail_to(inbox, expert.email, reply), message="the reply mailed to the expert")
    b.login(expert.email)
    b.open(f"/cases/{reference}")
    assert reply in b.text() and "原始邮件" not in b.text()
    b.screenshot("15-expert-thread-with-mailed-reply")
    assert b.csp_violations() == []


def test_the_intake_form_takes_several_parties_and_rights_in_rows_added_and_removed(browser, people, sessions) -> None:  # noqa: ANN001, E501
    b = browser
    b.login(people.enterprise.email)
    b.open("/cases/new")
    Select(b.driver.find_element(By.NAME, "right_type")).select_by_value("trademark")
    Select(b.driver.find_element(By.NAME, "service")).select_by_value("litigation_advice")
    b.fill({"title": "商标被仿冒", "description": "两家公司在电商平台销售仿冒我司注册商标的商品。",
            "party_name_0": "某某贸易有限公司", "party_credit_code_0": "91610131ma6txxxx15"})  # fmt: skip
    # Of the three rows shown, two are removed; "add" then makes row 1 (the rows are renumbered).
    parties = b.driver.find_element(By.ID, "parties")
    for _ in range(2):
        parties.find_elements(By.CSS_SELECTOR, "[data-remove]")[1].click()
    assert len(parties.find_elements(By.CSS_SELECTOR, "[data-row]")) == 1
    b.click("#parties [data-add]", new_page=False)
    Select(b.driver.find_element(By.NAME, "party_role_1")).select_by_value("third_party")
    b.fill({"party_name_1": "某某电商平台有限公司"})
    # Rights: the first row, and one added after the two rows left blank.
    Select(b.driver.find_element(By.NAME, "right_kind_0")).select_by_value("trademark")
    b.fill({"right_number_0": "12345678", "right_mark_text_0": "鼎盛"})
    b.click("#rights [data-add]", new_page=False)
    Select(b.driver.find_element(By.NAME, "right_kind_3")).select_by_value("copyright")
    b.fill({"right_number_3": "国作登字-2025-F-00001234"})
    b.screenshot("16-enterprise-intake-several-parties-and-rights")
    b.click("button.primary[type=submit]")
    assert "已提交" in b.text(), b.text()
    page = b.text()
    assert "被申请人: 某某贸易有限公司 (91610131MA6TXXXX15)" in page and "第三方: 某某电商平台有限公司" in page
    assert "商标: 12345678 — 鼎盛" in page and "著作权: 国作登字-2025-F-00001234" in page
    assert b.csp_violations() == []
    with sessions() as s:
        case = s.scalars(select(Case)).one()
        assert [(p["role"], p["name"]) for p in case.parties] == [
            ("respondent", "某某贸易有限公司"), ("third_party", "某某电商平台有限公司")]  # fmt: skip
        assert [(r["kind"], r["number"]) for r in case.rights] == [
            ("trademark", "12345678"), ("copyright", "国作登字-2025-F-00001234")]  # fmt: skip


def test_the_intake_form_adds_and_removes_activity_counterparties_beyond_three(browser, people, sessions) -> None:  # noqa: ANN001, E501
    b = browser
    b.login(people.enterprise.email)
    b.open("/cases/new")
    Select(b.driver.find_element(By.NAME, "service")).select_by_value("risk_warning")
    Select(b.driver.find_element(By.NAME, "activity_kind")).select_by_value("trade")
    b.fill({"title": "出口预警", "description": "拟向欧洲出口。", "activity_date": "2027-03-01",
            "target_markets": "DE"})  # fmt: skip
    # 3 rows shown; 3 more added (6), the second removed (5 left, renumbered 0-4).
    counterparties = b.driver.find_element(By.ID, "activity-counterparties")
    for _ in range(3):
        b.click("#activity-counterparties [data-add]", new_page=False)
    counterparties.find_elements(By.CSS_SELECTOR, "[data-remove]")[1].click()
    assert len(counterparties.find_elements(By.CSS_SELECTOR, "[data-row]")) == 5
    b.fill({f"counterparty_name_{i}": f"某某{i}进出口有限公司" for i in range(5)})
    b.fill({"counterparty_credit_code_4": "91610131ma6txxxx15"})
    b.click("button.primary[type=submit]")
    assert "已提交" in b.text(), b.text()
    assert b.csp_violations() == []
    with sessions() as s:
        case = s.scalars(select(Case)).one()
        assert [c["name"] for c in case.activity["counterparties"]] == [f"某某{i}进出口有限公司" for i in range(5)]
        assert case.activity["counterparties"][4]["credit_code"] == "91610131MA6TXXXX15"


def test_the_form_takes_every_key_date_and_the_kind_of_notice(browser, people, sessions) -> None:  # noqa: ANN001
    b = browser
    b.login(people.enterprise.email)
    b.open("/cases/new")
    Select(b.driver.find_element(By.NAME, "right_type")).select_by_value("trademark")
    Select(b.driver.find_element(By.NAME, "notice_kind")).select_by_value("trademark_refusal")
    dates = {"known_on": "2026-09-15", "infringement_started_on": "2026-08-01", "published_on": "2026-06-02",
             "registered_on": "2016-03-07", "filed_on": "2015-01-05", "notice_received_on": "2026-09-21"}  # fmt: skip
    Select(b.driver.find_element(By.NAME, "right_kind_0")).select_by_value("trademark")
    b.fill({"title": "商标驳回复审", "description": "收到商标驳回通知书。", **dates,
            "right_number_0": "12345678", "right_registered_on_0": "2017-05-14"})  # fmt: skip
    b.click("button.primary[type=submit]")
    assert "已提交" in b.text(), b.text()
    assert b.csp_violations() == []
    page = b.text()
    # 15 days from 2026-09-21 end in the National Day week: 2026-10-08 (Trademark Law art. 34)
    assert "商标驳回复审申请期限届满" in page and "2026-10-08" in page
    # the renewal from the right's own registration (2017-05-14: its term ends 2027-05-13), not
    # from the case-level registered_on (the contested mark's, 2016-03-07)
    assert "商标注册有效期届满" in page and "2027-05-13" in page and "2026-03-06" not in page
    with sessions() as s:
        case = s.scalars(select(Case)).one()
        assert (case.notice_kind, case.key_dates) == ("trademark_refusal", dates)
        assert case.rights[0]["registered_on"] == "2017-05-14"
