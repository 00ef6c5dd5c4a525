"""`sunlight db`: the database schema (DATABASE_URL, or the embedded database)."""

from __future__ import annotations

import psycopg
import typer
from rich.table import Table

from services.cli.common import (
    DataDirOption,
    console,
    database,
    read_settings,
)
from services.store import migrate

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDirOption = None) -> None:
    """Apply every migration not yet applied (DATABASE_URL, or the embedded database)."""
    settings = read_settings(data_dir=data_dir)
    with database(settings) as url:
        applied, caps = migrate.upgrade(url)
    for m in applied:
        console.print(f"applied {m.version:04d}_{m.name}")
    flavour = f"TimescaleDB {caps.version}" if caps.timescale else "plain PostgreSQL"
    console.print(f"schema up to date ({len(applied)} applied) on {flavour}")


@db_app.command("status")
def db_status(data_dir: DataDirOption = None) -> None:
    """List migrations, applied or pending."""
    settings = read_settings(data_dir=data_dir)
    with database(settings) as url, psycopg.connect(url) as conn:
        done = migrate.applied_versions(conn)
    table = Table("version", "name", "state")
    for m in migrate.available():
        table.add_row(f"{m.version:04d}", m.name, "applied" if m.version in done else "pending")
    console.print(table)
