"""The command line: ``python -m workstation <command>`` (``--help`` lists them)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from workstation.config import Config
from workstation.services.audit import audit
from workstation.services.auth import (
    ROLES,
    TokenError,
    UserError,
    check_token_request,
    create_user,
    find_user,
    issue_token,
    revoke_token,
    tokens_of,
)
from workstation.services.db import make_engine, make_session_factory, transaction
from workstation.services.migrate import ensure_schema
from workstation.services.personal_data import (
    DEFAULT_RETENTION_DAYS,
    PersonalDataError,
    erase_enterprise,
    export_enterprise,
)
from workstation.vocabulary import RIGHT_TYPES


def _sessions(config: Config):  # noqa: ANN202
    """Sessions on the configured database, its schema brought up to date first (a command run
    before ``make run`` on a fresh instance would otherwise meet "no such table")."""
    try:
        ensure_schema(config.database_url)
    except RuntimeError as err:
        raise click.ClickException(str(err)) from None
    return make_session_factory(make_engine(config.database_url))


@click.group()
def cli() -> None:
    """IP rights-protection assistance workstation."""


@cli.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from workstation.services.migrate import upgrade

    config = Config.from_env()
    upgrade(config.database_url)
    click.echo(f"database ready: {config.database_url.split('@')[-1]}")


@cli.command("create-user")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--name", default="")
@click.option("--language", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--organisation", default="")
@click.option("--credit-code", default=None, help="Unified social credit code (enterprises).")
@click.option("--right-types", default="", help=f"Experts: comma-separated, among {', '.join(RIGHT_TYPES)}.")
@click.option("--capacity", type=int, default=5, show_default=True, help="Experts: most active cases at once.")
@click.option("--services", default=None, help="Experts: comma-separated services offered (default: all).")
@click.option("--jurisdictions", default=None, help="Experts: e.g. CN,US,EU (default: not restricted).")
@click.option("--speaks", default=None, help="Experts: case languages they work in, e.g. zh,en (default: any).")
@click.option("--fields", default="", help="Experts: technical fields, e.g. biomedicine,new_materials.")
@click.option("--competence", default="", help="Experts: levels 0-3, e.g. legal=3,technical=2.")
@click.option("--confidential", is_flag=True, help="Experts: cleared for trade-secret and confidential cases.")
def create_user_command(**options: Any) -> None:
    """Create a user (enterprise, expert or coordinator)."""
    config = Config.from_env()
    o = options
    types = _list(o["right_types"])
    if o["role"] == "expert" and not types:
        raise click.UsageError("experts need --right-types, e.g. --right-types trademark,patent")
    profile = {
        "services": _optional_list(o["services"]),
        "jurisdictions": _optional_list(o["jurisdictions"] and o["jurisdictions"].upper()),
        "languages": _optional_list(o["speaks"]),
        "technical_fields": _list(o["fields"]),
        "competence": _levels(o["competence"]),
        "confidential_ok": o["confidential"],
    }
    try:
        with transaction(_sessions(config)) as session:
            user = create_user(
                session, o["email"], o["password"], o["role"], o["name"], o["language"], o["organisation"],
                o["credit_code"], types, o["capacity"], profile,
            )  # fmt: skip
            audit(session, None, "user_created", user, role=user.role, via="cli")
            click.echo(f"created {user.role} {user.email} (id {user.id})")
    except UserError as err:
        raise click.ClickException(str(err)) from None


def _list(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _optional_list(value: str | None) -> list[str] | None:
    """None when the option was not given: the profile then does not restrict routing."""
    return None if value is None else _list(value)


def _levels(value: str) -> dict[str, int]:
    levels = {}
    for item in _list(value):
        dim, _, level = item.partition("=")
        if not level.strip().isdigit():
            raise click.UsageError("--competence takes dimension=level pairs, e.g. legal=3,technical=2")
        levels[dim.strip()] = int(level)
    return levels


@cli.command("create-token")
@click.option("--email", required=True)
@click.option("--name", default="command line", show_default=True, help="What the token is for.")
@click.option("--expires-in-days", type=int, default=None, help="Default WORKSTATION_TOKEN_DAYS (90).")
def create_token_command(email: str, name: str, expires_in_days: int | None) -> None:
    """Create an API token for a user and print it (only the token, on one line)."""
    config = Config.from_env()
    days = config.token_days if expires_in_days is None else expires_in_days
    with transaction(_sessions(config)) as session:
        user = find_user(session, email)
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        try:
            name, days = check_token_request(name, days, config.token_max_days)
        except TokenError as err:
            raise click.UsageError("; ".join(f"{field}: {' '.join(m)}" for field, m in err.errors.items())) from None
        click.echo(issue_token(session, user, name, days)[1])


@cli.command("revoke-token")
@click.option("--id", "token_id", type=int, default=None, help="The token's id (GET /api/v1/tokens lists them).")
@click.option("--email", default=None, help="The holder's only token, or with --all every one of them.")
@click.option("--all", "every", is_flag=True, help="With --email: every token the user holds.")
def revoke_token_command(token_id: int | None, email: str | None, every: bool) -> None:
    """Revoke API tokens: one by id, or a user's (audited as done from the command line)."""
    if (token_id is None) == (email is None) or (every and email is None):
        raise click.UsageError("give --id N, or --email E (with --all for every token of the user)")
    with transaction(_sessions(Config.from_env())) as session:
        if token_id is not None:
            ids = [token_id]
        else:
            user = find_user(session, email)
            if user is None:
                raise click.ClickException(f"no user with email {email}")
            ids = [t.id for t in tokens_of(session, user) if t.revoked_at is None]
            if len(ids) > 1 and not every:
                raise click.ClickException(f"{email} holds {len(ids)} tokens (ids {', '.join(map(str, ids))}): "
                                           "give --id, or --all")  # fmt: skip
        for one in ids:
            if revoke_token(session, one, actor=None) is None:
                raise click.ClickException(f"no token with id {one}")
        click.echo(f"revoked {len(ids)} token(s)")


