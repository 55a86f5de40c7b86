"""A trainee review in a real browser (headless Debian chromium): the trainee writes a draft opinion
on the case they shadow, the supervising expert reviews it with comments and a rating of each
competence, and the trainee reads the feedback on their record page. The enterprise's page shows
none of it. No workers: the case comes by the API and is assigned in the database."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.conftest import People
from tests.test_training import COMMENTS, DRAFT, RATINGS, shadowed_case


def as_user(browser, email: str) -> None:  # noqa: ANN001
    browser.driver.delete_all_cookies()
    browser.login(email)


def test_a_trainee_s_draft_is_reviewed_and_the_feedback_is_on_their_record(
    browser, app, people: People, sessions
) -> None:  # noqa: ANN001
    lead = people.add("lead", "expert", name="王律师")
    trainee = people.add("trainee", "expert", name="李见习", profile={"is_trainee": True, "supervisor_id": lead.id})
    reference = shadowed_case(app.test_client(), people, sessions, lead, trainee)

    as_user(browser, trainee.email)
    browser.open(f"/cases/{reference}")
    browser.driver.find_element(By.CSS_SELECTOR, "#draft-form input[value=opinion]").click()
    browser.fill({"body": DRAFT})
    browser.click("#draft-form button[type=submit]")
    assert "草稿已提交" in browser.text()

    as_user(browser, lead.email)
    browser.open(f"/cases/{reference}")
    assert DRAFT in browser.text() and "意见草稿" in browser.text()
    browser.fill({"comments": COMMENTS})
    for competence, rating in RATINGS.items():
        Select(browser.driver.find_element(By.NAME, f"rating_{competence}")).select_by_value(str(rating))
    browser.screenshot("trainee-draft-review")
    browser.click("form.review-form button[type=submit]")
    assert "点评已记录" in browser.text()

    as_user(browser, trainee.email)
    browser.click(f"header a[href='/trainees/{trainee.id}']")  # "My training", the header's link
    page = browser.text()
    assert reference in page and COMMENTS in page and "王律师 的点评" in page
    averages = {c: browser.driver.find_element(By.ID, f"average-{c}").text for c in RATINGS}
    assert averages == {c: f"{v:.1f}" for c, v in RATINGS.items()}
    browser.screenshot("trainee-record")

    as_user(browser, people.enterprise.email)
    browser.open(f"/cases/{reference}")
    assert DRAFT not in browser.text() and COMMENTS not in browser.text() and "见习" not in browser.text()
    assert not browser.csp_violations()
