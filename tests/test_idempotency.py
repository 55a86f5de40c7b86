"""``Idempotency-Key`` on the API's creating POSTs: a retry with the same key gets the first answer,
and nothing is created twice; the same key with another request is a 422; keys are each user's
own and expire. On both databases."""

from __future__ import annotations

import http.client
import io
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

from sqlalchemy import func, select, update

from tests.conftest import CASE, ROOT, free_port, wait_for
from workstation.services.idempotency import forget_expired_keys
from workstation.services.models import Case, CaseMessage, IdempotencyKey, WatchedMark, utcnow


def with_key(people, who: str, key: str) -> dict[str, str]:  # noqa: ANN001
    return {**people.headers(who), "Idempotency-Key": key}


def count(sessions, model) -> int:  # noqa: ANN001
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_retry_gets_the_first_answer_and_nothing_twice(client, people, sessions) -> None:  # noqa: ANN001
    headers = with_key(people, "enterprise", "7c0f3a52-retry")
    first = client.post("/api/v1/cases", json=CASE, headers=headers)
    assert first.status_code == 201
    # the same JSON written otherwise (keys reordered, spaced): the same request
    again = client.post("/api/v1/cases", data=json.dumps(dict(reversed(CASE.items())), indent=2),
                        content_type="application/json", headers=headers)  # fmt: skip
    assert again.status_code == 201
    assert again.get_data() == first.get_data()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert count(sessions, Case) == 1

    other = client.post("/api/v1/cases", json={**CASE, "title": "another case"}, headers=headers)
    assert other.status_code == 422
    assert "Idempotency-Key" in other.get_json()["errors"]
    assert count(sessions, Case) == 1
    # without a key, or with another, a new case each time
    assert client.post("/api/v1/cases", json=CASE, headers=people.headers("enterprise")).status_code == 201
    assert client.post("/api/v1/cases", json=CASE, headers=with_key(people, "enterprise", "k2")).status_code == 201
    assert count(sessions, Case) == 3


def test_keys_are_each_users_own(client, people, sessions) -> None:  # noqa: ANN001
    mine = client.post("/api/v1/cases", json=CASE, headers=with_key(people, "enterprise", "same-key"))
    theirs = client.post("/api/v1/cases", json=CASE, headers=with_key(people, "other_enterprise", "same-key"))
    assert mine.status_code == theirs.status_code == 201
    assert mine.get_json()["reference"] != theirs.get_json()["reference"]
    assert count(sessions, Case) == 2


def test_a_refused_request_keeps_no_key(client, people, sessions) -> None:  # noqa: ANN001
    headers = with_key(people, "enterprise", "first-refused")
    refused = client.post("/api/v1/cases", json={**CASE, "right_type": "nonsense"}, headers=headers)
    assert refused.status_code == 400
    assert count(sessions, IdempotencyKey) == 0
    # the corrected request under the same key is another request: a new one, not a 422
    assert client.post("/api/v1/cases", json=CASE, headers=headers).status_code == 201
    coordinator = client.post("/api/v1/cases", json=CASE, headers=with_key(people, "coordinator", "c1"))
    assert coordinator.status_code == 403
    assert count(sessions, IdempotencyKey) == 1


def test_a_bad_key_is_a_400(client, people) -> None:  # noqa: ANN001
    for key in ("", "x" * 256, "非ASCII"):
        headers = {**people.headers("enterprise"), "Idempotency-Key": key}
        answer = client.post("/api/v1/cases", json=CASE, headers=headers)
        assert answer.status_code == 400, key
        assert "Idempotency-Key" in answer.get_json()["errors"]


def test_a_multipart_retry_with_a_new_boundary_is_the_same_request(client, people, sessions) -> None:  # noqa: ANN001
    headers = with_key(people, "enterprise", "multipart")

    def post(evidence: bytes = b"%PDF-1.4 evidence\n%%EOF"):  # noqa: ANN202 - a new boundary each time
        data = {"case": json.dumps(CASE), "evidence": (io.BytesIO(evidence), "proof.pdf")}
        return client.post("/api/v1/cases", data=data, content_type="multipart/form-data", headers=headers)

    first, again = post(), post()
    assert first.status_code == again.status_code == 201, first.get_json()
    assert again.get_data() == first.get_data()
    assert post(b"%PDF-1.4 another file\n%%EOF").status_code == 422  # the same form, another file
    assert count(sessions, Case) == 1


