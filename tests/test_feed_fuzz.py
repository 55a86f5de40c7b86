"""Hostile publication feeds for ``python -m workstation import-marks`` (hypothesis), on both
deployments: whatever the file holds, the import either reports each bad row with its line and
field and imports the good ones, or refuses the file as unreadable; it never stops half-way on a
row the database cannot take (PostgreSQL refuses what SQLite stores: a NUL character)."""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from workstation.services.marks import import_feed, read_feed
from workstation.services.models import PublishedMark

pytestmark = pytest.mark.slow

FIELDS = ("number", "text", "classes", "published_on", "applicant")
# Cells as feeds get them wrong: blanks, NULs, controls, over-long text, bad classes and dates.
CELL = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=250),
    st.sampled_from(["", " ", "\x00", "星\x00河", "9,42", "0", "46", "9;x", "2026-02-30", "2026-11-24", "A" * 41]),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | CELL,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=3),
    max_leaves=8,
)
ROW = st.dictionaries(st.sampled_from([*FIELDS, "extra"]), CELL, max_size=6)


def quiet(examples: int) -> settings:
    return settings(
        derandomize=True, database=None, deadline=None, max_examples=examples,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )  # fmt: skip


# Good rows slipped in among the hostile ones: the import must take each, so a test cannot pass by
# refusing everything.
_GOOD_NUMBERS = itertools.count(1)


def good_row() -> dict[str, str]:
    number = f"GOOD-{next(_GOOD_NUMBERS):06d}"
    return {"number": number, "text": "星河 Xinghe", "classes": "9,42", "published_on": "2026-11-24", "applicant": "甲"}


def with_good_rows(rows: list, position: int) -> tuple[list, list[str]]:
    goods = [good_row(), good_row()]
    cut = min(position, len(rows))
    return [*rows[:cut], goods[0], *rows[cut:], goods[1]], [g["number"] for g in goods]


def assert_imported(sessions, numbers: list[str]) -> None:  # noqa: ANN001
    with sessions() as s:
        found = set(s.scalars(select(PublishedMark.number).where(PublishedMark.number.in_(numbers))))
    assert found == set(numbers), "every good row is imported"


def marks_count(sessions) -> int:  # noqa: ANN001
    with sessions() as s:
        return s.scalar(select(func.count(PublishedMark.id)))


def import_file(sessions, path: Path) -> None:  # noqa: ANN001
    """Import ``path`` as the CLI does; what the CLI turns into "cannot read" may be raised."""
    before = marks_count(sessions)
    try:
        report = import_feed(sessions, read_feed(path), chunk=3)
    except (ValueError, UnicodeDecodeError):
        assert marks_count(sessions) == before, "a file refused as unreadable adds nothing"
        return
    assert marks_count(sessions) == before + report.added
    assert report.total == report.added + report.already + len({e.row for e in report.errors})
    for error in report.errors:
        assert error.row >= 1 and error.field and error.message


@quiet(40)
@given(rows=st.lists(ROW, max_size=8), position=st.integers(0, 8))
def test_any_csv_feed_imports_its_good_rows_and_lists_the_bad(sessions, tmp_path: Path, rows, position) -> None:  # noqa: ANN001
    rows, good = with_good_rows(rows, position)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*FIELDS, "extra"], extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "feed.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    import_file(sessions, path)
    assert_imported(sessions, good)


@quiet(40)
@given(items=st.lists(JSON_VALUE, max_size=8), position=st.integers(0, 8))
def test_any_json_feed_imports_its_good_rows_and_lists_the_bad(sessions, tmp_path: Path, items, position) -> None:  # noqa: ANN001
    items, good = with_good_rows(items, position)
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    import_file(sessions, path)
    assert_imported(sessions, good)


@quiet(20)
@given(item=JSON_VALUE)
def test_any_json_document_is_imported_or_refused(sessions, tmp_path: Path, item) -> None:  # noqa: ANN001
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(item, ensure_ascii=False), encoding="utf-8")
    import_file(sessions, path)


@quiet(25)
@given(data=st.binary(max_size=300))
def test_any_bytes_are_read_or_refused_and_the_cli_never_shows_a_traceback(
    cli_run, sessions, tmp_path: Path, data
) -> None:  # noqa: ANN001, E501
    path = tmp_path / "feed.csv"
    path.write_bytes(data)
    import_file(sessions, path)
    result = cli_run("import-marks", str(path))
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)


def test_a_file_that_stops_being_csv_half_way_is_refused_whole(cli_run, sessions, tmp_path: Path) -> None:  # noqa: ANN001
    # (a cell over the csv module's field limit, 128 KB, is where this one breaks off)
    good = "".join(f"A{i},星河{i},9,2026-11-02,\n" for i in range(10))
    path = tmp_path / "feed.csv"
    path.write_bytes(f"number,text,classes,published_on,applicant\n{good}".encode() + b"B1," + b"x" * 200_000 + b"\n")
    result = cli_run("import-marks", "--chunk", "3", str(path))
    assert result.exit_code == 1 and "cannot read" in result.output and "Traceback" not in result.output
    assert marks_count(sessions) == 0


def test_a_nul_character_is_a_bad_row_not_a_failed_import(cli_run, sessions, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "feed.csv"
    path.write_text("number,text,classes\nA1,星\x00河,9\nA\x002,星河,9\nA3,星河,9\n", encoding="utf-8")
    result = cli_run("import-marks", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "row 2: text:" in result.output and "row 3: number:" in result.output
    assert marks_count(sessions) == 1


def test_an_unpaired_surrogate_is_a_bad_row_not_a_failed_import(cli_run, sessions, tmp_path: Path) -> None:  # noqa: ANN001
    # A JSON feed can hold half of a UTF-16 pair as an escape; no database driver can encode it.
    path = tmp_path / "feed.json"
    rows = [{"number": "A1", "text": "星\ud800河", "classes": [9]}, {"number": "A2", "text": "星河", "classes": [9]}]
    path.write_text(json.dumps(rows), encoding="utf-8")
    result = cli_run("import-marks", str(path))
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "unpaired surrogate" in result.output
    assert marks_count(sessions) == 1
