"""Two estates on one database and one broker (issue 14, section 3): one estate's
`sunlight devices` never moves, rotates or revokes the other's broker accounts, each
estate's services get their own logins, and the files rendered for the shared broker give
each account its own estate's topics, as the real Mosquitto then enforces."""

from __future__ import annotations

import re
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from services.stack import find_mosquitto
from tests.integration.test_devices import (
    ESTATE,
    SENSOR,
    _password,
    _start_broker,
    _stop_broker,
    cli,
)
from tests.support.mqtt import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed"),
]

SITE_1 = "yangguang-garden"
SITE_2 = "mingyue-court"


@pytest.fixture
def env(empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database (the CLI migrates it) and the example estate as estate 1."""
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    monkeypatch.setenv("SUNLIGHT_CONFIG", str(ESTATE))
    monkeypatch.setenv("SUNLIGHT_DATA_DIR", str(tmp_path / "data"))
    return empty_database_url


@pytest.fixture
def estate_2(env: str, tmp_path: Path) -> str:
    """The example estate under another site id: the same device ids, as two estates of
    one company may well have."""
    path = tmp_path / "estate-2.yaml"
    text = ESTATE.read_text()
    assert f"id: {SITE_1}" in text
    path.write_text(text.replace(f"id: {SITE_1}", f"id: {SITE_2}", 1))
    return str(path)


def _rows(url: str) -> dict[str, tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT device_id, site, password_hash FROM device_credentials")}


def _acl_blocks(acl: str) -> dict[str, list[str]]:
    blocks: dict[str, list[str]] = {}
    user = None
    for line in acl.splitlines():
        if line.startswith("user "):
            user = line.split()[1]
            blocks[user] = []
        elif line.startswith("topic ") and user is not None:
            blocks[user].append(line)
    return blocks


def test_one_estate_never_moves_the_others_broker_accounts(
        env: str, estate_2: str, tmp_path: Path) -> None:
    files = tmp_path / "files"
    ingest_1 = _password(cli("service", "ingest", "--dir", str(files)))
    sensor_1 = _password(cli("add", SENSOR, "--dir", str(files)))
    before = _rows(env)

    # estate 2's operator, the same commands with estate 2's config
    out = cli("add", SENSOR, "--rotate", "-c", estate_2, "--dir", str(files), code=1)
    assert SITE_1 in out and "another estate" in out, out
    out = cli("add", SENSOR, "-c", estate_2, "--dir", str(files), code=1)
    assert SITE_1 in out, out
    out = cli("service", "ingest", "-c", estate_2, "--dir", str(files), code=1)
    assert "--name sunlight-ingest-" in out, out
    out = cli("revoke", SENSOR, "-c", estate_2, "--dir", str(files), code=1)
    assert SITE_1 in out, out
    assert _rows(env) == before  # not one row moved, rotated or revoked

    # estate 2's services get logins of their own on the shared broker
    ingest_2 = _password(cli("service", "ingest", "--name", "sunlight-ingest-mingyue",
                             "-c", estate_2, "--dir", str(files)))
    cli("service", "ingest", "--name", "sunlight-vision-x", "-c", estate_2, code=2)
    cli("add", "sunlight-ingest-2", "-c", estate_2, code=2)  # not a device id anyway

    cli("write-files", "--dir", str(files))
    blocks = _acl_blocks((files / "acl").read_text())
    assert blocks["sunlight-ingest"][0] == f"topic read sunlight/v1/{SITE_1}/#"
    assert blocks["sunlight-ingest-mingyue"][0] == f"topic read sunlight/v1/{SITE_2}/#"
    assert all(SITE_1 in line for line in blocks["sunlight-ingest"])
    assert all(SITE_2 in line for line in blocks["sunlight-ingest-mingyue"])
    assert all(f"sunlight/v1/{SITE_1}/{SENSOR}/" in line for line in blocks[SENSOR])

    # the shared broker with these files: each estate's ingest hears its own estate only
    home = tmp_path / "broker"
    home.mkdir()
    broker = _start_broker(home, files)
    try:
        heard: dict[str, list[str]] = {"sunlight-ingest": [], "sunlight-ingest-mingyue": []}
        clients = []
        for username, password in (("sunlight-ingest", ingest_1),
                                   ("sunlight-ingest-mingyue", ingest_2)):
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=username,
                                 protocol=mqtt.MQTTv5)
            client.username_pw_set(username, password)
            client.on_message = lambda c, u, m, name=username: heard[name].append(m.topic)
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            client.subscribe("sunlight/v1/+/+/telemetry", qos=1)
            clients.append(client)
        time.sleep(0.5)
        sensor = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=SENSOR,
                             protocol=mqtt.MQTTv5)
        sensor.username_pw_set(SENSOR, sensor_1)
        sensor.connect("127.0.0.1", broker.port)
        sensor.loop_start()
        sensor.publish(f"sunlight/v1/{SITE_1}/{SENSOR}/telemetry", b"{}", qos=1) \
            .wait_for_publish(10)
        assert wait_until(lambda: bool(heard["sunlight-ingest"]), 10)
        time.sleep(0.3)
        assert heard == {"sunlight-ingest": [f"sunlight/v1/{SITE_1}/{SENSOR}/telemetry"],
                         "sunlight-ingest-mingyue": []}
        for client in [*clients, sensor]:
            client.disconnect()
            client.loop_stop()
    finally:
        _stop_broker(broker)
    assert re.search(r"\bsunlight-ingest-mingyue\b", (files / "passwd").read_text())


def test_the_database_keeps_each_account_in_its_estate(env: str, tmp_path: Path) -> None:
    """Whatever writes the table, an account's estate never changes (migration 0014)."""
    cli("add", SENSOR, "--dir", str(tmp_path / "files"))
    with psycopg.connect(env) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE device_credentials SET site = %s WHERE device_id = %s",
                     (SITE_2, SENSOR))
