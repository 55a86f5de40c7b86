"""``python -m workstation compare-marks``: an examiner's check of verdicts by hand, with no database."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from workstation.__main__ import cli
from workstation.config import Config
from workstation.similarity import verdict

pytestmark = pytest.mark.pure

HEADER = ["mark_a", "mark_b", "score", "verdict", "reasons"]


def run(*args: str, stdin: str | None = None):  # noqa: ANN201
    return CliRunner().invoke(cli, ["compare-marks", *args], input=stdin)


def rows(output: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(output)))


def write(tmp_path: Path, content: str, encoding: str = "utf-8") -> str:
    path = tmp_path / "pairs.csv"
    path.write_bytes(content.encode(encoding))
    return str(path)


def test_one_pair_on_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_config() -> None:
        raise AssertionError("compare-marks must not need the configuration or a database")

    monkeypatch.setattr(Config, "from_env", no_config)
    result = run("星河", "兴和")
    assert result.exit_code == 0, result.output
    header, row = rows(result.output)
    assert header == HEADER
    assert row[:4] == ["星河", "兴和", "0.90", "similar"]
    assert "same pronunciation" in row[4] and "xing he" in row[4]


def test_a_distinct_pair_and_reasons_in_chinese() -> None:
    assert rows(run("京东", "东京").output)[1] == ["京东", "东京", "0.00", "distinct", ""]
    row = rows(run("--language", "zh", "康师傅", "康帅傅").output)[1]
    assert row[2:4] == ["0.95", "similar"] and "字形近似" in row[4] and "师/帅" in row[4]


def test_several_reasons_are_joined_in_one_quoted_cell() -> None:
    result = run("星河", "XINGHE 星河")
    (row,) = rows(result.output)[1:]
    assert row[4] == "; ".join(verdict("星河", "XINGHE 星河").reasons)
    assert row[4].count("; ") == 1 and "same part" in row[4] and "pinyin" in row[4]
    same_text = rows(run("Apple", "Apple Inc.").output)[1]  # its reason holds commas: quoted, still 5 cells
    assert len(same_text) == 5 and "case, spacing" in same_text[4]


def test_a_file_with_a_header_and_extra_columns(tmp_path: Path) -> None:
    path = write(tmp_path, 'mark_a,mark_b,label,note\n星河,XINGHE,similar,pinyin\nApple,"Apple Inc.",similar,\n')
    result = run("--file", path)
    assert result.exit_code == 0, result.output
    assert [r[:4] for r in rows(result.output)] == [
        HEADER[:4],
        ["星河", "XINGHE", "0.90", "similar"],
        ["Apple", "Apple Inc.", "1.00", "similar"],
    ]


def test_a_file_without_a_header_and_with_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "\n星河科技,光明科技\n\nNOVA,NOTA\r\n")
    result = run("--file", path)
    assert result.exit_code == 0, result.output
    assert [r[:4] for r in rows(result.output)[1:]] == [
        ["星河科技", "光明科技", "0.00", "distinct"],
        ["NOVA", "NOTA", "0.00", "distinct"],
    ]


def test_a_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = write(tmp_path, "mark_a,mark_b\r\n华为,华为牌\r\n", encoding="utf-8-sig")
    result = run("--file", path)
    assert result.exit_code == 0, result.output
    assert rows(result.output)[1][:4] == ["华为", "华为牌", "1.00", "similar"]  # the header was seen despite the BOM
    assert len(rows(result.output)) == 2


def test_standard_input() -> None:
    result = run("--file", "-", stdin="星河,兴和\n")
    assert result.exit_code == 0, result.output
    assert rows(result.output)[1][:4] == ["星河", "兴和", "0.90", "similar"]


def test_a_bad_row_is_reported_with_its_line_and_skipped(tmp_path: Path) -> None:
    path = write(tmp_path, "mark_a,mark_b\n星河,兴和\nlonely\n星河,\nNOVA,NOTA\n")
    result = run("--file", path)
    assert result.exit_code == 1
    assert "line 3:" in result.stderr and "line 4:" in result.stderr and "2 bad row(s)" in result.stderr
    assert [r[:2] for r in rows(result.stdout)] == [HEADER[:2], ["星河", "兴和"], ["NOVA", "NOTA"]]


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "星河,兴和\n", encoding="gbk")
    result = run("--file", path)
    assert result.exit_code == 1 and "cannot read" in result.output


@pytest.mark.parametrize("args", [[], ["星河"], ["星河", "兴和", "星光"], ["星河", "兴和", "--file", "-"]])
def test_usage_errors(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 2 and "two marks" in result.output
