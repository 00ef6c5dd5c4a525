"""When bulletins are drafted and sealed: the draft on the configured weekday and time
(default Monday 08:00 in the estate's time zone), sealed at the review deadline (default
Tuesday 12:00) unless a reviewer sealed it sooner; and at start, whatever came due while
nothing ran (services/bulletin/review.py `run_due`).

Every board worker schedules it. That is safe: drafting and sealing take a per-site lock
and leave a week already drafted or published as it is, so the week is frozen once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped,unused-ignore]
from psycopg_pool import ConnectionPool

from services.bulletin.publish import BulletinError, Published
from services.bulletin.review import run_due
from services.config import EstateConfig

log = logging.getLogger(__name__)


def trigger(estate: EstateConfig) -> CronTrigger:
    """When the week's draft is made."""
    schedule = estate.site.bulletin
    return CronTrigger(day_of_week=schedule.weekday.iso - 1, hour=schedule.time.hour,
                       minute=schedule.time.minute, timezone=estate.site.tz)


def seal_trigger(estate: EstateConfig) -> CronTrigger:
    """When a draft nobody sealed is sealed."""
    review = estate.site.bulletin.review
    return CronTrigger(day_of_week=review.seal_weekday.iso - 1, hour=review.seal_time.hour,
                       minute=review.seal_time.minute, timezone=estate.site.tz)


def publish_due(pool: ConnectionPool, estate: EstateConfig, now: datetime | None = None) \
        -> list[Published]:
    """Seal what is past its deadline and draft the week due; never raises into the
    scheduler (a failure is logged and the next run, or the next start, tries again)."""
    now = now or datetime.now(UTC)
    try:
        sealed = run_due(pool, estate, now)
    except BulletinError as exc:
        log.warning("event=bulletin_not_published reason=%r", str(exc))
        return []
    except Exception:
        log.exception("event=bulletin_publish_failed site=%s", estate.site.id)
        return []
    for result in sealed:
        log.info("event=bulletin_published site=%s week=%s n=%d hash=%s", estate.site.id,
                 result.document["week"], result.document["n"], result.document["hash"])
    return sealed
