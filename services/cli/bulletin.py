"""`sunlight bulletin`: draft, publish, redact, show, export and verify the weekly bulletin."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from services.cli.common import (
    ConfigOption,
    DataDirOption,
    console,
    database,
    load_estate,
    read_settings,
)
from services.config import EstateConfig, Settings
from services.store import migrate

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool


bulletin_app = typer.Typer(help="The weekly exposure bulletin: draft, publish, redact, show,"
                                " verify.",
                           no_args_is_help=True)


WeekArgument = Annotated[str | None, typer.Argument(
    help="ISO week like 2026-W48 (default: the latest week due for publication).")]


@contextlib.contextmanager
def _bulletin_pool(settings: Settings) -> Iterator[ConnectionPool]:
    from services.store.db import open_pool

    with database(settings) as url:
        migrate.upgrade(url)
        pool = open_pool(url, max_size=2, name="sunlight-bulletin")
        try:
            yield pool
        finally:
            pool.close()


def _week_or_due(estate: EstateConfig, week: str | None) -> str:
    from datetime import UTC, datetime

    from services.bulletin.publish import last_due_week
    from services.tickets.chain import parse_week

    if week is None:
        return last_due_week(estate, datetime.now(UTC))
    try:
        parse_week(week)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    return week


@bulletin_app.command("publish")
def bulletin_publish(
    week: WeekArgument = None,
    correct: Annotated[str | None, typer.Option(
        help="Publish a correction (the next revision) with this reason.")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Freeze a week into the hash chain (once: publishing it again changes nothing)."""
    from services.bulletin.publish import BulletinError, publish

    settings = read_settings(config, data_dir)
    estate = load_estate(settings.config_path)
    week = _week_or_due(estate, week)
    with _bulletin_pool(settings) as pool:
        try:
            result = publish(pool, estate, week, correction=correct)
        except BulletinError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        if result.created:  # by hand: an operator's act, for the audit log
            revision = f"revision {result.document['revision']}"
            _audit_operator(pool, estate, "bulletin.correct" if correct else "bulletin.publish",
                            target=f"week:{week}",
                            summary=f"{revision}: {correct}" if correct else revision)
    doc = result.document
    verb = "published" if result.created else "already published"
    console.print(f"{week} {verb}: revision {doc['revision']}, publication {doc['n']},"
                  f" {doc['content']['summary']['listed']} tickets, hash {doc['hash']}")


@bulletin_app.command("draft")
def bulletin_draft(
    week: WeekArgument = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Make the week's draft for review on the board (the scheduler does this on its own;
    `publish` seals it)."""
    from services.bulletin.publish import BulletinError
    from services.bulletin.review import prepare

    settings = read_settings(config, data_dir)
    estate = load_estate(settings.config_path)
    week = _week_or_due(estate, week)
    with _bulletin_pool(settings) as pool:
        try:
            draft = prepare(pool, estate, week)
        except BulletinError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    if draft is None:
        console.print(f"{week} is already published")
        return
    seal_by = draft.seal_by.astimezone(estate.site.tz).strftime("%Y-%m-%d %H:%M")
    console.print(f"{week}: draft of {len(draft.content['tickets'])} tickets,"
                  f" {len(draft.spans)} masked spans; review it at /manager/bulletin/{week};"
                  f" sealed at {seal_by} unless sealed sooner")


@bulletin_app.command("redact")
def bulletin_redact(
    week: Annotated[str, typer.Argument(help="ISO week like 2026-W48.")],
    field: Annotated[list[str], typer.Option(
        "--field", help="A text field to remove, like tickets/12/measures (repeatable).")],
    reason: Annotated[str, typer.Option(help="Why (published with the redaction).")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove fields' text from a published week by a correction: the chain still verifies
    and records the redaction (when, why, by whom)."""
    from datetime import UTC, datetime

    from services.board.audit import by_operator
    from services.bulletin.publish import BulletinError, redact

    settings = read_settings(config, data_dir)
    estate = load_estate(settings.config_path)
    week = _week_or_due(estate, week)
    now = datetime.now(UTC)
    audit = by_operator(site=estate.site.id, at=now, action="bulletin.redact",
                        target=f"week:{week}", summary=f"{', '.join(field)}: {reason}")
    with _bulletin_pool(settings) as pool:
        try:
            result = redact(pool, estate, week, field, reason=reason, by="operator",
                            now=now, audit=audit)
        except BulletinError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    doc = result.document
    console.print(f"{week}: {', '.join(field)} redacted by revision {doc['revision']},"
                  f" publication {doc['n']}, hash {doc['hash']}")


