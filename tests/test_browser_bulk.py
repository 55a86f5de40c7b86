"""A bulk reassignment in a real browser (headless Debian chromium): a coordinator ticks two cases
on the desk, one of them withdrawn, picks an expert and reassigns; the result page says which case
was done and why the other was not. No workers: cases come by the API."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from sqlalchemy import select

from tests.conftest import People
from workstation.services.models import Case


def test_a_coordinator_reassigns_the_cases_ticked_and_sees_which_were_not_done(
    browser,
    people: People,
    submit,
    client,
    sessions,  # noqa: ANN001
) -> None:
    expert = people.add("wang", "expert", name="王律师")
    kept, withdrawn = submit(title="仿冒商标一")["reference"], submit(title="仿冒商标二")["reference"]
    answer = client.post(f"/api/v1/cases/{withdrawn}/transitions", json={"action": "withdraw"},
                         headers=people.headers("enterprise"))  # fmt: skip
    assert answer.status_code == 200
    browser.login(people.coordinator.email)
    browser.open("/coordinator/")
    for reference in (kept, withdrawn):
        browser.driver.find_element(By.CSS_SELECTOR, f"input[name=references][value='{reference}']").click()
    Select(browser.driver.find_element(By.ID, "bulk-expert")).select_by_value(str(expert.id))
    browser.fill({"reason": "统一由王律师处理"})
    browser.screenshot("desk-bulk-form")
    browser.click("#bulk-reassign")
    text = browser.text()
    assert "2 件案件中已完成 1 件，未完成 1 件。" in text
    rows = {row.find_element(By.CSS_SELECTOR, "td a").text: row.get_attribute("class")
            for row in browser.driver.find_elements(By.CSS_SELECTOR, "#bulk-results tbody tr")}  # fmt: skip
    assert rows == {kept: "done", withdrawn: "failed"}
    assert "案件当前为“已撤回”，无法执行此操作。" in text
    with sessions() as s:
        assert s.scalar(select(Case.assigned_expert_id).where(Case.reference == kept)) == expert.id
    browser.screenshot("desk-bulk-reassign")
    assert not browser.csp_violations()
