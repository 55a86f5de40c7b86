"""Every message the code and templates use is in both catalogs, translated into Chinese, with the
same placeholders: a page or email never falls back to English halfway."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from workstation.i18n import TRANSLATIONS_DIR, extract_messages

pytestmark = pytest.mark.pure


def catalog(language: str):  # noqa: ANN201
    with (TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=language)


def test_every_message_is_translated_into_chinese_with_the_same_placeholders() -> None:
    messages = extract_messages()
    assert len(messages) > 100, "the extraction found the templates and the code"
    zh, en = catalog("zh"), catalog("en")
    missing = sorted(m for m in messages if m not in zh or not zh[m].string)
    assert missing == [], "run `python -m workstation update-translations` and translate these"
    assert sorted(m for m in messages if m not in en) == []
    placeholder = re.compile(r"%\(\w+\)[sd]")
    mismatched = [m for m in messages if sorted(placeholder.findall(m)) != sorted(placeholder.findall(zh[m].string))]
    assert mismatched == []
