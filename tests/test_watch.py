"""Early warning beyond deadlines: watched marks and look-alike notices, the publication feed,
repeat respondents (and what the other enterprises must not learn), notices on the pages."""

from __future__ import annotations

import email
import json
import re
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from tests.conftest import wait_for
from tests.helpers import statements_run
from workers import watch
from workers.delivery import Context
from workers.notify import notice_emails
from workstation.services import marks
from workstation.services.mail import render_email
from workstation.services.models import Case, CaseParty, LookalikeMatch, Notice, OutboxMessage, PublishedMark


def watch_via_api(client, people, who: str, text: str, classes="") -> dict:  # noqa: ANN001
    response = client.post("/api/v1/marks", json={"text": text, "classes": classes}, headers=people.headers(who))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def handle_submitted(sessions, config, case_id: int, message_id: int) -> None:  # noqa: ANN001
    ctx = Context(config=config, sessions=sessions, publisher=None, sender=None)  # the handler uses neither
    watch.handle(ctx, message_id, "case.submitted", {"case_id": case_id})


def notices_of(sessions, user_id: int, kind: str | None = None) -> list[Notice]:  # noqa: ANN001
    with sessions() as s:
        query = select(Notice).where(Notice.recipient_id == user_id).order_by(Notice.id)
        if kind:
            query = query.where(Notice.kind == kind)
        return list(s.scalars(query))


def case_id_of(sessions, reference: str) -> int:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(Case.id).where(Case.reference == reference))


# --- watched marks through the API ------------------------------------------------------------


def test_an_enterprise_watches_its_marks_and_only_it_sees_them(client, people) -> None:  # noqa: ANN001
    mark = watch_via_api(client, people, "enterprise", " 星河 XINGHE ", "9, 42")
    assert mark["text"] == "星河 XINGHE" and mark["classes"] == [9, 42]
    mine = client.get("/api/v1/marks", headers=people.headers("enterprise")).get_json()["marks"]
    assert [m["id"] for m in mine] == [mark["id"]]
    assert client.get("/api/v1/marks", headers=people.headers("other_enterprise")).get_json()["marks"] == []
    # another enterprise cannot remove it; a coordinator does not manage an enterprise's marks
    assert client.delete(f"/api/v1/marks/{mark['id']}", headers=people.headers("other_enterprise")).status_code == 404
    assert client.get("/api/v1/marks", headers=people.headers("coordinator")).status_code == 403
    assert client.delete(f"/api/v1/marks/{mark['id']}", headers=people.headers("enterprise")).status_code == 204
    assert client.get("/api/v1/marks", headers=people.headers("enterprise")).get_json()["marks"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [({"text": "  "}, "text"), ({"text": "星河", "classes": "9, 46"}, "classes"), ({"text": "x", "owner": 1}, "owner"),
     ({"classes": [9]}, "text"), ({"text": "星河", "classes": ["nine"]}, "classes")],
)  # fmt: skip
def test_a_bad_watched_mark_is_refused_with_the_field(client, people, body, field, sessions) -> None:  # noqa: ANN001
    response = client.post("/api/v1/marks", json=body, headers=people.headers("enterprise"))
    assert response.status_code == 400 and field in response.get_json()["errors"]
    assert client.get("/api/v1/marks", headers=people.headers("enterprise")).get_json()["marks"] == []


# --- a case naming a look-alike mark ------------------------------------------------------------


