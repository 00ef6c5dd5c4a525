"""The stack under load, as production runs it on one box: a private Mosquitto and the
three services as processes (`sunlight ingest`, `sunlight vision`, `sunlight board`) on
a scratch database; started, checked for readiness, stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil  # type: ignore[import-untyped]  # (no stubs installed)
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bench.load_probe import scrape, timed_get, value
from services.contract import Kind, Status, encode, topic
from services.stack import RunningBroker, start_broker
from services.stack.ports import ephemeral_port

ROOT = Path(__file__).parents[1]
PROBE_CAMERA = "load-probe"  # not in the estate: vision counts its frames, then ignores them


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM (each service drains and exits), SIGKILL after 20 s."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Stack:
    db_url: str
    site: str
    broker: RunningBroker
    broker_pid: int
    services: dict[str, Service]
    ports: dict[str, int]
    vision_probes: float = 0.0  # probe frames vision counted as received while starting

    def metrics_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}/metrics"

    @property
    def board_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['board']}"

    def dead(self) -> list[str]:
        """What stopped by itself: each service with the end of its log."""
        found = [f"{s.name} exited ({s.proc.returncode}):\n{s.tail()}"
                 for s in self.services.values() if not s.alive()]
        if not psutil.pid_exists(self.broker_pid):
            found.append("mosquitto exited")
        return found

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()
        self.broker.stop()


def _start(name: str, args: list[str], env: dict[str, str], workdir: Path) -> Service:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.cli", *args], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    return Service(name, proc, log)


def start_stack(db_url: str, estate_path: Path, site: str, probe_device: str,
                workdir: Path) -> Stack:
    broker = start_broker(workdir / "broker", kind="mosquitto", stop_at_exit=True)
    pid_file = workdir / "broker" / "mosquitto" / "mosquitto.pid"
    ports = {name: ephemeral_port() for name in ("ingest", "vision", "board")}
    env = os.environ | {"DATABASE_URL": db_url, "MQTT_URL": broker.url,
                        "SUNLIGHT_CONFIG": str(estate_path),
                        "SUNLIGHT_DATA_DIR": str(workdir / "data"),
                        "SUNLIGHT_LOG_LEVEL": "INFO"}
    services = {
        "ingest": _start("ingest", ["ingest", "--client-id", "load-ingest",
                                    "--metrics-port", str(ports["ingest"])], env, workdir),
        "vision": _start("vision", ["vision", "--client-id", "load-vision",
                                    "--metrics-port", str(ports["vision"])], env, workdir),
        "board": _start("board", ["board", "--port", str(ports["board"])], env, workdir),
    }
    stack = Stack(db_url, site, broker, int(pid_file.read_text().split()[0]), services, ports)
    try:
        _wait_ready(stack, probe_device)
    except BaseException:
        stack.stop()
        raise
    return stack


def _wait_ready(stack: Stack, probe_device: str) -> None:
    """Until the board answers, ingest stores a status message and vision receives frames:
    from then on nothing the devices publish can miss a subscription."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2,
                         client_id=f"load-probe-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    client.connect(stack.broker.host, stack.broker.port)
    client.loop_start()
    status = encode(message_id=f"load-probe-{uuid.uuid4().hex[:8]}", device_id=probe_device,
                    sent_at=datetime.now(UTC), seq=0, payload=Status(state="online"))
    frame_topic = topic(stack.site, PROBE_CAMERA, Kind.FRAME)

    def ingest_ready() -> bool:
        client.publish(topic(stack.site, probe_device, Kind.STATUS), status, qos=1)
        with psycopg.connect(stack.db_url) as conn:
            return conn.execute("SELECT 1 FROM device_status WHERE device_id = %s",
                                (probe_device,)).fetchone() is not None

    def vision_ready() -> bool:
        client.publish(frame_topic, b"probe", qos=0)
        stack.vision_probes = value(scrape(stack.metrics_url("vision")),
                                    "sunlight_vision_frames_received_total")
        return stack.vision_probes > 0

    try:
        _wait(stack, "board", lambda: timed_get(f"{stack.board_url}/api/health") is not None)
        _wait(stack, "ingest", ingest_ready)
        _wait(stack, "vision", vision_ready)
        time.sleep(0.5)  # a probe frame still in flight would be counted after this
        stack.vision_probes = value(scrape(stack.metrics_url("vision")),
                                    "sunlight_vision_frames_received_total")
    finally:
        client.disconnect()
        client.loop_stop()


def _wait(stack: Stack, what: str, ready: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = stack.dead()
        if dead:
            raise RuntimeError("while starting: " + "\n".join(dead))
        try:
            if ready():
                return
        except (OSError, psycopg.OperationalError):
            pass  # not listening yet, or its tables not made yet
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready after {timeout:.0f} s")
