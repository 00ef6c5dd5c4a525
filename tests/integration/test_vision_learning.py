"""Learning from staff: crops kept by ingest → staff verdicts → a YOLO dataset → a model.

Findings travel as in production (vision's crop on the `start` message, ingest storing
it with the camera ticket); staff confirm one ticket and reject another; the commands
`sunlight vision export-dataset` and `sunlight vision train` then run against the real
database, and the trained model loads on ONNX Runtime.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import pytest
from psycopg_pool import ConnectionPool
from typer.testing import CliRunner

from edge.scenes import Scene
from services.cli import app
from services.config import load_config
from services.contract import Finding, Kind, Phase, Rule, encode, topic
from services.ingest.processor import Processor
from services.ingest.sorting import Incoming
from services.store.examples import decided_examples
from services.store.tickets import TicketStore
from services.tickets import Action, Actor, Command, Role
from services.vision.evidence import training_crop
from services.vision.learning import CLASSES
from services.vision.yolo import YoloDetector
from tests.support.mqtt import SITE

ESTATE = load_config("deploy/estate.example.yaml")
STAFF = Actor("S007", Role.STAFF, "王工")


def _finding(rule: Rule, zone: str, box: tuple[float, float, float, float], n: int,
             started: datetime) -> tuple[str, Incoming]:
    frame = Scene("corridor", 60.0, 2.0, seed=1).frame(10)
    crop, crop_box = training_crop(frame, box)
    _, evidence = cv2.imencode(".jpg", frame)
    finding_id = f"cam-b3-stairwell.{zone}.{int(started.timestamp() * 1000)}.{n}"
    payload = Finding(finding_id=finding_id, camera_id="cam-b3-stairwell", rule=rule,
                      zone=zone, phase=Phase.START, started_at=started, box=box, label="object",
                      score=1.0, evidence_jpeg_b64=base64.b64encode(evidence.tobytes()).decode(),
                      crop_jpeg_b64=base64.b64encode(crop).decode(), crop_box=crop_box)
    body = encode(message_id=f"m-{finding_id}", device_id="cam-b3-stairwell",
                  sent_at=started + timedelta(seconds=130), seq=n, payload=payload)
    return finding_id, Incoming(topic(SITE, "cam-b3-stairwell", Kind.FINDING), body,
                                datetime.now(UTC))


@pytest.mark.integration
def test_staff_verdicts_become_a_dataset_and_a_model(pool: ConnectionPool, tmp_path: Path,
                                                     database_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "data"
    started = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    exit_zone = next(z.id for z in ESTATE.camera("cam-b3-stairwell").zones
                     if z.kind == "fire_exit")
    made = [_finding(Rule.BLOCKED_FIRE_EXIT, exit_zone, (0.45, 0.55, 0.55, 0.80), n, started)
            for n in range(3)]
    processor = Processor(pool, ESTATE, data_dir)
    processor.process([incoming for _, incoming in made] + [made[0][1]])  # a redelivery
    store = TicketStore(pool)
    tickets = [store.by_finding(f"camera/{fid}") for fid, _ in made]
    assert all(t is not None and t.id for t in tickets)
    now = datetime.now(UTC)
    confirmed, rejected, undecided = (t.id for t in tickets if t and t.id)
    store.change(confirmed, Command(Action.CONFIRM, STAFF, now, note="纸箱堵住安全出口"))
    store.change(rejected, Command(Action.REJECT, STAFF, now, reason="false alarm: a shadow"))

    with pool.connection() as conn:
        decided = [d for d in decided_examples(conn)
                   if d.example.finding_key in {f"camera/{fid}" for fid, _ in made}]
    assert sorted((d.confirmed, d.reason) for d in decided) == [
        (False, "false alarm: a shadow"), (True, "纸箱堵住安全出口")]
    assert all((data_dir / d.example.crop_path).is_file() for d in decided)

    monkeypatch.setenv("DATABASE_URL", database_url)
    out = tmp_path / "dataset"
    result = CliRunner().invoke(app, ["vision", "export-dataset", str(out),
                                      "--data-dir", str(data_dir), "--val-share", "0"])
    assert result.exit_code == 0, result.output
    labels = {p.stem: p.read_text() for p in out.glob("labels/train/*.txt")}
    mine = {stem: text for stem, text in labels.items()
            if any(fid in stem for fid, _ in made)}
    assert len(mine) == 2  # the undecided finding is not an example yet
    label_of = {fid: next(t for stem, t in mine.items() if stem.endswith(fid))
                for fid, _ in made[:2]}
    assert label_of[made[0][0]].startswith(f"{CLASSES.index('obstruction')} ")  # confirmed
    assert label_of[made[1][0]] == ""  # rejected: a negative example, no label
    manifest = (out / "manifest.csv").read_text(encoding="utf-8")
    assert "rejected,false alarm: a shadow" in manifest and made[2][0] not in manifest
    assert store.get(undecided).state == "pending_confirmation"

    result = CliRunner().invoke(app, ["vision", "train", str(out / "data.yaml"), "--out",
                                      str(tmp_path / "models"), "--epochs", "1",
                                      "--imgsz", "64"])
    assert result.exit_code == 0, result.output
    assert "epoch 1/1" in result.output
    onnx = next((tmp_path / "models").rglob("*.onnx"))
    detector = YoloDetector(onnx, imgsz=64)
    assert detector.names == dict(enumerate(CLASSES)) and detector.runtime == "onnxruntime"