def test_a_case_naming_a_look_alike_warns_the_watcher_once_and_not_its_own_enterprise(
    client, people, submit, sessions, config
) -> None:  # noqa: ANN001
    watch_via_api(client, people, "other_enterprise", "星河", "9")
    watch_via_api(client, people, "enterprise", "星河")  # the submitter's own mark: it knows its own case
    reference = submit(rights=[{"kind": "trademark", "mark_text": "兴和牌"}])["reference"]
    case_id = case_id_of(sessions, reference)
    handle_submitted(sessions, config, case_id, 9001)
    handle_submitted(sessions, config, case_id, 9001)  # redelivered: handled already
    with sessions() as s:
        (match,) = s.scalars(select(LookalikeMatch)).all()
        assert match.enterprise_id == people.other_enterprise.id and match.source == "case"
        assert {r["code"] for r in match.reasons} >= {"phonetic"} and match.score >= 0.9
    (notice,) = notices_of(sessions, people.other_enterprise.id, "lookalike")
    assert notice.body["candidate"] == "兴和牌" and notice.body["watched"] == "星河"
    assert notices_of(sessions, people.enterprise.id, "lookalike") == []
    # the watcher is not told whose case it was
    with sessions() as s:
        (_, template, extra), *_ = notice_emails(s, {"notice_ids": [notice.id]})
        message = render_email(template, "en", "o@example.cn", config, "k", recipient=people.other_enterprise, **extra)
    text = message.get_payload()[0].get_payload(decode=True).decode()
    assert "兴和牌" in text and "same pronunciation" in text
    assert reference not in text and "陕西星河科技" not in text and people.enterprise.email not in text


# --- the publication feed -----------------------------------------------------------------------


FEED = """number,text,classes,published_on,applicant
TM-1001,兴和,9;35,2026-12-13,某某贸易有限公司
TM-1002,完全不同,9,2026-12-13,乙公司
TM-1003,,9,2026-12-13,丙公司
TM-1004,XINGHE PHONE,42,not a date,丁公司
TM-1005,光明,46,2026-12-13,戊公司
"""


def test_the_feed_import_notices_look_alikes_with_the_opposition_deadline_and_reports_bad_rows(
    client, people, sessions, cli_run, tmp_path: Path
) -> None:  # noqa: ANN001
    watch_via_api(client, people, "enterprise", "星河", "9")
    feed = tmp_path / "feed.csv"
    feed.write_text(FEED, encoding="utf-8")
    result = cli_run("import-marks", str(feed))
    assert result.exit_code == 1, result.output  # bad rows make the exit status say so
    assert "imported 2 new marks" in result.output and "3 bad rows" in result.output
    assert (
        "row 4: text" in result.output and "row 5: published_on" in result.output and "row 6: classes" in result.output
    )
    (notice,) = notices_of(sessions, people.enterprise.id, "lookalike")
    # published 2026-12-13: three months end 2027-03-13, a Saturday: moved to Monday 2027-03-15
    assert notice.body["number"] == "TM-1001" and notice.body["opposition_last_day"] == "2027-03-15"
    assert notice.body["source"] == "feed"
    # importing the same feed again adds and notices nothing
    again = cli_run("import-marks", str(feed))
    assert "imported 0 new marks (2 already known" in again.output
    assert len(notices_of(sessions, people.enterprise.id, "lookalike")) == 1
    with sessions() as s:
        assert s.scalar(select(func.count(PublishedMark.id))) == 2


def test_a_json_feed_is_read_too_and_an_unreadable_file_is_a_clear_error(cli_run, tmp_path: Path) -> None:
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps([{"number": "A1", "text": "星河", "classes": [9]}, "junk"]), encoding="utf-8")
    result = cli_run("import-marks", str(feed))
    assert "imported 1 new marks" in result.output and "row 2: _row: not an object" in result.output
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    result = cli_run("import-marks", str(broken))
    assert result.exit_code == 1 and "cannot read" in result.output and "Traceback" not in result.output


def test_a_coordinator_opens_a_risk_warning_case_from_a_match_in_one_action(
    client, people, sessions, cli_run, tmp_path: Path
) -> None:  # noqa: ANN001
    watch_via_api(client, people, "enterprise", "星河", "9")
    feed = tmp_path / "feed.csv"
    feed.write_text(FEED.splitlines()[0] + "\n" + FEED.splitlines()[1] + "\n", encoding="utf-8")
    assert cli_run("import-marks", str(feed)).exit_code == 0
    with sessions() as s:
        match_id = s.scalar(select(LookalikeMatch.id))
    login(client, "coordinator")
    page = client.get("/coordinator/lookalikes")
    assert page.status_code == 200 and "兴和" in page.text and "星河" in page.text
    token = csrf(page.text)
    response = client.post(f"/coordinator/lookalikes/{match_id}/case", data={"csrf_token": token})
    assert response.status_code == 303
    again = client.post(f"/coordinator/lookalikes/{match_id}/case", data={"csrf_token": token})
    assert again.headers["Location"] == response.headers["Location"]  # the same case, not a second one
    with sessions() as s:
        (case,) = s.scalars(select(Case)).all()
        assert case.enterprise_id == people.enterprise.id and case.service == "risk_warning"
        assert case.key_dates == {"published_on": "2026-12-13"} and "兴和" in case.title
        assert case.events[0].actor_id == people.coordinator.id
        assert s.get(LookalikeMatch, match_id).risk_case_id == case.id
        assert s.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.routing_key == "case.submitted")) == 1


