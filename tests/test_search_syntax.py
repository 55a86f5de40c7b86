"""The search syntax and the grams of the search index (pure)."""

from __future__ import annotations

import sqlite3
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workstation.search_syntax import (
    MAX_TERMS,
    SEPARATORS,
    Query,
    SearchSyntaxError,
    fold,
    fts_document,
    fts_query,
    grams,
    needs_recheck,
    parse,
    runs,
    tsquery,
    tsvector,
)

pytestmark = pytest.mark.pure


def test_words_and_quoted_phrases_are_terms_all_of_which_must_match() -> None:
    assert parse('商标  侵权 "星河 科技"').terms == ("商标", "侵权", "星河 科技")
    assert parse("").empty and parse("   ").empty
    assert parse("商标 商标").terms == ("商标",)


def test_an_unclosed_quote_runs_to_the_end() -> None:
    assert parse('"陕西 星河').terms == ("陕西 星河",)


def test_filters_take_their_values_and_commas_mean_either() -> None:
    query = parse("status:assigned,closed type:trademark service:consultation 仿冒 confidential:no")
    assert query.statuses == ("assigned", "closed")
    assert query.right_types == ("trademark",)
    assert query.services == ("consultation",)
    assert query.confidential is False
    assert query.terms == ("仿冒",)


def test_people_filters_take_quoted_text() -> None:
    query = parse('expert:"张 三" enterprise:星河')
    assert query.experts == ("张 三",) and query.enterprises == ("星河",)


def test_dates() -> None:
    query = parse("after:2026-11-01 before:2026-12-01")
    assert (query.after, query.before) == (date(2026, 11, 1), date(2026, 12, 1))


def test_field_names_are_case_insensitive() -> None:
    assert parse("STATUS:closed").statuses == ("closed",)


def test_a_name_that_is_no_field_is_an_ordinary_word() -> None:
    assert parse("10:30 http://example.cn").terms == ("10:30", "http://example.cn")


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("status:nonsense", "status"),
        ("type:car", "type"),
        ("service:x", "service"),
        ("after:2026-13-01", "after"),
        ("before:yesterday", "before"),
        ("after:2026-01-01 after:2026-02-01", "after"),
        ("confidential:maybe", "confidential"),
        ("status:", "status"),
        ("x" * 501, "q"),
        (" ".join(f"w{i}" for i in range(MAX_TERMS + 1)), "q"),
    ],
)
def test_what_cannot_be_run_is_an_error_naming_its_field(text: str, field: str) -> None:
    with pytest.raises(SearchSyntaxError) as raised:
        parse(text)
    assert raised.value.field == field


def test_words_of_punctuation_only_are_ignored_and_said_so() -> None:
    query = parse("— ，。 商标")
    assert query.terms == ("商标",) and query.ignored == ("—", "，。")


def test_folding_changes_ascii_letters_only() -> None:
    assert fold("ZL2019 Éa 商标") == "zl2019 Éa 商标"


def test_runs_split_at_ascii_and_cjk_punctuation_and_spaces() -> None:
    assert runs("陕西某科技有限公司，商标 ZL2019-123.4（注册号）iPhone手机") == [
        "陕西某科技有限公司", "商标", "zl2019", "123", "4", "注册号", "iphone手机",
    ]  # fmt: skip


def test_grams_are_pairs_and_threes_within_runs_and_each_runs_last_character() -> None:
    assert grams("商标权，AB") == {"商标", "标权", "商标权", "权", "ab", "b"}


def test_a_term_of_one_gram_needs_no_recheck_anything_longer_does() -> None:
    assert not needs_recheck("商标") and not needs_recheck("星") and not needs_recheck("AB")
    assert needs_recheck("注册商标") and needs_recheck("a-b") and needs_recheck("星 河")


def test_tsquery_is_the_terms_grams_a_single_character_as_a_prefix() -> None:
    assert tsquery("商标权") == "'商标权'", "three characters or more: by threes"
    assert tsquery("2019101") == "'201' & '019' & '191' & '910' & '101'"
    assert tsquery("商标") == "'商标'"
    assert tsquery("星") == "'星':*"
    assert tsquery("ZL-2") == "'zl' & '2':*"
    assert tsquery("it's") == "'it' & 's':*"
    assert tsquery("，") is None


@given(st.text(min_size=1, max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_a_substring_always_has_its_grams_in_the_documents_grams(term: str, before: str, after: str) -> None:
    # what makes the index a correct first cut: a document holding the term satisfies its tsquery
    document = before + term + after
    clauses = tsquery(term)
    if clauses is None:
        return
    held = grams(document)
    for clause in clauses.split(" & "):
        lexeme = clause.removesuffix(":*")[1:-1].replace("''", "'").replace("\\\\", "\\")
        if clause.endswith(":*"):
            assert any(g.startswith(lexeme) for g in held), (term, document)
        else:
            assert lexeme in held, (term, document)


def test_an_empty_query_is_empty() -> None:
    assert Query().empty and not parse("status:closed").empty


@given(st.text(min_size=1, max_size=40), st.text(max_size=40), st.text(max_size=40))
def test_a_substring_always_matches_its_fts5_query_in_sqlite(term: str, before: str, after: str) -> None:
    # the same for SQLite's FTS5 table (services.search.CASE_FTS): a document holding the term matches
    query = fts_query(term)
    if query is None:
        return
    with sqlite3.connect(":memory:") as connection:
        connection.execute("CREATE VIRTUAL TABLE f USING fts5(grams, tokenize='ascii', prefix='6')")
        connection.execute("INSERT INTO f (rowid, grams) VALUES (1, ?)", (fts_document(before + term + after),))
        assert connection.execute("SELECT rowid FROM f WHERE f MATCH ?", (query,)).fetchall() == [(1,)], term


def test_a_tsvector_literal_needs_no_escaping_because_quotes_and_backslashes_are_separators() -> None:
    assert SEPARATORS.fullmatch("'") and SEPARATORS.fullmatch("\\")
    assert tsvector("O'Brien \\ 商标") == "'" + "' '".join(grams("O'Brien \\ 商标")) + "'"
    assert "'" not in tsvector("O'Brien")[1:-1].replace("' '", "") and tsvector("'\\") == ""
