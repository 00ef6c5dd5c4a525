"""`sunlight audit`: the estate's audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import psycopg
import typer
from rich.table import Table

from services.cli.common import (
    ConfigOption,
    DataDirOption,
    console,
    database,
    load_estate,
    read_settings,
)
from services.config import EstateConfig

if TYPE_CHECKING:
    from datetime import datetime


def _local_time(estate: EstateConfig, text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time; without an offset, in the estate's time zone."""
    from datetime import datetime

    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        console.print(f"[red]{option} wants an ISO 8601 time like 2026-11-23T08:00, got"
                      f" {text!r}[/red]")
        raise typer.Exit(2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=estate.site.tz)


def audit(
    action: Annotated[str | None, typer.Option(
        help="An action or a family: ticket, ticket.accept, login.failed, bulletin, …")] = None,
    person: Annotated[str | None, typer.Option(help="An account id (e.g. a staff number).")]
    = None,
    target: Annotated[str | None, typer.Option(help="e.g. ticket:42, week:2026-W48.")] = None,
    since: Annotated[str | None, typer.Option(
        help="From this time (ISO 8601; the estate's time zone unless given).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The estate's audit log, newest first: staff and manager changes, sign-ins (failed
    ones too), invitations, accounts, bulletins published or corrected by hand."""
    import json

    from services.store.audit import AuditFilter, entries

    settings = read_settings(config, data_dir)
    estate = load_estate(settings.config_path)
    f = AuditFilter(action=action, person_id=person, target=target,
                    since=_local_time(estate, since, "--since"),
                    until=_local_time(estate, until, "--until"), limit=limit)
    with database(settings) as url, psycopg.connect(url) as conn:
        rows = entries(conn, estate.site.id, f)
    if as_json:
        for row in rows:
            print(json.dumps({"id": row.id, "at": row.at.isoformat(), "role": row.role,
                              "person_id": row.person_id, "name": row.actor_name,
                              "action": row.action, "target": row.target,
                              "address": row.address, "summary": row.summary},
                             ensure_ascii=False))
        return
    table = Table(title=f"audit log of {estate.site.id}, newest first")
    for column in ("when", "who", "action", "target", "from", "summary"):
        table.add_column(column, overflow="fold")  # all of it, on a narrow terminal too
    for row in rows:
        who = f"{row.actor_name or row.person_id or '—'} ({row.role})"
        table.add_row(row.at.astimezone(estate.site.tz).strftime("%Y-%m-%d %H:%M:%S"), who,
                      row.action, row.target, row.address or "", row.summary)
    console.print(table)
