"""The search box's language, and how text is cut into the grams the search index holds (pure).

One syntax on every surface (the desk, ``GET /api/v1/cases``, exports) and both databases:

- ``word`` and ``"a quoted phrase"``: each must appear somewhere in the case (reference, title,
  description, its parties' names and credit codes, its rights' marks and numbers, its
  enterprise, its expert, or a message of its thread the searcher may read), as a piece of
  text: ``商标`` finds ``注册商标专用权``, ``2019`` finds ``ZL201910123456.7``. Every word must
  match (AND); case does not matter for the letters A-Z.
- ``field:value`` filters (``field:"two words"`` too), several values of one field separated by
  commas meaning either: ``status:`` (a case status), ``type:`` (a right type), ``service:``,
  ``expert:`` and ``enterprise:`` (text in the person's name or organisation),
  ``confidential:yes|no``, ``after:YYYY-MM-DD`` (submitted on that day or later) and
  ``before:YYYY-MM-DD`` (submitted before that day), days on the centre's clock.
- A ``name:`` that is not one of these fields is an ordinary word (``10:30`` is searched for).
  A field with a value it cannot take is an error (``status:nonsense``), never silently ignored.

Index and matching: text is folded (A-Z to a-z, nothing else, on every database alike) and cut
into runs at separators (white space and punctuation, ASCII or CJK: ``SEPARATORS``); a document's
grams are every two and every three consecutive characters of each run plus each run's last
character alone. A searched text of one run of two characters is then exactly one gram (``商标``:
the two-character words that are most of Chinese searching are answered from the index alone);
one character is a prefix of a gram; anything longer needs all its three-character grams (far
fewer cases hold three given characters than two: ``2019101`` selected 5,842 of 100,000 cases by
its pairs of digits) and then a check that the text really is a substring (``needs_recheck``).
The PostgreSQL function ``rpa_search_grams`` (migration 0024) is this module's ``grams`` in SQL,
for messages (a trigger keeps a case's document up to date); a case's own text is cut here, by the
watch worker (``tsvector``; migration 0026). ``tests/test_search.py`` checks they agree. SQLite
holds the same grams in an FTS5 table (``fts_document``, migration 0024).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from workstation.i18n import N_, Message
from workstation.lifecycle import STATUSES
from workstation.vocabulary import RIGHT_TYPES, SERVICES

#: Separators: ASCII control characters, space and punctuation; Latin-1 punctuation and spaces;
#: general punctuation (U+2000-206F); CJK symbols and punctuation (U+3000-303F); CJK compatibility
#: forms; full-width punctuation. The same character class, written the same way, is the
#: PostgreSQL function's (both regular-expression dialects read these escapes alike).
SEPARATOR_CLASS = (
    r"[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\u0080-\u00bf\u2000-\u206f\u3000-\u303f\ufe30-\ufe4f"
    r"\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65]"
)
SEPARATORS = re.compile(SEPARATOR_CLASS + "+")
_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

#: The filters and what they take.
FIELDS = ("status", "type", "service", "expert", "enterprise", "confidential", "after", "before")
YES_NO = {"yes": True, "true": True, "1": True, "是": True, "no": False, "false": False, "0": False, "否": False}
#: At most this many words and filter values in one search (each is a clause of the query).
MAX_TERMS = 12
#: The longest search text taken.
MAX_LENGTH = 500


def fold(text: str) -> str:
    """Text as it is compared: A-Z folded to a-z, nothing else changed (every database's ``lower``
    differs beyond ASCII; this is what PostgreSQL's ``translate`` and SQLite's ``lower`` share)."""
    return text.translate(_FOLD)


def runs(text: str) -> list[str]:
    """The runs of folded ``text`` between separators."""
    return [r for r in SEPARATORS.split(fold(text)) if r]


def grams(text: str) -> set[str]:
    """What the index holds for ``text``: each run's two- and three-character pieces, and its last
    character."""
    held: set[str] = set()
    for run in runs(text):
        held.update(run[i : i + 2] for i in range(len(run)))  # (the last: one character)
        held.update(run[i : i + 3] for i in range(len(run) - 2))
    return held


def _needed(run: str) -> list[str]:
    """The grams a text holding ``run`` (two characters or more) holds for sure and that select
    it best: its three-character pieces, or the run itself when it has two."""
    n = min(len(run), 3)
    return [run[i : i + n] for i in range(len(run) - n + 1)]


def needs_recheck(term: str) -> bool:
    """Whether matching ``term``'s grams can match a case whose text does not contain ``term``
    (then the text is checked too): anything but one run of one or two characters."""
    pieces = runs(term)
    return not (len(pieces) == 1 and len(pieces[0]) <= 2 and fold(term) == pieces[0])


def _quoted(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


#: What marks an internal note's grams in a case's PostgreSQL document (migration 0025): a
#: separator, so no gram of any text begins with it.
NOTE_MARK = "!"


def tsquery(term: str, notes: bool = False) -> str | None:
    """The PostgreSQL ``tsquery`` (its literal syntax, taken as is: no parser runs on it) that every
    case whose text holds ``term`` satisfies: all the grams of its runs, a run of one character as
    a prefix. None for a term with no run (only separators): it cannot be searched for.
    ``notes``: a gram of an internal note (``NOTE_MARK`` before it) will do too."""
    clauses: list[str] = []
    for run in runs(term):
        pieces = [(run, ":*")] if len(run) == 1 else [(gram, "") for gram in _needed(run)]
        for gram, prefix in pieces:
            clause = _quoted(gram) + prefix
            clauses.append(f"({clause} | {_quoted(NOTE_MARK + gram)}{prefix})" if notes else clause)
    return " & ".join(dict.fromkeys(clauses)) or None


def tsvector(text: str) -> str:
    """What a case's PostgreSQL document (``case_grams.grams``) holds for ``text``: its ``grams`` as
    a ``tsvector`` literal (the cast takes it as is: no parser of words runs on it). A quote and a
    backslash are separators, so no gram holds one and none needs escaping (quoting each cost
    as much as cutting the grams)."""
    held = grams(text)
    return "'" + "' '".join(held) + "'" if held else ""


def _hex(gram: str) -> str:
    return "".join(f"{ord(c):06x}" for c in gram)


def fts_document(text: str) -> str:
    """What SQLite's FTS5 index (``case_fts``, tokenizer ``ascii``) holds for ``text``: its
    ``grams``, each written as the hexadecimal of its characters (six digits each), so that
    every gram is one token of letters and digits whatever its characters are."""
    return " ".join(sorted(_hex(g) for g in grams(text)))


def fts_query(term: str) -> str | None:
    """The FTS5 query that every document holding ``term`` matches: ``tsquery`` in FTS5's
    syntax (a run of one character as a prefix). None for a term with no run."""
    clauses: list[str] = []
    for run in runs(term):
        if len(run) == 1:
            clauses.append(f'"{_hex(run)}"*')
        else:
            clauses.extend(f'"{_hex(gram)}"' for gram in _needed(run))
    return " AND ".join(dict.fromkeys(clauses)) or None


class SearchSyntaxError(ValueError):
    """A search that cannot be run as written: ``field`` (a filter's name, or "q") and why."""

    def __init__(self, field: str, message: Message) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Query:
    """A parsed search: the texts that must all appear, and the filters (each a tuple of the
    values, any of which will do)."""

    terms: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    right_types: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    experts: tuple[str, ...] = ()
    enterprises: tuple[str, ...] = ()
    confidential: bool | None = None
    after: date | None = None
    before: date | None = None
    #: what was ignored: words with nothing searchable in them (only punctuation)
    ignored: tuple[str, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return self == Query(ignored=self.ignored)


_TOKEN = re.compile(r'\s*(?:([A-Za-z_]+):(?:"([^"]*)"?|(\S*))|"([^"]*)"?|(\S+))')


def _date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SearchSyntaxError(name, Message(N_("%(field)s: takes a day as YYYY-MM-DD."), field=name)) from None


def _choices(name: str, values: list[str], allowed: tuple[str, ...]) -> tuple[str, ...]:
    wrong = [v for v in values if v not in allowed]
    if wrong:
        raise SearchSyntaxError(
            name, Message(N_("%(field)s: takes one of %(choices)s."), field=name, choices=", ".join(allowed))
        )
    return tuple(dict.fromkeys(values))


def parse(text: str | None) -> Query:
    """``text`` in the search syntax as a ``Query``; ``SearchSyntaxError`` when it cannot be run."""
    text = (text or "").strip()
    if len(text) > MAX_LENGTH:
        raise SearchSyntaxError("q", Message(N_("A search is at most %(n)d characters."), n=MAX_LENGTH))
    terms: list[str] = []
    ignored: list[str] = []
    found: dict[str, list[str]] = {}
    for match in _TOKEN.finditer(text):
        name, quoted_value, value, phrase, word = match.groups()
        if name is not None and name.lower() in FIELDS:
            values = [quoted_value] if quoted_value is not None else [v for v in (value or "").split(",")]
            values = [v.strip() for v in values if v.strip()]
            if not values:
                raise SearchSyntaxError(name.lower(), Message(N_("%(field)s: needs a value."), field=name.lower()))
            found.setdefault(name.lower(), []).extend(values)
            continue
        if name is not None:  # not a field: the whole thing is a word
            word = match.group(0).strip()
        piece = phrase if phrase is not None else word
        if piece is None or not piece.strip():
            continue
        (terms if tsquery(piece) is not None else ignored).append(piece if phrase is not None else piece.strip())
    terms = list(dict.fromkeys(terms))
    if len(terms) + sum(len(v) for v in found.values()) > MAX_TERMS:
        raise SearchSyntaxError("q", Message(N_("A search has at most %(n)d words and filter values."), n=MAX_TERMS))
    for name in ("confidential", "after", "before"):
        if len(found.get(name, ())) > 1:
            raise SearchSyntaxError(name, Message(N_("%(field)s: takes one value."), field=name))
    confidential = None
    if "confidential" in found:
        flag = found["confidential"][0].lower()
        if flag not in YES_NO:
            raise SearchSyntaxError("confidential", Message(N_("%(field)s: takes yes or no."), field="confidential"))
        confidential = YES_NO[flag]
    return Query(
        terms=tuple(terms),
        statuses=_choices("status", found.get("status", []), STATUSES),
        right_types=_choices("type", found.get("type", []), RIGHT_TYPES),
        services=_choices("service", found.get("service", []), SERVICES),
        experts=tuple(dict.fromkeys(found.get("expert", []))),
        enterprises=tuple(dict.fromkeys(found.get("enterprise", []))),
        confidential=confidential,
        after=_date("after", found["after"][0]) if "after" in found else None,
        before=_date("before", found["before"][0]) if "before" in found else None,
        ignored=tuple(ignored),
    )