# --- repeat respondents ------------------------------------------------------------------------


def test_a_repeat_respondent_warns_coordinators_and_tells_each_enterprise_nothing_of_the_others(
    client, people, submit, sessions, config
) -> None:  # noqa: ANN001
    third = people.add("third", "enterprise", organisation="第三方公司")
    charger_maker = {"role": "respondent", "name": "深圳仿冒电子有限公司", "credit_code": "91440300MA5ABCDE1H"}
    first = submit("other_enterprise", title="Counterfeit chargers", parties=[charger_maker])["reference"]
    unrelated = submit("third", title="无关", parties=[{"role": "respondent", "name": "别的公司"}])["reference"]
    second = submit(parties=[{"role": "respondent", "name": "深圳仿冒电子"}])["reference"]  # same name, no suffix
    for message_id, reference in enumerate((first, unrelated, second), start=1):
        handle_submitted(sessions, config, case_id_of(sessions, reference), message_id)
    with sessions() as s:
        assert s.scalar(select(func.count(CaseParty.id))) == 3

    (to_coordinator,) = notices_of(sessions, people.coordinator.id, "repeat_respondent")
    assert to_coordinator.body["reference"] == second
    assert [o["reference"] for o in to_coordinator.body["others"]] == [first]
    (to_second,) = notices_of(sessions, people.enterprise.id, "repeat_respondent")
    (to_first,) = notices_of(sessions, people.other_enterprise.id, "repeat_respondent")
    assert to_second.body == {"audience": "enterprise", "respondent": "深圳仿冒电子", "reference": second}
    assert to_first.body["reference"] == first and notices_of(sessions, third.id) == []

    with sessions() as s:
        emails = notice_emails(s, {"notice_ids": [to_second.id, to_first.id]})
        for user, template, extra in emails:
            message = render_email(template, user.language, user.email, config, "k", recipient=user, **extra)
            everything = message.as_string() + "".join(
                p.get_payload(decode=True).decode() for p in message.walk() if not p.is_multipart()
            )
            own, other = (second, first) if user.id == people.enterprise.id else (first, second)
            assert own in everything and other not in everything
            others = people.other_enterprise if user.id == people.enterprise.id else people.enterprise
            for secret in ("Counterfeit chargers", "陕西星河科技", others.email):
                assert secret not in everything.replace(user.email, "")
    # the API lists only one's own notices
    listed = client.get("/api/v1/notices", headers=people.headers("other_enterprise")).get_json()
    assert [n["case"] for n in listed["notices"]] == [first]


def test_a_respondent_named_differently_but_with_the_same_credit_code_is_a_repeat(
    people, submit, sessions, config
) -> None:  # noqa: ANN001, E501
    first = submit(
        "other_enterprise", parties=[{"role": "respondent", "name": "甲公司", "credit_code": "91440300MA5ABCDE1H"}]
    )
    second = submit(parties=[{"role": "respondent", "name": "完全不同的名字", "credit_code": "91440300MA5ABCDE1H"}])
    for message_id, reply in enumerate((first, second), start=1):
        handle_submitted(sessions, config, case_id_of(sessions, reply["reference"]), message_id)
    (to_coordinator,) = notices_of(sessions, people.coordinator.id, "repeat_respondent")
    assert to_coordinator.body["reference"] == second["reference"]
    assert [o["reference"] for o in to_coordinator.body["others"]] == [first["reference"]]


# --- pages --------------------------------------------------------------------------------------


