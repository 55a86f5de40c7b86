"""The command line: users with expert profiles, tokens, clear errors for bad options."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from workstation.__main__ import cli
from workstation.services.auth import token_hash
from workstation.services.models import AdminAudit, ApiToken, ExpertProfile, User, utcnow


@pytest.fixture
def run(env, monkeypatch):  # noqa: ANN001, ANN201
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return lambda *args: CliRunner().invoke(cli, list(args))


def test_an_expert_with_a_full_profile(run, sessions) -> None:  # noqa: ANN001
    result = run(
        "create-user", "--role", "expert", "--email", "Wang@Example.cn", "--password", "password123",
        "--right-types", "trade_secret,patent", "--services", "infringement_judgment", "--jurisdictions", "cn,us",
        "--speaks", "zh", "--fields", "biomedicine", "--competence", "legal=3,technical=2", "--confidential",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with sessions() as s:
        profile = s.scalars(select(ExpertProfile)).one()
        assert s.get(User, profile.user_id).email == "wang@example.cn"
    assert profile.right_types == ["trade_secret", "patent"] and profile.jurisdictions == ["CN", "US"]
    assert profile.competence == {"legal": 3, "technical": 2} and profile.confidential_ok is True
    assert profile.services == ["infringement_judgment"] and profile.languages == ["zh"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "expert"], "experts need --right-types"),
        (["--role", "expert", "--right-types", "recipes"], "unknown right types"),
        (["--role", "expert", "--right-types", "patent", "--competence", "legal=5"], "each 0 to 3"),
        (["--role", "expert", "--right-types", "patent", "--fields", "space"], "unknown technical fields"),
        (["--role", "enterprise", "--password", "short"], "at least 8 characters"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(run, sessions, args, message) -> None:  # noqa: ANN001
    base = {"--email": "x@example.cn", "--password": "password123"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    result = run("create-user", *[part for pair in base.items() for part in pair])
    assert result.exit_code != 0 and message in result.output
    with sessions() as s:
        assert s.scalars(select(User)).all() == []


def test_create_token_prints_only_the_token(run) -> None:  # noqa: ANN001
    assert (
        run("create-user", "--role", "enterprise", "--email", "e@example.cn", "--password", "password123").exit_code
        == 0
    )
    result = run("create-token", "--email", "e@example.cn")
    assert result.exit_code == 0 and len(result.output.strip().split()) == 1 and len(result.output.strip()) >= 40
    assert run("create-token", "--email", "nobody@example.cn").exit_code != 0


@pytest.mark.pure
def test_create_user_on_a_fresh_instance_sets_up_the_database(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    # As a new user would: the first command, before `make run` ever created the schema.
    monkeypatch.delenv("WORKSTATION_DATABASE_URL", raising=False)
    monkeypatch.setenv("WORKSTATION_INSTANCE_PATH", str(tmp_path / "instance"))
    result = CliRunner().invoke(cli, ["create-user", "--role", "coordinator", "--email", "c@example.cn",
                                      "--password", "password123"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "created coordinator c@example.cn" in result.output


@pytest.mark.pure
def test_the_instance_folder_is_private(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from workstation.config import Config

    fresh, loose = tmp_path / "fresh", tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    for folder in (fresh, loose):
        Config.from_env({"WORKSTATION_INSTANCE_PATH": str(folder)})
        assert folder.stat().st_mode & 0o777 == 0o700, folder


@pytest.mark.parametrize(
    ("code", "message"),
    [("91440300708461163T", "last character does not match"), ("91440300708461136T", "already registered")],
)
def test_an_enterprise_credit_code_is_checked_and_its_own(run, code, message) -> None:  # noqa: ANN001
    first = run("create-user", "--role", "enterprise", "--email", "a@example.cn", "--password", "password123",
                "--credit-code", "91440300708461136T")  # fmt: skip
    assert first.exit_code == 0, first.output
    second = run("create-user", "--role", "enterprise", "--email", "b@example.cn", "--password", "password123",
                 "--credit-code", code)  # fmt: skip
    assert second.exit_code == 1 and message in second.output


def _tokens(sessions) -> list[ApiToken]:  # noqa: ANN001
    with sessions() as s:
        return list(s.scalars(select(ApiToken).order_by(ApiToken.id)))


def test_create_token_takes_a_name_and_a_lifetime_within_the_maximum(run, sessions) -> None:  # noqa: ANN001
    run("create-user", "--role", "enterprise", "--email", "e@example.cn", "--password", "password123")
    made = run("create-token", "--email", "e@example.cn", "--name", "ERP", "--expires-in-days", "7")
    assert made.exit_code == 0 and len(made.output.split()) == 1
    (token,) = _tokens(sessions)
    assert token.name == "ERP" and timedelta(days=6) < token.expires_at - utcnow() <= timedelta(days=7)
    assert token.token_hash == token_hash(made.output.strip())
    too_long = run("create-token", "--email", "e@example.cn", "--expires-in-days", "366")
    assert too_long.exit_code != 0 and "expires_in_days" in too_long.output
    assert run("create-token", "--email", "e@example.cn").exit_code == 0  # the default lifetime: 90 days
    assert timedelta(days=89) < _tokens(sessions)[-1].expires_at - utcnow() <= timedelta(days=90)
    with sessions() as s:
        audit = s.scalars(select(AdminAudit).order_by(AdminAudit.id)).all()
        assert [(a.action, a.actor_id, a.detail.get("name")) for a in audit] == [
            ("user_created", None, None),  # create-user is audited too
            ("token_created", None, "ERP"),
            ("token_created", None, "command line"),
        ]


def test_revoke_token_by_id_or_all_of_a_user_s(run, sessions) -> None:  # noqa: ANN001
    run("create-user", "--role", "enterprise", "--email", "e@example.cn", "--password", "password123")
    for _ in range(3):
        run("create-token", "--email", "e@example.cn")
    first, *_rest = _tokens(sessions)
    assert run("revoke-token", "--id", str(first.id)).exit_code == 0
    assert [t.revoked_at is not None for t in _tokens(sessions)] == [True, False, False]
    several = run("revoke-token", "--email", "e@example.cn")
    assert several.exit_code != 0 and "--all" in several.output  # two left: which one?
    assert run("revoke-token", "--email", "e@example.cn", "--all").exit_code == 0
    assert all(t.revoked_at is not None for t in _tokens(sessions))
    assert run("revoke-token", "--id", "999").exit_code != 0
    assert run("revoke-token").exit_code != 0 and run("revoke-token", "--all").exit_code != 0
    with sessions() as s:
        assert s.scalar(select(func.count()).where(AdminAudit.action == "token_revoked")) == 3
