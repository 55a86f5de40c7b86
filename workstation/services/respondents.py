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

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

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


# Built once (building a statement cost about as much as running it; the watch consumer runs them
# for every case). A party is the same when its normalised name or its credit code is: a NULL
# parameter (a party without one) matches nothing, as SQL's ``= NULL`` is never true.
_RESPONDENTS_OF_CASE = (
    select(CaseParty)
    .where(CaseParty.case_id == bindparam("case_id"), CaseParty.role == "respondent")
    .order_by(CaseParty.id)
)
_EARLIER_CASES_NAMING = (
    select(CaseParty, Case.reference, Case.title, User.name, User.organisation, Case.confidential)
    .join(Case, Case.id == CaseParty.case_id)
    .join(User, User.id == CaseParty.enterprise_id)
    .where(
        CaseParty.role == "respondent",
        CaseParty.enterprise_id != bindparam("enterprise_id"),
        # earlier cases only: of two cases naming one respondent, the later one warns, whichever
        # order the worker handles them in
        CaseParty.case_id < bindparam("case_id"),
        or_(CaseParty.name_key == bindparam("name_key"), CaseParty.credit_code == bindparam("credit_code")),
    )
    .order_by(CaseParty.id)
)


def warn_repeat_respondents(session: Session, case: Case) -> int:
    """Raise the repeat-respondent notices for ``case``; returns how many were new."""
    respondents = session.scalars(_RESPONDENTS_OF_CASE, {"case_id": case.id}).all()
    notices: list[NewNotice] = []
    coordinators: list[User] | None = None
    for party in respondents:
        if not party.name_key and not party.credit_code:
            continue
        others = session.execute(
            _EARLIER_CASES_NAMING,
            {
                "enterprise_id": case.enterprise_id,
                "case_id": case.id,
                "name_key": party.name_key or None,
                "credit_code": party.credit_code or None,
            },
        ).all()
        if not others:
            continue
        if coordinators is None:
            coordinators = active_coordinators(session)
        listed = [
            {"reference": ref, "title": title, "enterprise": org or name, "named_as": other.name,
             "confidential": confidential}
            for other, ref, title, name, org, confidential in others
        ]  # fmt: skip
        for coordinator in coordinators:
            notices.append(
                NewNotice(
                    coordinator.id,
                    "repeat_respondent",
                    f"repeat:coordinator:{party.id}:{coordinator.id}",
                    {
                        "audience": "coordinator",
                        "respondent": party.name,
                        "credit_code": party.credit_code,
                        "reference": case.reference,
                        "enterprises": len({o.enterprise_id for o, *_ in others}),
                        "others": listed,
                    },
                    case.id,
                )
            )
        # Each enterprise hears about its own case only, once per case and respondent, and only
        # when another case may be sensed: a confidential one never makes a repeat respondent of
        # anyone in an enterprise's eyes (``feeds_enterprise_notices``).
        told = [(party, case.reference)] if any(feeds_enterprise_notices(row) for row in others) else []
        if feeds_enterprise_notices(case):
            told += [(other, reference) for other, reference, *_ in others]
        notices += [
            NewNotice(own.enterprise_id, "repeat_respondent", f"repeat:party:{own.id}",
                      {"audience": "enterprise", "respondent": own.name, "reference": reference}, own.case_id)
            for own, reference in told
        ]  # fmt: skip
    return len(raise_notices(session, notices))
