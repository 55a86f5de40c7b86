"""The app's JSON answers (``workstation/web/jsonio.py``): orjson writes what Flask's provider
would, with text outside ASCII as UTF-8."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from flask.json.provider import DefaultJSONProvider
from markupsafe import Markup

from workstation.web import Workstation


@dataclasses.dataclass
class Point:
    x: int
    label: str


SAMPLE = {
    "zh": "工作站服务承诺：提交后1个工作日内指派专家。",
    "when": datetime(2026, 12, 7, 15, 41, 27, tzinfo=UTC),
    "day": date(2026, 12, 7),
    "amount": Decimal("12.50"),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "markup": Markup("<b>bold</b>"),
    "point": Point(1, "一"),
    "numbers": {2: "two", 1: "one"},
    "nested": [{"b": 1, "a": [1.5, None, True]}],
}


@pytest.mark.pure
def test_json_answers_say_what_flasks_own_provider_says_with_utf8_text() -> None:
    app = Workstation(__name__)
    with app.app_context():
        ours = app.json.response(SAMPLE).get_data()
        flasks = DefaultJSONProvider(app).response(SAMPLE).get_data()
    assert json.loads(ours) == json.loads(flasks)
    assert "工作站服务承诺".encode() in ours  # (Flask's: \u5de5\u4f5c...)
    assert b"\\u5de5" in flasks
    assert (
        ours.endswith(b"}\n") and b'", "' not in ours and b'": ' not in ours
    )  # compact, a newline at the end, as Flask's
    keys = list(json.loads(ours))
    assert keys == sorted(keys)
    assert json.loads(ours)["day"] == "Mon, 07 Dec 2026 00:00:00 GMT"  # a date as Flask writes it


@pytest.mark.pure
def test_json_answers_in_debug_are_indented_as_flasks_are() -> None:
    app = Workstation(__name__)
    app.debug = True
    with app.app_context():
        ours = app.json.response(SAMPLE).get_data()
        flasks = DefaultJSONProvider(app).response(SAMPLE).get_data()
    assert b'\n  "' in ours and json.loads(ours) == json.loads(flasks)