@cli.command("export-enterprise")
@click.option("--email", required=True, help="The enterprise's email.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The zip to write.")
def export_enterprise_command(email: str, out: Path) -> None:
    """Everything held about one enterprise (PIPL): data.json and its files, as a zip. Audited."""
    config = Config.from_env()
    with transaction(_sessions(config)) as session:
        user = find_user(session, email)
        if user is None or user.role != "enterprise":
            raise click.ClickException(f"no enterprise with email {email}")
        out.write_bytes(export_enterprise(session, config.evidence_dir, user.id, actor_id=None))
    click.echo(f"wrote {out}")


@cli.command("erase-enterprise")
@click.option("--email", required=True, help="The enterprise's email.")
@click.option("--retention-days", type=int, default=DEFAULT_RETENTION_DAYS, show_default=True)
def erase_enterprise_command(email: str, retention_days: int) -> None:
    """Erase a deactivated enterprise's personal data after the retention period (PIPL), keeping
    anonymised statistics. Audited."""
    config = Config.from_env()
    with transaction(_sessions(config)) as session:
        user = find_user(session, email)
        if user is None or user.role != "enterprise":
            raise click.ClickException(f"no enterprise with email {email}")
        try:
            done = erase_enterprise(session, config.evidence_dir, user.id, None, timedelta(days=retention_days))
        except PersonalDataError as err:
            raise click.ClickException(str(err)) from None
    click.echo(f"erased: {done.cases} cases, {done.files_removed} files removed")


@cli.command("compare-marks")
@click.argument("marks", nargs=-1, metavar="[MARK_A MARK_B]")
@click.option(
    "--file",
    "pairs_file",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    help="CSV of mark_a,mark_b rows (UTF-8, header optional, extra columns ignored); - for standard input.",
)
@click.option("--language", type=click.Choice(["en", "zh"]), default="en", show_default=True, help="Of the reasons.")
def compare_marks(marks: tuple[str, ...], pairs_file: str | None, language: str) -> None:
    """Judge marks as the early-warning notices do: MARK_A is the watched mark, MARK_B the new one.

    Writes mark_a,mark_b,score,verdict,reasons as CSV, verdict being similar or distinct. Needs no
    database. Rows with fewer than two marks are reported on standard error and skipped (exit code 1).
    """
    import csv
    import io

    from workstation.similarity import verdict

    if (pairs_file is None) != bool(marks) or (marks and len(marks) != 2):
        raise click.UsageError("give two marks (compare-marks A B) or --file PAIRS.csv, not both")

    def emit(cells: list[str]) -> None:
        line = io.StringIO()  # csv quoting, then click.echo: UTF-8 whatever the console's encoding
        csv.writer(line, lineterminator="\n").writerow(cells)
        click.echo(line.getvalue(), nl=False)

    def write(a: str, b: str) -> None:
        judged = verdict(a, b, language)
        emit([a, b, f"{judged.score:.2f}", judged.label, "; ".join(judged.reasons)])

    emit(["mark_a", "mark_b", "score", "verdict", "reasons"])

    if pairs_file is None:
        write(*marks)
        return
    raw = sys.stdin.buffer if pairs_file == "-" else open(pairs_file, "rb")  # noqa: SIM115
    bad, first = 0, True
    # utf-8-sig: a spreadsheet's "CSV UTF-8" export starts with a byte-order mark
    with io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        rows = csv.reader(text)
        try:
            for row in rows:
                cells = [cell.strip() for cell in row]
                if not any(cells):
                    continue
                header, first = first and [c.casefold() for c in cells[:2]] == ["mark_a", "mark_b"], False
                if header:
                    continue
                if len(cells) < 2 or not cells[0] or not cells[1]:
                    click.echo(f"line {rows.line_num}: needs two marks, mark_a,mark_b: {row!r}", err=True)
                    bad += 1
                    continue
                write(cells[0], cells[1])
        except (UnicodeDecodeError, csv.Error) as err:
            raise click.ClickException(f"cannot read {pairs_file} at line {rows.line_num + 1}: {err}") from None
    if bad:
        click.echo(f"{bad} bad row(s) skipped", err=True)
        sys.exit(1)


