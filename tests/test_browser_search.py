"""The search box and an export in a real browser (headless Debian chromium): a coordinator's
and an expert's search find what each may open and nothing else; the desk's export link saves a
file holding the view's cases. No workers: cases come by the API."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import load_workbook
from selenium.webdriver.common.by import By

from tests.conftest import Browser, People, wait_for


def _reassign(client, people: People, reference: str, expert: str) -> None:  # noqa: ANN001
    moved = client.post(f"/api/v1/cases/{reference}/transitions", headers=people.headers("coordinator"),
                        json={"action": "reassign", "expert_id": people.users[expert].id})  # fmt: skip
    assert moved.status_code == 200, moved.get_json()


def _search(browser: Browser, page: str, words: str) -> str:
    """``words`` typed in ``page``'s search box and sent: the text of the table of results."""
    browser.open(page)
    browser.fill({"q": words})
    browser.click("form.filters:has(#q) button[type=submit]")
    assert browser.driver.find_element(By.NAME, "q").get_attribute("value") == words
    return browser.driver.find_element(By.CSS_SELECTOR, "table tbody").text


def test_a_search_finds_the_cases_the_searcher_may_open_and_no_other(browser, client, people, submit) -> None:  # noqa: ANN001
    people.add("expert", "expert", name="王专家")
    people.add("other_expert", "expert", name="李专家")
    mine = submit(title="鼎盛商标被仿冒")["reference"]
    theirs = submit("other_enterprise", title="鼎盛标识在网店出现")["reference"]
    unrelated = submit(right_type="patent", title="发明专利被仿制")["reference"]
    _reassign(client, people, mine, "expert")
    _reassign(client, people, theirs, "other_expert")

    browser.login(people.coordinator.email)
    found = _search(browser, "/coordinator/", "鼎盛")
    assert mine in found and theirs in found and unrelated not in found
    assert browser.driver.find_element(By.CSS_SELECTOR, "#q-help").is_displayed()
    found = _search(browser, "/coordinator/", "鼎盛 expert:李专家")
    assert theirs in found and mine not in found
    browser.screenshot("desk-search")

    browser.login(people.expert.email)
    found = _search(browser, "/queue", "鼎盛")
    assert mine in found and theirs not in found, "another expert's case is not the expert's to open"
    assert not browser.csp_violations()


def _downloaded(browser: Browser, suffix: str) -> Path:
    """The file the browser has saved (once whole: chromium writes ``.crdownload`` until then)."""
    return wait_for(lambda: next(iter(browser.downloads.glob(f"*{suffix}")), None), message=f"a {suffix} download")


def test_the_desks_export_link_downloads_the_views_cases(browser, people, submit) -> None:  # noqa: ANN001
    patents = [submit(right_type="patent", title=f"发明专利被仿制{i}")["reference"] for i in range(3)]
    trademark = submit()["reference"]
    browser.login(people.coordinator.email)
    _search(browser, "/coordinator/", "type:patent")

    browser.click("a[href*='format=csv']", new_page=False)
    saved = _downloaded(browser, ".csv")
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["案件编号", "标题", "状态"], "the page's language"
    assert [r[0] for r in rows[1:]] == patents[::-1] and trademark not in saved.read_text(encoding="utf-8-sig")

    browser.click("a[href*='format=xlsx']", new_page=False)
    sheet = load_workbook(_downloaded(browser, ".xlsx"), read_only=True).active
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == patents[::-1]