def test_messages_and_marks_are_created_once(client, people, sessions, submit) -> None:  # noqa: ANN001
    reference = submit()["reference"]
    headers = with_key(people, "enterprise", "message-1")
    path = f"/api/v1/cases/{reference}/messages"
    first = client.post(path, json={"body": "补充说明：见附件。"}, headers=headers)
    again = client.post(path, json={"body": "补充说明：见附件。"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Location"] == first.headers["Location"]
    assert count(sessions, CaseMessage) == 1
    # the same key on another case's thread is another request
    other = submit()["reference"]
    assert client.post(f"/api/v1/cases/{other}/messages", json={"body": "补充说明：见附件。"},
                       headers=headers).status_code == 422  # fmt: skip

    mark = {"text": "星河", "classes": [9]}
    marks = [client.post("/api/v1/marks", json=mark, headers=with_key(people, "enterprise", "m")) for _ in range(2)]
    assert [m.status_code for m in marks] == [201, 201] and marks[0].get_json() == marks[1].get_json()
    assert count(sessions, WatchedMark) == 1


def test_a_transition_retried_is_answered_not_refused(client, people, sessions, submit) -> None:  # noqa: ANN001
    reference = submit()["reference"]
    headers = with_key(people, "enterprise", "withdraw-1")
    body = {"action": "withdraw", "reason": "已与对方和解"}
    first = client.post(f"/api/v1/cases/{reference}/transitions", json=body, headers=headers)
    assert first.status_code == 200, first.get_json()
    again = client.post(f"/api/v1/cases/{reference}/transitions", json=body, headers=headers)
    assert again.status_code == 200 and again.get_data() == first.get_data()
    # without the key the same request is what it is: a conflict (it is withdrawn already)
    assert client.post(f"/api/v1/cases/{reference}/transitions", json=body,
                       headers=people.headers("enterprise")).status_code == 409  # fmt: skip


def test_two_requests_with_the_same_key_at_once_make_one_case(app, people, sessions) -> None:  # noqa: ANN001
    headers = with_key(people, "enterprise", "double-click")
    start, answers = threading.Barrier(4), []

    def submit_once() -> None:
        client = app.test_client()
        start.wait(10)
        answers.append(client.post("/api/v1/cases", json=CASE, headers=headers))

    threads = [threading.Thread(target=submit_once) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [a.status_code for a in answers] == [201] * 4, [a.get_data() for a in answers]
    assert len({a.get_data() for a in answers}) == 1
    assert sum("Idempotent-Replayed" in a.headers for a in answers) == 3
    assert count(sessions, Case) == 1


def test_keys_expire(client, people, sessions, config) -> None:  # noqa: ANN001
    headers = with_key(people, "enterprise", "old-key")
    first = client.post("/api/v1/cases", json=CASE, headers=headers)
    long_ago = utcnow() - timedelta(hours=config.idempotency_key_hours, minutes=1)
    with sessions.begin() as session:
        session.execute(update(IdempotencyKey).values(created_at=long_ago))
    again = client.post("/api/v1/cases", json=CASE, headers=headers)
    assert again.status_code == 201 and again.get_json()["reference"] != first.get_json()["reference"]
    assert count(sessions, Case) == 2
    assert count(sessions, IdempotencyKey) == 1  # the expired one replaced by the new one

    client.post("/api/v1/cases", json=CASE, headers=with_key(people, "enterprise", "another"))
    with sessions.begin() as session:
        session.execute(update(IdempotencyKey).where(IdempotencyKey.key == "old-key").values(created_at=long_ago))
    assert forget_expired_keys(sessions, config.idempotency_key_hours) == 1
    assert count(sessions, IdempotencyKey) == 1


def test_the_openapi_document_names_the_key_where_it_is_taken(app, client) -> None:  # noqa: ANN001
    document = client.get("/api/v1/openapi.json").get_json()
    documented = {
        path
        for path, operations in document["paths"].items()
        for operation in operations.values()
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    }
    taken = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(rule))
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods and getattr(app.view_functions[rule.endpoint], "idempotent", False)
    }
    # (POST /cases hands a request with a key to its checked way, which takes it)
    assert documented == taken | {"/api/v1/cases"}
    assert "/api/v1/tokens" not in documented
    assert all("503" in op["responses"] for ops in document["paths"].values() for op in ops.values())


# --- web workers killed with submissions in flight ------------------------------------------------


def submit_until_acknowledged(port: int, token: str, key: str, title: str) -> tuple[str, int, bool]:
    """POST a case to the server on ``port`` until it is acknowledged, retrying with the same key
    whatever happens to a try (its worker killed: the connection reset, the answer lost, perhaps
    after the commit). The reference, how many tries, whether the answer was a replay."""
    body = json.dumps({**CASE, "title": title})
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}", "Idempotency-Key": key}
    deadline = time.monotonic() + 60
    for tries in itertools.count(1):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            connection.request("POST", "/api/v1/cases", body, headers)
            answer = connection.getresponse()
            data = answer.read()
            connection.close()
            if answer.status == 201:
                return json.loads(data)["reference"], tries, answer.getheader("Idempotent-Replayed") == "true"
            assert answer.status == 503, (answer.status, data)
        except (OSError, http.client.HTTPException):
            pass  # the worker died with the request
        assert time.monotonic() < deadline, f"{key}: not acknowledged in 60 s"
        time.sleep(0.05)
    raise AssertionError("unreachable")


