"""End to end in a real browser (headless Debian chromium), with the workers running: a case from
the intake form to the enterprise's rating. Screenshots of each main page go to
``test-output/screenshots/``."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.conftest import wait_for
from tests.test_api import PDF
from tests.test_pipeline import mails_for

pytestmark = pytest.mark.slow


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
            "respondent_name": "某某机械有限公司", "known_on": "2026-09-15"})  # fmt: skip
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
    b.fill({"reason": "请提供被诉侵权产品的销售发票。"})
    b.click("button[value=request_info]")
    assert "您的请求已发送给企业" in b.text()

    # The enterprise answers on its status page.
    b.login(people.enterprise.email)
    b.open(f"/cases/{reference}")
    assert "请提供被诉侵权产品的销售发票。" in b.text()
    b.fill({"reason": "发票已上传。"})
    b.driver.find_element(By.ID, "answer-files").send_keys(str(evidence))
    b.screenshot("4-enterprise-answers")
    b.click("button[value=provide_info]")
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
