"""Writing and reading a case's opinion: the one way the web form and the API go.

What the opinion of a case asks for (``opinion_form``) depends on the case: its service, its
activity's kind, its litigation matter, whether a panel sat on it (``workstation.opinions``).
``issue_opinion`` checks who writes and when, validates with those rules, stores the opinion and
moves the case through the lifecycle's ``issue_opinion`` (its event and outbox row mail the
enterprise).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from workstation import lifecycle
from workstation.opinions import OPINION_SCHEMAS, OpinionField, load_opinion, opinion_fields
from workstation.services.cases import actor_relation, transition
from workstation.services.models import Case, Opinion, User
from workstation.services.panels import panel_sat
from workstation.vocabulary import litigation_facet

ISSUE = "issue_opinion"


@dataclass(frozen=True)
class OpinionForm:
    """What a case's opinion asks for: its service's fields, its activity's or its matter's
    sections, and the panel's fields when a panel sat on it."""

    service: str
    right_type: str
    activity_kind: str | None
    litigation_facet: str | None
    panel_sat: bool
    #: the kinds of the rights the case names (a geographical indication's route depends on them)
    right_kinds: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[OpinionField, ...]:
        return opinion_fields(self.service, self.activity_kind, self.panel_sat, self.litigation_facet)

    def load(self, data: Mapping[str, Any], today: date | None = None) -> dict[str, Any]:
        """``data`` checked for this case (``opinions.load_opinion``): the body to store."""
        return load_opinion(self.service, data, self.right_type, today, activity_kind=self.activity_kind,
                            panel_sat=self.panel_sat, litigation_facet=self.litigation_facet,
                            right_kinds=list(self.right_kinds))  # fmt: skip


def opinion_form(session: Session, case: Case) -> OpinionForm:
    """What ``case``'s opinion asks for."""
    return OpinionForm(
        service=case.service,
        right_type=case.right_type,
        activity_kind=(case.activity or {}).get("kind"),
        litigation_facet=litigation_facet(case.litigation),
        panel_sat=panel_sat(session, case),
        right_kinds=tuple(right.get("kind") for right in case.rights or () if isinstance(right, dict)),
    )


def check_may_issue(case: Case, user: User) -> None:
    """Raise ``lifecycle.TransitionError`` unless ``user`` may issue ``case``'s opinion now: only its
    assigned expert (``forbidden`` for anyone else), only while it is in progress (``conflict``)."""
    relation = actor_relation(case, user)
    if relation is None:
        raise lifecycle.TransitionError("forbidden", "Only the case's expert writes its opinion.")
    lifecycle.decide(case.status, ISSUE, relation)


def issue_opinion(
    session: Session, case: Case, expert: User, data: Mapping[str, Any], source: str = "web", today: date | None = None
) -> Opinion:
    """``expert`` writes and issues ``case``'s (locked) opinion from ``data`` (the fields, as the
    form's ``form_to_opinion_input`` shapes them or as the API's JSON has them). Raises
    ``lifecycle.TransitionError`` (who, when: ``check_may_issue``), then ``ValidationError``
    (the fields, by name). The caller commits."""
    check_may_issue(case, expert)
    body = opinion_form(session, case).load(data, today)
    opinion = Opinion(case_id=case.id, service=case.service, body=body, issued_by=expert.id, expert=expert)
    session.add(opinion)
    transition(session, case, ISSUE, expert, source=source)
    return opinion


def fits_some_service(data: Any) -> bool:
    """Whether ``data`` is some service's opinion as far as its own fields go: what the API's
    document states (``web.openapi``). When it is and yet ``issue_opinion`` refused it, what was
    wrong is the case's (its service, its activity's or matter's sections, its panel, the
    calculator for its right type): no schema can say so (a 422, not a 400)."""
    for schema in OPINION_SCHEMAS.values():
        try:
            schema().load(data)
        except ValidationError:
            continue
        return True
    return False


def opinion_record(case: Case, opinion: Opinion) -> dict[str, Any]:
    """The opinion as the API shows it (without its links)."""
    return {
        "reference": case.reference,
        "service": opinion.service,
        "issued_at": opinion.issued_at.isoformat(),
        "expert": {"id": opinion.expert.id, "name": opinion.expert.name},
        "body": opinion.body,
    }
