"""Publish the notifications on MQTT (QoS 1), waiting for the broker's ack.

One client per scheduler. A publish that the broker has not acknowledged within the
timeout counts as failed, and the outbox tries again later: a message may then arrive
twice (receivers drop repeats by `event_id`), never zero times.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from paho.mqtt.enums import MQTTErrorCode

from services.mqtt import BrokerAddress, connect, make_client

log = logging.getLogger(__name__)


class PushError(RuntimeError):
    pass


class Push:
    def __init__(self, url: str, client_id: str) -> None:
        self._address = BrokerAddress.parse(url)
        self._client, props = make_client(self._address, client_id, persistent=False)
        self._connected = threading.Event()
        self._closing = False
        self._refused: dict[int, str] = {}  # mid -> the broker's reason (MQTT 5 PUBACK)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        connect(self._client, self._address, props, persistent=False)
        self._client.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        if not getattr(reason, "is_failure", False):
            self._connected.set()
            log.info("event=push_connected host=%s", self._address.host)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
        self._connected.clear()
        if not self._closing:  # paho reconnects by itself
            log.warning("event=push_disconnected host=%s reason=%s", self._address.host,
                        reason)

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any = None) -> None:
        # called before the message counts as published, so publish() sees it in time
        if getattr(reason, "is_failure", False):
            self._refused[mid] = str(reason)

    def publish(self, topic: str, payload: bytes, *, timeout: float) -> None:
        """Publish at QoS 1 and wait for PUBACK; PushError if that does not happen."""
        if not self._connected.wait(timeout):
            raise PushError(f"not connected to the broker at {self._address.host}")
        info = self._client.publish(topic, payload, qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise PushError(f"publish refused: {info.rc}")
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:
            raise PushError(f"publish failed: {exc}") from None
        if not info.is_published():
            raise PushError(f"no PUBACK from the broker within {timeout:g} s")
        refused = self._refused.pop(info.mid, None)
        if refused is not None:  # e.g. "Not authorized": the ACL lacks notify/#
            raise PushError(f"the broker refused {topic}: {refused}")

    def close(self) -> None:
        self._closing = True
        self._client.disconnect()
        self._client.loop_stop()
