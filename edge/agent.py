"""The gateway agent: poll sensors into the outbox, drain it per device, stream cameras."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from edge.camera import CameraStats, run_camera
from edge.config import Credentials, EdgeConfig, Sensor, seconds
from edge.drivers import SensorDriver, SensorReadError, make_driver
from edge.link import DeviceLink
from edge.outbox import Limits, Outbox
from edge.settings import EdgeSettings
from services.contract import Kind, Telemetry, encode, topic

log = logging.getLogger(__name__)


@dataclass
class AgentStats:
    readings: int = 0
    read_errors: int = 0
    cameras: dict[str, CameraStats] = field(default_factory=dict)


class Agent:
    def __init__(self, config: EdgeConfig, settings: EdgeSettings,
                 base_dir: Path = Path()) -> None:
        self.config = config
        self.settings = settings
        queue = config.queue
        path = queue.path if queue.path.is_absolute() else base_dir / queue.path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(path, Limits(queue.max_messages, queue.max_bytes,
                                          seconds(queue.max_age)))
        url = settings.broker_url(config)
        self.links: dict[str, DeviceLink] = {}
        for device, creds in [(s.device, s.credentials) for s in config.sensors] + \
                [(c.device, c.credentials) for c in config.cameras]:
            self.links[device] = self._link(device, url, creds)
        self.drivers: dict[str, SensorDriver] = {
            s.device: make_driver(s.driver) for s in config.sensors}
        self.stats = AgentStats()

    def _link(self, device: str, url: str, creds: Credentials) -> DeviceLink:
        return DeviceLink(site=self.config.site, device=device, url=url, outbox=self.outbox,
                          username=creds.username, password=self.settings.password(creds))

    def run(self, stop: threading.Event, grace_s: float = 5.0) -> None:
        """Run until `stop`; then stop reading and flush the outbox for up to `grace_s`."""
        flushed = threading.Event()
        producers = [threading.Thread(target=self._poll, args=(stop,), name="edge-poll")]
        drainers = []
        for link in self.links.values():
            link.start()
            if link.device in self.drivers:
                drainers.append(threading.Thread(target=self._drain, args=(link, flushed),
                                                 name=f"edge-drain-{link.device}"))
        for camera in self.config.cameras:
            stats = self.stats.cameras.setdefault(camera.device, CameraStats())
            producers.append(threading.Thread(
                target=run_camera, args=(camera, self.links[camera.device], stop, stats),
                name=f"edge-camera-{camera.device}"))
        for t in producers + drainers:
            t.daemon = True
            t.start()
        log.info("event=edge_started gateway=%s sensors=%d cameras=%d queued=%d",
                 self.config.gateway, len(self.drivers), len(self.config.cameras),
                 len(self.outbox))
        while not stop.wait(60):
            log.info("event=edge_stats readings=%d errors=%d queued=%d dropped=%s",
                     self.stats.readings, self.stats.read_errors, len(self.outbox),
                     self.outbox.dropped())
        for t in producers:
            t.join(10)
        deadline = time.monotonic() + grace_s
        while len(self.outbox) and time.monotonic() < deadline:
            time.sleep(0.05)
        flushed.set()
        for t in drainers:
            t.join(10)
        for link in self.links.values():
            link.stop()
        for driver in self.drivers.values():
            driver.close()
        log.info("event=edge_stopped queued=%d (kept for the next start)", len(self.outbox))
        self.outbox.close()

    def _poll(self, stop: threading.Event) -> None:
        """Read each sensor at its interval (a heap of due times) into the outbox."""
        sensors = {s.device: s for s in self.config.sensors}
        due = [(time.monotonic(), device) for device in sensors]
        heapq.heapify(due)
        while due and not stop.is_set():
            at, device = heapq.heappop(due)
            if stop.wait(max(0.0, at - time.monotonic())):
                return
            self.read_sensor(sensors[device])
            heapq.heappush(due, (max(at + sensors[device].interval_s, time.monotonic()),
                                 device))

    def read_sensor(self, sensor: Sensor, now: datetime | None = None) -> bool:
        now = now or datetime.now(UTC)
        try:
            readings = self.drivers[sensor.device].read(now)
        except SensorReadError as exc:
            self.stats.read_errors += 1
            log.warning("event=sensor_read_failed device=%s error=%r", sensor.device, str(exc))
            return False
        link = self.links[sensor.device]
        seq = link.next_seq()
        body = encode(message_id=link.message_id(seq), device_id=sensor.device, sent_at=now,
                      seq=seq, payload=Telemetry(readings=readings))
        self.outbox.put(sensor.device, topic(self.config.site, sensor.device, Kind.TELEMETRY),
                        body)
        self.stats.readings += 1
        return True

    def _drain(self, link: DeviceLink, stop: threading.Event) -> None:
        while not stop.is_set():
            link.connected.wait(1)
            if link.connected.is_set() and not link.drain(stop):
                stop.wait(0.1)
