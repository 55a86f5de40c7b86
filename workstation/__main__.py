"""The command line: ``python -m workstation <command>`` (``--help`` lists them)."""

from __future__ import annotations

import sys
from typing import Any

import click

from workstation.auth import ROLES, UserError, create_token, create_user, find_user
from workstation.config import Config
from workstation.db import make_engine, make_session_factory, transaction
from workstation.schemas import RIGHT_TYPES


def _sessions(config: Config):  # noqa: ANN202
    return make_session_factory(make_engine(config.database_url))


@click.group()
def cli() -> None:
    """IP rights-protection assistance workstation."""


@cli.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    from workstation.migrate import upgrade

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
def create_token_command(email: str) -> None:
    """Create an API token for a user and print it (only the token, on one line)."""
    config = Config.from_env()
    with transaction(_sessions(config)) as session:
        user = find_user(session, email)
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        click.echo(create_token(session, user))


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


@cli.command("run")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, type=int, show_default=True)
@click.option("--web-workers", default=2, type=int, show_default=True, help="gunicorn worker processes.")
@click.option("--consumers", default=1, type=int, show_default=True, help="Processes per consumer (routing, notify).")
def run(host: str, port: int, web_workers: int, consumers: int) -> None:
    """Run everything: the web app (gunicorn), the consumers and the scheduler."""
    from workstation.supervisor import run_all

    sys.exit(run_all(Config.from_env(), host, port, web_workers, consumers))


if __name__ == "__main__":
    cli(prog_name="python -m workstation")
