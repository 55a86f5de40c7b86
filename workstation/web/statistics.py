"""The coordinators' statistics report (``/coordinator/statistics``): a period's figures as a page
with SVG bar charts drawn on the server (no script, nothing from elsewhere), and as CSV, XLSX and
PDF. The PDF is the page's own tables and charts printed by WeasyPrint, with the fonts the system
has (Debian's fonts-noto-cjk for Chinese: ``make pdf`` installs them)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _

from workstation.i18n import translate
from workstation.services.statistics import MEDIA_TYPES, filename, report_file, statistics_report
from workstation.statistics import PeriodError, Report, parse_period, report_tables, table_chart
from workstation.web.support import coordinators_only, get_db

bp = Blueprint("statistics", __name__, url_prefix="/coordinator/statistics")
bp.before_request(coordinators_only)

PAGE_FORMATS = ("html", "csv", "xlsx", "pdf")


def asked_period(today: date | None = None) -> Any:
    """The period of ``?period=`` or ``?from=``/``?to=`` (PeriodError if unreadable)."""
    args = request.args
    return parse_period(args.get("period"), args.get("from"), args.get("to"), today=today)


@bp.get("")
def report_page():  # noqa: ANN201
    fmt = request.args.get("format") or "html"
    if fmt not in PAGE_FORMATS:
        abort(400)
    try:
        period = asked_period()
    except PeriodError as err:
        return render_template("coordinator/statistics.html", problem=translate(err.message, _),
                               form=request.args, report=None, sections=[]), 400  # fmt: skip
    report = statistics_report(get_db(), period)
    language = str(get_locale())
    if fmt == "html":
        return render_template("coordinator/statistics.html", problem=None, form=request.args, report=report,
                               sections=sections(report, language), query=period_query())  # fmt: skip
    return download(report, fmt, language)


def period_query() -> dict[str, str]:
    """The page's period parameters, for its download links."""
    return {k: v for k in ("period", "from", "to") if (v := request.args.get(k))}


def sections(report: Report, language: str) -> list[tuple[Any, Any]]:
    """(table, its chart) for each table of the report; the enterprises' and experts' tables cut to
    the largest (the files have them all)."""
    out = []
    for table in report_tables(report, language):
        if table.code in ("enterprise", "experts"):
            table = type(table)(table.code, table.title, table.headers, table.rows[:20])
        out.append((table, table_chart(table)))
    return out


def download(report: Report, fmt: str, language: str) -> Response:
    """The report as a file: CSV or XLSX of its tables, or the PDF of its page."""
    data = render_pdf(report, language) if fmt == "pdf" else report_file(report, fmt, language)
    return Response(
        data,
        mimetype=MEDIA_TYPES[fmt].split(";")[0],
        headers={"Content-Disposition": f'attachment; filename="{filename(report, fmt)}"'},
    )


def render_pdf(report: Report, language: str) -> bytes:
    """The report's tables and charts printed (templates/coordinator/statistics_pdf.html)."""
    from weasyprint import HTML  # (only the PDF needs it, and it takes a second to import)

    with force_locale(language):  # (an API caller's language: no login session chose it)
        html = render_template("coordinator/statistics_pdf.html", report=report,
                               sections=sections(report, language), language=language)  # fmt: skip
    return HTML(string=html, url_fetcher=_no_fetching).write_pdf()


def _no_fetching(url: str, *args: Any, **kwargs: Any) -> Any:
    """The PDF's page holds everything it shows: it loads nothing, from anywhere."""
    raise ValueError(f"the report loads nothing: {url}")
