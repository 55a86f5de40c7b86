"""Watched marks and look-alike notices: the adapter around ``workstation.similarity``.

- Enterprises watch their own marks (``WatchedMark``), through ``/marks`` and ``/api/v1/marks``.
- Every mark named in a new case (the watch worker) and every mark of an imported publication feed
  (``python -m workstation import-marks FILE``) is checked against all watched marks with
  ``check_marks``. A match becomes a ``LookalikeMatch`` (score, level, reasons) and a notice to
  the watching enterprise; a match from the feed carries the opposition deadline its publication
  starts. A coordinator can open a risk-warning case from a match in one action.
- A case's own enterprise is not warned about its own case; a mark named in another enterprise's
  case is shown without saying whose case it is.

The index of watched marks is built once per process and rebuilt when the watched set changes
(another mark watched or one removed): building it costs far more than checking a mark against
it (figures: ``benchmarks/similarity.py`` in benchmarks/README.md).
"""

from __future__ import annotations

import csv
import io
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from workstation import similarity
from workstation.deadlines import legal_deadlines
from workstation.i18n import N_
from workstation.services.models import Case, LookalikeMatch, PublishedMark, User, WatchedMark
from workstation.services.notices import NewNotice, feeds_enterprise_notices, raise_notices
from workstation.services.paging import Page, page_of
from workstation.storable import refusal

#: most marks one enterprise may watch
MAX_WATCHED = 500


