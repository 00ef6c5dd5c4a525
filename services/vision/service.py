"""The vision service: camera frames from MQTT → per-camera pipeline → findings to MQTT.

It keeps no database state (ingest writes the tickets). It connects with a clean session
so that frames, which are useless once stale, never pile up in the broker while it is
down; findings go out with QoS 1.
"""

from __future__ import annotations

import base64
import collections
import logging
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt

from services.config import EstateConfig
from services.contract import ContractError, Frame, Kind, decode, encode, subscription, topic
from services.mqtt import BrokerAddress, connect, make_client
from services.vision.evidence import evidence_jpeg
from services.vision.pipeline import CameraPipeline
from services.vision.rules import FindingEvent

log = logging.getLogger(__name__)

ASSUMED_FPS = 2.0  # only used when frames come without usable times
BACKLOG = 200  # frames waiting to be analysed; older ones are dropped first


class VisionService:
    def __init__(self, estate: EstateConfig, mqtt_url: str,
                 client_id: str = "sunlight-vision") -> None:
        self._estate = estate
        self._cameras = {c.id: c for c in estate.cameras}
        self._pipelines: dict[str, CameraPipeline] = {}
        self._address = BrokerAddress.parse(mqtt_url)
        self._client, self._properties = make_client(self._address, client_id,
                                                     persistent=False)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._inbox: collections.deque[tuple[str, bytes]] = collections.deque(maxlen=BACKLOG)
        self._wake = threading.Event()
        self.connected = threading.Event()
        self.frames = 0
        self.findings = 0

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("event=vision_connect_failed reason=%s", reason)
            return
        client.subscribe(subscription(Kind.FRAME, site=self._estate.site.id), qos=0)
        self.connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.append((msg.topic, bytes(msg.payload)))
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        connect(self._client, self._address, self._properties, persistent=False)
        self._client.loop_start()
        log.info("event=vision_started cameras=%d detector=opencv-static model=none",
                 len(self._cameras))
        try:
            while not stop.is_set():
                if not self._inbox:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                name, payload = self._inbox.popleft()
                self.handle(name, payload)
        finally:
            self._client.disconnect()
            self._client.loop_stop()

    def handle(self, name: str, payload: bytes) -> list[FindingEvent]:
        """One frame message: analyse it and publish what it concludes."""
        camera_id = name.split("/")[3] if name.count("/") == 4 else ""
        camera = self._cameras.get(camera_id)
        if camera is None:
            return []
        try:
            envelope = decode(Kind.FRAME, payload)
            frame_msg = envelope.payload
            assert isinstance(frame_msg, Frame)
            image = cv2.imdecode(np.frombuffer(frame_msg.jpeg(), np.uint8), cv2.IMREAD_COLOR)
        except (ContractError, ValueError) as exc:
            log.warning("event=bad_frame camera=%s error=%r", camera_id, str(exc))
            return []
        if image is None:
            log.warning("event=bad_frame camera=%s error='undecodable JPEG'", camera_id)
            return []
        frame = np.asarray(image, dtype=np.uint8)
        pipeline = self._pipelines.setdefault(camera_id, CameraPipeline(camera, ASSUMED_FPS))
        events = pipeline.step(envelope.sent_at, frame)
        self.frames += 1
        for event in events:
            self._publish(camera_id, event, frame)
        return events

    def _publish(self, camera_id: str, event: FindingEvent, frame: np.ndarray[Any, Any]) \
            -> None:
        camera = self._cameras[camera_id]
        zone = next(z for z in camera.zones if z.id == event.zone_id)
        jpeg = evidence_jpeg(frame, event.box, zone.polygon,
                             event.at.astimezone(self._estate.site.tz),
                             f"{event.rule.value} {event.phase.value}")
        finding = event.to_message(camera_id, base64.b64encode(jpeg).decode())
        body = encode(message_id=f"vision-{uuid.uuid4().hex}", device_id=camera_id,
                      sent_at=datetime.now(UTC), seq=self.findings, payload=finding)
        self._client.publish(topic(self._estate.site.id, camera_id, Kind.FINDING), body,
                             qos=1)
        self.findings += 1
        log.info("event=finding phase=%s rule=%s camera=%s zone=%s id=%s", event.phase,
                 event.rule, camera_id, event.zone_id, event.finding_id)
