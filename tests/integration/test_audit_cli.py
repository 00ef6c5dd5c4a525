"""The audit log from the command line: accounts made with `sunlight board create-user`,
bulletins published or corrected by hand and accounts bound to the estate are logged as
the operator's (the system user) acts, and `sunlight audit` lists the estate's log."""

from __future__ import annotations

import getpass
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli import app as cli

pytestmark = pytest.mark.integration
EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "estate.example.yaml"
PASSWORD = "operator test 2024"


@pytest.fixture
def estate_env(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The example estate under a site id of its own (its log starts empty), and the
    logging the CLI replaces put back afterwards."""
    site = f"cli-{uuid.uuid4().hex[:8]}"
    config = tmp_path / "estate.yaml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8")
                      .replace("  id: yangguang-garden\n", f"  id: {site}\n", 1),
                      encoding="utf-8")
    handlers, level = logging.root.handlers[:], logging.root.level
    yield {"DATABASE_URL": database_url, "SUNLIGHT_CONFIG": str(config),
           "SUNLIGHT_NEW_PASSWORD": PASSWORD, "SITE": site}
    logging.root.handlers[:] = handlers
    logging.root.setLevel(level)


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env={**env, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def audit(env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run(env, "audit", "--json", *args).splitlines()]


def test_operators_acts_are_logged_and_listed(estate_env: dict[str, str]) -> None:
    env = estate_env
    login = f"boss-{uuid.uuid4().hex[:6]}"
    run(env, "board", "create-user", "--role", "manager", "--login", login)
    run(env, "bulletin", "publish", "2020-W02")
    run(env, "bulletin", "publish", "2020-W02")  # again: nothing new, nothing logged
    run(env, "bulletin", "publish", "2020-W02", "--correct", "a ticket was missing")
    log = audit(env)
    assert [e["action"] for e in log] == ["bulletin.correct", "bulletin.publish",
                                          "account.create"]
    correct, published, created = log
    assert correct["target"] == "week:2020-W02"
    assert correct["summary"] == "revision 2: a ticket was missing"
    assert published["summary"] == "revision 1"
    assert created["summary"] == f"manager {login!r}"
    assert {e["role"] for e in log} == {"operator"}
    assert {e["name"] for e in log} == {getpass.getuser()}
    assert {e["person_id"] for e in log} == {None} and {e["address"] for e in log} == {None}
    assert [e["action"] for e in audit(env, "--action", "bulletin")] == [
        "bulletin.correct", "bulletin.publish"]
    assert audit(env, "--since", "2999-01-01T00:00") == []
    table = run(env, "audit")
    assert "bulletin.correct" in table and "account.create" in table


def test_unbound_accounts_are_bound_to_the_estate(estate_env: dict[str, str]) -> None:
    import psycopg

    env = estate_env
    login = f"old-{uuid.uuid4().hex[:6]}"
    run(env, "board", "create-user", "--role", "auditor", "--login", login)
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        # as every account was before 0011_account_sites.sql
        conn.execute("UPDATE accounts SET site = NULL WHERE login = %s", (login,))
    assert f"1 accounts bound to {env['SITE']}: {login}" in \
        run(env, "accounts", "bind", "--login", login)
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        row = conn.execute("SELECT site FROM accounts WHERE login = %s", (login,)).fetchone()
    assert row == (env["SITE"],)
    [bound] = audit(env, "--action", "account.bind")
    assert bound["target"] == f"login:{login}"
    again = CliRunner().invoke(cli, ["accounts", "bind", "--login", login], env=env)
    assert again.exit_code == 1 and "no unbound account" in again.output


def test_a_time_that_is_not_iso_8601_is_refused(estate_env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["audit", "--since", "last week"], env=estate_env)
    assert result.exit_code == 2 and "ISO 8601" in result.output
