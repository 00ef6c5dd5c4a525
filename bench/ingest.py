"""Ingest benchmark: messages per second stored, and publish-to-commit latency.

Run: .venv/bin/python -m bench.ingest [--messages 100000]

Everything goes through a real Mosquitto (a private one, with the shipped queue limits)
into the real PostgreSQL (DATABASE_URL's server, default 127.0.0.1:5432). In one run:
  1. the ceiling: how fast the broker delivers the burst to `mosquitto_sub`;
  2. one `sunlight ingest` process storing the same burst (published by `mosquitto_pub -l`);
  3. latency at a steady offered load (`sent_at` stamped as each line is handed to
     `mosquitto_pub -l`): `received_at` (written at insert, just before the commit)
     minus `sent_at`;
  4. a naive consumer that INSERTs one row per message, autocommit, on a smaller burst.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.conninfo import make_conninfo

from services.contract import Kind, Telemetry, decode, encode, topic
from services.stack import RunningBroker, start_broker
from services.store import upgrade

ROOT = Path(__file__).parents[1]
SITE = "yangguang-garden"
DEVICES = ["temp-pump-room", "temp-clubhouse", "aq-garage", "bin-garden"]
SERVER = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def messages(n: int, prefix: str) -> dict[str, list[bytes]]:
    now = datetime.now(UTC)
    per_device: dict[str, list[bytes]] = {d: [] for d in DEVICES}
    for i in range(n):
        device = DEVICES[i % len(DEVICES)]
        per_device[device].append(encode(
            message_id=f"{prefix}{i:07d}", device_id=device, sent_at=now, seq=i,
            payload=Telemetry(readings={"value": float(i % 100)})))
    return per_device


def publish_burst(port: int, batches: dict[str, list[bytes]], workdir: Path) -> float:
    """mosquitto_pub -l, one process per device topic, all at once; returns seconds."""
    procs = []
    started = time.perf_counter()
    for device, lines in batches.items():
        path = workdir / f"{device}.txt"
        path.write_bytes(b"\n".join(lines) + b"\n")
        procs.append(subprocess.Popen(
            ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-l",
             "-t", topic(SITE, device, Kind.TELEMETRY)], stdin=path.open("rb")))
    for p in procs:
        p.wait()
    return time.perf_counter() - started


def ceiling(port: int, n: int, workdir: Path) -> float:
    sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                            "-C", str(n), "-t", f"sunlight/v1/{SITE}/+/telemetry"],
                           stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    started = time.perf_counter()
    publish_burst(port, messages(n, f"ceil-{uuid.uuid4().hex[:6]}-"), workdir)
    sub.wait(timeout=300)
    return n / (time.perf_counter() - started)


def stored(url: str, prefix: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM readings WHERE message_id LIKE %s",
                           (f"{prefix}%",)).fetchone()
    return int(row[0]) if row else 0


def wait_stored(url: str, prefix: str, n: int, timeout: float = 600) -> float:
    deadline = time.perf_counter() + timeout
    while (count := stored(url, prefix)) < n:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {count} of {n} stored")
        time.sleep(0.05)
    return time.perf_counter()


@dataclass(frozen=True)
class Scratch:
    name: str  # the scratch database's
    db_url: str
    work: Path
    broker: RunningBroker


@contextlib.contextmanager
def scratch() -> Iterator[Scratch]:
    """A migrated scratch database on SERVER, a work folder and a private Mosquitto (the
    shipped queue limits), all removed afterwards."""
    name = f"sunlight_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(SERVER, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"'.encode())
    db_url = make_conninfo(SERVER, dbname=name)
    work = Path(tempfile.mkdtemp(prefix="sunlight-bench-"))
    broker = start_broker(work / "broker", kind="mosquitto")
    try:
        upgrade(db_url)
        yield Scratch(name, db_url, work, broker)
    finally:
        broker.stop()
        with psycopg.connect(SERVER, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'.encode())
        shutil.rmtree(work, ignore_errors=True)


def start_ingest(db_url: str, broker_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"DATABASE_URL": db_url, "MQTT_URL": broker_url,
                        "SUNLIGHT_CONFIG": str(ROOT / "deploy" / "estate.example.yaml"),
                        "SUNLIGHT_DATA_DIR": str(data_dir), "SUNLIGHT_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "services.cli", "ingest",
                             "--client-id", "bench-ingest", "--metrics-port", "0"],
                            cwd=ROOT, env=env)


def connect(port: int, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(10_000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def wait_ready(db_url: str, port: int) -> None:
    """Publish a probe until ingest has subscribed and stored it."""
    client = connect(port, f"bench-probe-{uuid.uuid4().hex[:6]}")
    prefix = f"probe-{uuid.uuid4().hex[:6]}"
    body = encode(message_id=prefix, device_id=DEVICES[0], sent_at=datetime.now(UTC), seq=0,
                  payload=Telemetry(readings={"value": 0.0}))
    for _ in range(120):
        client.publish(topic(SITE, DEVICES[0], Kind.TELEMETRY), body, qos=1).wait_for_publish()
        time.sleep(0.5)
        if stored(db_url, prefix):
            break
    client.disconnect()
    client.loop_stop()


def latency(db_url: str, port: int, rate: int, seconds: float) -> tuple[float, float, float]:
    """Steady load: lines stamped with the time they are handed to `mosquitto_pub -l`."""
    prefix = f"lat-{uuid.uuid4().hex[:6]}-"
    device = DEVICES[0]
    pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1",
                            "-l", "-t", topic(SITE, device, Kind.TELEMETRY)],
                           stdin=subprocess.PIPE)
    assert pub.stdin is not None
    total, tick = int(rate * seconds), 0.01
    per_tick = max(1, int(rate * tick))
    started = time.perf_counter()
    sent = 0
    while sent < total:
        pause = started + (sent / rate) - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        now = datetime.now(UTC)
        lines = [encode(message_id=f"{prefix}{i:07d}", device_id=device, sent_at=now, seq=i,
                        payload=Telemetry(readings={"value": 1.0}))
                 for i in range(sent, min(total, sent + per_tick))]
        pub.stdin.write(b"\n".join(lines) + b"\n")
        pub.stdin.flush()
        sent += len(lines)
    achieved = total / (time.perf_counter() - started)
    pub.stdin.close()
    pub.wait(60)
    wait_stored(db_url, prefix, total)
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
            " (ORDER BY extract(epoch FROM received_at - time))"
            " FROM readings WHERE message_id LIKE %s", (f"{prefix}%",)).fetchone()
    assert row is not None
    p50, p99 = row[0]
    return achieved, float(p50), float(p99)


def naive(db_url: str, port: int, n: int, workdir: Path) -> float:
    """One INSERT per message, autocommit: what not batching costs."""
    prefix = f"naive-{uuid.uuid4().hex[:6]}-"
    done = threading.Event()
    seen = 0
    conn = psycopg.connect(db_url, autocommit=True)

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        nonlocal seen
        env = decode(Kind.TELEMETRY, msg.payload)
        for metric, value in env.payload.readings.items():  # type: ignore[union-attr]
            conn.execute(
                "INSERT INTO readings (time, site, device_id, metric, value, message_id)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (env.sent_at, SITE, env.device_id, metric, value, env.message_id))
        seen += 1
        if seen >= n:
            done.set()

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-naive",
                         protocol=mqtt.MQTTv5)
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(f"sunlight/v1/{SITE}/+/telemetry", qos=1)
    client.loop_start()
    time.sleep(0.5)
    started = time.perf_counter()
    publish_burst(port, messages(n, prefix), workdir)
    done.wait(timeout=600)
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    conn.close()
    return seen / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--naive-messages", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=5_000, help="offered load for latency")
    args = parser.parse_args()
    if not shutil.which("mosquitto_pub"):
        sys.exit("needs mosquitto_pub and mosquitto_sub (Debian: mosquitto-clients)")

    ingest = None
    with scratch() as stack:
        name, db_url, work, broker = stack.name, stack.db_url, stack.work, stack.broker
        port = broker.port
        try:
            print(f"broker: mosquitto on {port}; database: {name}; cores: {os.cpu_count()}")
            ceil = ceiling(port, args.messages, work)
            print(f"ceiling   mosquitto_pub -> broker -> mosquitto_sub: {ceil:,.0f} msg/s")

            suffix = os.environ.get("BENCH_URL_SUFFIX", "")
            ingest = start_ingest(db_url, broker.url + suffix, work)
            wait_ready(db_url, port)
            prefix = f"burst-{uuid.uuid4().hex[:6]}-"
            batches = messages(args.messages, prefix)
            started = time.perf_counter()
            publish_burst(port, batches, work)
            finished = wait_stored(db_url, prefix, args.messages)
            rate = args.messages / (finished - started)
            print(f"ingest    {args.messages:,} messages stored by one process:"
                  f" {rate:,.0f} msg/s ({rate / ceil:.0%} of the ceiling)")
            achieved, p50, p99 = latency(db_url, port, args.rate, 10)
            print(f"latency   publish -> written, at {achieved:,.0f} msg/s offered:"
                  f" p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")
            ingest.terminate()
            ingest.wait(30)
            ingest = None
            slow = naive(db_url, port, args.naive_messages, work)
            print(f"naive     one INSERT per message ({args.naive_messages:,} messages):"
                  f" {slow:,.0f} msg/s")
        finally:
            if ingest is not None:
                ingest.kill()


if __name__ == "__main__":
    main()
