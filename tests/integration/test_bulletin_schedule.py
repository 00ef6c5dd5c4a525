"""The weekly bulletin on the board's scheduler: drafted Monday 08:00 and sealed Tuesday
12:00 Shanghai time by default, and at start, a week whose review deadline passed while
nothing ran is published, once, even with two workers (and the week due for review is
drafted, not published)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from psycopg_pool import ConnectionPool

from services.bulletin.publish import last_due_week, last_sealable_week
from services.bulletin.schedule import seal_trigger, trigger
from services.config import SchedulerOptions, Settings, load_config
from services.jobs.scheduler import start_scheduler
from services.stack.demo_history import seed_week
from tests.support.mqtt import wait_until

pytestmark = pytest.mark.integration
BASE = load_config("deploy/estate.example.yaml")


def test_the_trigger_is_the_configured_local_time() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # a Friday
    fire = trigger(BASE).get_next_fire_time(None, now)
    local = fire.astimezone(BASE.site.tz)
    assert (local.isoweekday(), local.hour, local.minute) == (1, 8, 0)
    assert local.date().isoformat() == "2026-11-30"
    sealing = seal_trigger(BASE).get_next_fire_time(None, now).astimezone(BASE.site.tz)
    assert (sealing.date().isoformat(), sealing.hour, sealing.minute) == ("2026-12-01", 12, 0)


def test_two_workers_publish_the_due_week_once_at_start(pool: ConnectionPool,
                                                        database_url: str) -> None:
    site = BASE.site.model_copy(update={"id": f"sched-{uuid.uuid4().hex[:8]}"})
    estate = BASE.model_copy(update={"site": site})
    now = datetime.now(UTC)
    week, reviewed = last_sealable_week(estate, now), last_due_week(estate, now)
    seed_week(pool, estate, week)
    settings = Settings(database_url=database_url)
    options = SchedulerOptions(sweep_seconds=3600, deliver_seconds=3600)
    handles = [start_scheduler(settings, estate, pool, None, options=options)
               for _ in range(2)]

    def published(week: str = week) -> int:
        with pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM bulletins WHERE site = %s AND week = %s",
                               (site.id, week)).fetchone()
        return int(row[0]) if row else 0

    def drafted() -> int:
        with pool.connection() as conn:
            row = conn.execute("SELECT count(*) FROM bulletin_drafts WHERE site = %s"
                               " AND week = %s", (site.id, reviewed)).fetchone()
        return int(row[0]) if row else 0

    try:
        assert wait_until(lambda: published() >= 1, timeout=20)
        if reviewed != week:  # between Monday 08:00 and Tuesday 12:00: under review
            assert wait_until(lambda: drafted() == 1, timeout=20)
    finally:
        for handle in handles:
            handle.stop()
    assert published() == 1
    if reviewed != week:
        assert published(reviewed) == 0 and drafted() == 1
