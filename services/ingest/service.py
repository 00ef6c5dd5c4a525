"""The ingest service: MQTT → batches → one transaction each → acknowledgement.

paho's network thread only queues messages (database work there would block the
connection); one writer thread drains the queue in bounded batches, commits, and then
acknowledges every message of the batch (`manual_ack`). Unacknowledged messages stay in
the broker's persistent session, so a crash or a database outage loses nothing: they come
again, and storage is idempotent.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from services.contract import Kind, subscription
from services.ingest import metrics
from services.ingest.processor import TRANSIENT, Processor
from services.ingest.sorting import Incoming
from services.mqtt import BrokerAddress, connect, make_client, private_group

log = logging.getLogger(__name__)

INGESTED_KINDS = (Kind.TELEMETRY, Kind.EVENT, Kind.STATUS, Kind.FINDING)
# Only a status is retained by the contract (the board reads the last one). Anything else
# a device leaves retained, Mosquitto (whose ACL cannot see the retain flag) would hand to
# ingest again at every new subscription: ingest stores or dead-letters it once, then
# clears it from the broker with an empty retained message (EMQX refuses such a publish
# from a device in the first place, deploy/kubernetes/emqx.conf).
CLEARED_WHEN_RETAINED = (f"/{Kind.TELEMETRY}".encode(), f"/{Kind.EVENT}".encode())


@dataclass(frozen=True)
class IngestOptions:
    client_id: str = "sunlight-ingest-1"
    # A shared subscription group lets several instances split the load. Off by default:
    # Mosquitto 2.0 does not restore shared subscriptions from its persistence file, so
    # after a broker restart nothing is queued for a shared group until its members are
    # back, while a plain subscription of a persistent session keeps every message.
    group: str | None = None
    batch_max: int = 5000
    batch_wait_s: float = 0.05  # how long a batch may wait to fill up
    tick_every_s: float = 5.0
    # the longest wait between tries of a batch while the database is away: it is back
    # (and the batch stored) at most this long after the database is
    retry_max_s: float = 5.0


class _Received(NamedTuple):
    topic: bytes
    payload: bytes
    mid: int
    qos: int
    monotonic: float
    retain: bool = False


class IngestService:
    def __init__(self, processor: Processor, mqtt_url: str, options: IngestOptions) -> None:
        self._processor = processor
        self._options = options
        self._address = BrokerAddress.parse(mqtt_url)
        # bounded: when the writer falls behind, paho's thread waits and the broker holds
        # the rest (its in-flight window is full): backpressure instead of memory growth.
        # A deque: appends and pops are atomic, cheaper than queue.Queue's locks.
        self._inbox: collections.deque[_Received] = collections.deque()
        self._limit = options.batch_max * 4
        self._stopping = False
        self._client, self._properties = make_client(
            self._address, options.client_id, persistent=True, manual_ack=True,
            receive_maximum=min(options.batch_max * 2, 65535),
        )
        self._client.on_connect = self._on_connect
        self._client.raw_sink = self._on_publish
        self._client.on_disconnect = self._on_disconnect
        self.connected = threading.Event()
        self.committed = 0  # messages this instance stored (or dead-lettered) and acknowledged

    # --- paho's thread --------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("event=mqtt_connect_failed reason=%s", reason)
            return
        group = self._options.group
        if group is not None:
            group = private_group(group, self._address)
        site = self._processor.admission.site
        # retained messages only with a new subscription, not at every reconnection of
        # the persistent session; No Local keeps our own clearing publishes away from us
        # (not allowed on a shared subscription)
        filters = [subscription(kind, site=site, group=group) for kind in INGESTED_KINDS]
        if self._address.v5:
            options = SubscribeOptions(qos=1, retainHandling=1, noLocal=group is None)
            client.subscribe([(f, options) for f in filters])
        else:
            client.subscribe([(f, 1) for f in filters])
        log.info("event=mqtt_connected session_present=%s shared=%s",
                 flags.session_present, group is not None)
        self.connected.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                       properties: Any) -> None:
        self.connected.clear()
        level = logging.INFO if not reason.is_failure else logging.WARNING
        log.log(level, "event=mqtt_disconnected reason=%s", reason)

    def _on_publish(self, topic: bytes, payload: bytes, mid: int, qos: int,
                    retain: bool = False) -> None:
        # the cheapest possible hand-over: paho's thread must get back to the socket
        while len(self._inbox) >= self._limit and not self._stopping:
            time.sleep(0.001)  # backpressure: stop reading, the broker holds the rest
        self._inbox.append(_Received(topic, payload, mid, qos, time.monotonic(), retain))

    # --- the writer thread ----------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        connect(self._client, self._address, self._properties, persistent=True)
        self._client.loop_start()
        next_tick = time.monotonic() + self._options.tick_every_s
        try:
            while not stop.is_set():
                batch = self._take_batch(stop)
                if batch:
                    self._commit(batch, stop)
                if time.monotonic() >= next_tick:
                    self._tick()
                    next_tick = time.monotonic() + self._options.tick_every_s
        finally:
            # what is queued but not committed stays unacknowledged: the broker keeps it
            self._stopping = True
            self._client.disconnect()
            self._client.loop_stop()
            log.info("event=ingest_stopped uncommitted=%d", len(self._inbox))

    def _take_batch(self, stop: threading.Event) -> list[_Received]:
        """Wait for a first message, then up to `batch_wait_s` for the batch to fill."""
        inbox, size = self._inbox, self._options.batch_max
        deadline = time.monotonic() + 0.2
        while not inbox and time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.002)
        if not inbox:
            return []
        deadline = time.monotonic() + self._options.batch_wait_s
        while len(inbox) < size and time.monotonic() < deadline and not stop.is_set():
            time.sleep(0.002)
        return [inbox.popleft() for _ in range(min(size, len(inbox)))]

    def _commit(self, batch: list[_Received], stop: threading.Event) -> None:
        received_at = datetime.now(UTC)
        incoming = [Incoming(r.topic.decode("utf-8", "replace"), r.payload, received_at)
                    for r in batch]
        delay = 0.5
        while True:
            started = time.monotonic()
            try:
                result = self._processor.process(incoming)
                break
            except TRANSIENT as exc:
                # the database is away: keep the batch, unacknowledged, and try again
                metrics.FAILURES.inc()
                log.warning("event=batch_retry size=%d wait_s=%.1f error=%r", len(batch), delay,
                            str(exc).strip()[:200])
                if stop.wait(delay):
                    return
                delay = min(delay * 2, self._options.retry_max_s)
            except Exception:
                # a message the code cannot handle must not stop the stream: take the batch
                # one by one, and what still fails goes to the dead letter with the error
                log.exception("event=batch_failed size=%d action=one_by_one", len(batch))
                result = self._processor.process_each(incoming)
                break
        self._client.ack_many([r.mid for r in batch if r.qos == 1])
        self._clear_retained(batch)
        self.committed += len(batch)
        now = time.monotonic()
        metrics.RECEIVED.inc(len(batch))
        metrics.QUEUED.set(len(self._inbox))
        metrics.BATCH_SECONDS.observe(now - started)
        metrics.LAG_SECONDS.set(now - batch[0].monotonic)
        metrics.STORED.labels("readings").inc(result.written.readings)
        metrics.STORED.labels("device_events").inc(result.written.events)
        metrics.DEAD.inc(result.written.dead)
        metrics.DEAD_DROPPED.inc(result.dead_dropped)
        metrics.REPEATED.inc(result.repeated)
        metrics.TICKETS.inc(result.opened)
        metrics.FINDINGS.inc(result.findings)
        if result.written.dead:
            log.warning("event=dead_lettered count=%d", result.written.dead)

    def _clear_retained(self, batch: list[_Received]) -> None:
        """After the commit: empty retained messages over what a device left retained
        outside its status topic, so no later subscription is handed it again."""
        for r in batch:
            if r.retain and r.payload and r.topic.endswith(CLEARED_WHEN_RETAINED):
                self._client.publish(r.topic.decode("utf-8", "replace"), b"", qos=1,
                                     retain=True)
                metrics.RETAINED_CLEARED.inc()
                log.warning("event=retained_cleared topic=%s bytes=%d",
                            r.topic.decode("utf-8", "replace"), len(r.payload))

    def _tick(self) -> None:
        try:
            opened = self._processor.tick()
        except TRANSIENT as exc:
            log.warning("event=tick_failed error=%r", str(exc).strip()[:200])
            return
        metrics.TICKETS.inc(opened)
