"""What a device login can do to other clients, tried on the shipped Mosquitto configs
(tests/support/shipped_mosquitto.py) with real clients, the real ingest service and the
real PostgreSQL (issue 14, section 2): take another client's id, join the ingest's shared
subscription, park retained junk."""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg_pool import ConnectionPool

from services.config import load_config
from services.ingest.processor import Processor
from services.ingest.service import IngestOptions, IngestService
from services.stack import find_mosquitto
from tests.support.mqtt import SITE, running, telemetry, wait_until
from tests.support.shipped_mosquitto import (
    CONFIGS,
    DEFAULT_PASSWORDS,
    ShippedBroker,
    shipped_broker,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed"),
]

ESTATE = Path(__file__).parents[2] / "deploy" / "estate.example.yaml"
PASSWORDS = {**DEFAULT_PASSWORDS, "sunlight-vision": "vision-secret-1",
             "temp-clubhouse": "device-secret-3"}
ATTACKER = "leak-pump-room"
WEEK_S = 7 * 24 * 3600


class Client:
    """One MQTT 5 login that records its connections, disconnections and messages."""

    def __init__(self, broker: ShippedBroker, username: str, client_id: str, *,
                 tls: bool, persistent: bool = False) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, broker.passwords[username])
        if tls:
            self.client.tls_set(ca_certs=str(broker.ca))
        self.connacks: list[int] = []
        self.disconnects = 0
        self.received: list[mqtt.MQTTMessage] = []
        self.client.on_connect = lambda c, u, f, reason, p: self.connacks.append(reason.value)
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda c, u, message: self.received.append(message)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:
            props.SessionExpiryInterval = WEEK_S
        self.client.connect("localhost", broker.tls if tls else broker.plain,
                            clean_start=not persistent, properties=props)
        self.client.loop_start()
        assert wait_until(lambda: bool(self.connacks), 10), f"no CONNACK for {username}"

    def _on_disconnect(self, *args: object) -> None:
        self.disconnects += 1

    def subscribe(self, flt: str, qos: int = 1) -> int:
        """The SUBACK's reason code (granted QoS, or >= 0x80 refused)."""
        codes: list[int] = []
        self.client.on_subscribe = lambda c, u, mid, reasons, p: codes.extend(
            r.value for r in reasons)
        self.client.subscribe(flt, qos=qos)
        assert wait_until(lambda: bool(codes), 10), f"no SUBACK for {flt}"
        return codes[0]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _take_over(broker: ShippedBroker, client_id: str) -> None:
    """The attack: the device's own login with someone else's client id and a week-long
    session, as `mosquitto_sub -i ID -c -x 604800 -u DEVICE …` does."""
    attacker = Client(broker, ATTACKER, client_id, tls=True, persistent=True)
    time.sleep(0.3)  # a kicked client would have seen its DISCONNECT by now
    attacker.close()


@pytest.mark.parametrize("conf", CONFIGS, ids=lambda p: p.name)
def test_a_device_cannot_take_another_clients_id(conf: Path, tmp_path: Path) -> None:
    """The ingest's, the vision service's and another device's client id, each tried by a
    device login with a persistent session: none of the three is disconnected."""
    with shipped_broker(conf, tmp_path, PASSWORDS) as broker:
        victims = {
            "sunlight-ingest-1": Client(broker, "sunlight-ingest", "sunlight-ingest-1",
                                        tls=False, persistent=True),
            "sunlight-vision": Client(broker, "sunlight-vision", "sunlight-vision", tls=False),
            "cam-b3-stairwell": Client(broker, "cam-b3-stairwell", "cam-b3-stairwell",
                                       tls=True),
        }
        try:
            for client_id in victims:
                _take_over(broker, client_id)
            kicked = {cid: v.disconnects for cid, v in victims.items() if v.disconnects}
            assert kicked == {}, f"kicked off by a device login: {kicked}"
        finally:
            for victim in victims.values():
                victim.close()


@contextmanager
def _ingest(pool: ConnectionPool, broker: ShippedBroker, tmp_path: Path,
            group: str | None = None) -> Iterator[IngestService]:
    """The real ingest service on the services' listener, its stable client id and
    persistent session as in deploy/compose.yaml."""
    url = f"mqtt://sunlight-ingest:{broker.passwords['sunlight-ingest']}@127.0.0.1:{broker.plain}"
    processor = Processor(pool, load_config(ESTATE), tmp_path)
    service = IngestService(processor, url, IngestOptions(client_id="sunlight-ingest-1",
                                                          group=group, tick_every_s=1))
    with running(service):
        yield service


def _stored(pool: ConnectionPool, ids: list[str]) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM readings WHERE message_id = ANY(%s)",
                           (ids,)).fetchone()
    assert row is not None
    return int(row[0])


