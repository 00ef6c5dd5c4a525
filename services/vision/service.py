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
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt

from services.config import EstateConfig
from services.contract import (
    ContractError,
    Frame,
    Kind,
    Phase,
    decode,
    encode,
    subscription,
    topic,
)
from services.mqtt import BrokerAddress, connect, make_client
from services.vision import metrics
from services.vision.evidence import evidence_jpeg, training_crop
from services.vision.pipeline import CameraPipeline, Detector, Image, StageCounts
from services.vision.rules import FindingEvent
from services.vision.video import live_frames
from services.vision.yolo import YoloDetector, runtime_of

log = logging.getLogger(__name__)

ASSUMED_FPS = 2.0  # only used when frames come without usable times
BACKLOG = 200  # frames waiting to be analysed; older ones are dropped first


def detector_factory(model: Path | None, imgsz: int) -> Callable[[], Detector] | None:
    """A maker of one YOLO detector per camera (each keeps its own tracks), or None for
    the OpenCV detector alone. Loads the model once now, so a bad file fails at start."""
    if model is None:
        return None
    YoloDetector(model, imgsz=imgsz)  # raises ModelError with the reason
    return lambda: YoloDetector(model, imgsz=imgsz)


class VisionService:
    def __init__(self, estate: EstateConfig, mqtt_url: str,
                 client_id: str = "sunlight-vision", *, model: Path | None = None,
                 imgsz: int = 640, sources: dict[str, str] | None = None,
                 source_fps: float = ASSUMED_FPS,
                 cameras: Collection[str] | None = None) -> None:
        self._estate = estate
        self._cameras = {c.id: c for c in estate.cameras}
        # `cameras`: this worker's share of the estate (vision keeps per-camera state, so
        # several workers split the cameras between them); None: every camera
        self._only = None if cameras is None else sorted(set(cameras))
        if self._only is not None:
            unknown = sorted(set(self._only) - set(self._cameras))
            if unknown:
                raise ValueError(f"no camera {', '.join(unknown)} in the estate config")
            if not self._only:
                raise ValueError("no camera given for this worker")
            self._cameras = {cid: self._cameras[cid] for cid in self._only}
        # cameras watched directly (URL or file) rather than through MQTT frames
        self._sources = dict(sources or {})
        unknown = sorted(set(self._sources) - set(self._cameras))
        if unknown:
            where = "in the estate config" if self._only is None else "among --cameras"
            raise ValueError(f"no camera {', '.join(unknown)} {where}")
        self._source_fps = source_fps
        self._pipelines: dict[str, CameraPipeline] = {}
        self._make_detector = detector_factory(model, imgsz)
        runtime = runtime_of(model) if model else "none"
        self.detector = ("opencv-static" if model is None else
                         f"opencv-static+yolo model={model} runtime={runtime} imgsz={imgsz}")
        metrics.DETECTOR.info({
            "detector": "opencv-static" if model is None else "opencv-static+yolo",
            "model": str(model) if model else "none", "runtime": runtime,
        })
        self._address = BrokerAddress.parse(mqtt_url)
        self._client, self._properties = make_client(self._address, client_id,
                                                     persistent=False)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        # MQTT frame messages (topic, payload) and directly read frames (camera, time, image)
        self._inbox: collections.deque[tuple[str, bytes] | tuple[str, datetime, Image]] = \
            collections.deque(maxlen=BACKLOG)
        self._inbox_lock = threading.Lock()  # so that a drop is counted only when one happens
        self._wake = threading.Event()
        self.connected = threading.Event()
        self.frames = 0
        self.dropped = 0
        self.findings = 0

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            log.error("event=vision_connect_failed reason=%s", reason)
            return
        site = self._estate.site.id
        if self._only is None:
            client.subscribe(subscription(Kind.FRAME, site=site), qos=0)
        else:  # only this worker's cameras: other frames never cross the network to it
            client.subscribe([(topic(site, cid, Kind.FRAME), 0) for cid in self._only])
        self.connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        metrics.RECEIVED.inc()
        self._enqueue((msg.topic, bytes(msg.payload)))

    def _enqueue(self, item: tuple[str, bytes] | tuple[str, datetime, Image]) -> None:
        """Queue a frame for analysis; a full backlog drops its oldest frame, counted."""
        with self._inbox_lock:
            if len(self._inbox) == BACKLOG:
                self.dropped += 1
                metrics.DROPPED.inc()
            self._inbox.append(item)
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        connect(self._client, self._address, self._properties, persistent=False)
        self._client.loop_start()
        if self._make_detector is None:
            log.info("event=vision_started cameras=%d detector=opencv-static model=none "
                     "note='no YOLO model configured (SUNLIGHT_VISION_MODEL): objects are of "
                     "unknown kind and people are told apart by movement alone'",
                     len(self._cameras))
        else:
            log.info("event=vision_started cameras=%d detector=%s", len(self._cameras),
                     self.detector)
        watchers = [threading.Thread(target=self._watch, args=(camera_id, source, stop),
                                     name=f"watch-{camera_id}", daemon=True)
                    for camera_id, source in self._sources.items()]
        for watcher in watchers:
            watcher.start()
        try:
            while not stop.is_set():
                if not self._inbox:
                    self._wake.wait(0.5)
                    self._wake.clear()
                    continue
                with self._inbox_lock:
                    item = self._inbox.popleft()
                if len(item) == 2:
                    self.handle(item[0], item[1])
                else:
                    self.analyse(item[0], item[1], item[2])
        finally:
            for watcher in watchers:
                watcher.join(5)
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
            metrics.BAD_FRAMES.inc()
            return []
        if image is None:
            log.warning("event=bad_frame camera=%s error='undecodable JPEG'", camera_id)
            metrics.BAD_FRAMES.inc()
            return []
        return self.analyse(camera_id, envelope.sent_at, np.asarray(image, dtype=np.uint8))

    def _watch(self, camera_id: str, source: str, stop: threading.Event) -> None:
        log.info("event=camera_watched camera=%s source=%r fps=%g", camera_id, source,
                 self._source_fps)
        for at, frame in live_frames(source, self._source_fps, stop):
            metrics.RECEIVED.inc()
            self._enqueue((camera_id, at, frame))

    def analyse(self, camera_id: str, at: datetime, frame: Image) -> list[FindingEvent]:
        """One frame of a known camera, taken at `at`: run it through that camera's
        pipeline and publish what it concludes."""
        camera = self._cameras[camera_id]
        pipeline = self._pipelines.get(camera_id)
        if pipeline is None:
            detector = self._make_detector() if self._make_detector else None
            pipeline = self._pipelines[camera_id] = CameraPipeline(camera, ASSUMED_FPS,
                                                                   detector=detector)
        before = StageCounts(**vars(pipeline.counts))
        events = pipeline.step(at, frame)
        self.frames += 1
        metrics.FRAMES.inc()
        metrics.LAG.observe((datetime.now(UTC) - at).total_seconds())
        for stage in ("static", "yolo"):
            ran = getattr(pipeline.counts, f"{stage}_runs") - getattr(before, f"{stage}_runs")
            if ran:
                metrics.STAGE_RUNS.labels(stage).inc(ran)
        for event in events:
            self._publish(camera_id, event, frame, pipeline.people)
        return events

    def _publish(self, camera_id: str, event: FindingEvent, frame: np.ndarray[Any, Any],
                 people: list[tuple[float, float, float, float]]) -> None:
        camera = self._cameras[camera_id]
        zone = next(z for z in camera.zones if z.id == event.zone_id)
        jpeg = evidence_jpeg(frame, event.box, zone.polygon,
                             event.at.astimezone(self._estate.site.tz),
                             f"{event.rule.value} {event.phase.value} {event.label}",
                             people=people)
        crop: dict[str, Any] = {}
        if event.phase is Phase.START:
            crop_jpeg, crop_box = training_crop(frame, event.box, people=people)
            crop = {"crop_jpeg_b64": base64.b64encode(crop_jpeg).decode(), "crop_box": crop_box}
        finding = event.to_message(camera_id, base64.b64encode(jpeg).decode(), **crop)
        body = encode(message_id=f"vision-{uuid.uuid4().hex}", device_id=camera_id,
                      sent_at=datetime.now(UTC), seq=self.findings, payload=finding)
        self._client.publish(topic(self._estate.site.id, camera_id, Kind.FINDING), body,
                             qos=1)
        self.findings += 1
        metrics.FINDINGS.labels(event.phase.value).inc()
        log.info("event=finding phase=%s rule=%s camera=%s zone=%s id=%s", event.phase,
                 event.rule, camera_id, event.zone_id, event.finding_id)
