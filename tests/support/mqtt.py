"""Test helpers for talking to a real broker."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Protocol, TypeVar

import paho.mqtt.client as mqtt

from services.contract import Kind, Telemetry, encode, topic
from services.mqtt import BrokerAddress, make_client

SITE = "yangguang-garden"
_ids = itertools.count()


class Publisher:
    """A QoS 1 publisher that waits for the broker's acknowledgements."""

    def __init__(self, url: str, client_id: str | None = None) -> None:
        address = BrokerAddress.parse(url)
        self.client, props = make_client(address, client_id or f"test-pub-{uuid.uuid4().hex[:8]}",
                                         persistent=False)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        if address.v5:
            self.client.connect(address.host, address.port, properties=props)
        else:
            self.client.connect(address.host, address.port)
        self.client.loop_start()

    def publish(self, name: str, payload: bytes, *, qos: int = 1) -> mqtt.MQTTMessageInfo:
        return self.client.publish(name, payload, qos=qos)

    def publish_all(self, messages: Iterable[tuple[str, bytes]]) -> int:
        infos = [self.publish(t, p) for t, p in messages]
        for info in infos:
            info.wait_for_publish(timeout=60)
        return len(infos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def telemetry(device: str, readings: dict[str, float], *, at: datetime | None = None,
              message_id: str | None = None, seq: int | None = None) -> tuple[str, bytes]:
    n = next(_ids)
    body = encode(message_id=message_id or f"msg-{uuid.uuid4().hex}", device_id=device,
                  sent_at=at or datetime.now(UTC), seq=seq if seq is not None else n,
                  payload=Telemetry(readings=readings))
    return topic(SITE, device, Kind.TELEMETRY), body


def wait_until(check: Callable[[], bool], timeout: float = 30.0, every: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


class _Service(Protocol):
    connected: threading.Event

    def run(self, stop: threading.Event) -> None: ...


Runnable = TypeVar("Runnable", bound=_Service)


@contextlib.contextmanager
def running(service: Runnable, timeout: float = 10.0) -> Iterator[Runnable]:
    """`service.run(stop)` on a thread of its own, once it is connected; stopped after."""
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()
    assert service.connected.wait(timeout)
    try:
        yield service
    finally:
        stop.set()
        thread.join(timeout)
