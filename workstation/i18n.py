"""Chinese (default) and English: one gettext catalog for pages (flask-babel) and emails (Jinja2).

The catalogs are kept as ``.po`` source in ``workstation/translations``; ``compile_catalogs``
turns them into ``.mo`` at start-up when the source is newer, so no separate build step exists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import cache, lru_cache
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

from workstation.vocabulary import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS_DIR = Path(__file__).parent / "translations"
DEFAULT_LANGUAGE = "zh"


def compile_catalogs() -> None:
    for po_path in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f)
        # (each process its own temporary file: on a fresh checkout gunicorn's workers start
        # together and compile at the same moment; the last rename wins, with the same content)
        tmp = mo_path.with_name(f".{mo_path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo_path)


@cache
def translations(language: str) -> Translations:
    compile_catalogs()
    return Translations.load(str(TRANSLATIONS_DIR), [language if language in LANGUAGES else DEFAULT_LANGUAGE])


def N_(text: str) -> str:  # noqa: N802 - the name gettext tools look for
    """Mark ``text`` for the catalog; it is translated where it is shown, not here."""
    return text


#: Validation messages of marshmallow's own that forms show next to a field.
VALIDATION_MESSAGES = (
    N_("Missing data for required field."),
    N_("Not a valid string."),
    N_("Not a valid date."),
    N_("Not a valid boolean."),
    N_("Not a valid integer."),
    N_("Not a valid email address."),
    N_("Unknown field."),
    N_("Shorter than minimum length 1."),
)

#: marshmallow's messages that carry values, as templates the catalogs translate.
_VALIDATION_PATTERNS = (
    (re.compile(r"Must be one of: (?P<choices>.+)\."), N_("Must be one of: %(choices)s.")),
    (
        re.compile(r"Length must be between (?P<min>\d+) and (?P<max>\d+)\."),
        N_("Length must be between %(min)s and %(max)s."),
    ),
    (re.compile(r"Longer than maximum length (?P<max>\d+)\."), N_("Longer than maximum length %(max)s.")),
    (
        re.compile(r"Must be greater than or equal to (?P<min>\d+) and less than or equal to (?P<max>\d+)\."),
        N_("Must be between %(min)s and %(max)s."),
    ),
)


def _searched(path: str) -> bool:
    # Babel's default also skips folders starting with "_", which would miss templates/email/_layout
    # (the emails' shared header and footer).
    name = Path(path).name
    return not name.startswith(".") and name not in ("__pycache__", "node_modules") and ".venv" not in name


def extract_messages() -> dict[str, list[tuple[str, int]]]:
    """Every message the code and templates use (``_``, ``gettext``, ``N_``, ``Message``), with
    where it is used: what the catalogs must translate."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {
        **DEFAULT_KEYWORDS,
        "lazy_gettext": None,
        "_l": None,
        "Message": None,
        "UploadError": None,
        "in_language": None,
        "in_every_language": None,
    }
    found: dict[str, list[tuple[str, int]]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords, directory_filter=_searched
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, []).append((filename, lineno))
    return found


def update_catalogs() -> dict[str, list[str]]:
    """Bring each ``.po`` in step with the messages the code uses (new ones added, unused ones
    dropped, translations kept); returns, per language, the messages still without a translation
    (English needs none)."""
    messages = extract_messages()
    untranslated: dict[str, list[str]] = {}
    for po_path in sorted(TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po")):
        language = po_path.parent.parent.name
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=language)
        for unused in [m.id for m in catalog if m.id and m.id not in messages]:
            catalog.delete(unused)
        for msgid, locations in messages.items():
            if msgid not in catalog:
                flags = ["python-format"] if "%(" in msgid else []
                catalog.add(msgid, "", locations=locations, flags=flags)
        tmp = po_path.with_suffix(".po.tmp")
        with tmp.open("wb") as f:
            write_po(f, catalog, width=120)
        tmp.replace(po_path)
        if language != "en":
            untranslated[language] = [m for m in messages if not catalog[m].string]
    return untranslated


