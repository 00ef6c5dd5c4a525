"""`sunlight ingest`: MQTT → PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from services.cli.common import (
    ConfigOption,
    MetricsHostOption,
    load_estate,
    read_settings,
    require,
    serve_metrics,
)
from services.config import EstateConfig, Settings
from services.runtime import Stopped, stop_event, when_database_answers
from services.store import migrate

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from services.ingest.service import IngestService


def build_ingest(settings: Settings, estate: EstateConfig, db_url: str, mqtt_url: str,
                 client_id: str, *, share_group: str | None = None) \
        -> tuple[IngestService, ConnectionPool]:
    from services.ingest.processor import Processor
    from services.ingest.service import IngestOptions, IngestService
    from services.store import open_pool

    pool = open_pool(db_url, max_size=4, name="sunlight-ingest")
    processor = Processor(pool, estate, settings.data_dir,
                          dead_letter_bytes_per_hour=settings.dead_letter_bytes_per_hour)
    options = IngestOptions(client_id=client_id, group=share_group or None)
    return IngestService(processor, mqtt_url, options), pool


def ingest(
    config: ConfigOption = None,
    client_id: Annotated[str, typer.Option(help="Stable id: the broker keeps its session.")] =
    "sunlight-ingest-1",
    metrics_port: Annotated[int, typer.Option(help="Port for /metrics (0: none).")] = 9101,
    metrics_host: MetricsHostOption = None,
    share_group: Annotated[str, typer.Option(
        help="Split the load with other instances through $share/GROUP/… (MQTT 5). Off by"
             " default: Mosquitto 2.0 forgets shared subscriptions when it restarts.")] = "",
) -> None:
    """MQTT → PostgreSQL: readings, events, dead letters, sensor rules and findings → tickets."""
    settings = read_settings(config)
    estate = load_estate(settings.config_path)
    db_url = require(settings.database_url, "DATABASE_URL")
    mqtt_url = require(settings.mqtt_url, "MQTT_URL")
    stop = stop_event()
    try:  # started before its database (a reboot, a compose file): wait for it
        when_database_answers("migrate", lambda: migrate.upgrade(db_url), stop=stop)
        service, pool = when_database_answers("connect", lambda: build_ingest(
            settings, estate, db_url, mqtt_url, client_id, share_group=share_group), stop=stop)
    except Stopped:
        return
    serve_metrics(metrics_port, metrics_host or settings.metrics_host)
    try:
        service.run(stop)
    finally:
        pool.close()
