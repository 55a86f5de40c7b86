"""The watch consumer: early warnings a new case can raise for others.

- ``case.submitted``: the marks the case names are checked against every watched mark (other
  enterprises' look-alike notices, ``workstation.services.marks``), and its respondents against the
  respondents of other enterprises' cases (``workstation.services.respondents``).

Both write their matches and notices with the handled mark in one transaction; the notices' keys
make a second delivery (or a second worker) add nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from workers.delivery import Context, Delivery, PermanentError, claim_deliveries, payload_id
from workstation.services.db import lock_for_write
from workstation.services.marks import check_marks, marks_named_in
from workstation.services.messaging import SUBSCRIPTIONS
from workstation.services.models import Case
from workstation.services.respondents import warn_repeat_respondents
from workstation.services.search import index_cases

CONSUMER = "watch"


#: The most messages handled in one transaction (``workers.consumer``).
MAX_BATCH = 32

#: The events ``handle_many`` takes several at a time (all of watch's).
BATCHED_EVENTS = frozenset(SUBSCRIPTIONS[CONSUMER])


def handle(ctx: Context, message_id: int, event_type: str, payload: dict[str, Any]) -> None:
    handle_many(ctx, [Delivery(message_id, event_type, payload)])


def handle_many(ctx: Context, deliveries: list[Delivery]) -> None:
    """Check the cases of several ``case.submitted`` events in one transaction."""
    for d in deliveries:
        if d.event_type not in BATCHED_EVENTS:
            raise PermanentError(f"watch has nothing to do for {d.event_type!r}")
    with ctx.sessions() as session:
        lock_for_write(session)
        mine = claim_deliveries(session, CONSUMER, deliveries)
        if not mine:
            return
        case_ids = {payload_id(d.payload, "case_id") for d in mine} - {None}
        cases = {c.id: c for c in session.scalars(select(Case).where(Case.id.in_(case_ids)))} if case_ids else {}
        checked = []
        for d in mine:
            case = cases.get(payload_id(d.payload, "case_id"))  # type: ignore[arg-type]
            if case is None:
                raise PermanentError("payload names no existing case")  # (the claim is rolled back)
            checked.append(case)
        check_marks(session, [mark for case in checked for mark in marks_named_in(case)])
        warn_repeat_respondents(session, checked)
        index_cases(session, [case.id for case in checked])  # (their search grams: not in intake's statement)
        session.commit()
