"""The embedded stack behind `sunlight up`: a real PostgreSQL and a real MQTT broker."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from services.stack import (
    RunningBroker,
    ServiceStartError,
    find_mosquitto,
    start_broker,
    start_database,
)
from services.stack import broker as broker_module
from services.stack import database as database_module
from services.stack.ports import port_answers, process_cmdline

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
needs_mosquitto = pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed")


def _postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().split()[0])


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data dir outside pytest's basetemp.

    As root the servers run as other users, who need o+x on every folder above their
    data; a concurrent pytest session resets /tmp/pytest-of-root to 0700.
    """
    path = Path(tempfile.mkdtemp(prefix="sunlight-test-stack-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that something else is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


# -- database ------------------------------------------------------------------------------


def test_database_starts_connects_stops_and_keeps_data(data_dir: Path) -> None:
    started = time.monotonic()
    db = start_database(data_dir)
    first_start = time.monotonic() - started
    try:
        parts = urlsplit(db.url)
        assert parts.scheme == "postgresql"
        assert parts.hostname == "127.0.0.1"
        assert parts.path == "/sunlight"
        assert (data_dir / "postgres" / "PG_VERSION").exists()
        with psycopg.connect(db.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
            conn.execute("CREATE TABLE kept (id int PRIMARY KEY, note text)")
            conn.execute("INSERT INTO kept VALUES (1, '阳光')")
    finally:
        db.stop()
    db.stop()  # idempotent
    assert db.stopped
    assert not port_answers(db.port)
    assert first_start < 15, first_start

    started = time.monotonic()
    again = start_database(data_dir)
    try:
        assert time.monotonic() - started < 5
        assert not again.adopted
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT note FROM kept WHERE id = 1").fetchone() == ("阳光",)
    finally:
        again.stop()


def test_database_restarts_after_a_crash(data_dir: Path) -> None:
    db = start_database(data_dir, stop_at_exit=False)
    with psycopg.connect(db.url) as conn:
        conn.execute("CREATE TABLE survived (x int)")
        conn.execute("INSERT INTO survived VALUES (42)")
    pid = _postmaster_pid(db.pgdata)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while process_cmdline(pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (db.pgdata / "postmaster.pid").exists()  # stale, left by the crash

    again = start_database(data_dir)
    try:
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT x FROM survived").fetchone() == (42,)
    finally:
        again.stop()


def test_database_ignores_a_stale_pid_reused_by_another_process(data_dir: Path) -> None:
    db = start_database(data_dir)
    db.stop()
    with subprocess.Popen(["sleep", "60"]) as other:
        try:
            (db.pgdata / "postmaster.pid").write_text(
                f"{other.pid}\n{db.pgdata}\n1700000000\n{db.port}\n\n127.0.0.1\n0 0\nready\n"
            )
            again = start_database(data_dir)
            try:
                with psycopg.connect(again.url) as conn:
                    assert conn.execute("SELECT 1").fetchone() == (1,)
            finally:
                again.stop()
            assert other.poll() is None  # left alone
        finally:
            other.kill()


def test_database_left_running_is_adopted(data_dir: Path) -> None:
    first = start_database(data_dir)
    try:
        second = start_database(data_dir)
        assert second.adopted
        assert second.url == first.url
        with psycopg.connect(second.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        first.stop()


def test_database_takes_another_port_when_the_preferred_one_is_busy(
    data_dir: Path, held_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "PREFERRED_PORT", held_port)
    db = start_database(data_dir)
    try:
        assert db.port != held_port
        with psycopg.connect(db.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        db.stop()


def test_database_explicit_busy_port_is_a_clear_error(data_dir: Path, held_port: int) -> None:
    with pytest.raises(ServiceStartError, match=f"port {held_port}"):
        start_database(data_dir, port=held_port)


def test_database_failure_shows_the_server_log(data_dir: Path) -> None:
    db = start_database(data_dir)
    db.stop()
    with (db.pgdata / "postgresql.auto.conf").open("a") as f:
        f.write("shared_buffers = 'plenty'\n")
    with pytest.raises(ServiceStartError) as caught:
        start_database(data_dir)
    message = str(caught.value)
    assert "PostgreSQL did not start" in message
    assert "shared_buffers" in message  # from the log tail


# -- broker --------------------------------------------------------------------------------

TOPIC = "sunlight/test/stack"


def _client(client_id: str, protocol: MQTTProtocolVersion) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)


def _connect(client: mqtt.Client, broker: RunningBroker, **kwargs: object) -> None:
    connected = threading.Event()
    client.on_connect = lambda *_args: connected.set()
    client.connect(broker.host, broker.port, **kwargs)  # type: ignore[arg-type]
    client.loop_start()
    assert connected.wait(5), "no CONNACK"


def _round_trip(broker: RunningBroker, protocol: MQTTProtocolVersion) -> bytes:
    got: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    sub = _client("stack-test-sub", protocol)
    sub.on_message = lambda _c, _u, msg: got.put(bytes(msg.payload))
    sub.on_subscribe = lambda *_args: subscribed.set()
    pub = _client("stack-test-pub", protocol)
    try:
        _connect(sub, broker)
        sub.subscribe(TOPIC, qos=1)
        assert subscribed.wait(5), "no SUBACK"
        _connect(pub, broker)
        pub.publish(TOPIC, b"hello", qos=1).wait_for_publish(5)
        return got.get(timeout=5)
    finally:
        for client in (pub, sub):
            client.disconnect()
            client.loop_stop()


@pytest.mark.parametrize(
    ("kind", "protocol"),
    [
        pytest.param("mosquitto", mqtt.MQTTv5, marks=needs_mosquitto),
        pytest.param("amqtt", mqtt.MQTTv311),
    ],
)
def test_broker_round_trip(
    data_dir: Path, kind: broker_module.BrokerKind, protocol: MQTTProtocolVersion
) -> None:
    started = time.monotonic()
    broker = start_broker(data_dir, kind=kind)
    try:
        assert time.monotonic() - started < 5
        assert broker.kind == kind
        suffix = "?protocol=3.1.1" if kind == "amqtt" else ""  # amqtt lacks MQTT 5
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}{suffix}"
        assert _round_trip(broker, protocol) == b"hello"
    finally:
        broker.stop()
    broker.stop()  # idempotent
    assert broker.stopped
    assert not port_answers(broker.port)


def test_broker_default_kind_is_mosquitto_when_installed(data_dir: Path) -> None:
    broker = start_broker(data_dir)
    try:
        assert broker.kind == ("mosquitto" if find_mosquitto() else "amqtt")
    finally:
        broker.stop()


@pytest.mark.parametrize("kind", [pytest.param("mosquitto", marks=needs_mosquitto), "amqtt"])
def test_broker_takes_another_port_when_the_preferred_one_is_busy(
    data_dir: Path,
    held_port: int,
    kind: broker_module.BrokerKind,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(broker_module, "PREFERRED_PORT", held_port)
    broker = start_broker(data_dir, kind=kind)
    try:
        assert broker.port != held_port
        assert port_answers(broker.port)
    finally:
        broker.stop()


@pytest.mark.parametrize("kind", [pytest.param("mosquitto", marks=needs_mosquitto), "amqtt"])
def test_broker_explicit_busy_port_is_a_clear_error(
    data_dir: Path, held_port: int, kind: broker_module.BrokerKind
) -> None:
    with pytest.raises(ServiceStartError, match=f"port {held_port}"):
        start_broker(data_dir, kind=kind, port=held_port)


@needs_mosquitto
def test_mosquitto_config_raises_the_queue_limit(data_dir: Path) -> None:
    broker = start_broker(data_dir, kind="mosquitto")
    broker.stop()
    conf = (data_dir / "mosquitto" / "mosquitto.conf").read_text()
    assert "\nmax_queued_messages 100000\n" in conf
    assert "default 1000 per client" in conf
    assert f"\nlistener {broker.port} 127.0.0.1\n" in conf
    assert f"\npersistence_location {data_dir / 'mosquitto'}/\n" in conf
    assert "\nallow_anonymous true\n" in conf


@needs_mosquitto
def test_mosquitto_keeps_queued_messages_across_a_restart(data_dir: Path) -> None:
    """A persistent session's queued QoS 1 message survives a broker restart."""
    expiry = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    expiry.SessionExpiryInterval = 3600
    got: queue.Queue[bytes] = queue.Queue()

    broker = start_broker(data_dir, kind="mosquitto")
    try:
        sub = _client("stack-test-durable", mqtt.MQTTv5)
        subscribed = threading.Event()
        sub.on_subscribe = lambda *_args: subscribed.set()
        _connect(sub, broker, clean_start=False, properties=expiry)
        sub.subscribe(TOPIC, qos=1)
        assert subscribed.wait(5)
        sub.disconnect()
        sub.loop_stop()

        pub = _client("stack-test-pub", mqtt.MQTTv5)
        _connect(pub, broker)
        pub.publish(TOPIC, b"queued", qos=1).wait_for_publish(5)
        pub.disconnect()
        pub.loop_stop()
    finally:
        broker.stop()

    broker = start_broker(data_dir, kind="mosquitto")
    try:
        sub = _client("stack-test-durable", mqtt.MQTTv5)
        sub.on_message = lambda _c, _u, msg: got.put(bytes(msg.payload))
        _connect(sub, broker, clean_start=False, properties=expiry)
        try:
            assert got.get(timeout=5) == b"queued"
        finally:
            sub.disconnect()
            sub.loop_stop()
    finally:
        broker.stop()


@needs_mosquitto
def test_mosquitto_left_running_by_a_crash_is_replaced(data_dir: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from services.stack import start_broker
        broker = start_broker(Path({str(data_dir)!r}), kind="mosquitto", stop_at_exit=False)
        print(broker.port, flush=True)
        os._exit(0)  # a crash: no stop()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    orphan_port = int(out.stdout.split()[0])
    orphan_pid = int((data_dir / "mosquitto" / "mosquitto.pid").read_text())
    assert port_answers(orphan_port)

    broker = start_broker(data_dir, kind="mosquitto")
    try:
        assert process_cmdline(orphan_pid) is None
        assert _round_trip(broker, mqtt.MQTTv5) == b"hello"
    finally:
        broker.stop()
