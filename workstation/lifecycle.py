"""The case state machine: which action moves a case from which status to which, and who may.

Pure: no database, no Flask. ``workstation.cases.transition`` applies a decision and writes the
``CaseEvent`` and the outbox row in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from workstation.i18n import N_

SUBMITTED = "submitted"
ASSIGNED = "assigned"
ACCEPTED = "accepted"
IN_PROGRESS = "in_progress"
AWAITING_APPLICANT = "awaiting_applicant"
OPINION_ISSUED = "opinion_issued"
CLOSED = "closed"
DECLINED = "declined"  # declined by the expert, waiting to be routed again
AWAITING_EXPERT = "awaiting_expert"  # no eligible expert: a coordinator must act
WITHDRAWN = "withdrawn"
REOPENED = "reopened"

STATUSES = (
    SUBMITTED,
    ASSIGNED,
    ACCEPTED,
    IN_PROGRESS,
    AWAITING_APPLICANT,
    OPINION_ISSUED,
    CLOSED,
    DECLINED,
    AWAITING_EXPERT,
    WITHDRAWN,
    REOPENED,
)

#: Statuses a case ends in (until a coordinator reopens it).
FINISHED = (CLOSED, WITHDRAWN)
#: Statuses in which a case counts against its expert's capacity.
ACTIVE_FOR_EXPERT = (ASSIGNED, ACCEPTED, IN_PROGRESS, AWAITING_APPLICANT)

# Who is acting, relative to the case.
SYSTEM = "system"  # a worker or the scheduler
OWNER = "owner"  # the enterprise that submitted the case
ASSIGNEE = "assignee"  # the expert the case is assigned to
COORDINATOR = "coordinator"


@dataclass(frozen=True)
class Transition:
    action: str
    sources: frozenset[str]
    target: str
    actors: frozenset[str]
    #: routing key of the outbox event this transition emits (None: nobody needs to react)
    emits: str | None = None
    needs_reason: bool = False


def _t(action, sources, target, actors, emits=None, needs_reason=False) -> Transition:  # noqa: ANN001
    return Transition(action, frozenset(sources), target, frozenset(actors), emits, needs_reason)


_BEFORE_OPINION = (SUBMITTED, ASSIGNED, ACCEPTED, IN_PROGRESS, AWAITING_APPLICANT, DECLINED, AWAITING_EXPERT, REOPENED)

TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        _t("submit", [], SUBMITTED, [OWNER], emits="case.submitted"),
        _t("assign", [SUBMITTED, DECLINED, AWAITING_EXPERT, REOPENED], ASSIGNED, [SYSTEM], emits="case.assigned"),
        # The expert went on leave (or left) before accepting, or a coordinator classified the case
        # anew and it is no longer theirs to hold (``workers.routing.route_classified``): routing
        # picks someone else, who must accept it.
        _t("reroute", ACTIVE_FOR_EXPERT, ASSIGNED, [SYSTEM], emits="case.assigned"),
        _t(
            "escalate",
            [SUBMITTED, *ACTIVE_FOR_EXPERT, DECLINED, REOPENED],
            AWAITING_EXPERT,
            [SYSTEM],
            emits="case.awaiting_expert",
        ),
        _t(
            "reassign",
            [SUBMITTED, ASSIGNED, ACCEPTED, IN_PROGRESS, AWAITING_APPLICANT, AWAITING_EXPERT, DECLINED, REOPENED],
            ASSIGNED,
            [COORDINATOR],
            emits="case.assigned",
        ),
        _t("accept", [ASSIGNED], ACCEPTED, [ASSIGNEE], emits="case.accepted"),
        _t("decline", [ASSIGNED], DECLINED, [ASSIGNEE], emits="case.declined", needs_reason=True),
        _t("start", [ACCEPTED], IN_PROGRESS, [ASSIGNEE]),
        _t(
            "request_info",
            [IN_PROGRESS],
            AWAITING_APPLICANT,
            [ASSIGNEE],
            emits="case.info_requested",
            needs_reason=True,
        ),
        _t("provide_info", [AWAITING_APPLICANT], IN_PROGRESS, [OWNER], emits="case.info_provided", needs_reason=True),
        _t("issue_opinion", [IN_PROGRESS], OPINION_ISSUED, [ASSIGNEE], emits="case.opinion_issued"),
        _t("close", [OPINION_ISSUED], CLOSED, [OWNER, COORDINATOR], emits="case.closed"),
        _t("withdraw", _BEFORE_OPINION, WITHDRAWN, [OWNER], emits="case.withdrawn"),
        _t("reopen", [CLOSED, WITHDRAWN], REOPENED, [COORDINATOR], emits="case.reopened", needs_reason=True),
    )
}

#: Actions a person takes by writing something, never on their own: an opinion is issued by
#: writing it (the opinion form), so that a case "opinion issued" always has one. The transitions
#: API refuses them (409) with this message, and the case page offers the form instead of a button.
WRITTEN_ACTIONS: dict[str, str] = {
    "issue_opinion": N_("An opinion is issued by writing it, on the case's opinion form."),
}

#: Actions a person may ask for through the API or a page's button (the rest are the workers', or
#: taken by writing something: ``WRITTEN_ACTIONS``).
USER_ACTIONS = tuple(
    a for a, t in TRANSITIONS.items() if SYSTEM not in t.actors and a != "submit" and a not in WRITTEN_ACTIONS
)


class TransitionError(Exception):
    """An action that is not allowed; ``code`` says why (unknown, forbidden, conflict, invalid)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def decide(status: str | None, action: str, actor: str, reason: str | None = None) -> Transition:
    """Return the transition for ``action`` from ``status`` by ``actor``, or raise TransitionError.

    ``actor`` is one of SYSTEM, OWNER, ASSIGNEE, COORDINATOR: the caller works out how the
    person acting relates to the case. Checks run in this order so the message is the useful one:
    unknown action, then who may, then whether the case is in a status that allows it.
    """
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise TransitionError("unknown", f"Unknown action {action!r}.")
    if actor not in transition.actors:
        raise TransitionError("forbidden", f"You may not {action.replace('_', ' ')} this case.")
    if status is None and action == "submit":
        return transition
    if status not in transition.sources:
        raise TransitionError(
            "conflict",
            f"Cannot {action.replace('_', ' ')} a case that is {str(status).replace('_', ' ')}.",
        )
    if transition.needs_reason and not (reason or "").strip():
        raise TransitionError("invalid", f"A reason is required to {action.replace('_', ' ')}.")
    return transition