def _loop(action: Callable[[], None], stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.is_set():
            action()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_no_reading_is_lost_while_a_device_loops_on_the_ingests_client_id(
        pool: ConnectionPool, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """2,000 readings over TLS while a device keeps connecting as `sunlight-ingest-1`
    with a week-long session: every reading is stored, and ingest is never disconnected."""
    caplog.set_level(logging.INFO, logger="services.ingest.service")
    with shipped_broker(CONFIGS[0], tmp_path / "broker", PASSWORDS) as broker, \
            _ingest(pool, broker, tmp_path) as ingest:
        sensor = Client(broker, "temp-clubhouse", "temp-clubhouse", tls=True)
        messages = [telemetry("temp-clubhouse", {"temperature_c": 20 + i / 100})
                    for i in range(2000)]
        ids = [json.loads(body)["message_id"] for _, body in messages]
        stop = threading.Event()
        attack = _loop(lambda: _take_over(broker, "sunlight-ingest-1"), stop)
        try:
            for i, (name, body) in enumerate(messages):
                sensor.client.publish(name, body, qos=1).wait_for_publish(10)
                if i % 100 == 0:
                    time.sleep(0.05)  # spread over the attack's reconnections
        finally:
            stop.set()
            attack.join(10)
            sensor.close()
        wait_until(lambda: _stored(pool, ids) == len(ids), 30)
        stored = _stored(pool, ids)
        disconnects = sum("event=mqtt_disconnected" in r.getMessage() for r in caplog.records)
        print(f"takeover loop: {stored}/{len(ids)} stored, {len(ids) - stored} lost,"
              f" ingest disconnected {disconnects} times")
        assert (stored, disconnects) == (len(ids), 0)
        assert ingest.connected.is_set()


def test_a_device_cannot_join_the_ingests_shared_subscription(
        pool: ConnectionPool, tmp_path: Path) -> None:
    """Ingest in a shared subscription (`--share-group ingest`, as on Kubernetes); a device
    subscribes to `$share/ingest/…/+/telemetry` and to its whole site. Mosquitto 2.0's ACL
    file does not refuse a SUBSCRIBE (it filters at delivery, and a message handed to a
    group member that may not read it is dropped for the whole group), so the ingest's
    group must be one no device can name. All 200 readings are stored; the device gets
    nothing."""
    with shipped_broker(CONFIGS[0], tmp_path / "broker", PASSWORDS) as broker, \
            _ingest(pool, broker, tmp_path, group="ingest"):
        thief = Client(broker, ATTACKER, ATTACKER, tls=True, persistent=True)
        sensor = Client(broker, "temp-clubhouse", "temp-clubhouse", tls=True)
        try:
            for flt in (f"$share/ingest/sunlight/v1/{SITE}/+/telemetry",
                        f"$share/ingest/sunlight/v1/{SITE}/#", f"sunlight/v1/{SITE}/#"):
                thief.subscribe(flt)
            messages = [telemetry("temp-clubhouse", {"temperature_c": 20 + i / 100})
                        for i in range(200)]
            ids = [json.loads(body)["message_id"] for _, body in messages]
            for name, body in messages:
                sensor.client.publish(name, body, qos=1).wait_for_publish(10)
            wait_until(lambda: _stored(pool, ids) == len(ids), 20)
            stored = _stored(pool, ids)
            print(f"$share hijack: {stored}/{len(ids)} stored,"
                  f" {len(thief.received)} delivered to the device")
            assert (stored, len(thief.received)) == (len(ids), 0)
        finally:
            sensor.close()
            thief.close()


def _dead_letters(pool: ConnectionPool, name: str) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM dead_letters WHERE topic = %s",
                           (name,)).fetchone()
    assert row is not None
    return int(row[0])


def test_retained_junk_is_dead_lettered_once_and_cleared(
        pool: ConnectionPool, tmp_path: Path) -> None:
    """A device parks 5 MB of retained junk on its telemetry topic (Mosquitto's ACL
    cannot look at the retain flag). Ingest dead-letters it once, clears it from the
    broker, and three reconnections later it is still one dead letter; a new subscriber
    finds nothing retained there."""
    with shipped_broker(CONFIGS[0], tmp_path / "broker", PASSWORDS) as broker:
        name = f"sunlight/v1/{SITE}/{ATTACKER}/telemetry"
        device = Client(broker, ATTACKER, ATTACKER, tls=True)
        device.client.publish(name, b"junk" * 1_250_000, qos=1, retain=True) \
            .wait_for_publish(30)
        device.close()
        before = _dead_letters(pool, name)
        for _ in range(3):  # ingest restarts: its persistent session, a new connection
            with _ingest(pool, broker, tmp_path / "ingest"):
                wait_until(lambda: _dead_letters(pool, name) > before, 5)
                time.sleep(0.5)
        added = _dead_letters(pool, name) - before
        print(f"retained junk: {added} dead letters after 3 ingest connections")
        assert added == 1
        watcher = Client(broker, "sunlight-ingest", "a-new-subscriber", tls=False)
        try:
            watcher.subscribe(name)
            time.sleep(1)
            assert [m.payload[:4] for m in watcher.received] == []
        finally:
            watcher.close()
