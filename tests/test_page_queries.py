"""Every page's query arguments, hostile or absurd, answer a page or a 4xx, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.test_web import login

HOSTILE = {
    "page": ["99999999999999999999", "100001", "-1", "0", "abc", "1e9", "１", ""],
    "q": ["%", "_", "'\"<script>", "x" * 3000, "商标"],
    "status": ["nonsense", "", "assigned"],
    "right_type": ["nonsense", "trademark"],
    "kind": ["nonsense", "deadline"],
    "sort": ["nonsense", "oldest", "reference"],
    "lang": ["xx", "en"],
}


def _pages(app: Any, reference: str) -> list[str]:
    """Every page (not the API) answering GET, its path arguments filled where this test can."""
    paths = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/api/", "/static")):
            continue
        if set(rule.arguments) - {"reference"}:
            continue  # an id of a row this test did not make: its own tests cover it
        paths.append(rule.rule.replace("<reference>", reference))
    return sorted(paths)


@pytest.mark.parametrize("role", ["enterprise", "coordinator", "expert"])
def test_no_query_argument_makes_a_page_fail(app, client, people, submit, role: str) -> None:  # noqa: ANN001
    people.add("expert", "expert")
    reference = submit()["reference"]
    login(client, f"{role}@example.cn")
    failures = []
    for path in _pages(app, reference):
        for name, values in HOSTILE.items():
            for value in values:
                status = client.get(path, query_string={name: value}).status_code
                if status >= 500:
                    failures.append((path, name, value[:20], status))
    assert not failures


def test_a_page_number_beyond_the_last_shows_a_page(client, people) -> None:  # noqa: ANN001
    login(client, "coordinator@example.cn")
    for path in ("/notices", "/coordinator/", "/coordinator/experts", "/coordinator/lookalikes"):
        response = client.get(path, query_string={"page": "99999999999999999999"})
        assert response.status_code == 200, path
