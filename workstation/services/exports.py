"""Cases as a spreadsheet: the cases a search finds (``services.search``: what the searcher may
see, nothing more), as CSV (UTF-8 with a byte-order mark, which Excel needs to read Chinese) or
XLSX (openpyxl, write-only: rows are streamed into the file, not kept as cells), with the column
headers in the reader's language; sent in pieces as the rows are read (memory stays the same
for 100,000 cases as for ten: ``benchmarks/search.py --export``). An export that holds confidential cases is audited
(``admin_audit``: ``cases_exported``, with their references) and each such case's read logged
(``access_log``, a download).
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from workstation.deadlines import zone
from workstation.i18n import N_, in_language, label, translations
from workstation.services.audit import audit, record_reads
from workstation.services.models import Case, User

FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}  # fmt: skip

#: The columns, in order: (header, what it shows).
COLUMNS = (
    N_("Reference"),
    N_("Title"),
    N_("Status"),
    N_("Right type"),
    N_("Service"),
    N_("Enterprise"),
    N_("Assigned expert"),
    N_("Jurisdiction"),
    N_("Urgency"),
    N_("Confidential"),
    N_("Parties"),
    N_("Rights"),
    N_("Submitted on"),
    N_("Last changed"),
)
_BATCH = 2000
_CHUNK = 1 << 16


def headers(language: str) -> list[str]:
    return [in_language(c, language) for c in COLUMNS]


def _rows(session: Session, query: Select[tuple[Case]], language: str, audited: frozenset[str]) -> Iterator[list[Any]]:
    """The cases of ``query`` as rows of plain values, read in batches of columns (no ORM objects;
    a server-side cursor on PostgreSQL). A confidential case that is not in ``audited`` (it became
    confidential, or visible, after the export was audited) is left out."""
    gettext = translations(language).gettext
    yes, no = in_language(N_("Yes"), language), in_language(N_("No"), language)
    ids = query.with_only_columns(Case.id).order_by(None).subquery()
    enterprise, expert = aliased(User), aliased(User)
    rows = (
        select(Case.reference, Case.title, Case.status, Case.right_type, Case.service,
               enterprise.organisation, enterprise.name, expert.name, Case.jurisdiction, Case.urgency,
               Case.confidential, Case.parties, Case.rights, Case.created_at, Case.updated_at)
        .join(enterprise, enterprise.id == Case.enterprise_id)
        .outerjoin(expert, expert.id == Case.assigned_expert_id)
        .where(Case.id.in_(select(ids.c.id)))
        .order_by(Case.id.desc())
        .execution_options(yield_per=_BATCH)
    )  # fmt: skip
    local = zone()
    for (reference, title, status, right_type, service, organisation, enterprise_name, expert_name,
         jurisdiction, urgency, confidential, parties, rights, created, updated) in session.execute(rows):  # fmt: skip
        if confidential and reference not in audited:
            continue
        yield [
            reference, title, label(status, gettext), label(right_type, gettext), label(service, gettext),
            organisation or enterprise_name, expert_name or "", jurisdiction, label(urgency, gettext),
            yes if confidential else no,
            "; ".join(" ".join(filter(None, (p.get("name"), p.get("credit_code")))) for p in parties or []),
            "; ".join(" ".join(filter(None, (r.get("number"), r.get("mark_text")))) for r in rights or []),
            created.astimezone(local).strftime("%Y-%m-%d %H:%M"), updated.astimezone(local).strftime("%Y-%m-%d %H:%M"),
        ]  # fmt: skip


def _csv(header: list[str], rows: Iterator[list[Any]]) -> Iterator[bytes]:
    """The file in pieces of ``_BATCH`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    while batch := list(islice(rows, _BATCH)):
        writer.writerows(safe_cells(row) for row in batch)
        yield buffer.getvalue().encode("utf-8")
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # (no rows: the header alone)
        yield buffer.getvalue().encode("utf-8")


def safe_cells(row: list[Any]) -> list[Any]:
    """A cell a spreadsheet would run as a formula (=, +, -, @ first) starts with an apostrophe:
    a case's title is the enterprise's text, and opening an export must not run it."""
    return [f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v for v in row]


def _xlsx(header: list[str], rows: Iterator[list[Any]]) -> Iterator[bytes]:
    """The workbook, written (write-only: openpyxl keeps the rows in a temporary file, not as
    cells) to a temporary file, then sent from it: a zip is whole only once its last row is in."""
    from openpyxl import Workbook  # (only exports need it)

    book = Workbook(write_only=True)
    sheet = book.create_sheet("cases")
    sheet.append(header)
    for row in rows:
        sheet.append(safe_cells(row))
    with tempfile.TemporaryFile() as file:
        book.save(file)
        file.seek(0)
        while piece := file.read(_CHUNK):
            yield piece


def export_cases(
    session: Session,
    sessions: Callable[[], Session],
    user: User,
    query: Select[tuple[Case]],
    fmt: str,
    language: str,
    asked: str = "",
    via: str = "",
) -> Iterator[bytes]:
    """The file of the cases ``query`` finds (a ``services.search.search_cases`` query: never
    more than ``user`` may see), in ``fmt``, as pieces to send one after the other (constant
    memory however many cases). Audits the confidential ones in it now, in ``session``'s
    transaction (the caller commits it before sending); the rows are read when the pieces are,
    in a session of ``sessions`` of their own."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    confidential = session.execute(
        query.with_only_columns(Case.id, Case.reference).where(Case.confidential.is_(True))
    ).all()
    audited = frozenset(r for _, r in confidential)
    if confidential:
        references = [r for _, r in confidential]
        audit(session, user, "cases_exported", format=fmt, query=asked, via=via, confidential=references)
        record_reads(session, user, f"cases export {via}".strip(), references=references,
                     action="download")  # fmt: skip
    return _pieces(sessions, query, fmt, language, audited)


def _pieces(
    sessions: Callable[[], Session], query: Select[tuple[Case]], fmt: str, language: str, audited: frozenset[str]
) -> Iterator[bytes]:
    with sessions() as session:
        rows = _rows(session, query, language, audited)
        yield from (_csv if fmt == "csv" else _xlsx)(headers(language), rows)


def filename(fmt: str, now: Any) -> str:
    return f"cases-{now.astimezone(zone()).strftime('%Y%m%d-%H%M')}.{fmt}"
