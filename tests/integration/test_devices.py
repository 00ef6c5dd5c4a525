"""`sunlight devices` against the real PostgreSQL and a private Mosquitto 2.

The broker runs as a child process on a free port with the password and ACL files the
CLI writes (allow_anonymous false), so what is checked is what Mosquitto enforces.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from typer.testing import CliRunner

from services.cli.devices import devices_app
from services.contract import Kind, subscription, topic
from services.devices.broker_auth import (
    Account,
    Role,
    hash_password,
    verify_password,
    write_broker_files,
)
from services.stack import find_mosquitto

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
ESTATE = ROOT / "deploy" / "estate.example.yaml"
SITE = "yangguang-garden"
SENSOR = "leak-pump-room"  # device A
CAMERA = "cam-b3-stairwell"  # device B
NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = (0x86, 0x87)  # Mosquitto 2.0 answers 0x87, newer ones may say 0x86

runner = CliRunner()


# --- the broker ---------------------------------------------------------------------------


@dataclass
class Broker:
    home: Path
    port: int
    pid_file: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_broker(home: Path, files: Path) -> Broker:
    """Mosquitto with the generated files; it must find them at start."""
    log = home / "mosquitto.log"
    for attempt in range(3):
        port = _free_port()
        conf = home / "mosquitto.conf"
        lines = [
            f"listener {port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {files / 'passwd'}",
            f"acl_file {files / 'acl'}",
            f"pid_file {home / 'mosquitto.pid'}",
            "persistence false",
            "log_dest stderr",
            "log_type all",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # stay root: it must read root's 0600 files
        conf.write_text("\n".join(lines) + "\n")
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [str(find_mosquitto()), "-c", str(conf)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if " running" in log.read_text(errors="replace") and (home / "mosquitto.pid").exists():
                return Broker(home, port, home / "mosquitto.pid", log, proc)
            time.sleep(0.02)
        proc.kill()
        proc.wait()
        if "Address already in use" not in log.read_text(errors="replace") or attempt == 2:
            pytest.fail(f"mosquitto did not start:\n{log.read_text(errors='replace')}")
    raise AssertionError("unreachable")


def _stop_broker(broker: Broker) -> None:
    if broker.proc.poll() is None:
        broker.proc.terminate()
        try:
            broker.proc.wait(10)
        except subprocess.TimeoutExpired:
            broker.proc.kill()
            broker.proc.wait()


@contextlib.contextmanager
def running_broker(home: Path, files: Path) -> Iterator[Broker]:
    broker = _start_broker(home, files)
    try:
        yield broker
    finally:
        _stop_broker(broker)


# --- MQTT 5 clients --------------------------------------------------------------------------


@dataclass
class Client:
    """A paho MQTT 5 client that records what the broker answered."""

    client: mqtt.Client
    connack: ReasonCode | None = None
    connected: threading.Event = field(default_factory=threading.Event)
    answered: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)
    pubacks: dict[int, ReasonCode] = field(default_factory=dict)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, name: str, payload: bytes) -> ReasonCode:
        """QoS 1, waiting for the PUBACK; returns its reason code."""
        info = self.client.publish(name, payload, qos=1)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, info.rc
        info.wait_for_publish(timeout=10)
        assert _wait(lambda: info.mid in self.pubacks), f"no PUBACK for {name}"
        return self.pubacks[info.mid]

    def got(self, payload: bytes) -> bool:
        with self.lock:
            return any(p == payload for _, p in self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _wait(check: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())


def _connect(broker: Broker, username: str, password: str, *, reconnect: bool = False) -> Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{username}-{uuid.uuid4().hex[:6]}",
                    protocol=mqtt.MQTTv5)
    c.username_pw_set(username, password)
    state = Client(c)

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                   properties: Any) -> None:
        state.connack = reason
        if not reason.is_failure:
            state.disconnected.clear()
            state.connected.set()
        state.answered.set()

    def on_disconnect(client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                      properties: Any) -> None:
        state.connected.clear()
        state.disconnected.set()

    def on_publish(client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode,
                   properties: Any) -> None:
        state.pubacks[mid] = reason

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with state.lock:
            state.received.append((msg.topic, bytes(msg.payload)))

    c.on_connect, c.on_disconnect = on_connect, on_disconnect
    c.on_publish, c.on_message = on_publish, on_message
    if not reconnect:
        c.reconnect_delay_set(min_delay=60, max_delay=60)
    c.connect("127.0.0.1", broker.port, keepalive=30)
    c.loop_start()
    assert state.answered.wait(10), f"no CONNACK for {username}"
    return state


def _refused(broker: Broker, username: str, password: str) -> ReasonCode:
    state = _connect(broker, username, password)
    state.client.loop_stop()
    assert state.connack is not None
    return state.connack


# --- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def env(empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database (the CLI migrates it) and the example estate."""
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    monkeypatch.setenv("SUNLIGHT_CONFIG", str(ESTATE))
    monkeypatch.setenv("SUNLIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")  # rich's table width in `list`
    return empty_database_url


