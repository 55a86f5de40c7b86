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


def test_processes_starting_together_on_a_fresh_checkout_compile_the_catalogs_without_failing(
    tmp_path, monkeypatch
) -> None:  # noqa: ANN001
    """gunicorn's workers import the app at the same moment; on a fresh checkout (no .mo yet)
    each compiles the catalogs, and none may fail on another's temporary file."""
    import shutil

    from babel.support import Translations

    from tests.helpers import failures_at_once
    from workstation import i18n

    for round_ in range(10):
        copy = tmp_path / f"translations-{round_}"
        shutil.copytree(i18n.TRANSLATIONS_DIR, copy, ignore=shutil.ignore_patterns("*.mo", "*.tmp"))
        monkeypatch.setattr(i18n, "TRANSLATIONS_DIR", copy)  # (inherited by the forked processes)
        failures = failures_at_once(i18n.compile_catalogs, [()] * 6)
        assert not failures, failures
        assert Translations.load(str(copy), ["zh"]).gettext("Log out") != "Log out"  # compiled whole
        leftovers = [p.name for p in copy.rglob("*") if p.is_file() and p.suffix not in (".po", ".mo")]
        assert leftovers == []
