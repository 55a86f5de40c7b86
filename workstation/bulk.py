"""Bulk actions: one action of a coordinator's on many cases at once, each case moved on by the
action's own rules, as if alone, and the outcome of each reported.

Pure: no database, no Flask. ``services.bulk`` applies the action to each case in its own savepoint
(one refused case undoes nothing of the others) and says here how each went.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from workstation import lifecycle, referrals
from workstation.i18n import LABELS, N_, Localized, Message, in_every_language

#: What may be done to many cases at once: reassign them to one expert, close them, set their right
#: type and service (routing looks at each again), mark them difficult and convene the same panel
#: of experts on each (each member checked against each case, taking a slot for each), refer each
#: to one partner (one referral per case).
ACTIONS = ("reassign", "close", "classify", "mark_difficult", "convene_panel", "refer")
#: The most cases one bulk action takes (a larger selection is refused whole, never cut short).
MAX_CASES = 500

#: Why a case was not done, by the refusal's kind (``lifecycle.TransitionError.code`` and the rest).
NOT_FOUND = N_("No such case.")
FORBIDDEN = N_("You may not do this on this case.")
CONFLICT = N_("Not possible while the case is %(status)s.")
UNCHANGED = N_("Nothing to change: the case already is so.")
INVALID = N_("What was asked does not fit this case.")
REFUSED: dict[str, str] = {"forbidden": FORBIDDEN, "conflict": CONFLICT, "unchanged": UNCHANGED, "invalid": INVALID}
TOO_MANY = N_("The selection holds %(n)d cases; at most %(most)d at a time: narrow it down.")
NOTHING_SELECTED = N_("Select at least one case, or the whole view.")


@dataclass(frozen=True)
class Outcome:
    """How the action went on one case: done, or not and why (``problem``, a translatable message)."""

    reference: str
    done: bool
    problem: Message | None = None


def unique(references: Iterable[str]) -> list[str]:
    """``references`` without repeats, in their first order (a case is acted on once)."""
    return list(dict.fromkeys(r.strip() for r in references if r.strip()))


def too_many(count: int) -> Message | None:
    """Why a selection of ``count`` cases cannot be taken (None: it can; none at all is nothing to do)."""
    return Message(TOO_MANY, n=count, most=MAX_CASES) if count > MAX_CASES else None


#: The refusals whose own words say why (the catalog has them); the others are the lifecycle's
#: English sentences, said again by their kind.
EXPLAINED = frozenset({
    lifecycle.NOT_DIFFICULT, lifecycle.PANEL_SITS, lifecycle.PANEL_SIZE_WRONG, lifecycle.LEAD_ON_PANEL,
    lifecycle.REASON_NEEDED, referrals.NOT_YOURS, referrals.CASE_FINISHED, referrals.PARTNER_INACTIVE,
})  # fmt: skip


def refusal(code: str, message: str, status: str) -> Message:
    """Why a case in ``status`` was not done, from a refusal's ``code`` and ``message`` (the
    lifecycle's English sentence, or a catalog's message): in words the reader's language has."""
    if message in EXPLAINED:
        return Message(message)
    if code == "conflict":
        return Message(CONFLICT, status=Localized(in_every_language(LABELS.get(status, status))))
    return Message(REFUSED.get(code, FORBIDDEN))


def summary(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """How many cases were asked for, done and not done."""
    done = sum(1 for o in outcomes if o.done)
    return {"total": len(outcomes), "done": done, "failed": len(outcomes) - done}
