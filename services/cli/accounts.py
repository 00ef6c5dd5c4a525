"""`sunlight accounts`: board accounts and the estate each belongs to."""

from __future__ import annotations

from typing import Annotated

import psycopg
import typer

from services.cli.common import (
    ConfigOption,
    DataDirOption,
    console,
    database,
    load_estate,
    read_settings,
)

accounts_app = typer.Typer(help="Board accounts and the estate each belongs to.",
                           no_args_is_help=True)


@accounts_app.command("bind")
def accounts_bind(
    login: Annotated[str | None, typer.Option(
        help="Only this account (default: every account not bound to an estate).")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Bind accounts from before estates were told apart to this config's estate: then
    another estate's board sharing the database no longer lets them in."""
    from datetime import UTC, datetime

    from services.board.audit import by_operator
    from services.store.accounts import bind_accounts
    from services.store.audit import record

    settings = read_settings(config, data_dir)
    estate = load_estate(settings.config_path)
    site = estate.site.id
    with database(settings) as url, psycopg.connect(url) as conn, conn.transaction():
        bound = bind_accounts(conn, site, login=login)
        for name in bound:
            record(conn, by_operator(site=site, at=datetime.now(UTC), action="account.bind",
                                     target=f"login:{name}", summary=f"bound to {site}"))
    if login and not bound:
        console.print(f"[red]no unbound account {login!r}[/red] (bound already, or unknown)")
        raise typer.Exit(1)
    console.print(f"{len(bound)} accounts bound to {site}" + (": " + ", ".join(bound)
                                                              if bound else ""))
