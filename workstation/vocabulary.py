"""The words a case is described in: right types, services, fields, languages, code formats (pure).

Every layer takes them from here: the intake schema, routing, the expert pool, the pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

RIGHT_TYPES = ("patent", "trademark", "copyright", "trade_secret", "geographical_indication", "other")
SERVICES = (
    "infringement_judgment",
    "compensation_estimate",
    "litigation_advice",
    "consultation",
    "risk_warning",
    "ip_analysis",
)
#: The services whose case concerns one of the enterprise's activities (an R&D project, trade, an
#: investment, a technology transfer): early warning and IP analysis and argumentation for them.
ACTIVITY_SERVICES = frozenset({"risk_warning", "ip_analysis"})
ACTIVITY_KINDS = ("rd", "trade", "investment", "technology_transfer")
#: The services whose case may name the kind of litigation matter it is (``cases.litigation``).
LITIGATION_SERVICES = frozenset({"litigation_advice"})
#: Litigation advice for an enterprise on the receiving end of an IP right: defending against its
#: abuse, or asking a court to declare that it does not infringe.
LITIGATION_KINDS = ("abuse_defence", "non_infringement_declaration")
#: The abuses defended against: a mark registered in bad faith (squatting), a malicious suit, an
#: abusive warning letter (to the enterprise or to its customers and platforms).
ABUSE_KINDS = ("squatting", "malicious_suit", "abusive_warning")
#: a technology transfer or licence: the enterprise takes the technology in, or gives it out
TRANSFER_DIRECTIONS = ("in", "out")
TECHNICAL_FIELDS = (
    "new_materials",
    "light_chemicals",
    "intelligent_manufacturing",
    "biomedicine",
    "modern_agriculture",
    "electronics_ict",
    "other",
)
LANGUAGES = ("zh", "en")  # the first is the default
URGENCIES = ("low", "normal", "high")
PARTY_ROLES = ("respondent", "applicant", "third_party")
RIGHT_KINDS = ("patent", "trademark", "copyright", "software_copyright", "gi", "other")


def gi_protected_as_product(right_kinds: Iterable[str]) -> bool:
    """A geographical indication case is on the GI product route (CNIPA's Measures for the
    Protection of GI Products) when its rights name a GI and no mark; otherwise the GI is taken as
    registered as a collective or certification mark (Trademark Law art. 16). One rule for the
    deadlines and the compensation calculator."""
    kinds = set(right_kinds)
    return "gi" in kinds and "trademark" not in kinds


#: Right types whose cases are always confidential: a trade secret shown to one more person than
#: needed may stop being one (Anti-Unfair Competition Law art. 9: it must be kept secret).
ALWAYS_CONFIDENTIAL = frozenset({"trade_secret"})
KEY_DATES = ("known_on", "published_on", "registered_on", "notice_received_on", "infringement_started_on", "filed_on")

# ISO 3166 country codes, plus EU.
JURISDICTION = r"^[A-Z]{2}$"
# Unified social credit code (GB 32100-2015): 18 characters, no I, O, S, V or Z.
CREDIT_CODE = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
CREDIT_CODE_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31: a character's value is its place
# GB 32100-2015 §5: the weight of the i-th character is 3^i mod 31.
_CREDIT_CODE_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))


def credit_code_check_character(first_17: str) -> str:
    """The 18th character of a unified social credit code, computed from the first 17."""
    total = sum(CREDIT_CODE_CHARACTERS.index(c) * w for c, w in zip(first_17, _CREDIT_CODE_WEIGHTS, strict=True))
    return CREDIT_CODE_CHARACTERS[(31 - total % 31) % 31]


def is_credit_code(code: str) -> bool:
    """Whether ``code`` is a unified social credit code: the form and the check character."""
    return re.fullmatch(CREDIT_CODE, code) is not None and code[17] == credit_code_check_character(code[:17])


def litigation_facet(matter: Mapping[str, Any] | None) -> str | None:
    """What a litigation matter (``cases.litigation``) is, for its intake fields and its opinion's
    sections: the abuse defended against (``ABUSE_KINDS``), or its kind; None for no matter."""
    if not matter:
        return None
    return matter.get("abuse") if matter.get("kind") == "abuse_defence" else matter.get("kind")


def always_confidential(right_type: str | None) -> bool:
    """Whether every case of ``right_type`` is confidential, whatever the enterprise asks."""
    return right_type in ALWAYS_CONFIDENTIAL
