"""Residents hear of each change to their reports, on MQTT and by webhook, once each, with
nobody else's personal data; a failed webhook is retried. Real PostgreSQL and Mosquitto,
two schedulers sending from the same outbox."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from psycopg_pool import ConnectionPool

from services.config import EstateConfig, SchedulerOptions, Settings, SlaSpec, load_config
from services.contract.notify import user_topic
from services.jobs.scheduler import SchedulerHandle, start_scheduler
from services.store import NewTicket, TicketStore
from services.tickets import Action, Actor, Channel, Command, Priority, Role, Source
from tests.support.mqtt import wait_until
from tests.support.notify import Subscriber, WebhookReceiver, local_estate

EXAMPLE = Path(__file__).parents[2] / "deploy" / "estate.example.yaml"
DESK = Actor("KF-002", Role.STAFF, "李娜")
FIXER = Actor("GC-003", Role.STAFF, "陈建国", department="engineering")
# (id, display name, phone, unit): what must never reach another resident
ALICE = ("res-notify-a", "张三", "13800000001", "3-0801")
BOB = ("res-notify-b", "李四", "13900000002", "3-1202")
FAST = SchedulerOptions(sweep_seconds=600, deliver_seconds=0.2, retry_base_seconds=0.5)


@pytest.fixture
def store(pool: ConnectionPool) -> TicketStore:
    with pool.connection() as conn:
        for person, name, phone, unit in (ALICE, BOB):
            conn.execute("INSERT INTO people (id, role, display_name, phone, building, unit)"
                         " VALUES (%s, 'resident', %s, %s, 'b3', %s) ON CONFLICT DO NOTHING",
                         (person, name, phone, unit))
    return TicketStore(pool)


def report(estate: EstateConfig, person: str, text: str) -> NewTicket:
    return NewTicket(
        site=estate.site.id, category="lighting", priority=Priority.NORMAL,
        source=Source.RESIDENT, channel=Channel.APP, description=text, building="b3",
        area="stairwell", opened_at=datetime.now(UTC),
        sla=SlaSpec.model_validate({"respond": "1h", "resolve": "1d"}).target,
        actor=Actor(person, Role.RESIDENT), reporter_id=person,
    )


def test_each_change_reaches_each_reporter_once_on_mqtt_and_webhook(
        store, pool, broker_url) -> None:
    receiver = WebhookReceiver(fail_first=1)
    estate = local_estate(load_config(EXAMPLE), webhook=receiver.url)
    site = estate.site.id
    everyone = Subscriber(broker_url, f"sunlight/v1/{site}/notify/users/+")
    handles: list[SchedulerHandle] = []
    try:
        opened = store.open(report(estate, ALICE[0], "3楼楼道灯不亮，张三 13800000001"))
        tid = opened.ticket.id
        assert tid is not None
        linked = store.open(report(estate, BOB[0], "楼道很黑"))  # a duplicate: Bob follows it
        assert not linked.created and linked.ticket.id == tid
        handles += [start_scheduler(Settings(), estate, pool, broker_url, options=FAST)
                    for _ in range(2)]

        now = lambda: datetime.now(UTC)  # noqa: E731
        store.change(tid, Command(Action.ACCEPT, DESK, now()))
        store.change(tid, Command(Action.REQUEST_INFO, DESK, now(), note="是哪一层？"))
        store.change(tid, Command(Action.PROVIDE_INFO, Actor(ALICE[0], Role.RESIDENT), now(),
                                  note="三楼，我是3-0801的张三"))
        store.change(tid, Command(Action.VERIFY, DESK, now()))
        store.change(tid, Command(Action.DISPATCH, DESK, now(), department="engineering",
                                  assignee="GC-003"))
        store.change(tid, Command(Action.START, FIXER, now()))
        store.change(tid, Command(Action.RESOLVE, FIXER, now(), note="更换灯管",
                                  photos=("result/1.jpg",)))
        store.change(tid, Command(Action.RATE, Actor(ALICE[0], Role.RESIDENT), now(), rating=5,
                                  note="谢谢"))

        # Alice: accept, request_info, verify, dispatch, start, resolve (not her own rating)
        # Bob: accept, verify, dispatch, start, resolve, close (not Alice's question)
        alice_topic, bob_topic = user_topic(site, ALICE[0]), user_topic(site, BOB[0])
        expected = {
            ALICE[0]: ["accept", "request_info", "verify", "dispatch", "start", "resolve"],
            BOB[0]: ["accept", "verify", "dispatch", "start", "resolve", "rate"],
        }
        total = sum(len(v) for v in expected.values())
        assert wait_until(lambda: len(everyone.received()) >= total
                          and len(receiver.accepted()) >= total, timeout=15)
        pending = "SELECT count(*) FROM deliveries WHERE ticket_id = %s AND done_at IS NULL"
        with pool.connection() as conn:
            assert wait_until(lambda: conn.execute(pending, (tid,)).fetchone() == (0,), 5)
        assert {t for t, _ in everyone.messages} == {alice_topic, bob_topic}

        for person, topic in ((ALICE[0], alice_topic), (BOB[0], bob_topic)):
            pushed = everyone.received(topic)
            posted = [r.body for r in receiver.accepted("/residents")
                      if r.body["recipient"] == person]
            assert [m["action"] for m in sorted(pushed, key=lambda m: m["at"])] \
                == expected[person]
            # exactly once per change on each channel, and the same message on both
            assert Counter(m["event_id"] for m in pushed) == Counter(
                {m["event_id"]: 1 for m in pushed})
            assert sorted(json.dumps(m, sort_keys=True) for m in posted) \
                == sorted(json.dumps(m, sort_keys=True) for m in pushed)
            assert all(m["recipient"] == person and m["ticket_id"] == tid for m in pushed)

        # what Bob received carries nothing of Alice's (and the other way round)
        for topic, other in ((bob_topic, ALICE), (alice_topic, BOB)):
            text = json.dumps(everyone.received(topic), ensure_ascii=False)
            for secret in (*other, "楼道灯不亮", "楼道很黑", "谢谢", "三楼"):
                assert secret not in text
        question = next(m for m in everyone.received(alice_topic)
                        if m["action"] == "request_info")
        assert question["note"] == "是哪一层？"  # staff's words do reach the reporter
        assert next(m for m in everyone.received(bob_topic)
                    if m["action"] == "rate")["state"] == "closed"

        # the webhook's first answer was a 500: that message was sent again, and recorded
        # once, as sent on its second attempt
        [failed] = [r for r in receiver.requests if r.status == 500]
        again = [r for r in receiver.accepted()
                 if r.headers["X-Sunlight-Delivery"] == failed.headers["X-Sunlight-Delivery"]]
        assert len(again) == 1 and again[0].body == failed.body
        with pool.connection() as conn:
            rows = conn.execute(
                "SELECT channel, outcome, attempts, count(*) FROM deliveries"
                " WHERE ticket_id = %s GROUP BY 1, 2, 3 ORDER BY 1, 3", (tid,)).fetchall()
            error = conn.execute(
                "SELECT last_error FROM deliveries WHERE id = %s",
                (int(failed.headers["X-Sunlight-Delivery"]),)).fetchone()
        assert rows == [("mqtt", "sent", 1, total), ("webhook", "sent", 1, total - 1),
                        ("webhook", "sent", 2, 1)]
        assert error is not None and "HTTP 500" in error[0]
    finally:
        for handle in handles:
            handle.stop()
        everyone.close()
        receiver.close()


def test_no_broker_and_no_webhook_are_recorded_as_skipped(store, pool) -> None:
    estate = local_estate(load_config(EXAMPLE))  # no webhooks anywhere
    opened = store.open(report(estate, ALICE[0], "灯坏了"))
    tid = opened.ticket.id
    assert tid is not None
    store.change(tid, Command(Action.ACCEPT, DESK, datetime.now(UTC)))
    handle = start_scheduler(Settings(), estate, pool, None, options=FAST)
    try:
        def outcomes() -> list[tuple[str, str | None]]:
            with pool.connection() as conn:
                return conn.execute("SELECT channel, outcome FROM deliveries"
                                    " WHERE ticket_id = %s ORDER BY channel", (tid,)).fetchall()

        assert wait_until(lambda: outcomes() == [("mqtt", "skipped"), ("webhook", "skipped")],
                          timeout=5)
    finally:
        handle.stop()
