"""The `sunlight` command: run the stack, manage the database, check configuration."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from services import logs
from services.board.cli import board_app
from services.config import ConfigError, EstateConfig, Settings, load_config
from services.contract import ROOT
from services.devices.cli import devices_app
from services.runtime import Stopped, stop_event, when_database_answers
from services.store import migrate

app = typer.Typer(help="Sunlight (阳光曝光台): estate monitoring, tickets and the weekly bulletin.",
                  no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(devices_app, name="devices", help="Per-device MQTT credentials and ACLs.")
app.add_typer(board_app, name="board")
vision_app = typer.Typer(help="Blocked fire exits and litter from camera frames.")
app.add_typer(vision_app, name="vision")
bulletin_app = typer.Typer(help="The weekly exposure bulletin: draft, publish, redact, show,"
                                " verify.",
                           no_args_is_help=True)
app.add_typer(bulletin_app, name="bulletin")
accounts_app = typer.Typer(help="Board accounts and the estate each belongs to.",
                           no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")

if TYPE_CHECKING:
    from datetime import datetime
    from wsgiref.simple_server import WSGIServer

    from psycopg_pool import ConnectionPool

    from edge.agent import Agent
    from services.ingest.service import IngestService
    from services.vision.service import VisionService

console = Console()
log = logging.getLogger("sunlight")
UP_METRICS_PORT = 9101

ConfigOption = Annotated[
    Path | None, typer.Option("--config", "-c", help="Estate YAML (default: $SUNLIGHT_CONFIG).")
]
DataDirOption = Annotated[
    Path | None, typer.Option("--data-dir", help="Where embedded data lives (default .sunlight).")
]


def _settings(config: Path | None = None, data_dir: Path | None = None) -> Settings:
    settings = Settings()
    updates: dict[str, Path] = {}
    if config is not None:
        updates["config_path"] = config
    if data_dir is not None:
        updates["data_dir"] = data_dir
    settings = settings.model_copy(update=updates)
    logs.configure(settings.log_level)
    return settings


def _load_estate_or_exit(path: Path) -> EstateConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when set, else an embedded PostgreSQL under the data directory."""
    if settings.database_url:
        yield settings.database_url
        return
    from services.stack import start_database

    running = start_database(settings.data_dir)
    try:
        yield running.url
    finally:
        running.stop()


@app.command("check-config")
def check_config(file: Path) -> None:
    """Validate an estate YAML file; errors name the file and line."""
    estate = _load_estate_or_exit(file)
    console.print(
        f"[green]ok[/green] {file}: site {estate.site.id} ({estate.site.name}),"
        f" {len(estate.buildings)} buildings, {len(estate.departments)} departments,"
        f" {len(estate.categories)} categories, {len(estate.devices)} devices,"
        f" {len(estate.cameras)} cameras, {len(estate.sensor_rules)} sensor rules",
        highlight=False,
    )


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDirOption = None) -> None:
    """Apply every migration not yet applied (DATABASE_URL, or the embedded database)."""
    settings = _settings(data_dir=data_dir)
    with _database(settings) as url:
        applied, caps = migrate.upgrade(url)
    for m in applied:
        console.print(f"applied {m.version:04d}_{m.name}")
    flavour = f"TimescaleDB {caps.version}" if caps.timescale else "plain PostgreSQL"
    console.print(f"schema up to date ({len(applied)} applied) on {flavour}")


@db_app.command("status")
def db_status(data_dir: DataDirOption = None) -> None:
    """List migrations, applied or pending."""
    settings = _settings(data_dir=data_dir)
    with _database(settings) as url, psycopg.connect(url) as conn:
        done = migrate.applied_versions(conn)
    table = Table("version", "name", "state")
    for m in migrate.available():
        table.add_row(f"{m.version:04d}", m.name, "applied" if m.version in done else "pending")
    console.print(table)


def _require(value: str | None, name: str) -> str:
    if not value:
        console.print(f"[red]{name} is not set[/red] (or run everything with `sunlight up`)")
        raise typer.Exit(2)
    return value


MetricsHostOption = Annotated[str | None, typer.Option(
    "--metrics-host", help="Address /metrics listens on (default: $SUNLIGHT_METRICS_HOST, else"
                           " 127.0.0.1; 0.0.0.0 opens it to the network, e.g. in a pod).")]


