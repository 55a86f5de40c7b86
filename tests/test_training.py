"""Trainees who learn (issue 19, item 7): a trainee's drafts on the case they shadow, reviewed by the
case's expert with comments and a 1-5 rating of each competence; the trainee's record (cases,
feedback, ratings over time); coordinators' list and promotion to expert (audited); mail in each
person's language; every query scoped; drafts never reach the enterprise in any form. Also the
status mails a shadowing trainee now gets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import CASE
from tests.test_accounts import send_mail, subject, text
from tests.test_audit import audits
from tests.test_status_mail import all_mails, mailed
from tests.test_web import csrf_token, login
from workstation import lifecycle, training
from workstation.services.cases import transition
from workstation.services.messaging import SUBSCRIPTIONS
from workstation.services.models import Case, ExpertProfile, TraineeDraft, User, utcnow
from workstation.services.personal_data import erase_enterprise

DRAFT = "初步判断：被控标志与注册商标构成近似，建议先行公证购买。"
COMMENTS = "结论方向正确，但应先核对商品类别，再论证混淆可能性。"
RATINGS = {"legal": 4, "technical": 3, "management": 2, "commercialization": 3}


def at(day: int, **ratings: int) -> training.Review:
    return training.Review(datetime(2026, 12, day, tzinfo=UTC), {**RATINGS, **ratings})


# --- the pure rules -----------------------------------------------------------------------------


@pytest.mark.pure
def test_ratings_take_each_of_the_four_competences_from_1_to_5_and_nothing_else() -> None:
    assert training.ratings_errors(RATINGS) == []
    for bad in ({**RATINGS, "legal": 0}, {**RATINGS, "legal": 6}, {**RATINGS, "legal": True},
                {**RATINGS, "legal": 4.5}, {k: v for k, v in RATINGS.items() if k != "legal"},
                {**RATINGS, "charm": 5}, None, [4, 3, 2, 3]):  # fmt: skip
        assert training.ratings_errors(bad) == [training.RATINGS_NEEDED], bad


@pytest.mark.pure
def test_averages_trend_and_readiness_over_time() -> None:
    assert training.averages([]) == dict.fromkeys(training.COMPETENCES)
    # (given out of order: the ratings over time are by date)
    reviews = [at(3, management=4), at(1, management=2), at(2, management=3)]
    assert [r.at.day for r in training.in_order(reviews)] == [1, 2, 3]
    assert training.averages(reviews) == {"legal": 4.0, "technical": 3.0, "management": 3.0, "commercialization": 3.0}
    assert training.trend(reviews)["management"] == 2.0, "later half (4) against the earlier half (2)"
    assert training.trend(reviews[:1]) == dict.fromkeys(training.COMPETENCES)

    not_yet = training.readiness(reviews[:2])
    assert not not_yet.ready
    assert [m.template for m in not_yet.missing][0] == "%(count)s reviewed drafts of the %(needed)s needed"
    assert "Technical averages 3.0 of the 3.5 needed" in [str(m) for m in not_yet.missing]

    good = {c: 4 for c in training.COMPETENCES}
    # Three good reviews after five poor ones: the latest five (2 poor, 3 good) average 3.2.
    history = [training.Review(datetime(2026, 1, d, tzinfo=UTC), {c: 2 for c in training.COMPETENCES})
               for d in range(1, 6)] + [training.Review(datetime(2026, 2, d, tzinfo=UTC), good)
                                        for d in range(1, 4)]  # fmt: skip
    assert not training.readiness(history).ready
    history += [training.Review(datetime(2026, 3, d, tzinfo=UTC), good) for d in range(1, 3)]
    ready = training.readiness(history)
    assert ready.ready and ready.missing == () and ready.recent["legal"] == 4.0


@pytest.mark.pure
def test_who_writes_and_who_reviews() -> None:
    training.decide_draft(lifecycle.IN_PROGRESS, shadowing=True, trainee=True)
    training.decide_draft(lifecycle.OPINION_ISSUED, shadowing=True, trainee=True)
    for shadowing, trainee in ((False, True), (True, False)):
        with pytest.raises(lifecycle.TransitionError) as err:
            training.decide_draft(lifecycle.IN_PROGRESS, shadowing, trainee)
        assert err.value.code == "forbidden"
    with pytest.raises(lifecycle.TransitionError) as err:
        training.decide_draft(lifecycle.WITHDRAWN, True, True)
    assert err.value.code == "conflict"
    training.decide_review(True, training.SUBMITTED)
    with pytest.raises(lifecycle.TransitionError) as err:
        training.decide_review(False, training.SUBMITTED)
    assert err.value.code == "forbidden"
    with pytest.raises(lifecycle.TransitionError) as err:
        training.decide_review(True, training.REVIEWED)
    assert err.value.code == "conflict"


# --- the service, through the API -------------------------------------------------------------


def api(client, people, who: str, method: str, path: str, **body: object):  # noqa: ANN001, ANN201
    return client.open(path, method=method, json=body if body else None, headers=people.headers(who))


def shadowed_case(client, people, sessions, lead: User, trainee: User, **overrides: object) -> str:  # noqa: ANN001
    """A case ``lead`` holds and works, shadowed by ``trainee``; its reference."""
    response = client.post("/api/v1/cases", json={**CASE, **overrides}, headers=people.headers("enterprise"))
    reference = response.get_json()["reference"]
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == reference))
        transition(s, case, "assign", None, expert_id=lead.id)
        case.shadow_expert_id = None if case.confidential else trainee.id
        for action in ("accept", "start"):
            transition(s, case, action, s.get(User, lead.id))
    return reference


@pytest.fixture
def team(people):  # noqa: ANN001, ANN201
    lead = people.add("lead", "expert", language="en")
    people.add("trainee", "expert", profile={"is_trainee": True, "supervisor_id": lead.id})
    people.add("other_trainee", "expert", profile={"is_trainee": True, "supervisor_id": lead.id})
    people.add("other_expert", "expert")
    return people


def test_a_trainee_writes_the_case_s_expert_reviews_and_the_record_adds_up(client, team, sessions) -> None:  # noqa: ANN001
    people = team
    reference = shadowed_case(client, people, sessions, people.lead, people.trainee)
    drafts = f"/api/v1/cases/{reference}/drafts"
    written = api(client, people, "trainee", "POST", drafts, kind="opinion", body=DRAFT)
    assert written.status_code == 201, written.get_json()
    draft = written.get_json()
    assert (draft["status"], draft["kind"], draft["ratings"], draft["reference"]) == ("submitted", "opinion", None,
                                                                                      reference)  # fmt: skip

    # Who may write: the shadowing trainee only; the input is checked.
    assert api(client, people, "lead", "POST", drafts, kind="note", body="x").status_code == 403
    assert api(client, people, "other_trainee", "POST", drafts, kind="note", body="x").status_code == 404
    assert api(client, people, "enterprise", "POST", drafts, kind="note", body="x").status_code == 403
    assert api(client, people, "trainee", "POST", drafts, kind="memo", body="x").status_code == 400
    assert api(client, people, "trainee", "POST", drafts, kind="note", body="   ").status_code == 400

    # Who may read: the trainee, the case's expert, coordinators; never the enterprise.
    for who in ("trainee", "lead", "coordinator"):
        listed = api(client, people, who, "GET", drafts)
        assert [d["id"] for d in listed.get_json()["drafts"]] == [draft["id"]], who
    assert api(client, people, "enterprise", "GET", drafts).status_code == 403
    assert api(client, people, "other_expert", "GET", drafts).status_code == 404

    # Who may review: the case's expert, once, with every competence rated.
    review = f"/api/v1/drafts/{draft['id']}/review"
    assert api(client, people, "other_expert", "POST", review, comments=COMMENTS, ratings=RATINGS).status_code == 404
    assert api(client, people, "trainee", "POST", review, comments=COMMENTS, ratings=RATINGS).status_code == 403
    assert api(client, people, "coordinator", "POST", review, comments=COMMENTS, ratings=RATINGS).status_code == 403
    partial = {k: v for k, v in RATINGS.items() if k != "management"}
    assert api(client, people, "lead", "POST", review, comments=COMMENTS, ratings=partial).status_code == 400
    assert api(client, people, "lead", "POST", review, comments=COMMENTS,
               ratings={**RATINGS, "legal": 6}).status_code == 400  # fmt: skip
    reviewed = api(client, people, "lead", "POST", review, comments=COMMENTS, ratings=RATINGS)
    assert reviewed.status_code == 200 and reviewed.get_json()["ratings"] == RATINGS
    assert reviewed.get_json()["reviewer"]["id"] == people.lead.id
    assert api(client, people, "lead", "POST", review, comments="again", ratings=RATINGS).status_code == 409

    # The record: the trainee's own, and coordinators'; nobody else's.
    record = f"/api/v1/trainees/{people.trainee.id}"
    mine = api(client, people, "trainee", "GET", record).get_json()
    assert [c["reference"] for c in mine["cases"]] == [reference] and mine["cases"][0]["drafts"] == [draft["id"]]
    assert mine["drafts"][0]["comments"] == COMMENTS and mine["averages"] == {k: float(v) for k, v in RATINGS.items()}
    assert len(mine["ratings_over_time"]) == 1 and not mine["ready_for_promotion"]
    assert api(client, people, "coordinator", "GET", record).get_json()["drafts"] == mine["drafts"]
    for who in ("other_trainee", "lead", "enterprise"):
        assert api(client, people, who, "GET", record).status_code == 404, who
    assert api(client, people, "trainee", "GET", "/api/v1/trainees").status_code == 403
    listed = api(client, people, "coordinator", "GET", "/api/v1/trainees").get_json()["trainees"]
    assert {t["name"]: t["reviewed"] for t in listed} == {"trainee": 1, "other_trainee": 0}


def test_a_trainee_writes_nothing_on_a_case_they_do_not_shadow_nor_a_confidential_one(client, team, sessions) -> None:  # noqa: ANN001
    people = team
    secret = shadowed_case(client, people, sessions, people.lead, people.trainee, right_type="trade_secret")
    assert api(client, people, "trainee", "POST", f"/api/v1/cases/{secret}/drafts", kind="note",
               body=DRAFT).status_code == 404, "a trainee never sees a confidential case"  # fmt: skip
    reference = shadowed_case(client, people, sessions, people.lead, people.trainee)
    api(client, people, "trainee", "POST", f"/api/v1/cases/{reference}/drafts", kind="note", body=DRAFT)
    with sessions.begin() as s:  # made confidential afterwards: the record names it, no more
        s.scalar(select(Case).where(Case.reference == reference)).confidential = True
    record = api(client, people, "trainee", "GET", f"/api/v1/trainees/{people.trainee.id}").get_json()
    assert record["cases"] == [{"reference": reference, "title": None, "status": "in_progress",
                                "drafts": [record["drafts"][0]["id"]]}]  # fmt: skip
    assert api(client, people, "trainee", "POST", f"/api/v1/cases/{reference}/drafts", kind="note",
               body=DRAFT).status_code == 404  # fmt: skip


def test_the_enterprise_never_sees_a_draft_or_its_review_anywhere(client, app, team, sessions, config) -> None:  # noqa: ANN001
    people = team
    reference = shadowed_case(client, people, sessions, people.lead, people.trainee)
    draft = api(client, people, "trainee", "POST", f"/api/v1/cases/{reference}/drafts", kind="note", body=DRAFT)
    api(client, people, "lead", "POST", f"/api/v1/drafts/{draft.get_json()['id']}/review", comments=COMMENTS,
        ratings=RATINGS)  # fmt: skip
    for key in ("training.draft_submitted", "training.draft_reviewed"):
        assert send_mail(config, sessions, key) == ["done"]
    said = [
        api(client, people, "enterprise", "GET", path).get_data(as_text=True)
        for path in (f"/api/v1/cases/{reference}", f"/api/v1/cases/{reference}/events",
                     f"/api/v1/cases/{reference}/messages", "/api/v1/cases?q=公证购买", "/api/v1/cases",
                     "/api/v1/cases/export?format=csv")
    ]  # fmt: skip
    browser = app.test_client()
    login(browser, people.enterprise.email)
    said.append(browser.get(f"/cases/{reference}").get_data(as_text=True))
    assert browser.get(f"/trainees/{people.trainee.id}").status_code == 404
    said += [text(m) for m in all_mails(config) if people.enterprise.email in m["To"]]
    for seen in said:
        assert "公证购买" not in seen and "混淆可能性" not in seen and "draft" not in seen.lower()
    assert api(client, people, "enterprise", "GET", "/api/v1/cases?q=公证购买").get_json()["cases"] == []
    assert not set(SUBSCRIPTIONS["webhooks"]) & {"training.draft_submitted", "training.draft_reviewed"}, "no webhook"
    # (the case's expert does find the draft on the case's page)
    lead = app.test_client()
    login(lead, people.lead.email)
    assert DRAFT in lead.get(f"/cases/{reference}").get_data(as_text=True)


def test_the_expert_is_mailed_a_draft_and_the_trainee_its_review_in_their_language(
    client, team, sessions, config
) -> None:  # noqa: ANN001
    people = team
    reference = shadowed_case(client, people, sessions, people.lead, people.trainee)
    draft = api(client, people, "trainee", "POST", f"/api/v1/cases/{reference}/drafts", kind="opinion", body=DRAFT)
    assert send_mail(config, sessions, "training.draft_submitted") == ["done"]
    asked = mailed(config, "trainee_draft_submitted")
    assert set(asked) == {people.lead.email}, "the case's expert only"
    to_lead = asked[people.lead.email]
    assert subject(to_lead) == f"trainee submitted a draft opinion on case {reference} for your review"
    assert f"/cases/{reference}#training" in text(to_lead)
    assert to_lead["Reply-To"] is None, "a reply must not become a message of the case"

    api(client, people, "lead", "POST", f"/api/v1/drafts/{draft.get_json()['id']}/review", comments=COMMENTS,
        ratings=RATINGS)  # fmt: skip
    assert send_mail(config, sessions, "training.draft_reviewed") == ["done"]
    told = mailed(config, "trainee_draft_reviewed")
    assert set(told) == {people.trainee.email}
    to_trainee = told[people.trainee.email]
    assert subject(to_trainee) == f"您在案件 {reference} 上的草稿已有点评"
    body = text(to_trainee)
    assert COMMENTS in body and "法律: 4" in body and "管理: 2" in body and f"/trainees/{people.trainee.id}" in body
    assert to_trainee["Reply-To"] is None


def test_a_shadowing_trainee_is_mailed_when_the_case_is_closed_withdrawn_or_reopened(
    client, team, sessions, config
) -> None:  # noqa: ANN001
    people = team
    closed = shadowed_case(client, people, sessions, people.lead, people.trainee)
    withdrawn = shadowed_case(client, people, sessions, people.lead, people.trainee)
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == closed))
        transition(s, case, "issue_opinion", s.get(User, people.lead.id))
        transition(s, case, "close", s.get(User, people.coordinator.id))
        transition(s, s.scalar(select(Case).where(Case.reference == withdrawn)), "withdraw",
                   s.get(User, people.enterprise.id), reason="已和解")  # fmt: skip
    assert send_mail(config, sessions, "case.closed") == ["done"]
    assert send_mail(config, sessions, "case.withdrawn") == ["done"]
    assert set(mailed(config, "case_closed")) == {people.enterprise.email, people.lead.email, people.trainee.email}
    assert set(mailed(config, "case_withdrawn")) == {people.lead.email, people.trainee.email}
    assert "已结案" in subject(mailed(config, "case_closed")[people.trainee.email]), "in the trainee's language"
    with sessions.begin() as s:
        case = s.scalar(select(Case).where(Case.reference == closed))
        transition(s, case, "reopen", s.get(User, people.coordinator.id), reason="补充证据")
    assert send_mail(config, sessions, "case.reopened") == ["done"]
    assert people.trainee.email in mailed(config, "case_reopened")


def test_a_coordinator_promotes_a_trainee_to_expert_audited(client, team, sessions) -> None:  # noqa: ANN001
    people = team
    promotion = f"/api/v1/trainees/{people.trainee.id}/promotion"
    assert api(client, people, "lead", "POST", promotion).status_code == 403
    assert api(client, people, "trainee", "POST", promotion).status_code == 403
    assert api(client, people, "coordinator", "POST", f"/api/v1/trainees/{people.lead.id}/promotion").status_code == 404
    promoted = api(client, people, "coordinator", "POST", promotion)
    assert promoted.status_code == 200 and promoted.get_json()["is_trainee"] is False
    with sessions() as s:
        profile = s.get(ExpertProfile, people.trainee.id)
        assert not profile.is_trainee and profile.supervisor_id is None
        assert s.get(User, people.trainee.id).role == "expert"
    edited, done = audits(sessions, "expert_profile_edited")[-1], audits(sessions, "trainee_promoted")[-1]
    assert edited.detail["via"] == "promotion" and edited.detail["changes"]["is_trainee"] == [True, False]
    assert (done.actor_id, done.subject_id, done.detail["reviewed"]) == (people.coordinator.id, people.trainee.id, 0)
    assert api(client, people, "coordinator", "POST", promotion).status_code == 404, "no trainee, no record"


def test_on_the_web_a_draft_is_written_reviewed_and_the_record_shows_it(app, team, sessions) -> None:  # noqa: ANN001
    people = team
    reference = shadowed_case(app.test_client(), people, sessions, people.lead, people.trainee)
    trainee, lead, coordinator = (app.test_client() for _ in range(3))
    login(trainee, people.trainee.email)
    page = trainee.get(f"/cases/{reference}").get_data(as_text=True)
    assert 'id="draft-form"' in page
    written = trainee.post(f"/cases/{reference}/drafts", data={"csrf_token": csrf_token(page), "kind": "note",
                                                               "body": DRAFT})  # fmt: skip
    assert written.status_code == 303

    login(lead, people.lead.email)
    waiting = lead.get("/queue").get_data(as_text=True)
    assert 'id="to-review"' in waiting and f"/cases/{reference}#draft-" in waiting
    page = lead.get(f"/cases/{reference}").get_data(as_text=True)
    assert DRAFT in page and 'name="rating_legal"' in page and 'id="draft-form"' not in page
    with sessions() as s:
        draft_id = s.scalar(select(TraineeDraft.id))
    form = {"csrf_token": csrf_token(page), "comments": COMMENTS,
            **{f"rating_{c}": str(v) for c, v in RATINGS.items()}}  # fmt: skip
    assert lead.post(f"/cases/{reference}/drafts/{draft_id}/review", data={**form, "rating_legal": "9"}
                     ).status_code == 303  # fmt: skip
    assert "Rate each of the four competences from 1 to 5." in lead.get(f"/cases/{reference}").get_data(as_text=True)
    assert lead.post(f"/cases/{reference}/drafts/{draft_id}/review", data=form).status_code == 303

    record = trainee.get(f"/trainees/{people.trainee.id}").get_data(as_text=True)
    assert COMMENTS in record and reference in record and 'id="average-legal">4.0<' in record
    assert trainee.get("/trainees").status_code == 302, "a trainee's list is their record"
    assert lead.get(f"/trainees/{people.trainee.id}").status_code == 404

    login(coordinator, people.coordinator.email)
    listing = coordinator.get("/trainees").get_data(as_text=True)
    assert people.trainee.name in listing and people.other_trainee.name in listing
    record = coordinator.get(f"/trainees/{people.trainee.id}").get_data(as_text=True)
    assert 'id="promote"' in record
    done = coordinator.post(f"/trainees/{people.trainee.id}/promotion", data={"csrf_token": csrf_token(record)})
    assert done.status_code == 303
    with sessions() as s:
        assert not s.get(ExpertProfile, people.trainee.id).is_trainee
    assert 'id="to-review"' not in lead.get("/queue").get_data(as_text=True), "reviewed"
    own = trainee.get(f"/trainees/{people.trainee.id}").get_data(as_text=True)
    assert 'id="promote"' not in own
    refused = trainee.post(f"/trainees/{people.other_trainee.id}/promotion", data={"csrf_token": csrf_token(own)})
    assert refused.status_code == 403


def test_erasing_the_enterprise_erases_the_drafts_words_and_keeps_their_ratings(client, team, sessions, config) -> None:  # noqa: ANN001
    people = team
    reference = shadowed_case(client, people, sessions, people.lead, people.trainee)
    draft = api(client, people, "trainee", "POST", f"/api/v1/cases/{reference}/drafts", kind="note", body=DRAFT)
    api(client, people, "lead", "POST", f"/api/v1/drafts/{draft.get_json()['id']}/review", comments=COMMENTS,
        ratings=RATINGS)  # fmt: skip
    with sessions.begin() as s:
        transition(s, s.scalar(select(Case).where(Case.reference == reference)), "withdraw",
                   s.get(User, people.enterprise.id))  # fmt: skip
        s.get(User, people.enterprise.id).is_active = False
    with sessions.begin() as s:
        erase_enterprise(s, config.evidence_dir, people.enterprise.id, None, timedelta(days=1),
                         utcnow() + timedelta(days=2))  # fmt: skip
    with sessions() as s:
        kept = s.scalars(select(TraineeDraft)).one()
        assert (kept.body, kept.comments, kept.ratings) == ("[erased]", "[erased]", RATINGS)