def test_web_workers_killed_mid_submission_leave_one_case_per_key(env, people, sessions, tmp_path) -> None:  # noqa: ANN001
    """gunicorn's workers SIGKILLed while clients submit: a submission may have committed when its
    answer was lost; the clients retry with the same key, and there is exactly one case per key."""
    port = free_port()
    log = (tmp_path / "gunicorn.log").open("wb")
    # --preload: a worker killed is replaced by a fork of the loaded app at once, not after importing
    # it again (seconds on a busy machine); the app opens no connection before it serves.
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "3", "--preload",
         "workstation.web.wsgi:app"],
        cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    token, results, failures = people.tokens["enterprise"], {}, []

    def client(number: int) -> None:
        try:
            for case in range(12):
                key = f"client-{number}-case-{case}"
                results[key] = submit_until_acknowledged(port, token, key, key)
        except AssertionError as err:
            failures.append(str(err))

    try:
        wait_for(lambda: _answers(port), 60, message="gunicorn up")
        clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in clients:
            thread.start()
        # A worker killed each time 8 more cases are acknowledged: paced by the clients' progress,
        # not by the clock, so a quick machine still kills while submissions are in flight.
        kills = 0
        while any(thread.is_alive() for thread in clients) and kills < 5:
            time.sleep(0.01)
            if len(results) < 8 * (kills + 1):
                continue
            workers = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
            if workers:
                try:
                    os.kill(int(random.choice(workers)), signal.SIGKILL)
                except ProcessLookupError:
                    continue  # (it exited after pgrep listed it, a worker just replaced: pick again)
                kills += 1
        for thread in clients:
            thread.join(90)
    finally:
        server.terminate()
        server.wait(15)
    assert not failures, failures
    assert len(results) == 48 and kills >= 3
    with sessions() as session:
        stored = session.execute(select(Case.title, Case.reference)).all()
    assert sorted(stored) == sorted((key, reference) for key, (reference, _tries, _replayed) in results.items())
    retried = sum(tries > 1 for _reference, tries, _replayed in results.values())
    replayed = sum(replayed for _reference, _tries, replayed in results.values())
    print(f"gunicorn kills: {kills} workers killed, {retried} submissions retried, {replayed} answered by replay")


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