def login(client, who: str) -> None:  # noqa: ANN001
    page = client.get("/login")
    response = client.post(
        "/login", data={"email": f"{who}@example.cn", "password": "password123", "csrf_token": csrf(page.text)}
    )
    assert response.status_code in (302, 303), response.text


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_the_marks_page_adds_lists_and_refuses_bad_input(client, people) -> None:  # noqa: ANN001
    login(client, "enterprise")
    page = client.get("/marks")
    assert page.status_code == 200
    bad = client.post("/marks", data={"text": "星河", "classes": "99", "csrf_token": csrf(page.text)})
    assert bad.status_code == 400 and "1 到 45" in bad.text
    good = client.post("/marks", data={"text": "星河", "classes": "9", "csrf_token": csrf(page.text)})
    assert good.status_code == 303
    assert "星河" in client.get("/marks").text
    assert client.post("/marks", data={"text": "x"}).status_code == 400  # no CSRF token
    login(client, "coordinator")
    assert client.get("/marks").status_code == 403


def test_notices_are_listed_on_the_recipients_page_only(client, people, sessions, cli_run, tmp_path: Path) -> None:  # noqa: ANN001
    watch_via_api(client, people, "enterprise", "星河", "9")
    feed = tmp_path / "feed.csv"
    feed.write_text(FEED.splitlines()[0] + "\n" + FEED.splitlines()[1] + "\n", encoding="utf-8")
    cli_run("import-marks", str(feed))
    login(client, "enterprise")
    page = client.get("/notices")
    assert page.status_code == 200 and "兴和" in page.text and "2027-03-15" in page.text
    login(client, "other_enterprise")
    assert "兴和" not in client.get("/notices").text


# --- end to end ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_end_to_end_a_look_alike_in_a_new_case_is_mailed_to_the_watcher(client, people, submit, pipeline, config):  # noqa: ANN001
    watch_via_api(client, people, "other_enterprise", "XINGHE", "9")
    submit(rights=[{"kind": "trademark", "mark_text": "星河"}])

    def lookalike_mail():  # noqa: ANN202
        for path in config.mail_dir.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes())
            if "XINGHE" in str(make_header(decode_header(message["Subject"]))):
                return message
        return None

    message = wait_for(lookalike_mail, message="the look-alike notice")
    assert people.other_enterprise.email in message["To"]


# --- confidential cases feed no enterprise's notices ------------------------------------------------