def parse_classes(value: Any) -> list[int]:
    """Nice classes from a list or a string such as "9, 42" or "9;42"; ValueError when not 1-45."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else str(value).replace(";", ",").replace("，", ",").split(",")
    classes = set()
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if not text.isdigit() or not 1 <= int(text) <= 45:
            raise ValueError(text)
        classes.add(int(text))
    return sorted(classes)


_CLASS = r"0*([1-9]|[1-3][0-9]|4[0-5])"
#: Nice classes as text, as the API takes them: "9, 42" (commas or semicolons; blank is none).
CLASSES_TEXT = rf"^\s*({_CLASS}(\s*[,;，]\s*{_CLASS})*)?\s*$"


class ClassesField(fields.Field):
    """Nice classes 1-45: a JSON list of numbers or a text such as "9, 42" (``CLASSES_TEXT``),
    exactly as the API's document states them; ``lenient`` (publication feeds): any list or text
    ``parse_classes`` reads."""

    default_error_messages = {"invalid": N_("Nice classes are numbers from 1 to 45, e.g. 9, 42.")}

    def __init__(self, *, lenient: bool = False, **kwargs: Any) -> None:
        if not lenient:
            numbers = {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 45}}
            kwargs.setdefault("metadata", {})["anyOf"] = [numbers, {"type": "string", "pattern": CLASSES_TEXT}]
        super().__init__(**kwargs)
        self.lenient = lenient

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[int]:
        if not self.lenient:
            if isinstance(value, list) and all(map(_is_class_number, value)):
                value = [int(v) for v in value]
            elif not (isinstance(value, str) and re.fullmatch(CLASSES_TEXT, value)):
                raise self.make_error("invalid")
        try:
            return parse_classes(value)
        except (ValueError, TypeError):
            raise self.make_error("invalid") from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> list[int]:
        return list(value or [])


def _is_class_number(value: Any) -> bool:
    """A JSON number that is a whole number (9 or 9.0, as JSON Schema's integer; not true)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return float(value).is_integer()


class WatchedMarkSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.Integer(dump_only=True)
    text = fields.String(required=True, validate=validate.Length(min=1, max=200))
    classes = ClassesField(load_default=list)
    created_at = fields.DateTime(dump_only=True)

    @validates("text")
    def _not_blank(self, value: str, **_kwargs: Any) -> None:
        if not value.strip():
            raise ValidationError(N_("Must not be blank."))

    @post_load
    def _strip(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["text"] = data["text"].strip()
        return data


watched_mark_schema = WatchedMarkSchema()


class PublishedMarkSchema(Schema):
    """One row of a publication feed (CSV columns or JSON keys of the same names)."""

    class Meta:
        unknown = RAISE

    number = fields.String(required=True, validate=validate.Length(min=1, max=40))
    text = fields.String(required=True, validate=validate.Length(min=1, max=200))
    classes = ClassesField(load_default=list, lenient=True)
    published_on = fields.Date(load_default=None, allow_none=True)
    applicant = fields.String(load_default="", validate=validate.Length(max=200))

    @post_load
    def _strip(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        data["number"], data["text"] = data["number"].strip(), data["text"].strip()
        if not data["number"] or not data["text"]:
            raise ValidationError({k: [N_("Must not be blank.")] for k in ("number", "text") if not data[k]})
        return data


published_mark_schema = PublishedMarkSchema()


# --- watching --------------------------------------------------------------------------------


class WatchError(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def watch_mark(session: Session, enterprise: User, raw: Any) -> WatchedMark:
    """Validate and add a watched mark for ``enterprise``; WatchError with field errors."""
    if not isinstance(raw, dict):
        raise WatchError({"_schema": ["The body must be a JSON object."]})
    try:
        data = watched_mark_schema.load(raw)
    except ValidationError as err:
        raise WatchError(err.normalized_messages()) from None
    mine = select(func.count()).where(WatchedMark.enterprise_id == enterprise.id, WatchedMark.active.is_(True))
    if (session.scalar(mine) or 0) >= MAX_WATCHED:
        raise WatchError({"text": [N_("You already watch the most marks allowed.")]})
    mark = WatchedMark(enterprise_id=enterprise.id, text=data["text"], classes=data["classes"])
    session.add(mark)
    session.flush()
    return mark


def watched_marks_of(session: Session, enterprise: User) -> list[WatchedMark]:
    return list(
        session.scalars(
            select(WatchedMark)
            .where(WatchedMark.enterprise_id == enterprise.id, WatchedMark.active.is_(True))
            .order_by(WatchedMark.id)
        )
    )


def unwatch_mark(session: Session, enterprise: User, mark_id: int) -> bool:
    """Stop watching one of ``enterprise``'s marks; False when it has no such mark."""
    done = session.execute(
        update(WatchedMark)
        .where(WatchedMark.id == mark_id, WatchedMark.enterprise_id == enterprise.id, WatchedMark.active.is_(True))
        .values(active=False)
    )
    return done.rowcount == 1


def matches_for_enterprise(session: Session, enterprise: User, limit: int = 50) -> list[LookalikeMatch]:
    """The matches of ``enterprise``'s watched marks it may see: none from a confidential case
    (``notices.feeds_enterprise_notices``)."""
    return list(
        session.scalars(
            select(LookalikeMatch)
            .outerjoin(Case, Case.id == LookalikeMatch.case_id)
            .where(LookalikeMatch.enterprise_id == enterprise.id, or_(Case.id.is_(None), Case.confidential.is_(False)))
            .order_by(LookalikeMatch.created_at.desc(), LookalikeMatch.id.desc())
            .limit(limit)
        )
    )


# --- the index -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """What a match needs to know about a watched mark besides its wording."""

    id: int
    enterprise_id: int
    text: str


class _IndexCache:
    """The index of active watched marks, rebuilt when their set changes (count or newest id)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._index: similarity.WatchIndex | None = None
        self._owners: dict[int, Watched] = {}

    def get(self, session: Session) -> tuple[similarity.WatchIndex, dict[int, Watched]]:
        w = WatchedMark
        active = w.active.is_(True)
        count, newest = session.execute(select(func.count(w.id), func.max(w.id)).where(active)).one()
        stamp = (count or 0, newest or 0)
        with self._lock:
            if stamp != self._stamp or self._index is None:
                rows = session.execute(select(w.id, w.enterprise_id, w.text, w.classes).where(active)).all()
                self._index = similarity.build_index(
                    similarity.Mark(r.text, frozenset(r.classes or ()), id=r.id) for r in rows
                )
                self._owners = {r.id: Watched(r.id, r.enterprise_id, r.text) for r in rows}
                self._stamp = stamp
            return self._index, self._owners


watch_index = _IndexCache()


# --- checking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A mark to check: named in a case, or published in the feed."""

    text: str
    classes: tuple[int, ...] = ()
    source: str = "case"  # case | feed
    case: Case | None = None
    published: PublishedMark | None = None


def opposition_last_day(published_on: date | None) -> date | None:
    """The last day to oppose a mark published on ``published_on`` (Trademark Law art. 33)."""
    if published_on is None:
        return None
    return legal_deadlines("trademark", {"published_on": published_on})[0].last_day


def check_marks(session: Session, candidates: Iterable[Candidate]) -> list[LookalikeMatch]:
    """Check each candidate against every watched mark; record the new matches and notify the
    watchers. Returns the new matches. Runs in the caller's transaction."""
    index, owners = watch_index.get(session)
    found: list[tuple[Candidate, similarity.Match, Watched]] = []
    for candidate in candidates:
        mark = similarity.Mark(candidate.text, frozenset(candidate.classes))
        for match in similarity.find_lookalikes(mark, index):
            watched = owners.get(match.watched_id)
            if watched is None:
                continue
            if candidate.case is not None and candidate.case.enterprise_id == watched.enterprise_id:
                continue  # the enterprise's own case: it knows
            found.append((candidate, match, watched))
    if not found:
        return []
    keys = [_match_key(c, w) for c, _, w in found]
    taken = set(session.scalars(select(LookalikeMatch.key).where(LookalikeMatch.key.in_(keys))))
    added = []
    for (candidate, match, watched), key in zip(found, keys, strict=True):
        if key in taken:
            continue
        taken.add(key)
        published = candidate.published
        row = LookalikeMatch(
            key=key,
            watched_mark_id=watched.id,
            enterprise_id=watched.enterprise_id,
            source=candidate.source,
            case_id=candidate.case.id if candidate.case is not None else None,
            published_mark_id=published.id if published is not None else None,
            candidate_text=candidate.text[:200],
            candidate_classes=list(candidate.classes),
            score=round(match.score, 3),
            level=match.level,
            class_relation=match.class_relation,
            reasons=[
                {"code": r.code, "score": r.score, "watched": r.watched, "candidate": r.candidate, "detail": r.detail}
                for r in match.reasons
            ],
            opposition_last_day=opposition_last_day(published.published_on) if published is not None else None,
        )
        session.add(row)
        added.append((row, match, published, feeds_enterprise_notices(candidate.case)))
    session.flush()
    # A match from a confidential case is recorded (the coordinators' look-alikes page lists it)
    # but the watcher is not told: that would tell them the case exists.
    raise_notices(session, [_notice(row, match, published) for row, match, published, tell in added if tell])
    return [row for row, *_ in added]


def _match_key(candidate: Candidate, watched: Watched) -> str:
    if candidate.published is not None:
        return f"feed:{candidate.published.id}:{watched.id}"
    case_id = candidate.case.id if candidate.case is not None else 0
    return f"case:{case_id}:{watched.id}:{candidate.text}"[:255]


def _notice(row: LookalikeMatch, match: similarity.Match, published: PublishedMark | None) -> NewNotice:
    body: dict[str, Any] = {
        "match_id": row.id,
        "source": row.source,
        "watched": match.watched_text,
        "candidate": row.candidate_text,
        "candidate_classes": row.candidate_classes,
        "score": row.score,
        "level": row.level,
        "reasons": {language: similarity.explain(match, language) for language in ("zh", "en")},
        "opposition_last_day": row.opposition_last_day.isoformat() if row.opposition_last_day else None,
        "number": None,
        "applicant": None,
        "published_on": None,
    }
    if published is not None:
        body |= {
            "number": published.number,
            "applicant": published.applicant,
            "published_on": published.published_on.isoformat() if published.published_on else None,
        }
    return NewNotice(row.enterprise_id, "lookalike", f"lookalike:{row.key}", body)


def marks_named_in(case: Case) -> list[Candidate]:
    """The marks a case names (its rights' mark wording), each once."""
    texts = dict.fromkeys(str(r.get("mark_text") or "").strip() for r in case.rights or [])
    return [Candidate(text, source="case", case=case) for text in texts if text]


# --- the publication feed --------------------------------------------------------------------


@dataclass(frozen=True)
class FeedError:
    row: int  # the line (CSV, header = 1) or the position (JSON, from 1)
    field: str
    message: str


def read_feed(path: Path) -> Iterator[tuple[int, Any]]:
    """(row number, raw row) from a CSV (header: number,text,classes,published_on,applicant) or a
    JSON list of objects with those keys. UTF-8 (with or without BOM) or GB18030."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    if path.suffix.lower() == ".json" or text.lstrip().startswith("["):
        items = json.loads(text)
        if not isinstance(items, list):
            raise ValueError("a JSON feed is a list of objects")
        yield from enumerate(items, start=1)
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))  # (a lone CR ends a line, as Excel's)
    try:
        reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames or []]
        # Read to the end before the first row is imported, as a JSON feed is: a file that is not
        # CSV after all is refused whole, not imported up to where it breaks off.
        # None keys are cells beyond the header; None values are missing cells.
        rows = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]
    except csv.Error as err:
        raise ValueError(f"not CSV at line {reader.line_num}: {err}") from None
    yield from rows


@dataclass
class FeedReport:
    total: int = 0
    added: int = 0
    already: int = 0
    matches: int = 0
    errors: list[FeedError] | None = None


def import_feed(
    session_factory: Callable[[], Session],
    rows: Iterable[tuple[int, Any]],
    chunk: int = 500,
    progress: Callable[[FeedReport], None] | None = None,
) -> FeedReport:
    """Add the feed's new marks and check them, one committed chunk at a time, so a crash loses
    at most a chunk and a re-run adds (and notices) nothing twice: marks are unique by number."""
    report = FeedReport(errors=[])
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        with session_factory() as session:
            numbers = [d["number"] for d in batch]
            known = set(session.scalars(select(PublishedMark.number).where(PublishedMark.number.in_(numbers))))
            fresh = []
            for data in batch:
                if data["number"] in known:
                    report.already += 1
                    continue
                known.add(data["number"])
                fresh.append(PublishedMark(**data))
            session.add_all(fresh)
            session.flush()
            candidates = [Candidate(m.text, tuple(m.classes), "feed", published=m) for m in fresh]
            report.matches += len(check_marks(session, candidates))
            session.commit()
            report.added += len(fresh)
        batch.clear()
        if progress:
            progress(report)

    for row_number, raw in rows:
        report.total += 1
        if not isinstance(raw, dict):
            report.errors.append(FeedError(row_number, "_row", "not an object"))
            continue
        # Text the database cannot store (a NUL, an unpaired surrogate): the row is bad, the import goes on.
        refused = [(str(key), why) for key, value in raw.items() if (why := refusal(key) or refusal(value))]
        if refused:
            report.errors.extend(FeedError(row_number, key, why) for key, why in refused)
            continue
        try:
            batch.append(published_mark_schema.load({k: v for k, v in raw.items() if v not in ("", None)}))
        except ValidationError as err:
            for field_name, messages in err.normalized_messages().items():
                for message in messages if isinstance(messages, list) else [str(messages)]:
                    report.errors.append(FeedError(row_number, field_name, str(message)))
            continue
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    elif progress:
        progress(report)
    return report


# --- a coordinator acts on a match -----------------------------------------------------------


def all_matches(session: Session, page: int = 1, per_page: int = 30) -> Page:
    query = select(LookalikeMatch).order_by(LookalikeMatch.created_at.desc(), LookalikeMatch.id.desc())
    return page_of(session, query, page, per_page)


def risk_case_input(match: LookalikeMatch) -> dict[str, Any]:
    """The risk-warning case a coordinator opens for the watching enterprise from a match."""
    watched = match.watched_mark
    reasons = "\n".join(
        similarity.reason_text(r["code"], "zh", r["watched"], r["candidate"], r.get("detail")) for r in match.reasons
    )
    lines = [
        f"被监控商标：{watched.text}（类别：{', '.join(map(str, watched.classes)) or '未填'}）",
        f"近似商标：{match.candidate_text}（类别：{', '.join(map(str, match.candidate_classes)) or '未填'}）",
        f"相似度：{match.score:.2f}（{match.level}）",
        reasons,
    ]
    key_dates = {}
    if match.published_mark is not None:
        published = match.published_mark
        lines.append(f"初审公告：{published.number} {published.applicant}".strip())
        if published.published_on:
            key_dates["published_on"] = published.published_on.isoformat()
            lines.append(f"异议期限届满：{match.opposition_last_day}")
    return {
        "right_type": "trademark",
        "service": "risk_warning",
        "title": f"商标近似预警：{match.candidate_text} / {watched.text}"[:200],
        "description": "\n".join(lines),
        "rights": [{"kind": "trademark", "mark_text": watched.text[:200]}],
        "key_dates": key_dates,
    }
