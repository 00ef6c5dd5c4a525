"""A device's status is retained: online when it connects, offline (its last will) when
its connection dies without a goodbye, offline too when it stops cleanly."""

from __future__ import annotations

import queue
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.link import DeviceLink
from edge.outbox import Outbox
from services.contract import Kind, Status, decode, topic
from services.stack import start_broker

SITE = "yangguang-garden"


def retained_status(port: int, device: str) -> str:
    """What a newcomer subscribing now is told: the retained status."""
    got: queue.Queue[bytes] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: got.put(m.payload)
    sub.connect("127.0.0.1", port)
    sub.subscribe(topic(SITE, device, Kind.STATUS), qos=1)
    sub.loop_start()
    try:
        payload = decode(Kind.STATUS, got.get(timeout=5)).payload
        assert isinstance(payload, Status)
        return payload.state
    finally:
        sub.disconnect()
        sub.loop_stop()


def test_status_online_then_last_will_then_clean_stop(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "broker", kind="mosquitto")
    outbox = Outbox(tmp_path / "q.sqlite")
    try:
        link = DeviceLink(site=SITE, device="leak-pump-room", url=broker.url, outbox=outbox)
        link.start()
        assert link.connected.wait(10)
        time.sleep(0.3)
        assert retained_status(broker.port, "leak-pump-room") == "online"
        # the connection dies without DISCONNECT (power cut, cable pulled): the broker
        # publishes the will, retained
        link._client.loop_stop()
        link._client.socket().close()  # type: ignore[union-attr]
        deadline = time.monotonic() + 30  # keepalive 15 s: the broker notices within 1.5x
        state = "online"
        while state == "online" and time.monotonic() < deadline:
            time.sleep(1)
            state = retained_status(broker.port, "leak-pump-room")
        assert state == "offline"

        again = DeviceLink(site=SITE, device="leak-pump-room", url=broker.url, outbox=outbox)
        again.start()
        assert again.connected.wait(10)
        time.sleep(0.3)
        assert retained_status(broker.port, "leak-pump-room") == "online"
        again.stop()  # a clean stop sends no will, so the link says offline itself
        assert retained_status(broker.port, "leak-pump-room") == "offline"
    finally:
        broker.stop()