@pytest.fixture
def fresh_watch_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's index of watched marks, empty: it is rebuilt when the count or the newest id
    of the watched marks changes, which a test's fresh database can repeat from an earlier test's."""
    monkeypatch.setattr(marks, "watch_index", marks._IndexCache())  # noqa: SLF001


def test_a_confidential_case_naming_a_look_alike_is_recorded_for_coordinators_but_never_told_to_the_watcher(
    client, people, submit, sessions, config, fresh_watch_index
) -> None:  # noqa: ANN001
    watch_via_api(client, people, "other_enterprise", "星河", "9")
    reference = submit(confidential=True, rights=[{"kind": "trademark", "mark_text": "兴和牌"}])["reference"]
    handle_submitted(sessions, config, case_id_of(sessions, reference), 9001)
    with sessions() as s:
        (match,) = s.scalars(select(LookalikeMatch)).all()
        assert match.enterprise_id == people.other_enterprise.id
    assert notices_of(sessions, people.other_enterprise.id) == []
    assert client.get("/api/v1/notices", headers=people.headers("other_enterprise")).get_json()["notices"] == []
    login(client, "other_enterprise")
    assert "兴和牌" not in client.get("/marks").text, "the watcher's page lists no match from a confidential case"
    login(client, "coordinator")
    desk = client.get("/coordinator/lookalikes").text
    assert "兴和牌" in desk and "保密案件" in desk


def test_a_confidential_case_never_makes_a_repeat_respondent_in_an_enterprises_eyes(
    people, submit, sessions, config
) -> None:  # noqa: ANN001
    # Probing: an enterprise files a case against a name to learn whether a confidential case names it.
    target = [{"role": "respondent", "name": "深圳仿冒电子有限公司"}]
    secret = submit("other_enterprise", confidential=True, parties=target)["reference"]
    probe = submit(parties=target)["reference"]
    for message_id, reference in enumerate((secret, probe), start=1):
        handle_submitted(sessions, config, case_id_of(sessions, reference), message_id)
    assert notices_of(sessions, people.enterprise.id) == [], "the prober learns nothing"
    # (the confidential case's own enterprise may hear of the open case, about its own case)
    (to_secret,) = notices_of(sessions, people.other_enterprise.id)
    assert to_secret.body["reference"] == secret
    (to_coordinator,) = notices_of(sessions, people.coordinator.id, "repeat_respondent")
    assert [(o["reference"], o["confidential"]) for o in to_coordinator.body["others"]] == [(secret, True)]

    # A later confidential case: its own enterprise hears of the earlier open one, whose
    # enterprise hears nothing of it.
    third = people.add("third", "enterprise")
    later = submit("third", confidential=True, parties=target)["reference"]
    handle_submitted(sessions, config, case_id_of(sessions, later), 3)
    (to_third,) = notices_of(sessions, third.id, "repeat_respondent")
    assert to_third.body["reference"] == later
    assert notices_of(sessions, people.enterprise.id) == []
    assert [n.id for n in notices_of(sessions, people.other_enterprise.id)] == [to_secret.id]


def test_a_batch_finds_its_repeat_respondents_in_two_queries_as_one_by_one_would(
    people, submit, sessions, config
) -> None:  # noqa: ANN001

    from workers.delivery import Delivery

    maker = {"role": "respondent", "name": "深圳仿冒电子有限公司"}
    first = submit("other_enterprise", parties=[maker])["reference"]
    # in one batch: a case naming it (and a respondent nobody else names), and a third
    # enterprise's naming it too: that one is warned of both earlier cases, the one in its batch too
    second = submit(parties=[maker, {"role": "respondent", "name": "别的公司"}])["reference"]
    people.add("third", "enterprise", organisation="第三方公司")
    third = submit("third", parties=[maker])["reference"]
    handle_submitted(sessions, config, case_id_of(sessions, first), 1)
    batch = [Delivery(i, "case.submitted", {"case_id": case_id_of(sessions, r)}) for i, r in ((2, second), (3, third))]
    with statements_run(sessions.kw["bind"]) as statements:
        watch.handle_many(Context(config=config, sessions=sessions, publisher=None, sender=None), batch)
    assert len([s for s in statements if "FROM case_parties" in s]) == 2, "the pairs, then their rows"
    told = [n.body["reference"] for n in notices_of(sessions, people.coordinator.id, "repeat_respondent")]
    assert told == [second, third]
    (about_third,) = [n for n in notices_of(sessions, people.coordinator.id) if n.body["reference"] == third]
    assert [o["reference"] for o in about_third.body["others"]] == [first, second]


def test_routing_a_case_does_not_hold_up_the_watch_workers_writes_about_it(
    people, submit, sessions, config, backend, monkeypatch
) -> None:  # noqa: ANN001
    # Routing locks its batch's cases until it commits; the watch worker writes rows that refer to
    # the same cases meanwhile (their search grams), whose foreign-key checks must not wait for it.
    if backend != "services":
        pytest.skip("row locks are PostgreSQL's")
    from workers import routing
    from workers.delivery import Delivery
    from workstation.services.search import index_cases

    case_id = case_id_of(sessions, submit()["reference"])
    read_pool, indexed = routing.Pool.read, []

    def index_meanwhile(cls, session):  # noqa: ANN001, ANN202 - routing holds the case's lock here
        with sessions.begin() as other:
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            index_cases(other, [case_id])  # (LockNotAvailable when it must wait)
            indexed.append(case_id)
        return read_pool(session)

    monkeypatch.setattr(routing.Pool, "read", classmethod(index_meanwhile))
    routing.handle_many(Context(config=config, sessions=sessions, publisher=None, sender=None),
                        [Delivery(1, "case.submitted", {"case_id": case_id})])  # fmt: skip
    assert indexed == [case_id]
    with sessions() as session:
        assert session.get(Case, case_id).status != "submitted", "and routing went on to route it"
