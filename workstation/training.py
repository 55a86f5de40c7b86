"""Practice-based training: a trainee's drafts on the cases they shadow, their expert's reviews,
and what the reviews add up to (pure: no database, no Flask).

On a case they shadow, a trainee writes a shadow note or a draft opinion; the case's expert (the
trainee's supervisor on that case) reviews it with comments and a rating of 1 to 5 on each of the
four competences of an IP professional (the talent paper, ``background/000_...`` section 2: legal,
technical, management, commercialisation; the same keys as ``ExpertProfile.competence``). A
trainee's record averages the ratings over time, and says whether the trainee looks ready to be
promoted to expert (a hint for the coordinator, who decides).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workstation import lifecycle
from workstation.i18n import N_, Localized, Message

#: The four competences, in the order pages show them (``ExpertProfile.competence``'s keys).
COMPETENCES = ("legal", "technical", "management", "commercialization")
#: A rating's scale: 1 (far from it) to 5 (an expert's work).
LOWEST, HIGHEST = 1, 5
#: What a trainee writes: a shadow note (what they saw and would do) or a draft opinion.
KINDS = ("note", "opinion")
#: A draft is submitted for review when written, then reviewed once.
SUBMITTED, REVIEWED = "submitted", "reviewed"
#: The longest draft and the longest review comment, in characters.
MAX_DRAFT = 20_000
MAX_COMMENTS = 10_000

#: Statuses in which a trainee may write a draft on a case they shadow: while its expert holds it,
#: and after its opinion (a draft written afterwards still trains). Never a withdrawn case.
DRAFT_STATUSES = (*lifecycle.ACTIVE_FOR_EXPERT, lifecycle.OPINION_ISSUED, lifecycle.CLOSED)

#: Promotion readiness: at least this many reviewed drafts, and each competence's average over the
#: latest ``READY_WINDOW`` reviews at least ``READY_AVERAGE`` (a "4: close to an expert's work"
#: would be too strict for a few reviews; 3.5 is more often good than fair).
READY_REVIEWS = 3
READY_WINDOW = 5
READY_AVERAGE = 3.5

NOT_SHADOWING = N_("Only the trainee shadowing this case writes drafts on it.")
NOT_NOW = N_("Drafts are written while the case is worked or after its opinion; not in its present status.")
NOT_THE_EXPERT = N_("Only the case's expert reviews its trainee's drafts.")
REVIEWED_ALREADY = N_("This draft has been reviewed already.")
EMPTY_DRAFT = N_("Write your draft: it cannot be empty.")
LONG_DRAFT = N_("A draft is at most 20,000 characters.")
EMPTY_COMMENTS = N_("Write your comments: a review cannot be without them.")
RATINGS_NEEDED = N_("Rate each of the four competences from 1 to 5.")


@dataclass(frozen=True)
class Review:
    """One reviewed draft's ratings and when it was reviewed."""

    at: datetime
    ratings: Mapping[str, int]


def decide_draft(status: str, shadowing: bool, trainee: bool) -> None:
    """Whether a person may write a draft on a case in ``status``: ``shadowing`` it (the case's
    shadow, which is never a confidential case) and still a ``trainee``. Raises TransitionError."""
    if not (shadowing and trainee):
        raise lifecycle.TransitionError("forbidden", NOT_SHADOWING)
    if status not in DRAFT_STATUSES:
        raise lifecycle.TransitionError("conflict", NOT_NOW)


def decide_review(holds_case: bool, draft_status: str) -> None:
    """Whether a person may review a draft: they hold its case (its expert now); once only.
    Raises TransitionError."""
    if not holds_case:
        raise lifecycle.TransitionError("forbidden", NOT_THE_EXPERT)
    if draft_status != SUBMITTED:
        raise lifecycle.TransitionError("conflict", REVIEWED_ALREADY)


def ratings_errors(ratings: Any) -> list[str]:
    """What is wrong with ``ratings`` (``{competence: 1..5}``, all four, nothing else); [] if nothing."""
    if not isinstance(ratings, Mapping) or set(ratings) != set(COMPETENCES):
        return [RATINGS_NEEDED]
    good = all(isinstance(v, int) and not isinstance(v, bool) and LOWEST <= v <= HIGHEST for v in ratings.values())
    return [] if good else [RATINGS_NEEDED]


def averages(reviews: Iterable[Review]) -> dict[str, float | None]:
    """Each competence's mean rating over ``reviews``, to one decimal (None: not rated yet)."""
    given = list(reviews)
    return {c: round(sum(r.ratings[c] for r in given) / len(given), 1) if given else None for c in COMPETENCES}


def in_order(reviews: Iterable[Review]) -> list[Review]:
    """``reviews`` oldest first: the ratings over time."""
    return sorted(reviews, key=lambda r: r.at)


def trend(reviews: Sequence[Review]) -> dict[str, float | None]:
    """Each competence's change between the average of the earlier half of ``reviews`` (by time) and
    that of the later half, to one decimal: positive is progress (None: fewer than two reviews)."""
    ordered = in_order(reviews)
    if len(ordered) < 2:
        return dict.fromkeys(COMPETENCES)
    half = len(ordered) // 2
    early, late = averages(ordered[:half]), averages(ordered[-half:])
    return {c: round(late[c] - early[c], 1) for c in COMPETENCES}  # type: ignore[operator]


@dataclass(frozen=True)
class Readiness:
    ready: bool
    #: why not yet (nothing when ready)
    missing: tuple[Message, ...]
    #: each competence's average over the latest ``READY_WINDOW`` reviews
    recent: dict[str, float | None]


#: A competence's name in a readiness message, in each language (pages label the keys with
#: ``i18n.LABELS``, which names them the same).
_NAMES = {
    "legal": Localized({"en": "Legal", "zh": "法律"}),
    "technical": Localized({"en": "Technical", "zh": "技术"}),
    "management": Localized({"en": "Management", "zh": "管理"}),
    "commercialization": Localized({"en": "Commercialization", "zh": "商业化"}),
}


def readiness(reviews: Iterable[Review]) -> Readiness:
    """Whether a trainee's reviews suggest promotion (``READY_REVIEWS``, ``READY_AVERAGE`` over
    the latest ``READY_WINDOW``), and what is missing if not. A hint: the coordinator decides."""
    ordered = in_order(reviews)
    recent = averages(ordered[-READY_WINDOW:])
    missing: list[Message] = []
    if len(ordered) < READY_REVIEWS:
        missing.append(Message("%(count)s reviewed drafts of the %(needed)s needed", count=len(ordered),
                               needed=READY_REVIEWS))  # fmt: skip
    for competence in COMPETENCES:
        mean = recent[competence]
        if mean is not None and mean < READY_AVERAGE:
            missing.append(
                Message(
                    "%(competence)s averages %(mean)s of the %(needed)s needed",
                    competence=_NAMES[competence],
                    mean=mean,
                    needed=READY_AVERAGE,
                )  # fmt: skip
            )
    return Readiness(not missing, tuple(missing), recent)
