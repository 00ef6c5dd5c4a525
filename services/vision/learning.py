"""Learning from staff: decided findings → a YOLO dataset → a fine-tuned model.

Every camera finding keeps a crop of its object (ingest stores it with the ticket).
When staff confirm the ticket, the crop is a positive example: its object is labelled
with the rule's class (`litter` or `obstruction`). When they reject it as a false
alarm, the crop is a negative example: an image with no label, which teaches the model
that this is nothing. Train and validation parts are split by a hash of the finding, so
an example stays on its side from one export to the next.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.store.examples import Decided

CLASSES: tuple[str, ...] = ("litter", "obstruction")
CLASS_OF_RULE = {"litter": 0, "blocked_fire_exit": 1}


@dataclass(frozen=True)
class DatasetSummary:
    data_yaml: Path
    positives: int
    negatives: int
    train: int
    val: int
    missing: int  # examples whose crop file is gone (data directory pruned)


def _part(finding_key: str, val_share: float) -> str:
    digest = hashlib.sha256(finding_key.encode()).digest()
    return "val" if int.from_bytes(digest[:4], "big") / 2**32 < val_share else "train"


def _stem(finding_key: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in finding_key)


def write_dataset(decided: Sequence[Decided], data_dir: Path, out: Path,
                  val_share: float = 0.2) -> DatasetSummary:
    """Write `out/images/{train,val}`, `out/labels/{train,val}`, `out/manifest.csv` (who
    decided what, and why) and `out/data.yaml`."""
    for part in ("train", "val"):
        for kind in ("images", "labels"):
            (out / kind / part).mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "val": 0, "positives": 0, "negatives": 0, "missing": 0}
    with (out / "manifest.csv").open("w", newline="", encoding="utf-8") as manifest:
        writer = csv.writer(manifest)
        writer.writerow(["image", "finding_key", "camera_id", "rule", "verdict", "reason",
                         "decided_at"])
        for d in decided:
            e = d.example
            source = data_dir / e.crop_path
            if not source.is_file():
                counts["missing"] += 1
                continue
            part = _part(e.finding_key, val_share)
            stem = _stem(e.finding_key)
            image = out / "images" / part / f"{stem}.jpg"
            shutil.copyfile(source, image)
            label = ""
            if d.confirmed:
                x1, y1, x2, y2 = e.box
                label = (f"{CLASS_OF_RULE[e.rule]} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} "
                         f"{x2 - x1:.6f} {y2 - y1:.6f}\n")
            (out / "labels" / part / f"{stem}.txt").write_text(label)
            counts[part] += 1
            counts["positives" if d.confirmed else "negatives"] += 1
            writer.writerow([image.relative_to(out).as_posix(), e.finding_key, e.camera_id,
                             e.rule, "confirmed" if d.confirmed else "rejected", d.reason,
                             d.decided_at.isoformat()])
    # Ultralytics needs a validation set: with too few examples, validate on training
    val = "images/val" if counts["val"] else "images/train"
    names = "".join(f"  {i}: {name}\n" for i, name in enumerate(CLASSES))
    data_yaml = out / "data.yaml"
    data_yaml.write_text(f"path: {out.resolve()}\ntrain: images/train\nval: {val}\n"
                         f"names:\n{names}")
    return DatasetSummary(data_yaml, counts["positives"], counts["negatives"],
                          counts["train"], counts["val"], counts["missing"])


@dataclass(frozen=True)
class TrainedModel:
    weights: Path  # PyTorch, for further fine-tuning
    onnx: Path  # for the vision service on ONNX Runtime


EpochDone = Callable[[int, int], None]  # (epochs done, epochs in all)


def train(data_yaml: Path, out: Path, *, base: str = "yolo11n.yaml", epochs: int = 30,
          imgsz: int = 320, batch: int = 8, on_epoch: EpochDone | None = None) -> TrainedModel:
    """Fine-tune `base` (a `.pt` model to start from, or a model YAML to train from
    scratch) on the dataset, on the CPU, and export the result to ONNX."""
    os.environ.setdefault("YOLO_OFFLINE", "1")  # never reach for the network
    from ultralytics import YOLO  # type: ignore[attr-defined]

    model: Any = YOLO(base, task="detect")
    if on_epoch is not None:
        model.add_callback("on_train_epoch_end",
                           lambda trainer: on_epoch(int(trainer.epoch) + 1, int(trainer.epochs)))
    # plots=False: plotting fetches a font from the internet
    model.train(data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, workers=0,
                device="cpu", plots=False, project=str(out.resolve()), name="train",
                exist_ok=True, verbose=False, amp=False)
    weights = out / "train" / "weights" / "best.pt"
    if not weights.exists():
        weights = out / "train" / "weights" / "last.pt"
    onnx = Path(YOLO(str(weights), task="detect").export(format="onnx", imgsz=imgsz))
    return TrainedModel(weights, onnx)
