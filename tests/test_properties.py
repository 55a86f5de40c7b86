"""Properties (pure) of the decisions bad input reaches first: the intake schema (and the API's
error shape of its complaints), the case lifecycle, the routing function, and evidence file names.
Seeded (``derandomize``) so that every run tries the same inputs.

``test_routing`` checks the chosen expert against the code's own ``FILTERS``; here the hard rules
are stated again apart from the code, so that a rule dropped from ``FILTERS`` is caught too.
"""

from __future__ import annotations

import random
import string
from datetime import date
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from tests.test_routing import POOLS, PRICES, TODAY, cases
from workstation import lifecycle as lc
from workstation.evidence import MAX_NAME, safe_filename
from workstation.routing import CaseFacts, ExpertFacts, choose_expert, same_organisation, score
from workstation.services.schemas import (
    LANGUAGES,
    MAX_DESCRIPTION,
    MAX_TITLE,
    PARTY_ROLES,
    RIGHT_KINDS,
    RIGHT_TYPES,
    SERVICES,
    TECHNICAL_FIELDS,
    URGENCIES,
    api_errors,
    case_input_schema,
)
from workstation.vocabulary import ACTIVITY_SERVICES, CREDIT_CODE_CHARACTERS, credit_code_check_character

pytestmark = pytest.mark.pure


def seeded(examples: int) -> settings:
    """The same ``examples`` inputs on every run (no example database, no clock)."""
    return settings(derandomize=True, database=None, deadline=None, max_examples=examples)


# --- the intake schema -------------------------------------------------------------------------

JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = sorted(case_input_schema.fields) + ["status", "", "title "]
KEY_DATES = ("known_on", "published_on", "registered_on", "notice_received_on", "infringement_started_on")


@st.composite
def near_valid_case(draw: st.DrawFn) -> dict[str, Any]:
    """A valid case with some fields replaced by anything JSON can hold (the likeliest bad input:
    right keys, wrong values), or removed, or one unknown key added."""
    data = dict(draw(valid_case()))
    for name in draw(st.lists(st.sampled_from(FIELD_NAMES), max_size=3)):
        choice = draw(st.sampled_from(["replace", "remove"]))
        if choice == "remove":
            data.pop(name, None)
        else:
            data[name] = draw(JSON)
    return data


