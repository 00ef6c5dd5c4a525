"""`sunlight up`: the whole stack on embedded defaults."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Annotated

import psycopg
import typer
from rich.table import Table

from services.cli.common import (
    ConfigOption,
    DataDirOption,
    MetricsHostOption,
    console,
    database,
    load_estate,
    log,
    read_settings,
    serve_metrics,
)
from services.cli.ingest import build_ingest
from services.cli.vision import build_vision
from services.config import EstateConfig, Settings
from services.contract import ROOT
from services.runtime import stop_event
from services.store import migrate

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from edge.agent import Agent
    from services.stack.board import RunningBoard


UP_METRICS_PORT = 9101


def _start_thread(stack: contextlib.ExitStack, name: str, target: Callable[[], None]) -> None:
    """A service thread that the stack joins on the way out (after `stop` is set)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    stack.callback(thread.join, 15)


def _demo_agent(estate: EstateConfig, settings: Settings, mqtt_url: str) -> Agent:
    from edge.agent import Agent
    from edge.config import EdgeConfig
    from edge.settings import load_edge_settings
    from services.stack.demo import demo_edge_config

    config = EdgeConfig.model_validate(demo_edge_config(estate, settings.data_dir, mqtt_url))
    return Agent(config, load_edge_settings(config))


def up(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    simulate: Annotated[bool, typer.Option(help="Run the simulated estate's sensors and "
                                                 "cameras.")] = True,
    metrics_host: MetricsHostOption = None,
) -> None:
    """Run the whole stack on embedded defaults until Ctrl-C; a second run reuses the data."""
    settings = read_settings(config, data_dir)
    estate = load_estate(settings.config_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = stop_event()
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(database(settings))
        mqtt_url, broker_kind = settings.mqtt_url, "external"
        if not mqtt_url:
            from services.stack import start_broker

            broker = start_broker(settings.data_dir)
            stack.callback(broker.stop)
            mqtt_url, broker_kind = broker.url, broker.kind
        applied, caps = migrate.upgrade(db_url)
        ingest_service, ingest_pool = build_ingest(settings, estate, db_url,
                                                      mqtt_url, "sunlight-ingest-up")
        stack.callback(ingest_pool.close)
        _start_thread(stack, "ingest", lambda: ingest_service.run(stop))
        vision_service = build_vision(settings, estate, mqtt_url, "sunlight-vision-up")
        _start_thread(stack, "vision", lambda: vision_service.run(stop))
        if simulate:
            agent = _demo_agent(estate, settings, mqtt_url)
            _start_thread(stack, "edge", lambda: agent.run(stop))
        metrics_at = metrics_host or settings.metrics_host
        serve_metrics(UP_METRICS_PORT, metrics_at)
        bulletin_note = _publish_due_bulletin(estate, ingest_pool, seed=simulate)
        board = _board(settings, estate, db_url, mqtt_url)
        stack.callback(board.stop)
        table = Table("part", "where", title="Sunlight is up — Ctrl-C stops everything")
        table.add_row("estate config", str(settings.config_path))
        table.add_row("data directory", str(settings.data_dir.resolve()))
        flavour = "TimescaleDB" if caps.timescale else "PostgreSQL"
        table.add_row(f"database ({flavour})", _redact(db_url))
        table.add_row(f"MQTT broker ({broker_kind})", mqtt_url)
        table.add_row("migrations applied now", str(len(applied)))
        table.add_row("ingest", f"subscribed to {ROOT}/{estate.site.id}/+/…")
        detector = ("OpenCV static-object detector alone (no YOLO model configured:"
                    " SUNLIGHT_VISION_MODEL)" if settings.vision_model is None
                    else vision_service.detector)
        table.add_row("vision", f"{len(estate.cameras)} cameras, {detector}")
        table.add_row("metrics", f"http://{metrics_at}:{UP_METRICS_PORT}/metrics")
        table.add_row("weekly bulletin", bulletin_note)
        table.add_row("board", f"{board.url}  (web pages; API docs: {board.url}/docs)")
        table.add_row("first manager", "see the command below the table")
        if simulate:
            table.add_row("simulated estate", f"{len(estate.devices)} sensors,"
                          f" {len(estate.cameras)} synthetic cameras (--no-simulate: none)")
        console.print(table)
        # outside the table: a folded line would hide part of the URL
        console.print("create the first manager account (in another terminal):\n"
                      f"  DATABASE_URL={_redact(db_url)} .venv/bin/sunlight board create-user"
                      " --role manager --login admin --id PM-001", soft_wrap=True,
                      highlight=False)
        log.info("event=up database=%s broker=%s", _redact(db_url), mqtt_url)
        stop.wait()
        console.print("stopping…")
    console.print("stopped cleanly")


def _board(settings: Settings, estate: EstateConfig, db_url: str, mqtt_url: str) \
        -> RunningBoard:
    """The board, with the background jobs in it."""
    from services.jobs.scheduler import start_scheduler
    from services.stack.board import start_board

    return start_board(settings, estate, db_url, jobs=partial(start_scheduler,
                                                             mqtt_url=mqtt_url))


def _publish_due_bulletin(estate: EstateConfig, pool: ConnectionPool, *, seed: bool) -> str:
    """Publish the latest week due (once; with `seed`, a demo week is filled in first)."""
    from datetime import UTC, datetime

    from services.bulletin.publish import last_due_week, publish
    from services.stack.demo_history import seed_week

    now = datetime.now(UTC)
    week = last_due_week(estate, now)
    if seed:
        seed_week(pool, estate, week)
    document = publish(pool, estate, week, now=now).document
    listed = document["content"]["summary"]["listed"]
    return (f"{week}: {listed} tickets, hash {document['hash'][:16]}…"
            f"  (sunlight bulletin show {week})")


def _redact(url: str) -> str:
    """A URL fit for logs: the password, if any, replaced."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    with contextlib.suppress(psycopg.ProgrammingError):
        parts = conninfo_to_dict(url)
        if parts.get("password"):
            parts["password"] = "***"
            return make_conninfo("", **parts)
    return url
