"""`sunlight vision`: the vision service, replays, the dataset and training."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import psycopg
import typer

from services import logs
from services.cli.common import (
    ConfigOption,
    DataDirOption,
    MetricsHostOption,
    console,
    database,
    load_estate,
    read_settings,
    require,
    serve_metrics,
)
from services.config import EstateConfig, Settings
from services.runtime import stop_event

if TYPE_CHECKING:
    from services.vision.service import VisionService


vision_app = typer.Typer(help="Blocked fire exits and litter from camera frames.")


ModelOption = Annotated[
    Path | None, typer.Option("--model", help="A YOLO model: .pt, .onnx or an OpenVINO folder "
                              "(default: $SUNLIGHT_VISION_MODEL; none: OpenCV alone).")
]
ImgszOption = Annotated[
    int | None, typer.Option("--imgsz", help="YOLO input size (default $SUNLIGHT_VISION_IMGSZ).")
]


def build_vision(settings: Settings, estate: EstateConfig, mqtt_url: str,
                 client_id: str, sources: dict[str, str] | None = None,
                 source_fps: float = 2.0, cameras: list[str] | None = None) \
        -> VisionService:
    from services.vision.service import VisionService
    from services.vision.yolo import ModelError

    try:
        return VisionService(estate, mqtt_url, client_id, model=settings.vision_model,
                             imgsz=settings.vision_imgsz, sources=sources,
                             source_fps=source_fps, cameras=cameras)
    except (ModelError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None


def _sources(pairs: list[str]) -> dict[str, str]:
    sources = {}
    for pair in pairs:
        camera, sep, url = pair.partition("=")
        if not sep or not camera or not url:
            console.print(f"[red]--source wants CAMERA_ID=URL, got {pair!r}[/red]")
            raise typer.Exit(2)
        sources[camera] = url
    return sources


def _with_model(settings: Settings, model: Path | None, imgsz: int | None) -> Settings:
    updates: dict[str, object] = {}
    if model is not None:
        updates["vision_model"] = model
    if imgsz is not None:
        updates["vision_imgsz"] = imgsz
    return settings.model_copy(update=updates)


@vision_app.callback(invoke_without_command=True)
def vision(
    ctx: typer.Context,
    config: ConfigOption = None,
    model: ModelOption = None,
    imgsz: ImgszOption = None,
    source: Annotated[list[str] | None, typer.Option(
        help="CAMERA_ID=URL: watch a camera directly (RTSP/HTTP URL, device number or "
             "video file) instead of its MQTT frames; repeatable.")] = None,
    source_fps: Annotated[float, typer.Option(help="Frames a second taken from --source.")]
    = 2.0,
    metrics_port: Annotated[int, typer.Option(
        help="Serve /metrics here, with the detector in use (0: off).")] = 9102,
    metrics_host: MetricsHostOption = None,
    cameras: Annotated[str | None, typer.Option(
        help="ID[,ID…]: watch only these cameras (one shard of the estate; default: all)."
             " Give each shard its own --client-id.")] = None,
    client_id: Annotated[str, typer.Option(help="MQTT client id, unique per worker.")] =
    "sunlight-vision",
) -> None:
    """Without a subcommand: the vision service, camera frames → findings over MQTT
    (needs MQTT_URL); frames come from the MQTT frame topic, or directly with --source."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _with_model(read_settings(config), model, imgsz)
    estate = load_estate(settings.config_path)
    mqtt_url = require(settings.mqtt_url, "MQTT_URL")
    shard = None if cameras is None else [c.strip() for c in cameras.split(",") if c.strip()]
    service = build_vision(settings, estate, mqtt_url, client_id,
                              _sources(source or []), source_fps, shard)
    serve_metrics(metrics_port, metrics_host or settings.metrics_host)
    service.run(stop_event())


