"""Repeat respondents: a respondent already named in other enterprises' cases.

Every case's parties are kept in ``case_parties`` with their normalised name
(``routing.normalise_name``: "深圳某某科技有限公司" and "深圳某某科技" are one key) and unified social
credit code, so the look-up is one indexed query. When a new case names a respondent that other
enterprises' cases name too, the coordinators are told which cases (they see everything), and each
enterprise involved is told, about its own case only, that the respondent is a repeat respondent —
never which other enterprises, nor their cases.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, select, union
from sqlalchemy.orm import Session, aliased

from workstation.routing import normalise_name
from workstation.services.models import Case, CaseParty, User
from workstation.services.notices import NewNotice, active_coordinators, feeds_enterprise_notices, raise_notices


def party_rows(parties: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The ``case_parties`` rows indexing a new case's parties (without ``case_id`` and
    ``enterprise_id``, which the submission adds when it writes them in its transaction)."""
    rows = []
    for party in parties or []:
        name = str(party.get("name") or "").strip()
        if not name:
            continue
        rows.append(
            {
                "role": party.get("role") or "respondent",
                "name": name[:200],
                "name_key": normalise_name(name)[:200],
                "credit_code": (party.get("credit_code") or "").upper() or None,
            }
        )
    return rows


def _pairs_naming_alike(key: str, other_enterprises: str) -> Select[tuple[int, int]]:
    """(party of a given case, earlier respondent of another enterprise with the same ``key``): the
    other enterprises taken as the ids below the case's enterprise's, or above, so that each is a
    range of the index on (``key``, enterprise) -- the enterprise's own earlier cases, however many,
    are not read (``!=`` could not use the index: a big enterprise naming one respondent in
    thousands of cases made every new case read them all)."""
    own, other = aliased(CaseParty), aliased(CaseParty)
    below = other_enterprises == "below"
    other_enterprise = other.enterprise_id < own.enterprise_id if below else other.enterprise_id > own.enterprise_id
    return (
        select(own.id.label("own_id"), other.id.label("other_id"))
        .join(
            other,
            and_(
                other.role == "respondent",
                getattr(own, key) != "",
                getattr(other, key) == getattr(own, key),
                other_enterprise,
                # earlier cases only: of two cases naming one respondent, the later one
                # warns, whichever order the worker handles them in
                other.case_id < own.case_id,
            ),
        )  # fmt: skip
        # (The ids written into the statement: PostgreSQL plans it for them each time. A prepared
        # statement's generic plan, which it chose after five runs, took 4.3 ms a batch, 1.0 ms
        # planned for the ids: ``benchmarks/workercost.py``.)
        .where(own.case_id.in_(bindparam("case_ids", expanding=True, literal_execute=True)), own.role == "respondent")
    )


class _Naming(NamedTuple):
    """A party of a new case and an earlier respondent of another enterprise that names the same."""

    own: CaseParty
    other: CaseParty
    reference: str
    title: str
    name: str
    organisation: str | None
    confidential: bool


# Built once (building a statement cost about as much as running it; the watch consumer runs it
# for every batch of cases). A party is the same when its normalised name or its credit code is
# (the union counts a pair matched by both once); an empty key matches nothing (a NULL one never
# does: SQL's ``= NULL`` is never true).
_PAIRS = union(*(_pairs_naming_alike(key, side) for key in ("name_key", "credit_code") for side in ("below", "above")))
_PARTIES = (
    select(CaseParty, Case.reference, Case.title, User.name, User.organisation, Case.confidential)
    .join(Case, Case.id == CaseParty.case_id)
    .join(User, User.id == CaseParty.enterprise_id)
    .where(CaseParty.id.in_(bindparam("ids", expanding=True)))
)


def earlier_parties_naming(session: Session, case_ids: list[int]) -> list[_Naming]:
    """Each respondent of ``case_ids`` that other enterprises' earlier cases name, with each of
    those parties and its case, ordered by the two parties. (The pairs first, then their rows by
    primary key, its own parties among them: a join of the pairs to the tables was planned as
    hashes of whole tables.)"""
    pairs = sorted(session.execute(_PAIRS, {"case_ids": case_ids}).tuples())
    if not pairs:
        return []
    rows = {row[0].id: row for row in session.execute(_PARTIES, {"ids": sorted({i for pair in pairs for i in pair})})}
    return [_Naming(rows[own][0], *rows[earlier]) for own, earlier in pairs]


def warn_repeat_respondents(session: Session, cases: list[Case]) -> int:
    """Raise the repeat-respondent notices for ``cases`` (one query finds the earlier cases naming
    their respondents for the whole batch, a second reads them); returns how many were new."""
    matches: dict[int, dict[int, tuple[CaseParty, list[_Naming]]]] = {}  # case id -> party id -> rows
    for row in earlier_parties_naming(session, [c.id for c in cases]):
        matches.setdefault(row.own.case_id, {}).setdefault(row.own.id, (row.own, []))[1].append(row)
    coordinators = active_coordinators(session) if matches else []
    raised = 0
    for case in cases:
        notices: list[NewNotice] = []
        for party, others in matches.get(case.id, {}).values():
            notices += _notices(case, party, others, coordinators)
        raised += len(raise_notices(session, notices))  # (one notice.raised event per case, as before)
    return raised


def _notices(case: Case, party: CaseParty, others: list[_Naming], coordinators: list[User]) -> list[NewNotice]:
    """The notices of one respondent of ``case`` named by earlier cases: ``others``, rows of
    (the party, the earlier case's party, its reference, title, enterprise's name and
    organisation, whether confidential)."""
    listed = [
        {"reference": ref, "title": title, "enterprise": org or name, "named_as": other.name,
         "confidential": confidential}
        for _party, other, ref, title, name, org, confidential in others
    ]  # fmt: skip
    notices = [
        NewNotice(
            coordinator.id,
            "repeat_respondent",
            f"repeat:coordinator:{party.id}:{coordinator.id}",
            {
                "audience": "coordinator",
                "respondent": party.name,
                "credit_code": party.credit_code,
                "reference": case.reference,
                "enterprises": len({row[1].enterprise_id for row in others}),
                "others": listed,
            },
            case.id,
        )
        for coordinator in coordinators
    ]
    # Each enterprise hears about its own case only, once per case and respondent, and only
    # when another case may be sensed: a confidential one never makes a repeat respondent of
    # anyone in an enterprise's eyes (``feeds_enterprise_notices``).
    told = [(party, case.reference)] if any(feeds_enterprise_notices(row) for row in others) else []
    if feeds_enterprise_notices(case):
        told += [(row[1], row.reference) for row in others]
    return notices + [
        NewNotice(own.enterprise_id, "repeat_respondent", f"repeat:party:{own.id}",
                  {"audience": "enterprise", "respondent": own.name, "reference": reference}, own.case_id)
        for own, reference in told
    ]  # fmt: skip