def _serve_metrics(port: int, host: str) -> WSGIServer | None:
    """/metrics on host:port in a daemon thread (port 0: none); the server, to stop it."""
    if not port:
        return None
    from prometheus_client import start_http_server

    server, _ = start_http_server(port, addr=host)
    log.info("event=metrics_listening url=http://%s:%d/metrics", host, port)
    return server


def _ingest_service(settings: Settings, estate: EstateConfig, db_url: str, mqtt_url: str,
                    client_id: str, *, share_group: str | None = None) \
        -> tuple[IngestService, ConnectionPool]:
    from services.ingest.processor import Processor
    from services.ingest.service import IngestOptions, IngestService
    from services.store import open_pool

    pool = open_pool(db_url, max_size=4, name="sunlight-ingest")
    processor = Processor(pool, estate, settings.data_dir,
                          dead_letter_bytes_per_hour=settings.dead_letter_bytes_per_hour)
    options = IngestOptions(client_id=client_id, group=share_group or None)
    return IngestService(processor, mqtt_url, options), pool


@app.command()
def ingest(
    config: ConfigOption = None,
    client_id: Annotated[str, typer.Option(help="Stable id: the broker keeps its session.")] =
    "sunlight-ingest-1",
    metrics_port: Annotated[int, typer.Option(help="Port for /metrics (0: none).")] = 9101,
    metrics_host: MetricsHostOption = None,
    share_group: Annotated[str, typer.Option(
        help="Split the load with other instances through $share/GROUP/… (MQTT 5). Off by"
             " default: Mosquitto 2.0 forgets shared subscriptions when it restarts.")] = "",
) -> None:
    """MQTT → PostgreSQL: readings, events, dead letters, sensor rules and findings → tickets."""
    settings = _settings(config)
    estate = _load_estate_or_exit(settings.config_path)
    db_url = _require(settings.database_url, "DATABASE_URL")
    mqtt_url = _require(settings.mqtt_url, "MQTT_URL")
    stop = stop_event()
    try:  # started before its database (a reboot, a compose file): wait for it
        when_database_answers("migrate", lambda: migrate.upgrade(db_url), stop=stop)
        service, pool = when_database_answers("connect", lambda: _ingest_service(
            settings, estate, db_url, mqtt_url, client_id, share_group=share_group), stop=stop)
    except Stopped:
        return
    _serve_metrics(metrics_port, metrics_host or settings.metrics_host)
    try:
        service.run(stop)
    finally:
        pool.close()


@app.command()
def jobs(config: ConfigOption = None) -> None:
    """The background jobs alone: SLA timers, notifications, the weekly bulletin (the board
    runs them too unless SUNLIGHT_BOARD_SCHEDULER=false)."""
    from services.jobs.service import run

    settings = _settings(config)
    estate = _load_estate_or_exit(settings.config_path)
    db_url = _require(settings.database_url, "DATABASE_URL")
    run(settings, estate, db_url, stop_event())


@app.command()
def edge(config: Annotated[Path, typer.Argument(help="The gateway's YAML.")]) -> None:
    """The edge agent: sensors and cameras of one gateway → MQTT, with store-and-forward."""
    from edge.agent import Agent
    from edge.config import EdgeConfig
    from services.config import load_model

    settings = _settings()
    try:
        edge_config = load_model(EdgeConfig, config)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    stop = stop_event()
    Agent(edge_config, base_dir=config.parent).run(stop)
    log.info("event=edge_stopped data_dir=%s", settings.data_dir)


def _start_thread(stack: contextlib.ExitStack, name: str, target: Callable[[], None]) -> None:
    """A service thread that the stack joins on the way out (after `stop` is set)."""
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    stack.callback(thread.join, 15)


def _demo_agent(estate: EstateConfig, settings: Settings, mqtt_url: str) -> Agent:
    from edge.agent import Agent
    from edge.config import EdgeConfig
    from services.stack.demo import demo_edge_config

    config = EdgeConfig.model_validate(demo_edge_config(estate, settings.data_dir, mqtt_url))
    return Agent(config)


ModelOption = Annotated[
    Path | None, typer.Option("--model", help="A YOLO model: .pt, .onnx or an OpenVINO folder "
                              "(default: $SUNLIGHT_VISION_MODEL; none: OpenCV alone).")
]
ImgszOption = Annotated[
    int | None, typer.Option("--imgsz", help="YOLO input size (default $SUNLIGHT_VISION_IMGSZ).")
]


