"""`sunlight jobs`: the background jobs alone, in a process of their own (then the board
runs with SUNLIGHT_BOARD_SCHEDULER=false, or beside it: every job is safe to run twice).

    run(settings, estate, stop)   # until `stop` is set (SIGTERM, Ctrl-C)
"""

from __future__ import annotations

import logging
import threading

from services.config import EstateConfig, SchedulerOptions, Settings
from services.jobs.scheduler import start_scheduler
from services.runtime import Stopped, when_database_answers
from services.store import migrate, open_pool

__all__ = ["run"]

log = logging.getLogger(__name__)


def run(settings: Settings, estate: EstateConfig, database_url: str, stop: threading.Event, *,
        options: SchedulerOptions | None = None) -> None:
    """Migrate, connect and start the jobs, waiting for the database as long as it is away;
    then run them until `stop` is set, and stop them (running jobs finish first)."""
    options = options or SchedulerOptions()
    try:  # started before its database (a reboot, a compose file): wait for it
        when_database_answers("migrate", lambda: migrate.upgrade(database_url), stop=stop)
        # one connection per job thread, and one for the catch-up at start
        pool = when_database_answers("connect", lambda: open_pool(
            database_url, max_size=options.threads + 1, name="sunlight-jobs"), stop=stop)
    except Stopped:
        return
    try:
        handle = when_database_answers("start", lambda: start_scheduler(
            settings, estate, pool, settings.mqtt_url, options=options), stop=stop)
    except Stopped:
        pool.close()
        return
    try:
        stop.wait()
    finally:
        handle.stop()  # before the pool it uses closes
        pool.close()
    log.info("event=jobs_stopped site=%s", estate.site.id)