def text(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(min_size=min_size, max_size=max_size).filter(lambda s: s.strip())


CREDIT_CODE_CHARS = CREDIT_CODE_CHARACTERS


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    code = st.sampled_from(CREDIT_CODE_CHARS)
    first_17 = (
        "".join(draw(st.lists(code, min_size=2, max_size=2)))
        + "".join(draw(st.lists(st.sampled_from(string.digits), min_size=6, max_size=6)))
        + "".join(draw(st.lists(code, min_size=9, max_size=9)))
    )
    return first_17 + credit_code_check_character(first_17)


@st.composite
def valid_case(draw: st.DrawFn) -> dict[str, Any]:
    data: dict[str, Any] = {
        "right_type": draw(st.sampled_from(RIGHT_TYPES)),
        "service": draw(st.sampled_from(SERVICES)),
        "title": draw(text(1, MAX_TITLE)),
        "description": draw(text(1, 300) | st.just("描" * MAX_DESCRIPTION)),
    }
    optional = {
        "jurisdiction": st.text(string.ascii_uppercase, min_size=2, max_size=2),
        "language": st.sampled_from(LANGUAGES),
        "technical_field": st.sampled_from(TECHNICAL_FIELDS),
        "confidential": st.none() | st.booleans(),
        "urgency": st.sampled_from(URGENCIES),
        "parties": st.lists(
            st.fixed_dictionaries(
                {"name": text(1, 200)},
                optional={"role": st.sampled_from(PARTY_ROLES), "credit_code": st.none() | credit_codes()},
            ),
            max_size=3,
        ),
        "rights": st.lists(
            st.fixed_dictionaries(
                {"kind": st.sampled_from(RIGHT_KINDS)},
                optional={"number": st.text(max_size=60), "mark_text": st.text(max_size=200)},
            ),
            max_size=3,
        ),
        "key_dates": st.dictionaries(st.sampled_from(KEY_DATES), st.dates().map(date.isoformat), max_size=3),
    }
    for name in draw(st.sets(st.sampled_from(sorted(optional)))):
        data[name] = draw(optional[name])
    if data["service"] in ACTIVITY_SERVICES:  # these name the activity they concern (test_activity)
        data["activity"] = {"kind": "trade", "date": draw(st.dates()).isoformat(), "target_markets": ["US"]}
    if data["right_type"] == "trade_secret" and data.get("confidential") is False:
        data["confidential"] = True  # a trade secret is always confidential: false is refused (test_api)
    return data


@seeded(200)
@given(raw=JSON | st.dictionaries(st.sampled_from(FIELD_NAMES), JSON, max_size=8) | near_valid_case())
def test_the_intake_schema_loads_or_says_why_and_nothing_else(raw: Any) -> None:
    try:
        loaded = case_input_schema.load(raw)
    except ValidationError as err:
        # Every complaint names a field (or the whole body) and says something; in the API's error
        # shape, each field of the input the complaint is about has a list of strings.
        messages = err.normalized_messages()
        assert messages and all(isinstance(field, str) for field in messages)
        errors = api_errors(messages)
        assert set(errors) == set(messages)
        assert all(m and all(isinstance(x, str) and x for x in m) for m in errors.values())
        return
    assert isinstance(loaded, dict) and {"right_type", "service", "title", "description"} <= set(loaded)


@seeded(150)
@given(raw=valid_case())
def test_every_valid_case_loads_and_keeps_what_was_sent(raw: dict[str, Any]) -> None:
    loaded = case_input_schema.load(raw)
    for name in ("right_type", "service", "description"):
        assert loaded[name] == raw[name]
    assert loaded["key_dates"] == raw.get("key_dates", {})
    assert loaded["title"] == raw["title"].strip()
    defaults = {"jurisdiction": "CN", "language": "zh", "technical_field": "other", "urgency": "normal"}
    for name, default in defaults.items():
        assert loaded[name] == raw.get(name, default)
    confidential = raw.get("confidential")
    assert loaded["confidential"] is (raw["right_type"] == "trade_secret" if confidential is None else confidential)
    assert [p["name"] for p in loaded["parties"]] == [p["name"] for p in raw.get("parties", [])]
    assert [p["role"] for p in loaded["parties"]] == [p.get("role", "respondent") for p in raw.get("parties", [])]
    assert [p["credit_code"] for p in loaded["parties"]] == [p.get("credit_code") for p in raw.get("parties", [])]
    assert [(r["kind"], r["number"], r["mark_text"]) for r in loaded["rights"]] == [
        (r["kind"], r.get("number", ""), r.get("mark_text", "")) for r in raw.get("rights", [])
    ]
    # What was loaded is itself a valid submission, and loads to the same thing again.
    assert case_input_schema.load(loaded) == loaded


# --- the lifecycle -----------------------------------------------------------------------------

ACTORS = (lc.SYSTEM, lc.OWNER, lc.ASSIGNEE, lc.COORDINATOR)
REASONS = st.sampled_from(["a reason", None, "", "   "])
#: The only ways out of a finished case: a coordinator reopens it, giving a reason.
WAYS_OUT_OF_TERMINAL = {(lc.CLOSED, "reopen", lc.COORDINATOR), (lc.WITHDRAWN, "reopen", lc.COORDINATOR)}


def moves_from(status: str | None) -> st.SearchStrategy[tuple[str, str]]:
    """Mostly a move (action, actor) the table has from ``status``, so that long walks reach every
    status; else any action by anyone, or words that are neither."""
    possible = sorted(
        (action, actor)
        for action, t in lc.TRANSITIONS.items()
        if status in t.sources or (status, action) == (None, "submit")
        for actor in t.actors
    )
    anything = st.tuples(
        st.sampled_from(sorted(lc.TRANSITIONS)) | st.text(max_size=8), st.sampled_from(ACTORS) | st.text(max_size=8)
    )
    return st.sampled_from(possible) | anything if possible else anything


@seeded(150)
@given(data=st.data())
def test_any_sequence_of_actions_is_applied_or_refused_and_the_status_stays_known(data: st.DataObject) -> None:
    status: str | None = None
    for _ in range(data.draw(st.integers(0, 30), label="steps")):
        action, actor = data.draw(moves_from(status), label="move")
        reason = data.draw(REASONS, label="reason")
        try:
            move = lc.decide(status, action, actor, reason)
        except lc.TransitionError as err:
            assert err.code in ("unknown", "forbidden", "conflict", "invalid") and err.message
            continue
        # Applied: by someone allowed, from a status the table allows, with a reason when one is needed.
        assert actor in move.actors and action == move.action
        assert status in move.sources or (status is None and action == "submit")
        assert not move.needs_reason or (reason or "").strip()
        if status in (lc.CLOSED, lc.WITHDRAWN):
            assert (status, action, actor) in WAYS_OUT_OF_TERMINAL
        status = move.target
        assert status in lc.STATUSES


@pytest.mark.parametrize("terminal", [lc.CLOSED, lc.WITHDRAWN])
def test_finished_cases_move_only_by_the_ways_out_the_table_allows(terminal: str) -> None:
    allowed = {
        (action, actor)
        for action in lc.TRANSITIONS
        for actor in ACTORS
        if _applies(terminal, action, actor, "a reason")
    }
    assert allowed == {(a, who) for status, a, who in WAYS_OUT_OF_TERMINAL if status == terminal}


def _applies(status: str | None, action: str, actor: str, reason: str | None) -> bool:
    try:
        lc.decide(status, action, actor, reason)
    except lc.TransitionError:
        return False
    return True


# --- routing -----------------------------------------------------------------------------------


def eligible_by_spec(case: CaseFacts, expert: ExpertFacts, today: date) -> bool:
    """The hard rules, written out apart from ``routing.FILTERS``."""
    conflict = any(same_organisation(expert.organisation, party) for party in (case.applicant, *case.parties)) or any(
        same_organisation(acted, party) for acted in expert.acted_for for party in case.parties
    )
    return (
        not expert.is_trainee
        and case.right_type in expert.right_types
        and (expert.services is None or case.service in expert.services)
        and (expert.jurisdictions is None or case.jurisdiction in expert.jurisdictions)
        and (expert.languages is None or bool(case.languages & expert.languages))
        and expert.available
        and (expert.on_leave_until is None or expert.on_leave_until < today)
        and expert.active_cases < expert.capacity
        and expert.id not in case.declined_by
        and (not case.confidential or expert.confidential_ok)
        and not conflict
    )


@seeded(100)
@given(case=cases(), pool=POOLS, prices=PRICES, seed=st.integers(0, 2**32 - 1))
def test_routing_picks_the_best_eligible_expert_whatever_the_order_and_none_only_when_none_is_eligible(
    case: CaseFacts, pool: tuple[ExpertFacts, ...], prices: dict[int, float] | None, seed: int
) -> None:
    decision = choose_expert(case, pool, TODAY, prices)
    eligible = [e for e in pool if eligible_by_spec(case, e, TODAY)]
    assert (decision.expert_id is None) == (not eligible)
    assert decision.reasons, "a decision always says why"
    if decision.expert_id is not None:
        pick = next(e for e in pool if e.id == decision.expert_id)
        assert pick in eligible
        assert round(score(case, pick, prices), 9) == max(round(score(case, e, prices), 9) for e in eligible)
    # Deterministic: the same input, in any order, gives the same expert.
    assert choose_expert(case, pool, TODAY, prices) == decision
    shuffled = list(pool)
    random.Random(seed).shuffle(shuffled)
    assert choose_expert(case, shuffled, TODAY, prices).expert_id == decision.expert_id


# --- evidence file names -----------------------------------------------------------------------

NAME_PARTS = st.sampled_from(["..", ".", "/", "\\", "\x00", "\r\n", " ", "C:", "证据", "a", "é", "\u202e"])


@seeded(300)
@example(name="a" * 254 + " b", stem="x")  # cut at a space
@example(name=". . hidden", stem="x")  # a space behind the dot
@example(name="x", stem="照片" * 200)  # long, and only the extension says what it is
@given(
    name=st.text(max_size=300) | st.lists(NAME_PARTS, max_size=20).map("".join),
    stem=st.text(st.sampled_from("证据照片ab-_ 1"), min_size=1, max_size=400).filter(lambda s: s.strip()),
)
def test_a_file_name_is_reduced_to_a_plain_name_that_keeps_its_extension(name: str, stem: str) -> None:
    for raw in (name, f"{name}/{stem}.pdf"):
        cleaned = safe_filename(raw)
        # No way out of a folder, nothing unprintable (a header or a log line), not hidden, fits the column.
        assert "/" not in cleaned and "\\" not in cleaned and cleaned.isprintable()
        assert not cleaned.startswith(".") and cleaned == cleaned.strip() and len(cleaned) <= MAX_NAME
    # A plain name however long keeps its extension, which is what its content is checked against.
    assert safe_filename(f"{name}/{stem}.pdf").endswith(".pdf")


@pytest.mark.pure
def test_credit_codes_of_real_enterprises_pass_the_check_and_a_mistyped_one_fails() -> None:
    from workstation.vocabulary import is_credit_code

    # Published codes (GB 32100-2015 check character): any change to one character is caught.
    for code in ("91350100M000100Y43", "91110000802100433B", "911100001000079554", "91440300708461136T"):
        assert is_credit_code(code), code
        typo = code[:5] + ("1" if code[5] != "1" else "2") + code[6:]
        assert not is_credit_code(typo), typo
    assert not is_credit_code("91440300708461136t")  # the form first: lower case is not a code