def _vision_service(settings: Settings, estate: EstateConfig, mqtt_url: str,
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
    settings = _with_model(_settings(config), model, imgsz)
    estate = _load_estate_or_exit(settings.config_path)
    mqtt_url = _require(settings.mqtt_url, "MQTT_URL")
    shard = None if cameras is None else [c.strip() for c in cameras.split(",") if c.strip()]
    service = _vision_service(settings, estate, mqtt_url, client_id,
                              _sources(source or []), source_fps, shard)
    _serve_metrics(metrics_port, metrics_host or settings.metrics_host)
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

    settings = _with_model(_settings(config), model, imgsz)
    estate = _load_estate_or_exit(settings.config_path)
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

    settings = _settings(data_dir=data_dir)
    with _database(settings) as url, psycopg.connect(url) as conn:
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


WeekArgument = Annotated[str | None, typer.Argument(
    help="ISO week like 2026-W48 (default: the latest week due for publication).")]


@contextlib.contextmanager
def _bulletin_pool(settings: Settings) -> Iterator[ConnectionPool]:
    from services.store.db import open_pool

    with _database(settings) as url:
        migrate.upgrade(url)
        pool = open_pool(url, max_size=2, name="sunlight-bulletin")
        try:
            yield pool
        finally:
            pool.close()


def _week_or_due(estate: EstateConfig, week: str | None) -> str:
    from datetime import UTC, datetime

    from services.bulletin.publish import last_due_week
    from services.tickets.bulletin import parse_week

    if week is None:
        return last_due_week(estate, datetime.now(UTC))
    try:
        parse_week(week)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    return week


@bulletin_app.command("publish")
def bulletin_publish(
    week: WeekArgument = None,
    correct: Annotated[str | None, typer.Option(
        help="Publish a correction (the next revision) with this reason.")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Freeze a week into the hash chain (once: publishing it again changes nothing)."""
    from services.bulletin.publish import BulletinError, publish

    settings = _settings(config, data_dir)
    estate = _load_estate_or_exit(settings.config_path)
    week = _week_or_due(estate, week)
    with _bulletin_pool(settings) as pool:
        try:
            result = publish(pool, estate, week, correction=correct)
        except BulletinError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        if result.created:  # by hand: an operator's act, for the audit log
            revision = f"revision {result.document['revision']}"
            _audit_operator(pool, estate, "bulletin.correct" if correct else "bulletin.publish",
                            target=f"week:{week}",
                            summary=f"{revision}: {correct}" if correct else revision)
    doc = result.document
    verb = "published" if result.created else "already published"
    console.print(f"{week} {verb}: revision {doc['revision']}, publication {doc['n']},"
                  f" {doc['content']['summary']['listed']} tickets, hash {doc['hash']}")


@bulletin_app.command("draft")
def bulletin_draft(
    week: WeekArgument = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Make the week's draft for review on the board (the scheduler does this on its own;
    `publish` seals it)."""
    from services.bulletin.publish import BulletinError
    from services.bulletin.review import prepare

    settings = _settings(config, data_dir)
    estate = _load_estate_or_exit(settings.config_path)
    week = _week_or_due(estate, week)
    with _bulletin_pool(settings) as pool:
        try:
            draft = prepare(pool, estate, week)
        except BulletinError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    if draft is None:
        console.print(f"{week} is already published")
        return
    seal_by = draft.seal_by.astimezone(estate.site.tz).strftime("%Y-%m-%d %H:%M")
    console.print(f"{week}: draft of {len(draft.content['tickets'])} tickets,"
                  f" {len(draft.spans)} masked spans; review it at /manager/bulletin/{week};"
                  f" sealed at {seal_by} unless sealed sooner")


@bulletin_app.command("redact")
def bulletin_redact(
    week: Annotated[str, typer.Argument(help="ISO week like 2026-W48.")],
    field: Annotated[list[str], typer.Option(
        "--field", help="A text field to remove, like tickets/12/measures (repeatable).")],
    reason: Annotated[str, typer.Option(help="Why (published with the redaction).")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Remove fields' text from a published week by a correction: the chain still verifies
    and records the redaction (when, why, by whom)."""
    from datetime import UTC, datetime

    from services.board.audit import by_operator
    from services.bulletin.publish import BulletinError, redact

    settings = _settings(config, data_dir)
    estate = _load_estate_or_exit(settings.config_path)
    week = _week_or_due(estate, week)
    now = datetime.now(UTC)
    audit = by_operator(site=estate.site.id, at=now, action="bulletin.redact",
                        target=f"week:{week}", summary=f"{', '.join(field)}: {reason}")
    with _bulletin_pool(settings) as pool:
        try:
            result = redact(pool, estate, week, field, reason=reason, by="operator",
                            now=now, audit=audit)
        except BulletinError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    doc = result.document
    console.print(f"{week}: {', '.join(field)} redacted by revision {doc['revision']},"
                  f" publication {doc['n']}, hash {doc['hash']}")


@bulletin_app.command("show")
def bulletin_show(
    week: WeekArgument = None,
    output: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    language: Annotated[str, typer.Option("--lang", help="zh-CN or en")] = "zh-CN",
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Print a published week (its latest revision) as text or JSON."""
    import json

    from services.bulletin.text import LABELS, render_text
    from services.store import bulletin as store

    if output not in ("text", "json") or language not in LABELS:
        console.print("[red]--format is text or json; --lang is zh-CN or en[/red]")
        raise typer.Exit(2)
    settings = _settings(config, data_dir)
    estate = _load_estate_or_exit(settings.config_path)
    week = _week_or_due(estate, week)
    with _bulletin_pool(settings) as pool, pool.connection() as conn:
        revisions = store.published_week(conn, estate.site.id, week)
    if not revisions:
        console.print(f"[red]{week} is not published[/red] (sunlight bulletin publish {week})")
        raise typer.Exit(1)
    if output == "json":
        print(json.dumps(revisions[-1], ensure_ascii=False, indent=2))
    else:
        print(render_text(revisions[-1], language), end="")


@bulletin_app.command("export")
def bulletin_export(
    out: Annotated[Path, typer.Argument(help="Where to write the whole chain (JSON).")],
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write every publication of the site, in order: the copy anyone can verify alone."""
    import json

    from services.store import bulletin as store

    settings = _settings(config, data_dir)
    estate = _load_estate_or_exit(settings.config_path)
    with _bulletin_pool(settings) as pool, pool.connection() as conn:
        documents = store.chain(conn, estate.site.id)
    out.write_text(json.dumps(documents, ensure_ascii=False, indent=1), encoding="utf-8")
    latest = documents[-1]["hash"] if documents else "none"
    console.print(f"{len(documents)} publications → {out}; latest hash {latest}")


@bulletin_app.command("verify")
def bulletin_verify(
    week: Annotated[str, typer.Argument(help="ISO week like 2026-W48.")],
    file: Annotated[Path | None, typer.Option(
        "--file", help="A downloaded chain (from `export` or the web page): no database "
                       "needed.")] = None,
    anchor: Annotated[str | None, typer.Option(
        help="The latest hash as printed on the notice board.")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Check the hash chain up to the week, and that every ticket opened in it is listed."""
    import json

    from services.tickets.bulletin import parse_week, redactions, verify_chain, week_bounds

    try:
        parse_week(week)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if file is not None:
        try:
            documents = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            console.print(f"[red]cannot read {file}: {exc}[/red]")
            raise typer.Exit(2) from None
        problems = verify_chain(documents, week=week, anchor=anchor)
    else:
        from services.store import bulletin as store

        settings = _settings(config, data_dir)
        estate = _load_estate_or_exit(settings.config_path)
        start, end = week_bounds(week, estate.site.tz)
        with _bulletin_pool(settings) as pool, pool.connection() as conn:
            documents = store.chain(conn, estate.site.id)
            in_store = set(store.opened_numbers(conn, store.Week(estate.site.id, start, end)))
        problems = verify_chain(documents, week=week, anchor=anchor)
        listed = {n for d in documents if d["week"] == week
                  for n in d["content"]["opened_numbers"]}
        missing = sorted(in_store - listed)
        if missing:
            problems.append(f"{week}: tickets in the store but not in the bulletin: "
                            + ", ".join(f"#{n}" for n in missing))
    for r in redactions(documents):
        console.print(f"redacted: {r.week} {r.field} (withheld in publications"
                      f" {', '.join(map(str, r.withheld_in)) or 'none'}) by publication {r.n}"
                      f" at {r.at}, by {r.by}: {r.reason}", highlight=False, soft_wrap=True)
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/red] {problem}", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]✓[/green] {week}: the chain of {len(documents)} publications holds"
                  " and every ticket opened in the week is listed")


def _audit_operator(pool: ConnectionPool, estate: EstateConfig, action: str, *, target: str,
                    summary: str) -> None:
    from datetime import UTC, datetime

    from services.board.audit import by_operator
    from services.store.audit import record

    with pool.connection() as conn:
        record(conn, by_operator(site=estate.site.id, at=datetime.now(UTC), action=action,
                                 target=target, summary=summary))


def _local_time(estate: EstateConfig, text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time; without an offset, in the estate's time zone."""
    from datetime import datetime

    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        console.print(f"[red]{option} wants an ISO 8601 time like 2026-11-23T08:00, got"
                      f" {text!r}[/red]")
        raise typer.Exit(2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=estate.site.tz)


@app.command("audit")
def audit(
    action: Annotated[str | None, typer.Option(
        help="An action or a family: ticket, ticket.accept, login.failed, bulletin, …")] = None,
    person: Annotated[str | None, typer.Option(help="An account id (e.g. a staff number).")]
    = None,
    target: Annotated[str | None, typer.Option(help="e.g. ticket:42, week:2026-W48.")] = None,
    since: Annotated[str | None, typer.Option(
        help="From this time (ISO 8601; the estate's time zone unless given).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The estate's audit log, newest first: staff and manager changes, sign-ins (failed
    ones too), invitations, accounts, bulletins published or corrected by hand."""
    import json

    from services.store.audit import AuditFilter, entries

    settings = _settings(config, data_dir)
    estate = _load_estate_or_exit(settings.config_path)
    f = AuditFilter(action=action, person_id=person, target=target,
                    since=_local_time(estate, since, "--since"),
                    until=_local_time(estate, until, "--until"), limit=limit)
    with _database(settings) as url, psycopg.connect(url) as conn:
        rows = entries(conn, estate.site.id, f)
    if as_json:
        for row in rows:
            print(json.dumps({"id": row.id, "at": row.at.isoformat(), "role": row.role,
                              "person_id": row.person_id, "name": row.actor_name,
                              "action": row.action, "target": row.target,
                              "address": row.address, "summary": row.summary},
                             ensure_ascii=False))
        return
    table = Table(title=f"audit log of {estate.site.id}, newest first")
    for column in ("when", "who", "action", "target", "from", "summary"):
        table.add_column(column, overflow="fold")  # all of it, on a narrow terminal too
    for row in rows:
        who = f"{row.actor_name or row.person_id or '—'} ({row.role})"
        table.add_row(row.at.astimezone(estate.site.tz).strftime("%Y-%m-%d %H:%M:%S"), who,
                      row.action, row.target, row.address or "", row.summary)
    console.print(table)


@accounts_app.command("bind")
def accounts_bind(
    login: Annotated[str | None, typer.Option(
        help="Only this account (default: every account not bound to an estate).")] = None,
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Bind accounts from before estates were told apart to this config's estate: then
    another estate's board sharing the database no longer lets them in."""
    from datetime import UTC, datetime

    from services.board.audit import by_operator
    from services.store.accounts import bind_accounts
    from services.store.audit import record

    settings = _settings(config, data_dir)
    estate = _load_estate_or_exit(settings.config_path)
    site = estate.site.id
    with _database(settings) as url, psycopg.connect(url) as conn, conn.transaction():
        bound = bind_accounts(conn, site, login=login)
        for name in bound:
            record(conn, by_operator(site=site, at=datetime.now(UTC), action="account.bind",
                                     target=f"login:{name}", summary=f"bound to {site}"))
    if login and not bound:
        console.print(f"[red]no unbound account {login!r}[/red] (bound already, or unknown)")
        raise typer.Exit(1)
    console.print(f"{len(bound)} accounts bound to {site}" + (": " + ", ".join(bound)
                                                              if bound else ""))


@app.command()
def up(
    config: ConfigOption = None,
    data_dir: DataDirOption = None,
    simulate: Annotated[bool, typer.Option(help="Run the simulated estate's sensors and "
                                                 "cameras.")] = True,
    metrics_host: MetricsHostOption = None,
) -> None:
    """Run the whole stack on embedded defaults until Ctrl-C; a second run reuses the data."""
    settings = _settings(config, data_dir)
    estate = _load_estate_or_exit(settings.config_path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = stop_event()
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(_database(settings))
        mqtt_url, broker_kind = settings.mqtt_url, "external"
        if not mqtt_url:
            from services.stack import start_broker

            broker = start_broker(settings.data_dir)
            stack.callback(broker.stop)
            mqtt_url, broker_kind = broker.url, broker.kind
        applied, caps = migrate.upgrade(db_url)
        ingest_service, ingest_pool = _ingest_service(settings, estate, db_url,
                                                      mqtt_url, "sunlight-ingest-up")
        stack.callback(ingest_pool.close)
        _start_thread(stack, "ingest", lambda: ingest_service.run(stop))
        vision_service = _vision_service(settings, estate, mqtt_url, "sunlight-vision-up")
        _start_thread(stack, "vision", lambda: vision_service.run(stop))
        if simulate:
            agent = _demo_agent(estate, settings, mqtt_url)
            _start_thread(stack, "edge", lambda: agent.run(stop))
        metrics_at = metrics_host or settings.metrics_host
        _serve_metrics(UP_METRICS_PORT, metrics_at)
        bulletin_note = _publish_due_bulletin(estate, ingest_pool, seed=simulate)
        from services.stack.board import start_board

        board = start_board(settings, estate, db_url, scheduler=True, mqtt_url=mqtt_url)
        stack.callback(board.stop)
        table = Table("part", "where", title="Sunlight is up — Ctrl-C stops everything")
        table.add_row("estate config", str(settings.config_path))
        table.add_row("data directory", str(settings.data_dir.resolve()))
        flavour = "TimescaleDB" if caps.timescale else "PostgreSQL"
        table.add_row(f"database ({flavour})", _redact(db_url))
        table.add_row(f"MQTT broker ({broker_kind})", mqtt_url)
        table.add_row("migrations applied now", str(len(applied)))
        table.add_row("ingest", f"subscribed to {ROOT}/{estate.site.id}/+/…")
        detector = ("OpenCV static-object detector alone (no YOLO model configured:"
                    " SUNLIGHT_VISION_MODEL)" if settings.vision_model is None
                    else vision_service.detector)
        table.add_row("vision", f"{len(estate.cameras)} cameras, {detector}")
        table.add_row("metrics", f"http://{metrics_at}:{UP_METRICS_PORT}/metrics")
        table.add_row("weekly bulletin", bulletin_note)
        table.add_row("board", f"{board.url}  (web pages; API docs: {board.url}/docs)")
        table.add_row("first manager", "see the command below the table")
        if simulate:
            table.add_row("simulated estate", f"{len(estate.devices)} sensors,"
                          f" {len(estate.cameras)} synthetic cameras (--no-simulate: none)")
        console.print(table)
        # outside the table: a folded line would hide part of the URL
        console.print("create the first manager account (in another terminal):\n"
                      f"  DATABASE_URL={_redact(db_url)} .venv/bin/sunlight board create-user"
                      " --role manager --login admin --id PM-001", soft_wrap=True,
                      highlight=False)
        log.info("event=up database=%s broker=%s", _redact(db_url), mqtt_url)
        stop.wait()
        console.print("stopping…")
    console.print("stopped cleanly")


def _publish_due_bulletin(estate: EstateConfig, pool: ConnectionPool, *, seed: bool) -> str:
    """Publish the latest week due (once; with `seed`, a demo week is filled in first)."""
    from datetime import UTC, datetime

    from services.bulletin.publish import last_due_week, publish
    from services.stack.demo_history import seed_week

    now = datetime.now(UTC)
    week = last_due_week(estate, now)
    if seed:
        seed_week(pool, estate, week)
    document = publish(pool, estate, week, now=now).document
    listed = document["content"]["summary"]["listed"]
    return (f"{week}: {listed} tickets, hash {document['hash'][:16]}…"
            f"  (sunlight bulletin show {week})")


def _redact(url: str) -> str:
    """A URL fit for logs: the password, if any, replaced."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    with contextlib.suppress(psycopg.ProgrammingError):
        parts = conninfo_to_dict(url)
        if parts.get("password"):
            parts["password"] = "***"
            return make_conninfo("", **parts)
    return url


if __name__ == "__main__":
    app()
