"""`sunlight board`: serve the board, and create the first accounts (FastAPI loads lazily).

    sunlight board                                   # http://127.0.0.1:8000 (docs at /docs)
    sunlight board --host 0.0.0.0 --workers 4
    sunlight board create-user --role manager --login admin --id PM-001 --name 项目经理
    sunlight board create-user --role staff --login kf002 --staff-id KF-002

Both need DATABASE_URL (`sunlight up` prints the embedded one). Residents join with an
invitation code that a manager issues (POST /api/invitations).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from typing import Annotated

import typer

from services.cli.common import ConfigOption, errors, load_estate, read_settings
from services.cli.common import plain as console
from services.config import BoardOptions, Settings
from services.runtime import when_database_answers
from services.store import migrate, open_pool
from services.tickets import Role

board_app = typer.Typer(help="The board: web API for residents, staff, managers, auditors.")


class AccountRole(StrEnum):
    STAFF = "staff"
    MANAGER = "manager"
    AUDITOR = "auditor"


def _database_url(settings: Settings) -> str:
    if not settings.database_url:
        errors.print("[red]DATABASE_URL is not set[/red] (`sunlight up` prints the embedded"
                     " database's URL)")
        raise typer.Exit(2)
    return settings.database_url


@board_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Without a subcommand: serve the board (needs DATABASE_URL)."""
    if ctx.invoked_subcommand is not None:
        return
    from services.board.main import worker_app
    from services.board.serve import serve as run_board
    from services.jobs.scheduler import start_scheduler

    settings = read_settings(config)
    # a broken config fails here, with its line, not in each worker
    load_estate(settings.config_path, errors)
    url = _database_url(settings)
    # started before its database (a reboot, a compose file): wait for it
    when_database_answers("migrate", lambda: migrate.upgrade(url))
    options = BoardOptions()
    jobs = partial(start_scheduler, mqtt_url=settings.mqtt_url) if options.scheduler else None
    # each worker builds its app with what was read here (the settings travel to it)
    run_board(host, port, workers, partial(worker_app, settings, options, jobs),
              listening=lambda: console.print(
                  f"board on http://{host}:{port} (API docs at /docs)"))


@board_app.command("create-user")
def create_user(
    *,
    login: Annotated[str, typer.Option(help="The name to sign in with.")],
    role: Annotated[AccountRole, typer.Option(help="staff, manager or auditor.")],
    password: Annotated[str, typer.Option(
        prompt=True, hide_input=True, confirmation_prompt=True,
        envvar="SUNLIGHT_NEW_PASSWORD",
        help="Asked for when not given (at least 10 characters, not a common one).")],
    staff_id: Annotated[str | None, typer.Option(
        help="Staff: their number in the estate config (sets the department).")] = None,
    person_id: Annotated[str | None, typer.Option(
        "--id", help="Manager/auditor: an id for the history (default: generated).")] = None,
    name: Annotated[str, typer.Option(help="Display name (staff: from the config).")] = "",
    config: ConfigOption = None,
) -> None:
    """Create a staff, manager or auditor account (residents join with invitation codes)."""
    from services.board.accounts import NewAccount, create_account
    from services.board.audit import by_operator
    from services.board.problems import Problem
    from services.store.audit import record

    settings = read_settings(config)
    estate = load_estate(settings.config_path, errors)
    url = _database_url(settings)
    migrate.upgrade(url)
    new = NewAccount(login, password, Role(role.value), staff_id=staff_id, person_id=person_id,
                     name=name)
    pool = open_pool(url, max_size=1, name="sunlight-board-cli")
    try:
        with pool.connection() as conn, conn.transaction():
            now = datetime.now(UTC)
            account = create_account(conn, estate, new, now)
            record(conn, by_operator(site=estate.site.id, at=now, action="account.create",
                                     target=f"account:{account.person_id}",
                                     summary=f"{account.role.value} {account.login!r}"))
    except Problem as exc:
        errors.print(f"[red]{exc.in_chinese().detail}[/red]")
        raise typer.Exit(1) from None
    finally:
        pool.close()
    department = f", department {account.department}" if account.department else ""
    console.print(f"created {account.role.value} {account.login!r} (id {account.person_id}"
                  f"{department})")
