"""What the command groups share: the consoles, the --config and --data-dir options, the
settings, the estate (a broken file exits 2 with its line), and the database."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from services import logs
from services.config import ConfigError, EstateConfig, Settings, load_config

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer


console = Console()
# the board's and the devices' commands: no highlighting, long lines whole, errors on stderr
plain = Console(highlight=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("sunlight")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Estate YAML (default: $SUNLIGHT_CONFIG).")
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Where embedded data lives (default .sunlight).")
]


def read_settings(config: Path | None = None, data_dir: Path | None = None, *,
                  configure_logs: bool = True) -> Settings:
    """The settings from the environment, with --config and --data-dir when given."""
    settings = Settings()
    updates: dict[str, Path] = {}
    if config is not None:
        updates["config_path"] = config
    if data_dir is not None:
        updates["data_dir"] = data_dir
    settings = settings.model_copy(update=updates)
    if configure_logs:
        logs.configure(settings.log_level)
    return settings


def load_estate(path: Path, out: Console = console) -> EstateConfig:
    """The estate config, or its problem (file and line) printed on `out` and exit 2."""
    try:
        return load_config(path)
    except ConfigError as exc:
        out.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when set, else an embedded PostgreSQL under the data directory."""
    if settings.database_url:
        yield settings.database_url
        return
    from services.stack import start_database

    running = start_database(settings.data_dir)
    try:
        yield running.url
    finally:
        running.stop()


def require(value: str | None, name: str) -> str:
    if not value:
        console.print(f"[red]{name} is not set[/red] (or run everything with `sunlight up`)")
        raise typer.Exit(2)
    return value


MetricsHostOption = Annotated[str | None, typer.Option(
    "--metrics-host", help="Address /metrics listens on (default: $SUNLIGHT_METRICS_HOST, else"
                           " 127.0.0.1; 0.0.0.0 opens it to the network, e.g. in a pod).")]


def serve_metrics(port: int, host: str) -> WSGIServer | None:
    """/metrics on host:port in a daemon thread (port 0: none); the server, to stop it."""
    if not port:
        return None
    from prometheus_client import start_http_server

    server, _ = start_http_server(port, addr=host)
    log.info("event=metrics_listening url=http://%s:%d/metrics", host, port)
    return server

