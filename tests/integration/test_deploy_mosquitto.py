"""The shipped Mosquitto configs in the real mosquitto: deploy/mosquitto/mosquitto.conf
(host install) and deploy/mosquitto/compose.conf (the compose stack), each started on
free ports with certificates made by deploy/compose/make-certs.sh and broker files made
by `write_broker_files`. Only the lines naming ports, paths, the user and the log
destination are rewritten for the test; every other directive is the shipped one. Then:
a device logs in over TLS (pinning the CA, checking the host name) and a wrong password
is refused, and the compose stack's broker health check passes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from services.stack import find_mosquitto
from tests.support.deploy import DEPLOY
from tests.support.shipped_mosquitto import CONFIGS, directives, shipped_broker

pytestmark = [
    pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto not installed"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed"),
]

SITE = "yangguang-garden"
# the settings both configs must agree on (the compose file's comment says so)
SHARED = ("allow_anonymous", "persistence", "autosave_interval", "persistent_client_expiration",
          "max_queued_messages", "max_queued_bytes", "max_inflight_messages", "max_packet_size",
          "tls_version", "use_username_as_clientid")
_directives = directives


def test_the_two_configs_agree_on_queues_sessions_and_tls() -> None:
    host, compose = (dict(_directives(p)) for p in CONFIGS)
    for key in SHARED:
        assert host[key] == compose[key], key
    assert int(host["max_queued_messages"]) >= 100_000  # far above Mosquitto's 1000
    assert host["allow_anonymous"] == "false"


_broker = shipped_broker


def _connect_tls(port: int, ca: Path, username: str, password: str) -> int:
    """The CONNACK reason code of a TLS login to localhost (the CA pinned, host checked)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{username}",
                         protocol=mqtt.MQTTv5)
    client.username_pw_set(username, password)
    client.tls_set(ca_certs=str(ca))
    codes: list[int] = []
    client.on_connect = lambda c, u, f, reason, p: codes.append(reason.value)
    client.connect("localhost", port)
    deadline = time.monotonic() + 10
    while not codes and time.monotonic() < deadline:
        client.loop(0.1)
    client.disconnect()
    assert codes, "no CONNACK"
    return codes[0]


@pytest.mark.parametrize("conf", CONFIGS, ids=lambda p: p.name)
def test_mosquitto_runs_the_config_with_tls_and_per_device_logins(conf: Path,
                                                                  tmp_path: Path) -> None:
    with _broker(conf, tmp_path) as broker:
        passwords = broker["passwords"]
        assert isinstance(passwords, dict)
        ca, tls = broker["ca"], broker["tls"]
        assert isinstance(ca, Path) and isinstance(tls, int)
        assert _connect_tls(tls, ca, "leak-pump-room", passwords["leak-pump-room"]) == 0
        assert _connect_tls(tls, ca, "leak-pump-room", "wrong") != 0
        assert _connect_tls(tls, ca, "nobody", "nothing") != 0


class _TlsClient:
    """One MQTT 5 login over TLS that records PUBACK reason codes and messages received."""

    def __init__(self, port: int, ca: Path, username: str, password: str) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"acl-{username}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(username, password)
        self.client.tls_set(ca_certs=str(ca))
        self.acks: dict[int, int] = {}
        self.received: list[bytes] = []
        self.client.on_publish = lambda c, u, mid, reason, p: self.acks.__setitem__(
            mid, reason.value)
        self.client.on_message = lambda c, u, message: self.received.append(message.payload)
        connected: list[int] = []
        self.client.on_connect = lambda c, u, f, reason, p: connected.append(reason.value)
        self.client.connect("localhost", port)
        self.client.loop_start()
        assert _until(lambda: bool(connected)) and connected == [0], connected

    def publish(self, topic: str, payload: bytes) -> int:
        """The broker's PUBACK reason code (0: accepted; 0x87: not authorized)."""
        mid = self.client.publish(topic, payload, qos=1).mid
        assert _until(lambda: mid in self.acks), f"no PUBACK for {topic}"
        return self.acks[mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _until(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("conf", CONFIGS, ids=lambda p: p.name)
def test_a_device_may_publish_under_its_own_topic_only(conf: Path, tmp_path: Path) -> None:
    """The shipped config's ACL file at work over TLS: the leak sensor's reading on its own
    topic reaches ingest; the same reading on the camera's topic, or on another site, is
    refused with PUBACK 0x87 and reaches no one."""
    with _broker(conf, tmp_path) as broker:
        passwords, ca, tls = broker["passwords"], broker["ca"], broker["tls"]
        assert isinstance(passwords, dict) and isinstance(ca, Path) and isinstance(tls, int)
        ingest = _TlsClient(tls, ca, "sunlight-ingest", passwords["sunlight-ingest"])
        sensor = _TlsClient(tls, ca, "leak-pump-room", passwords["leak-pump-room"])
        try:
            ingest.client.subscribe(f"sunlight/v1/{SITE}/+/telemetry", qos=1)
            ingest.client.subscribe("sunlight/v1/+/+/telemetry", qos=1)
            time.sleep(0.3)  # the SUBACKs
            assert sensor.publish(f"sunlight/v1/{SITE}/leak-pump-room/telemetry", b"own") == 0
            for topic in (f"sunlight/v1/{SITE}/cam-b3-stairwell/telemetry",
                          "sunlight/v1/other-site/leak-pump-room/telemetry"):
                assert sensor.publish(topic, b"forged") == 0x87, topic
            # sent after the refused ones: once it is in, they would have been too
            assert sensor.publish(f"sunlight/v1/{SITE}/leak-pump-room/telemetry", b"last") == 0
            assert _until(lambda: b"last" in ingest.received), ingest.received
            assert b"own" in ingest.received and b"forged" not in ingest.received
        finally:
            sensor.close()
            ingest.close()


def _health_command() -> str:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    test = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    return str(test[1]).replace("$$", "$")


def test_the_compose_health_check_passes_against_the_compose_config(tmp_path: Path) -> None:
    if shutil.which("mosquitto_sub") is None:
        pytest.skip("mosquitto_sub not installed")
    with _broker(DEPLOY / "mosquitto" / "compose.conf", tmp_path) as broker:
        passwords = broker["passwords"]
        assert isinstance(passwords, dict)
        command = re.sub(r"-p 1883\b", f"-p {broker['plain']}", _health_command())
        assert f"-p {broker['plain']}" in command

        def check(password: str) -> int:
            env = {**os.environ, "HEALTH_USER": "sunlight-board", "HEALTH_PASSWORD": password}
            return subprocess.run(["sh", "-c", command], env=env, capture_output=True,
                                  timeout=30, check=False).returncode

        assert check(str(passwords["sunlight-board"])) == 0
        assert check("wrong") != 0
