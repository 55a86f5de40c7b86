"""Chinese (default) and English: one gettext catalog for pages (flask-babel) and emails (Jinja2).

The catalogs are kept as ``.po`` source in ``workstation/translations``; ``compile_catalogs``
turns them into ``.mo`` at start-up when the source is newer, so no separate build step exists.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"
LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


def compile_catalogs() -> None:
    for po_path in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f)
        tmp = mo_path.with_suffix(".mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo_path)


@cache
def translations(language: str) -> Translations:
    compile_catalogs()
    return Translations.load(str(TRANSLATIONS_DIR), [language if language in LANGUAGES else DEFAULT_LANGUAGE])


#: English display names of the codes used in cases; pages and emails show ``gettext(LABELS[code])``.
LABELS: dict[str, str] = {
    "patent": "Patent",
    "trademark": "Trademark",
    "copyright": "Copyright",
    "trade_secret": "Trade secret",
    "geographical_indication": "Geographical indication",
    "other": "Other",
    "infringement_judgment": "Infringement judgment",
    "compensation_estimate": "Compensation estimate",
    "litigation_advice": "Litigation and dispute-settlement advice",
    "consultation": "Consultation",
    "risk_warning": "Risk warning",
    "new_materials": "New materials",
    "light_chemicals": "Light chemicals",
    "intelligent_manufacturing": "Intelligent manufacturing",
    "biomedicine": "Biomedicine",
    "modern_agriculture": "Modern agriculture",
    "electronics_ict": "Electronics and ICT",
    "submitted": "Submitted",
    "assigned": "Assigned to an expert",
    "accepted": "Accepted by the expert",
    "in_progress": "In progress",
    "awaiting_applicant": "Waiting for your information",
    "opinion_issued": "Opinion issued",
    "closed": "Closed",
    "declined": "Declined, being routed again",
    "awaiting_expert": "Waiting for an expert",
    "withdrawn": "Withdrawn",
    "reopened": "Reopened",
    "low": "Low",
    "normal": "Normal",
    "high": "High",
    "zh": "Chinese",
    "en": "English",
    "respondent": "Respondent",
    "software_copyright": "Software copyright",
    "gi": "Geographical indication",
}


def label(code: str | None, gettext: Callable[[str], str]) -> str:
    """The display name of ``code`` through ``gettext`` (flask-babel's on pages, the catalog's in mail)."""
    if code is None:
        return ""
    return gettext(LABELS[code]) if code in LABELS else code


class Message(str):
    """An English message that remembers its template and parameters, so a page can show it in
    the reader's language (``gettext(template) % params``) while the API answers the English."""

    template: str
    params: dict[str, object]

    def __new__(cls, template: str, **params: object) -> Message:
        self = super().__new__(cls, template % params if params else template)
        self.template = template
        self.params = params
        return self


def translate(message: str, gettext: Callable[..., str]) -> str:
    """``message`` in the current language: a ``Message`` through its template, any other string
    (marshmallow's own messages, our fixed ones) as it is, if the catalog has it."""
    if isinstance(message, Message):
        return gettext(message.template, **message.params)
    return gettext(message)
