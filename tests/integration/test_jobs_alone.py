"""`sunlight jobs`: the background jobs in a process of their own, with no board running.
Against the real PostgreSQL and a private Mosquitto: at start it flags a deadline missed
while nothing ran and escalates it on MQTT, publishes the week whose review deadline
passed, and SIGTERM stops it cleanly."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from services.bulletin.publish import last_sealable_week
from services.config import SlaSpec, load_config
from services.contract.notify import escalation_topic
from services.stack.demo_history import seed_week
from services.store import NewTicket, TicketStore, open_pool, upgrade
from services.tickets import Actor, Channel, Priority, Role, Source
from tests.support.mqtt import wait_until
from tests.support.notify import Subscriber
from tests.support.processes import ESTATE_FILE, service_env, start_service

pytestmark = pytest.mark.integration


def _count(url: str, sql: str, *args: object) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(sql.encode(), args).fetchone()
    return int(row[0]) if row else 0


def test_jobs_run_alone_and_stop_on_sigterm(empty_database_url: str, broker_url: str,
                                            tmp_path: Path) -> None:
    url = empty_database_url
    estate = load_config(ESTATE_FILE)
    site = estate.site.id
    week = last_sealable_week(estate, datetime.now(UTC))
    upgrade(url)
    pool = open_pool(url, max_size=2, name="test-jobs-seed")
    try:  # last week's tickets, and a lamp out whose response is an hour late
        assert seed_week(pool, estate, week) > 0
        late = TicketStore(pool).open(NewTicket(
            site=site, category="lighting", priority=Priority.NORMAL, source=Source.STAFF,
            channel=Channel.FRONT_DESK, description="楼道灯不亮", building="b3",
            area="stairwell", opened_at=datetime.now(UTC) - timedelta(hours=2),
            sla=SlaSpec.model_validate({"respond": "1h", "resolve": "1d"}).target,
            actor=Actor("KF-002", Role.STAFF, "李娜")), link_duplicates=False).ticket
    finally:
        pool.close()
    escalations = Subscriber(broker_url, escalation_topic(site, "engineering"))
    env = service_env(url, broker_url, tmp_path, SUNLIGHT_SCHEDULER_DELIVER_SECONDS="0.2")
    jobs = start_service(["jobs"], env, tmp_path / "jobs.log")
    try:
        assert wait_until(lambda: _count(
            url, "SELECT count(*) FROM bulletins WHERE site = %s AND week = %s",
            site, week) == 1, timeout=60), jobs.log_tail()
        assert wait_until(lambda: [m["ticket_id"] for m in escalations.received()]
                          == [late.id], timeout=30), jobs.log_tail()
        assert _count(url, "SELECT count(*) FROM sla_breaches WHERE ticket_id = %s",
                      late.id) == 1
        assert jobs.alive()
        jobs.proc.send_signal(signal.SIGTERM)
        assert jobs.proc.wait(20) == 0, jobs.log_tail()
    finally:
        jobs.stop()
        escalations.close()
    log = jobs.log_tail(200)
    assert "event=scheduler_stopped" in log and "event=jobs_stopped" in log
    assert "Traceback" not in log
