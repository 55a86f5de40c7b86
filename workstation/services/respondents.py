"""Repeat respondents: a respondent already named in other enterprises' cases.

Every case's parties are kept in ``case_parties`` with their normalised name
(``routing.normalise_name``: "深圳某某科技有限公司" and "深圳某某科技" are one key) and unified social
credit code, so the look-up is one indexed query. When a new case names a respondent that other
enterprises' cases name too, the coordinators are told which cases (they see everything), and each
enterprise involved is told, about its own case only, that the respondent is a repeat respondent —
never which other enterprises, nor their cases.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, bindparam, or_, select
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


# Built once (building a statement cost about as much as running it; the watch consumer runs it
# for every batch of cases). A party is the same when its normalised name or its credit code is;
# an empty key matches nothing (a NULL one never does: SQL's ``= NULL`` is never true).
_OWN = aliased(CaseParty)
_EARLIER_PARTIES_NAMING = (
    select(_OWN, CaseParty, Case.reference, Case.title, User.name, User.organisation, Case.confidential)
    .join(
        CaseParty,
        and_(
            CaseParty.role == "respondent",
            CaseParty.enterprise_id != _OWN.enterprise_id,
            # earlier cases only: of two cases naming one respondent, the later one warns,
            # whichever order the worker handles them in
            CaseParty.case_id < _OWN.case_id,
            or_(
                and_(_OWN.name_key != "", CaseParty.name_key == _OWN.name_key),
                and_(_OWN.credit_code != "", CaseParty.credit_code == _OWN.credit_code),
            ),
        ),
    )
    .join(Case, Case.id == CaseParty.case_id)
    .join(User, User.id == CaseParty.enterprise_id)
    .where(_OWN.case_id.in_(bindparam("case_ids", expanding=True)), _OWN.role == "respondent")
    .order_by(_OWN.id, CaseParty.id)
)


def warn_repeat_respondents(session: Session, cases: list[Case]) -> int:
    """Raise the repeat-respondent notices for ``cases`` (one query finds the earlier cases naming
    their respondents, for the whole batch); returns how many were new."""
    matches: dict[int, dict[int, tuple[CaseParty, list[Any]]]] = {}  # case id -> party id -> rows
    for row in session.execute(_EARLIER_PARTIES_NAMING, {"case_ids": [c.id for c in cases]}):
        own = row[0]
        matches.setdefault(own.case_id, {}).setdefault(own.id, (own, []))[1].append(row)
    coordinators = active_coordinators(session) if matches else []
    raised = 0
    for case in cases:
        notices: list[NewNotice] = []
        for party, others in matches.get(case.id, {}).values():
            notices += _notices(case, party, others, coordinators)
        raised += len(raise_notices(session, notices))  # (one notice.raised event per case, as before)
    return raised


def _notices(case: Case, party: CaseParty, others: list[Any], coordinators: list[User]) -> list[NewNotice]:
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