#: English display names of the codes used in cases; pages and emails show ``gettext(LABELS[code])``.
LABELS: dict[str, str] = {
    "patent": N_("Patent"),
    "trademark": N_("Trademark"),
    "copyright": N_("Copyright"),
    "trade_secret": N_("Trade secret"),
    "geographical_indication": N_("Geographical indication"),
    "other": N_("Other"),
    "infringement_judgment": N_("Infringement judgment"),
    "compensation_estimate": N_("Compensation estimate"),
    "litigation_advice": N_("Litigation and dispute-settlement advice"),
    "consultation": N_("Consultation"),
    "risk_warning": N_("Risk warning"),
    "ip_analysis": N_("IP analysis and argumentation"),
    "rd": N_("R&D project"),
    "trade": N_("Export or trade"),
    "investment": N_("Investment or acquisition"),
    "technology_transfer": N_("Technology transfer or licence"),
    "abuse_defence": N_("Defence against abuse of IP rights"),
    "non_infringement_declaration": N_("Declaration of non-infringement"),
    "squatting": N_("Bad-faith registration of a mark (squatting)"),
    "malicious_suit": N_("Malicious suit"),
    "abusive_warning": N_("Abusive warning letter"),
    "new_materials": N_("New materials"),
    "light_chemicals": N_("Light chemicals"),
    "intelligent_manufacturing": N_("Intelligent manufacturing"),
    "biomedicine": N_("Biomedicine"),
    "modern_agriculture": N_("Modern agriculture"),
    "electronics_ict": N_("Electronics and ICT"),
    "submitted": N_("Submitted"),
    "assigned": N_("Assigned to an expert"),
    "accepted": N_("Accepted by the expert"),
    "in_progress": N_("In progress"),
    "awaiting_applicant": N_("Waiting for your information"),
    "opinion_issued": N_("Opinion issued"),
    "closed": N_("Closed"),
    "declined": N_("Declined, being routed again"),
    "awaiting_expert": N_("Waiting for an expert"),
    "withdrawn": N_("Withdrawn"),
    "reopened": N_("Reopened"),
    "low": N_("Low"),
    "normal": N_("Normal"),
    "high": N_("High"),
    "zh": N_("Chinese"),
    "en": N_("English"),
    "respondent": N_("Respondent"),
    "software_copyright": N_("Software copyright"),
    "gi": N_("Geographical indication"),
    "legal": N_("Legal"),
    "technical": N_("Technical"),
    "management": N_("Management"),
    "commercialization": N_("Commercialization"),
    "university": N_("University"),
    "research_institute": N_("Research institute"),
    "enterprise": N_("Enterprise"),
    "law_firm": N_("Law firm"),
    "agency": N_("IP agency"),
    "queued": N_("Queued"),
    "running": N_("Running"),
    "done": N_("Done"),
    "failed": N_("Failed"),
    "action_accept": N_("Accept the case"),
    "action_decline": N_("Decline the case"),
    "action_start": N_("Start work"),
    "action_request_info": N_("Ask the enterprise for information"),
    "action_provide_info": N_("Send the answer"),
    "action_issue_opinion": N_("Issue the opinion"),
    "action_close": N_("Close the case"),
    "action_withdraw": N_("Withdraw the case"),
    "action_reopen": N_("Reopen the case"),
    "action_reassign": N_("Reassign"),
    "file_evidence": N_("Evidence"),
    "file_answer": N_("Answer"),
    "file_document": N_("Working document"),
    "third_party": N_("Third party"),
    "coordinator": N_("Coordinator"),
    "expert": N_("Expert"),
    "applicant": N_("Applicant"),
    "level_high": N_("high: a class in common"),
    "level_medium": N_("medium: related classes, or classes not stated"),
    "level_low": N_("low: unrelated classes"),
    "notice_deadline": N_("Deadline"),
    "notice_lookalike": N_("Look-alike mark"),
    "notice_repeat_respondent": N_("Repeat respondent"),
    "notice_referral": N_("Referral waiting"),
    # (``referrals.PARTNER_KINDS``)
    "partner_ip_administration": N_("IP administration"),
    "partner_market_supervision": N_("Market supervision"),
    "partner_customs": N_("Customs"),
    "partner_mediation": N_("Court or people's mediation"),
    "partner_arbitration": N_("Arbitration"),
    "partner_industry_association": N_("Industry association"),
    "partner_university": N_("University or institute"),
    "partner_legal_aid": N_("Legal aid"),
    "partner_overseas_help_desk": N_("Overseas IP help desk"),
    # (``referrals.STATUSES``)
    "referral_sent": N_("Sent"),
    "referral_acknowledged": N_("Acknowledged"),
    "referral_answered": N_("Answered"),
    "referral_closed": N_("Closed"),
    "source_case": N_("named in a case"),
    "source_feed": N_("publication feed"),
    "digest_due": N_("Waiting to be sent"),
    "digest_sending": N_("Sending"),
    "digest_retrying": N_("Failed, will retry"),
    "digest_sent": N_("Sent"),
    "digest_failed": N_("Failed"),
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


class Localized(str):
    """A value with its own wording in each language (a statute's name, say): English as a string,
    the reader's language through ``translate`` when it is a ``Message`` parameter."""

    texts: dict[str, str]

    def __new__(cls, texts: dict[str, str]) -> Localized:
        self = super().__new__(cls, texts["en"])
        self.texts = dict(texts)
        return self

    def in_language(self, language: str | None) -> str:
        return self.texts.get(language or "en", str(self))


def in_language(template: str, language: str, **params: object) -> str:
    """``template`` (an English msgid) in ``language`` through its catalog, formatted with ``params``
    (``Localized`` ones in that language): how the pure modules write a sentence a person reads. A
    ``Localized`` template (a wording the catalog cannot hold) gives its own text in ``language``."""
    text = (
        template.in_language(language) if isinstance(template, Localized) else translations(language).gettext(template)
    )
    if not params:
        return text
    return text % {k: v.in_language(language) if isinstance(v, Localized) else v for k, v in params.items()}


def in_every_language(template: str, **params: object) -> dict[str, str]:
    """``{"zh": ..., "en": ...}``: ``template`` in every language, from the catalogs (for the values
    stored or answered in both languages at once, such as a deadline's label and basis)."""
    if type(template) is str and all(type(v) in (str, int) for v in params.values()):
        return dict(_every_language(template, tuple(sorted(params.items()))))
    return {language: in_language(template, language, **params) for language in LANGUAGES}


# (Every case's deadlines name the same few labels and periods in both languages: a third of
# computing them was looking the same texts up again. The catalogs do not change while we run.)
@lru_cache(maxsize=1024)
def _every_language(template: str, params: tuple[tuple[str, str | int], ...]) -> dict[str, str]:
    return {language: in_language(template, language, **dict(params)) for language in LANGUAGES}


def translate(message: str, gettext: Callable[..., str], language: str | None = None) -> str:
    """``message`` in the current language: a ``Message`` through its template (``Localized``
    parameters in ``language``), any other string (marshmallow's own messages, our fixed ones) as
    it is, if the catalog has it."""
    if isinstance(message, Message):
        params = {k: v.in_language(language) if isinstance(v, Localized) else v for k, v in message.params.items()}
        return gettext(message.template, **params)
    for pattern, template in _VALIDATION_PATTERNS:
        if match := pattern.fullmatch(message):
            return gettext(template, **match.groupdict())
    return gettext(message)
