"""The command line: ``python -m workstation <command>`` (``--help`` lists them)."""

from __future__ import annotations

import sys

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
def create_user_command(
    role, email, password, name, language, organisation, credit_code, right_types, capacity
) -> None:  # noqa: ANN001
    """Create a user (enterprise, expert or coordinator)."""
    config = Config.from_env()
    types = [t.strip() for t in right_types.split(",") if t.strip()]
    if role == "expert" and not types:
        raise click.UsageError("experts need --right-types, e.g. --right-types trademark,patent")
    try:
        with transaction(_sessions(config)) as session:
            user = create_user(
                session, email, password, role, name, language, organisation, credit_code, types, capacity
            )
            click.echo(f"created {role} {user.email} (id {user.id})")
    except UserError as err:
        raise click.ClickException(str(err)) from None


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
