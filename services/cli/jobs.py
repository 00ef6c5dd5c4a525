"""`sunlight jobs`: the background jobs alone (services/jobs)."""

from __future__ import annotations

from services.cli.common import (
    ConfigOption,
    load_estate,
    read_settings,
    require,
)
from services.runtime import stop_event


def jobs(config: ConfigOption = None) -> None:
    """The background jobs alone: SLA timers, notifications, the weekly bulletin (the board
    runs them too unless SUNLIGHT_BOARD_SCHEDULER=false)."""
    from services.jobs.service import run

    settings = read_settings(config)
    estate = load_estate(settings.config_path)
    db_url = require(settings.database_url, "DATABASE_URL")
    run(settings, estate, db_url, stop_event())
