"""A saved view in a real browser (headless Debian chromium): a coordinator saves the desk's
search as a view, sees its tab with its count and opens it. No workers: cases come by the API."""

from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.conftest import People


def test_a_coordinator_saves_a_search_as_a_view_and_opens_its_tab(browser, people: People, submit) -> None:  # noqa: ANN001
    patent = submit(right_type="patent", title="发明专利被仿制")["reference"]
    trademark = submit()["reference"]
    browser.login(people.coordinator.email)
    browser.open("/coordinator/")
    browser.click("details.save-view summary", new_page=False)
    browser.fill({"name": "专利案件", "query": "type:patent"})
    browser.click("form[action='/views'] button[type=submit]")
    tab = browser.driver.find_element(By.CSS_SELECTOR, "li.view-tab a")
    assert tab.text.startswith("专利案件") and "(1)" in tab.text and tab.get_attribute("aria-current") == "page"
    browser.click("li.view-tab a")
    text = browser.text()
    assert patent in text and trademark not in text
    browser.screenshot("desk-saved-view")
    assert not browser.csp_violations()