@bulletin_app.command("show")
def bulletin_show(
    week: WeekArgument = None,
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    language: Annotated[str, typer.Option("--lang", help="zh-CN or en")] = "zh-CN",
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Print a published week (its latest revision) as text or JSON."""
    import json

    from services.bulletin.text import LABELS, render_text
    from services.store import bulletin_figures as store

    if output not in ("text", "json") or language not in LABELS:
        console.print("[red]--format is text or json; --lang is zh-CN or en[/red]")
        raise typer.Exit(2)
    settings = read_settings(config, data_dir)
    estate = load_estate(settings.config_path)
    week = _week_or_due(estate, week)
    with _bulletin_pool(settings) as pool, pool.connection() as conn:
        revisions = store.published_week(conn, estate.site.id, week)
    if not revisions:
        console.print(f"[red]{week} is not published[/red] (sunlight bulletin publish {week})")
        raise typer.Exit(1)
    if output == "json":
        print(json.dumps(revisions[-1], ensure_ascii=False, indent=2))
    else:
        print(render_text(revisions[-1], language), end="")


@bulletin_app.command("export")
def bulletin_export(
    out: Annotated[Path, typer.Argument(help="Where to write the whole chain (JSON).")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write every publication of the site, in order: the copy anyone can verify alone."""
    import json

    from services.store import bulletin_figures as store

    settings = read_settings(config, data_dir)
    estate = load_estate(settings.config_path)
    with _bulletin_pool(settings) as pool, pool.connection() as conn:
        documents = store.chain(conn, estate.site.id)
    out.write_text(json.dumps(documents, ensure_ascii=False, indent=1), encoding="utf-8")
    latest = documents[-1]["hash"] if documents else "none"
    console.print(f"{len(documents)} publications → {out}; latest hash {latest}")


@bulletin_app.command("verify")
def bulletin_verify(
    week: Annotated[str, typer.Argument(help="ISO week like 2026-W48.")],
    file: Annotated[Path | None, typer.Option(
        "--file", help="A downloaded chain (from `export` or the web page): no database "
                       "needed.")] = None,
    anchor: Annotated[str | None, typer.Option(
        help="The latest hash as printed on the notice board.")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Check the hash chain up to the week, and that every ticket opened in it is listed."""
    import json

    from services.tickets.chain import parse_week, redactions, verify_chain, week_bounds

    try:
        parse_week(week)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if file is not None:
        try:
            documents = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            console.print(f"[red]cannot read {file}: {exc}[/red]")
            raise typer.Exit(2) from None
        problems = verify_chain(documents, week=week, anchor=anchor)
    else:
        from services.store import bulletin_figures as store

        settings = read_settings(config, data_dir)
        estate = load_estate(settings.config_path)
        start, end = week_bounds(week, estate.site.tz)
        with _bulletin_pool(settings) as pool, pool.connection() as conn:
            documents = store.chain(conn, estate.site.id)
            in_store = set(store.opened_numbers(conn, store.Week(estate.site.id, start, end)))
        problems = verify_chain(documents, week=week, anchor=anchor)
        listed = {n for d in documents if d["week"] == week
                  for n in d["content"]["opened_numbers"]}
        missing = sorted(in_store - listed)
        if missing:
            problems.append(f"{week}: tickets in the store but not in the bulletin: "
                            + ", ".join(f"#{n}" for n in missing))
    for r in redactions(documents):
        console.print(f"redacted: {r.week} {r.field} (withheld in publications"
                      f" {', '.join(map(str, r.withheld_in)) or 'none'}) by publication {r.n}"
                      f" at {r.at}, by {r.by}: {r.reason}", highlight=False, soft_wrap=True)
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/red] {problem}", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]✓[/green] {week}: the chain of {len(documents)} publications holds"
                  " and every ticket opened in the week is listed")


def _audit_operator(pool: ConnectionPool, estate: EstateConfig, action: str, *, target: str,
                    summary: str) -> None:
    from datetime import UTC, datetime

    from services.board.audit import by_operator
    from services.store.audit import record

    with pool.connection() as conn:
        record(conn, by_operator(site=estate.site.id, at=datetime.now(UTC), action=action,
                                 target=target, summary=summary))
