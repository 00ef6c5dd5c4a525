"""One MQTT connection per device: its own login, its retained status and its last will.

A device's messages wait in the outbox until the broker acknowledges them, one at a time
in order (QoS 1), so a broker outage only delays them and replay keeps their order.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.outbox import Outbox
from services.contract import Kind, Status, encode, topic
from services.mqtt import BrokerAddress

log = logging.getLogger(__name__)

PUBACK_TIMEOUT_S = 5.0


class DeviceLink:
    def __init__(self, *, site: str, device: str, url: str, outbox: Outbox,
                 username: str | None = None, password: str | None = None) -> None:
        self.site, self.device = site, device
        self._outbox = outbox
        self._boot = uuid.uuid4().hex[:10]
        self._seq = 0
        address = BrokerAddress.parse(url)
        self._host, self._port = address.host, address.port
        user = username or address.username
        # The broker binds a device's client id to its login (Mosquitto replaces it with
        # the username, EMQX refuses any other): say so ourselves.
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user or device,
                                   protocol=mqtt.MQTTv5 if address.v5 else mqtt.MQTTv311)
        if user or password:
            self._client.username_pw_set(user or device, password or address.password)
        if address.tls:
            self._client.tls_set(ca_certs=address.ca_file)
        self._client.reconnect_delay_set(1, 5)
        self._client.max_inflight_messages_set(1)  # strict order, replay included
        # The last will: the broker publishes it (retained) if this connection drops.
        self._client.will_set(self._status_topic, self._status("offline"), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self.connected = threading.Event()
        self.sent = 0

    @property
    def _status_topic(self) -> str:
        return topic(self.site, self.device, Kind.STATUS)

    def _status(self, state: str) -> bytes:
        return encode(message_id=f"{self.device}-{self._boot}-{state}-{uuid.uuid4().hex[:8]}",
                      device_id=self.device, sent_at=datetime.now(UTC), seq=0,
                      payload=Status(state=state))  # type: ignore[arg-type]

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def message_id(self, seq: int) -> str:
        return f"{self.id_prefix}{seq:09d}"

    @property
    def id_prefix(self) -> str:
        """What this link's message ids start with: the device, then this run's boot id."""
        return f"{self.device}-{self._boot}-"

    @property
    def numbered(self) -> int:
        """How many messages this link has numbered (the last sequence number given)."""
        return self._seq

    def start(self) -> None:
        self._client.connect_async(self._host, self._port, keepalive=15)
        self._client.loop_start()

    def stop(self) -> None:
        """Say goodbye properly: a clean disconnect publishes no will, so say offline."""
        if self.connected.is_set():
            self._client.publish(self._status_topic, self._status("offline"), qos=1,
                                 retain=True).wait_for_publish(2)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("event=edge_connect_failed device=%s reason=%s", self.device, reason)
            return
        client.publish(self._status_topic, self._status("online"), qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self.connected.clear()

    def publish_now(self, name: str, payload: bytes) -> bool:
        """For frames: sent if connected, else not at all (a stale frame is useless)."""
        if not self.connected.is_set():
            return False
        self._client.publish(name, payload, qos=0)
        return True

    def drain(self, stop: threading.Event, batch: int = 100) -> int:
        """Send queued messages in order until the queue is empty or the link drops."""
        sent = 0
        while not stop.is_set() and self.connected.is_set():
            queued = self._outbox.peek(self.device, batch)
            if not queued:
                return sent
            for item in queued:
                info = self._client.publish(item.topic, item.payload, qos=1)
                try:
                    info.wait_for_publish(PUBACK_TIMEOUT_S)
                except (RuntimeError, ValueError):  # not connected any more
                    return sent
                if not info.is_published():
                    return sent  # the link dropped: the message stays queued
                self._outbox.remove([item.id])
                sent += 1
                self.sent += 1
        return sent
