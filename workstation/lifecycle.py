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


# --- difficult cases and their panel -------------------------------------------------------------

#: Events of a difficult case: the expert or a coordinator marks it difficult (with a reason); a
#: coordinator convenes a panel of further experts, or dissolves it; each member writes a view.
#: None moves the case; all are internal (never the enterprise's to see or be mailed).
MARK_DIFFICULT = "mark_difficult"
CONVENE_PANEL = "convene_panel"
DISSOLVE_PANEL = "dissolve_panel"
PANEL_VIEW = "panel_view"
#: The events (and thread kinds) the enterprise is never shown.
INTERNAL_ACTIONS = frozenset({NOTE, MARK_DIFFICULT, CONVENE_PANEL, DISSOLVE_PANEL, PANEL_VIEW})
#: A panel is this many further experts (besides the lead expert, who holds the case).
PANEL_SIZE = (2, 4)
#: Statuses in which a case may be marked difficult and have a panel: while its expert works it.
#: Its opinion issued, closed or withdrawn, a panel's seats are given back (``PANEL_ENDS``).
PANEL_STATUSES = ACTIVE_FOR_EXPERT
PANEL_ENDS = (OPINION_ISSUED, CLOSED, WITHDRAWN)

NOT_DIFFICULT = N_("Mark the case difficult before convening a panel.")
PANEL_SITS = N_("A panel already sits on this case; dissolve it first.")
NO_PANEL = N_("No panel sits on this case.")
PANEL_SIZE_WRONG = N_("A panel is 2 to 4 further experts.")  # (``PANEL_SIZE``)
LEAD_ON_PANEL = N_("The case's own expert leads; choose further experts for the panel.")
REASON_NEEDED = N_("Say why the case is difficult.")


def _panel_status(status: str, what: str) -> None:
    if status not in PANEL_STATUSES:
        raise TransitionError("conflict", f"Cannot {what} a case that is {status.replace('_', ' ')}.")


def decide_mark_difficult(status: str, actor: str | None, reason: str | None) -> None:
    """Whether ``actor`` may mark a case in ``status`` difficult: its expert or a coordinator,
    while the expert works it, saying why. Raises TransitionError."""
    if actor not in (ASSIGNEE, COORDINATOR):
        raise TransitionError("forbidden", "Only the case's expert or a coordinator marks a case difficult.")
    _panel_status(status, "mark difficult")
    if not (reason or "").strip():
        raise TransitionError("invalid", REASON_NEEDED)


def decide_convene(
    status: str, actor: str | None, difficult: bool, sitting: bool, members: list[int], lead_id: int | None
) -> None:
    """Whether ``actor`` may convene a panel of ``members`` (user ids) on a case: a coordinator,
    on a case marked ``difficult`` that has no ``sitting`` panel, of 2 to 4 distinct further
    experts, not its lead. Raises TransitionError (eligibility is the service's to check)."""
    if actor != COORDINATOR:
        raise TransitionError("forbidden", "Only coordinators convene a panel.")
    _panel_status(status, "convene a panel on")
    if not difficult:
        raise TransitionError("conflict", NOT_DIFFICULT)
    if sitting:
        raise TransitionError("conflict", PANEL_SITS)
    least, most = PANEL_SIZE
    if len(set(members)) != len(members) or not least <= len(members) <= most:
        raise TransitionError("invalid", PANEL_SIZE_WRONG)
    if lead_id is not None and lead_id in members:
        raise TransitionError("invalid", LEAD_ON_PANEL)


def decide_dissolve(actor: str | None, sitting: bool) -> None:
    """Whether ``actor`` may dissolve a case's panel: a coordinator, while one sits."""
    if actor != COORDINATOR:
        raise TransitionError("forbidden", "Only coordinators dissolve a panel.")
    if not sitting:
        raise TransitionError("conflict", NO_PANEL)


def decide_panel_view(member: bool, sitting: bool) -> None:
    """Whether someone may write a view on a case's panel: a member of the panel sitting now."""
    if not member:
        raise TransitionError("forbidden", "Only the panel's members write its views.")
    if not sitting:
        raise TransitionError("conflict", NO_PANEL)