@cli.command("update-translations")
def update_translations() -> None:
    """For developers: add new messages to the .po catalogs and list what lacks a translation."""
    from workstation.i18n import update_catalogs

    missing = update_catalogs()
    for language, messages in missing.items():
        for message in messages:
            click.echo(f"{language}: untranslated: {message}")
    if any(missing.values()):
        raise click.ClickException("some messages have no translation yet")
    click.echo("catalogs complete")


#: sendmail's exit codes (sysexits.h), which MTAs act on: retry later, or bounce.
EX_DATAERR, EX_TEMPFAIL = 65, 75


@cli.command("receive-mail")
def receive_mail() -> None:
    """Take one mail from standard input, for an MTA (exit 0: taken; 75: try again later, the
    database is unreachable; 65: never, the message cannot be taken)."""
    from sqlalchemy.exc import SQLAlchemyError

    from workstation.services.mailin import MailRefusedError, receive_committed

    config = Config.from_env()
    raw = sys.stdin.buffer.read(config.max_mail_bytes + 1)
    try:
        sessions = _sessions(config)
        received = receive_committed(sessions, config, raw, "pipe")
    except MailRefusedError as err:
        click.echo(f"receive-mail: refused: {err}", err=True)
        sys.exit(EX_DATAERR)
    except (SQLAlchemyError, click.ClickException, OSError) as err:
        message = err.format_message() if isinstance(err, click.ClickException) else str(err).splitlines()[0]
        click.echo(f"receive-mail: temporary failure: {message}", err=True)
        sys.exit(EX_TEMPFAIL)
    del received  # (taken: an MTA reads the exit status, nothing more)


@cli.command("import-marks")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--chunk", default=500, show_default=True, help="Rows committed (and checked) at a time.")
def import_marks(file: Path, chunk: int) -> None:
    """Import a feed of newly published marks (CSV or JSON) and check each against the watched marks.

    CSV columns (JSON keys): number, text, classes ("9,42"), published_on (YYYY-MM-DD), applicant.
    Marks already imported (same number) are skipped, so a feed can be imported again safely.
    """
    from workstation.services.marks import import_feed, read_feed

    config = Config.from_env()
    sessions = _sessions(config)

    def progress(report) -> None:  # noqa: ANN001
        click.echo(
            f"\r{report.total} rows read: {report.added} new, {report.already} already imported, "
            f"{len(report.errors)} bad, {report.matches} look-alike matches",
            nl=False,
            err=True,
        )

    try:
        report = import_feed(sessions, read_feed(file), chunk=max(chunk, 1), progress=progress)
    except (ValueError, UnicodeDecodeError) as err:
        raise click.ClickException(f"cannot read {file}: {err}") from None
    click.echo("", err=True)
    for bad in report.errors:
        click.echo(f"row {bad.row}: {bad.field}: {bad.message}", err=True)
    click.echo(
        f"imported {report.added} new marks ({report.already} already known, {len(report.errors)} bad rows); "
        f"{report.matches} look-alike matches notified"
    )
    if report.errors:
        sys.exit(1)


@cli.command("send-digest")
@click.option("--email", required=True, help="The coordinator's email.")
@click.option(
    "--period",
    default=None,
    help="daily:2026-11-24, weekly:2026-W48, or a date (its daily digest). Default: the latest due.",
)
def send_digest_command(email: str, period: str | None) -> None:
    """Send a coordinator's digest now (once per period: a digest already sent is not sent again)."""
    # Sending is the notify worker's own code, and the web side never imports the workers:
    # ``python -m workers send-digest`` does it, in a process of its own.
    command = [sys.executable, "-m", "workers", "send-digest", "--email", email]
    if period is not None:
        command += ["--period", period]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    click.echo(done.stdout, nl=False)
    click.echo(done.stderr, nl=False, err=True)
    sys.exit(done.returncode)


@cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@click.option("--web-workers", default=2, type=int, show_default=True, help="gunicorn worker processes.")
@click.option("--consumers", default=1, type=int, show_default=True, help="Processes per consumer (routing, notify).")
def run(host: str, port: int, web_workers: int, consumers: int) -> None:
    """Run everything: the web app (gunicorn), the consumers and the scheduler."""
    from workstation.services.supervisor import run_all

    sys.exit(run_all(Config.from_env(), host, port, web_workers, consumers))


if __name__ == "__main__":
    cli(prog_name="python -m workstation")
