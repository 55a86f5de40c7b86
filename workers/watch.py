"""The watch consumer: early warnings a new case can raise for others.

- ``case.submitted``: the marks the case names are checked against every watched mark (other
  enterprises' look-alike notices, ``workstation.marks``), and its respondents against the
  respondents of other enterprises' cases (``workstation.respondents``).

Both write their matches and notices with the handled mark in one transaction; the notices' keys
make a second delivery (or a second worker) add nothing.
"""

from __future__ import annotations

from typing import Any

from workers.delivery import Context, PermanentError, claim_message, payload_id
from workstation.db import lock_for_write
from workstation.marks import check_marks, marks_named_in
from workstation.models import Case
from workstation.respondents import warn_repeat_respondents

CONSUMER = "watch"


def handle(ctx: Context, message_id: int, event_type: str, payload: dict[str, Any]) -> None:
    if event_type != "case.submitted":
        raise PermanentError(f"watch has nothing to do for {event_type!r}")
    with ctx.sessions() as session:
        lock_for_write(session)
        if not claim_message(session, CONSUMER, message_id):
            return
        case_id = payload_id(payload, "case_id")
        case = session.get(Case, case_id) if case_id is not None else None
        if case is None:
            raise PermanentError("payload names no existing case")  # (the claim is rolled back)
        check_marks(session, marks_named_in(case))
        warn_repeat_respondents(session, case)
        session.commit()
