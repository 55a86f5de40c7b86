"""The state machine, as a table: every (status, action, actor) either moves or is refused."""

from __future__ import annotations

import pytest

from workstation import lifecycle as lc

pytestmark = pytest.mark.pure

# (status, action, actor, reason) -> expected target status, or the error code
TABLE = [
    (None, "submit", lc.OWNER, None, lc.SUBMITTED),
    (lc.SUBMITTED, "assign", lc.SYSTEM, None, lc.ASSIGNED),
    (lc.SUBMITTED, "escalate", lc.SYSTEM, None, lc.AWAITING_EXPERT),
    (lc.DECLINED, "assign", lc.SYSTEM, None, lc.ASSIGNED),
    (lc.ASSIGNED, "reroute", lc.SYSTEM, None, lc.ASSIGNED),
    (lc.ASSIGNED, "escalate", lc.SYSTEM, None, lc.AWAITING_EXPERT),
    (lc.ACCEPTED, "reroute", lc.SYSTEM, None, lc.ASSIGNED),  # (classified anew: not theirs any more)
    (lc.IN_PROGRESS, "escalate", lc.SYSTEM, None, lc.AWAITING_EXPERT),
    (lc.OPINION_ISSUED, "reroute", lc.SYSTEM, None, "conflict"),
    (lc.ASSIGNED, "reroute", lc.COORDINATOR, None, "forbidden"),
    (lc.AWAITING_EXPERT, "reassign", lc.COORDINATOR, None, lc.ASSIGNED),
    (lc.ASSIGNED, "accept", lc.ASSIGNEE, None, lc.ACCEPTED),
    (lc.ASSIGNED, "decline", lc.ASSIGNEE, "conflict of interest", lc.DECLINED),
    (lc.ASSIGNED, "decline", lc.ASSIGNEE, "  ", "invalid"),
    (lc.ACCEPTED, "start", lc.ASSIGNEE, None, lc.IN_PROGRESS),
    (lc.IN_PROGRESS, "request_info", lc.ASSIGNEE, "need the sales invoice", lc.AWAITING_APPLICANT),
    (lc.AWAITING_APPLICANT, "provide_info", lc.OWNER, "invoices attached", lc.IN_PROGRESS),
    (lc.AWAITING_APPLICANT, "provide_info", lc.OWNER, None, "invalid"),
    (lc.IN_PROGRESS, "issue_opinion", lc.ASSIGNEE, None, lc.OPINION_ISSUED),
    (lc.OPINION_ISSUED, "close", lc.OWNER, None, lc.CLOSED),
    (lc.OPINION_ISSUED, "close", lc.COORDINATOR, None, lc.CLOSED),
    (lc.IN_PROGRESS, "withdraw", lc.OWNER, None, lc.WITHDRAWN),
    (lc.CLOSED, "reopen", lc.COORDINATOR, "rating disputed", lc.REOPENED),
    # refusals
    (lc.SUBMITTED, "accept", lc.ASSIGNEE, None, "conflict"),
    (lc.ASSIGNED, "accept", lc.OWNER, None, "forbidden"),
    (lc.ASSIGNED, "assign", lc.COORDINATOR, None, "forbidden"),
    (lc.OPINION_ISSUED, "withdraw", lc.OWNER, None, "conflict"),
    (lc.CLOSED, "reopen", lc.OWNER, "x", "forbidden"),
    (lc.IN_PROGRESS, "issue_opinion", lc.COORDINATOR, None, "forbidden"),
    (lc.ASSIGNED, "teleport", lc.COORDINATOR, None, "unknown"),
]


@pytest.mark.parametrize(("status", "action", "actor", "reason", "expected"), TABLE)
def test_transition_table(status, action, actor, reason, expected) -> None:  # noqa: ANN001
    if expected in lc.STATUSES:
        assert lc.decide(status, action, actor, reason).target == expected
    else:
        with pytest.raises(lc.TransitionError) as raised:
            lc.decide(status, action, actor, reason)
        assert raised.value.code == expected
        assert raised.value.message


def test_every_target_and_source_is_a_known_status() -> None:
    for transition in lc.TRANSITIONS.values():
        assert transition.target in lc.STATUSES
        assert transition.sources <= set(lc.STATUSES)


def test_every_status_but_the_final_ones_has_a_way_out() -> None:
    reachable_from = {s for t in lc.TRANSITIONS.values() for s in t.sources}
    assert set(lc.STATUSES) - reachable_from == set()
