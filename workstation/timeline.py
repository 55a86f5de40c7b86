"""A case's events in plain words, for the people following it (pure: no database, no Flask).

Each event becomes one ``Message`` (English template + parameters), so a page or an email shows it
in the reader's language. What a sentence reveals follows ``cases.detail_for``: an enterprise
learns who its expert is, never why routing chose them or why an expert declined.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from workstation.i18n import N_, Message

#: action -> the sentence; %(actor)s is who acted, %(expert)s the expert named, %(reason)s the reason given
_SENTENCES: dict[str, str] = {
    "submit": N_("%(actor)s submitted the case."),
    "assign": N_("The case was assigned to %(expert)s."),
    "reroute": N_("The case was passed to %(expert)s, as the previous expert is not available."),
    "reroute:case.classified": N_(
        "The case was passed to %(expert)s, who handles the right type and service it was classified as."
    ),
    "classify": N_("A coordinator set the case's right type and service."),
    "escalate": N_("No expert could take the case yet; the centre's coordinators are finding one."),
    "reassign": N_("A coordinator assigned the case to %(expert)s."),
    "accept": N_("%(actor)s accepted the case."),
    "decline": N_("The expert could not take the case; it is being passed to another expert."),
    "start": N_("%(actor)s started work on the case."),
    "request_info": N_("%(actor)s asked for more information: %(reason)s"),
    "provide_info": N_("%(actor)s provided the information asked for."),
    "issue_opinion": N_("%(actor)s issued the opinion."),
    "close": N_("The case was closed."),
    "withdraw": N_("%(actor)s withdrew the case."),
    "reopen": N_("A coordinator reopened the case: %(reason)s"),
    "message": N_("%(actor)s wrote a message."),
    "note": N_("%(actor)s added an internal note."),
    "mark_difficult": N_("%(actor)s marked the case difficult: %(reason)s"),
    "convene_panel": N_("%(actor)s convened a panel of further experts on the case."),
    "dissolve_panel": N_("%(actor)s dissolved the case's panel."),
    "panel_view": N_("%(actor)s wrote a view for the panel."),
    # (``referrals.EVENT_OF``; %(partner)s the partner's name)
    "refer": N_("%(actor)s referred the case to %(partner)s."),
    "referral_acknowledged": N_("%(partner)s acknowledged the referral."),
    "referral_answered": N_("%(partner)s answered the referral."),
    "referral_closed": N_("The referral to %(partner)s was closed."),
}


def describe(action: str, actor_name: str | None, detail: Mapping[str, Any], names: Mapping[int, str]) -> Message:
    """One event as a sentence. ``names``: display names of the experts the detail mentions."""
    # (an action done for a reason the detail names may have words of its own: ``action:because``)
    template = _SENTENCES.get(f"{action}:{detail.get('because')}") or _SENTENCES.get(action)
    if template is None:
        return Message(action.replace("_", " "))
    expert_id = detail.get("expert_id")
    params = {
        "actor": actor_name or "—",
        "expert": names.get(expert_id, "—") if isinstance(expert_id, int) else "—",
        "reason": str(detail.get("reason", "")),
        "partner": str(detail.get("partner", "—")),
    }
    return Message(template, **{k: v for k, v in params.items() if f"%({k})s" in template})