def cli(*args: str, code: int = 0) -> str:
    result = runner.invoke(devices_app, list(args))
    assert result.exit_code == code, (result.output, result.exception)
    return result.output


def _password(output: str) -> str:
    found = re.findall(r"^  password: (\S+)$", output, flags=re.MULTILINE)
    assert len(found) == 1, output
    return str(found[0])


def _hash_of(url: str, device_id: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT password_hash FROM device_credentials WHERE device_id = %s", (device_id,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def test_add_list_rotate_revoke_and_the_files(env: str, tmp_path: Path) -> None:
    files = tmp_path / "files"
    out = cli("add", "no-such-device", "--dir", str(files), code=2)
    assert "unknown device 'no-such-device'" in out

    out = cli("add", SENSOR, "--dir", str(files))
    first = _password(out)
    assert out.count(first) == 1  # shown once
    stored = _hash_of(env, SENSOR)
    assert stored.startswith("$7$") and first not in stored
    assert verify_password(first, stored)

    out = cli("add", SENSOR, "--dir", str(files), code=1)
    assert "already has credentials" in out and "--rotate" in out
    assert _hash_of(env, SENSOR) == stored  # the working password is untouched

    second = _password(cli("add", SENSOR, "--rotate", "--dir", str(files)))
    assert second != first
    assert verify_password(second, _hash_of(env, SENSOR))
    assert not verify_password(first, _hash_of(env, SENSOR))

    cli("add", CAMERA, "--dir", str(files))
    cli("service", "ingest", "--dir", str(files))
    cli("service", "nobody", "--dir", str(files), code=2)

    passwd = (files / "passwd").read_text()
    acl = (files / "acl").read_text()
    assert f"{SENSOR}:{_hash_of(env, SENSOR)}\n" in passwd
    assert f"topic write sunlight/v1/{SITE}/{CAMERA}/frame" in acl
    assert f"topic write sunlight/v1/{SITE}/{SENSOR}/frame" not in acl
    assert oct((files / "passwd").stat().st_mode & 0o777) == "0o600"

    out = cli("revoke", SENSOR, "--dir", str(files))
    assert f"revoked {SENSOR}" in out
    assert f"\n{SENSOR}:" not in (files / "passwd").read_text()
    assert f"user {SENSOR}\n" not in (files / "acl").read_text()
    assert f"user {CAMERA}\n" in (files / "acl").read_text()
    cli("revoke", "no-such-device", "--dir", str(files), code=1)

    out = cli("list")
    for expected in (SENSOR, "water_leak", "水泵房", CAMERA, "camera", "3号楼 · 楼道",
                     "sunlight-ingest", "service", "3 accounts, 1 revoked"):
        assert expected in out, out
    assert SENSOR not in cli("list", "--active")

    # The default directory is <data_dir>/mosquitto; a pid file that is not mosquitto's
    # is refused after the files are written.
    bogus = tmp_path / "bogus.pid"
    bogus.write_text(f"{os.getpid()}\n")
    out = cli("write-files", "--reload-pid", str(bogus), code=1)
    assert "not mosquitto" in out
    assert (tmp_path / "data" / "mosquitto" / "acl").exists()
    out = cli("write-files", "--group", "no-such-group-here", code=1)
    assert "were not written" in out and "write-files" in out


def test_broker_lets_each_device_publish_only_under_its_own_topic(
    env: str, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    ingest_password = _password(cli("service", "ingest", "--dir", str(files)))
    a_password = _password(cli("add", SENSOR, "--dir", str(files)))
    b_password = _password(cli("add", CAMERA, "--dir", str(files)))

    with running_broker(tmp_path, files) as broker:
        ingest = _connect(broker, "sunlight-ingest", ingest_password)
        assert ingest.connected.is_set(), ingest.connack
        # The ingest service's own shared subscriptions.
        filters = [subscription(k, site=SITE, group="ingest")
                   for k in (Kind.TELEMETRY, Kind.EVENT, Kind.STATUS, Kind.FRAME)]
        ingest.client.subscribe([(f, 1) for f in filters])
        a = _connect(broker, SENSOR, a_password)
        b = _connect(broker, CAMERA, b_password)
        assert a.connected.is_set() and b.connected.is_set()
        # Devices read nothing: B's subscription is accepted but delivers nothing.
        b.client.subscribe("sunlight/v1/#", qos=1)
        time.sleep(0.3)  # let both SUBSCRIBEs be processed

        # A on its own telemetry topic: accepted and delivered.
        own = topic(SITE, SENSOR, Kind.TELEMETRY)
        assert a.publish(own, b"a-own").value == 0
        assert _wait(lambda: ingest.got(b"a-own")), ingest.received

        # A on B's topic, and on kinds it may not use: PUBACK 0x87, never delivered.
        for name, payload in (
            (topic(SITE, CAMERA, Kind.TELEMETRY), b"a-as-b"),
            (topic(SITE, SENSOR, Kind.FRAME), b"a-frame"),
            (topic(SITE, SENSOR, Kind.FINDING), b"a-finding"),
            (topic("other-site", SENSOR, Kind.TELEMETRY), b"a-other-site"),
        ):
            reason = a.publish(name, payload)
            assert reason.value == NOT_AUTHORIZED, (name, reason)

        # A camera may send frames. Its message comes after A's refused ones: once it is
        # in, anything refused above would have arrived too.
        assert b.publish(topic(SITE, CAMERA, Kind.FRAME), b"b-frame").value == 0
        assert _wait(lambda: ingest.got(b"b-frame"))
        time.sleep(0.2)
        for payload in (b"a-as-b", b"a-frame", b"a-finding", b"a-other-site"):
            assert not ingest.got(payload), payload
        assert b.received == []  # devices read nothing

        # A wrong password, and an unknown user, are refused at CONNECT.
        assert _refused(broker, SENSOR, b_password).value in BAD_CREDENTIALS
        assert _refused(broker, SENSOR, a_password + "x").value in BAD_CREDENTIALS
        assert _refused(broker, "smoke-b1", a_password).value in BAD_CREDENTIALS

        # Revoke A and reload: Mosquitto drops A's open connection, and refuses new ones.
        out = cli("revoke", SENSOR, "--dir", str(files), "--reload-pid", str(broker.pid_file))
        assert "sent SIGHUP" in out
        assert a.disconnected.wait(10), "the revoked device is still connected"
        assert _wait(lambda: "Reloading config" in broker.log_text())
        assert _refused(broker, SENSOR, a_password).value in BAD_CREDENTIALS

        # B is unaffected by the reload.
        assert b.connected.is_set()
        assert b.publish(topic(SITE, CAMERA, Kind.TELEMETRY), b"b-after").value == 0
        assert _wait(lambda: ingest.got(b"b-after"))
        for c in (a, b, ingest):
            c.close()
    assert "Denied PUBLISH" in broker.log_text()


def test_mosquitto_accepts_our_hashes(tmp_path: Path) -> None:
    """The hash without the CLI: default and higher iteration counts both log in."""
    passwords = {"smoke-b1": "first-password", "smoke-b2": "second-password"}
    write_broker_files(tmp_path / "files", [
        Account("smoke-b1", SITE, Role.DEVICE, hash_password(passwords["smoke-b1"])),
        Account("smoke-b2", SITE, Role.DEVICE,
                hash_password(passwords["smoke-b2"], iterations=20_000)),
    ])
    with running_broker(tmp_path, tmp_path / "files") as broker:
        for user, password in passwords.items():
            c = _connect(broker, user, password)
            assert c.connected.is_set(), (user, c.connack)
            c.close()
            assert _refused(broker, user, password.upper()).value in BAD_CREDENTIALS


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="no mosquitto_passwd")
def test_our_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    """`mosquitto_passwd -U` hashes a plain file; we reproduce its lines from its salts."""
    plain = {"smoke-b1": "a-password", "cam-b3-stairwell": "Ünïcode pässwörd 密码"}
    pw_file = tmp_path / "passwd"
    pw_file.write_text("".join(f"{u}:{p}\n" for u, p in plain.items()), encoding="utf-8")
    subprocess.run(["mosquitto_passwd", "-U", str(pw_file)], check=True, capture_output=True)
    for line in pw_file.read_text().splitlines():
        user, theirs = line.split(":", 1)
        _, seven, iterations, salt, _ = theirs.split("$")
        assert seven == "7"
        ours = hash_password(plain[user], iterations=int(iterations),
                             salt=base64.b64decode(salt))
        assert ours == theirs
        assert verify_password(plain[user], theirs)