@vision_app.command("replay")
def vision_replay(
    video: Annotated[Path, typer.Argument(help="A video file.")],
    camera: Annotated[str, typer.Option(help="The camera id in the estate config.")],
    config: ConfigOption = None,
    jsonl: Annotated[bool, typer.Option(help="One JSON line per finding start and end.")] =
    True,
    fps: Annotated[float, typer.Option(help="Frames analysed per second of video.")] = 2.0,
    model: ModelOption = None,
    imgsz: ImgszOption = None,
) -> None:
    """Run the pipeline on a video as fast as it can, timed by the video itself."""
    import json
    from datetime import UTC, datetime

    from services.contract import Phase
    from services.vision.pipeline import replay
    from services.vision.video import video_frames
    from services.vision.yolo import ModelError, YoloDetector

    settings = _with_model(read_settings(config), model, imgsz)
    estate = load_estate(settings.config_path)
    try:
        cam = estate.camera(camera)
    except KeyError:
        console.print(f"[red]no camera {camera!r} in {settings.config_path}[/red]")
        raise typer.Exit(2) from None
    detector = None
    if settings.vision_model is not None:
        try:
            detector = YoloDetector(settings.vision_model, imgsz=settings.vision_imgsz)
        except ModelError as exc:
            console.print(f"[red]{exc}[/red]", highlight=False)
            raise typer.Exit(2) from None
    rate, frames = video_frames(video, fps)
    start = datetime(2000, 1, 1, tzinfo=UTC)  # any origin: the output is video seconds
    for seconds, event in replay(cam, frames, rate, start, detector):
        if event.phase is Phase.UPDATE:
            continue
        record = {"phase": event.phase.value, "rule": event.rule.value, "zone": event.zone_id,
                  "video_s": round(seconds, 3),
                  "started_s": round((event.started_at - start).total_seconds(), 3),
                  "finding_id": event.finding_id, "box": [round(v, 4) for v in event.box]}
        if jsonl:
            print(json.dumps(record), flush=True)
        else:
            console.print(record)


@vision_app.command("export-dataset")
def vision_export_dataset(
    out: Annotated[Path, typer.Argument(help="The dataset folder to write.")],
    data_dir: DataDirOption = None,
    val_share: Annotated[float, typer.Option(min=0.0, max=1.0,
                                             help="Share kept for validation.")] = 0.2,
) -> None:
    """Write the findings staff confirmed or rejected as a YOLO dataset (crops + labels)."""
    from services.store.examples import decided_examples
    from services.vision.learning import CLASSES, write_dataset

    settings = read_settings(data_dir=data_dir)
    with database(settings) as url, psycopg.connect(url) as conn:
        decided = decided_examples(conn)
    summary = write_dataset(decided, settings.data_dir, out, val_share)
    console.print(f"{summary.positives} confirmed and {summary.negatives} rejected findings"
                  f" → {summary.train} training and {summary.val} validation images"
                  f" (classes: {', '.join(CLASSES)})")
    if summary.missing:
        console.print(f"[yellow]{summary.missing} crops missing from {settings.data_dir}"
                      " were left out[/yellow]")
    console.print(f"dataset: {summary.data_yaml}")
    if summary.positives + summary.negatives == 0:
        console.print("[yellow]no decided findings yet: confirm or reject camera tickets"
                      " on the board first[/yellow]")
        raise typer.Exit(1)


@vision_app.command("train")
def vision_train(
    data: Annotated[Path, typer.Argument(help="data.yaml written by export-dataset.")],
    out: Annotated[Path, typer.Option(help="Where the run and the model go.")] =
    Path("models"),
    base: Annotated[str, typer.Option(help="Model to fine-tune (.pt), or a model YAML to "
                                           "train from scratch.")] = "yolo11n.yaml",
    epochs: Annotated[int, typer.Option(min=1)] = 30,
    imgsz: Annotated[int, typer.Option(min=32)] = 320,
) -> None:
    """Fine-tune a YOLO model on an exported dataset (CPU), then export it to ONNX."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from services.vision.learning import train

    logs.configure("INFO")
    with Progress(TextColumn("training"), BarColumn(), TextColumn("epoch {task.completed}"
                  "/{task.total}"), TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("train", total=epochs)
        model = train(data, out, base=base, epochs=epochs, imgsz=imgsz,
                      on_epoch=lambda done, total: progress.update(task, completed=done,
                                                                   total=total))
    console.print(f"weights: {model.weights}\nONNX:    {model.onnx}\n"
                  f"use it:  SUNLIGHT_VISION_MODEL={model.onnx} SUNLIGHT_VISION_IMGSZ={imgsz}"
                  " sunlight vision")