# --- the case's thread: messages are events that move nothing, except a request and its answer ---

#: Events that say something in the thread without moving the case: a public message, an internal
#: note (the expert's and the coordinators'; never the enterprise's to see).
MESSAGE = "message"
NOTE = "note"
#: Who may write in the thread: the enterprise that owns the case, its expert, coordinators. (A
#: trainee shadowing the case reads it, notes included, but does not write.)
WRITERS = frozenset({OWNER, ASSIGNEE, COORDINATOR})

ENTERPRISE_NOTE = N_("Internal notes are for the expert and the coordinators; the enterprise's messages are public.")
ASKS_BY_EXPERT = N_("Only the case's expert asks the enterprise for information, in a public message.")


def decide_message(status: str, actor: str | None, internal: bool, asks: bool = False) -> str:
    """What writing in the thread does: ``MESSAGE`` or ``NOTE`` (nothing moves), or a transition
    of the pair the thread carries: ``request_info`` (the expert asks, ``asks``: the case waits
    for the enterprise) and ``provide_info`` (the enterprise's first public message while the case
    waits for it: the case moves back and its clock runs again). Raises TransitionError.

    A message on a finished case is kept (the expert and coordinators are told; reopening stays
    an explicit action)."""
    if actor not in WRITERS:
        raise TransitionError("forbidden", "You may read this case's messages but not write in its thread.")
    # (who may do what is a 403 whatever the input; a request that contradicts itself is a 400)
    if internal and actor == OWNER:
        raise TransitionError("forbidden", ENTERPRISE_NOTE)
    if asks:
        if actor != ASSIGNEE:
            raise TransitionError("forbidden", ASKS_BY_EXPERT)
        if internal:
            raise TransitionError("invalid", ASKS_BY_EXPERT)
        decide(status, "request_info", actor, reason="(the message)")
        return "request_info"
    if actor == OWNER and status == AWAITING_APPLICANT:
        return "provide_info"
    return NOTE if internal else MESSAGE


# --- classifying: a coordinator sets a case's right type and service -----------------------------

#: The event of a coordinator setting a case's right type and service (a case opened by mail
#: comes as "other" / "consultation", marked to be classified). It moves nothing; routing looks
#: at the case again with the new facts.
CLASSIFY = "classify"
#: Statuses a case may be classified in: before its opinion, which is written for its service.
CLASSIFIABLE = _BEFORE_OPINION


def decide_classify(status: str, actor: str | None) -> None:
    """Whether ``actor`` may classify a case in ``status``; raises TransitionError if not."""
    if actor != COORDINATOR:
        raise TransitionError("forbidden", "Only coordinators classify a case.")
    if status not in CLASSIFIABLE:
        raise TransitionError("conflict", f"Cannot classify a case that is {status.replace('_', ' ')}.")
