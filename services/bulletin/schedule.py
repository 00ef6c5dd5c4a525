"""When bulletins are published: on the configured weekday and time (default Monday 08:00
in the estate's time zone), and at start for any week that came due while nothing ran.

Every board worker schedules it. That is safe: publishing takes a per-site lock and
returns a week already published as it is, so the week is frozen once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped,unused-ignore]
from psycopg_pool import ConnectionPool

from services.bulletin.publish import BulletinError, Published, last_due_week, publish
from services.config import EstateConfig

log = logging.getLogger(__name__)


def trigger(estate: EstateConfig) -> CronTrigger:
    schedule = estate.site.bulletin
    return CronTrigger(day_of_week=schedule.weekday.iso - 1, hour=schedule.time.hour,
                       minute=schedule.time.minute, timezone=estate.site.tz)


def publish_due(pool: ConnectionPool, estate: EstateConfig, now: datetime | None = None) \
        -> Published | None:
    """Publish the latest week due, unless it already is; never raises into the scheduler
    (a failure is logged and the next run, or the next start, tries again)."""
    now = now or datetime.now(UTC)
    week = last_due_week(estate, now)
    try:
        result = publish(pool, estate, week, now=now)
    except BulletinError as exc:
        log.warning("event=bulletin_not_published week=%s reason=%r", week, str(exc))
        return None
    except Exception:
        log.exception("event=bulletin_publish_failed week=%s", week)
        return None
    if result.created:
        log.info("event=bulletin_published site=%s week=%s n=%d hash=%s", estate.site.id,
                 week, result.document["n"], result.document["hash"])
    return result
