"""`sunlight ingest` and `sunlight board` started while PostgreSQL is down: both stay up,
say once per attempt that they wait for the database (with a growing delay), and start
working as soon as it is back. The database is a private server, stopped before the
services start, so stopping it disturbs no other test."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from services.stack import start_broker
from services.stack.ports import ephemeral_port
from tests.support.mqtt import Publisher, telemetry, wait_until
from tests.support.processes import (
    Service,
    private_database,
    service_env,
    start_ingest,
    start_service,
)

RETRY = re.compile(r"event=database_unavailable step=(\S+) attempt=(\d+) retry_in_s=([\d.]+)")


def retries(service: Service) -> list[tuple[str, int, float]]:
    text = service.log_path.read_text("utf-8", "replace") if service.log_path.exists() else ""
    return [(m.group(1), int(m.group(2)), float(m.group(3))) for m in RETRY.finditer(text)]


def stored(url: str, message_id: str) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT 1 FROM readings WHERE message_id = %s",
                            (message_id,)).fetchone() is not None


def health(port: int) -> int:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_services_started_without_their_database_wait_for_it(tmp_path: Path) -> None:
    broker = start_broker(tmp_path / "broker", kind="mosquitto")
    services: list[Service] = []
    with private_database() as database:
        database.stop()
        env = service_env(database.url, broker.url, tmp_path / "data")
        port = ephemeral_port()
        try:
            ingest = start_ingest(env, f"startup-{uuid.uuid4().hex[:6]}", tmp_path / "ingest.log")
            services.append(ingest)
            board = start_service(["board", "--port", str(port)], env, tmp_path / "board.log")
            services.append(board)

            # both keep trying, one line per attempt, each wait longer than the last
            for service in services:
                assert wait_until(lambda s=service: len(retries(s)) >= 3, timeout=60), \
                    service.log_tail()
                assert service.alive(), service.log_tail()
                attempts = retries(service)
                assert [a[1] for a in attempts[:3]] == [1, 2, 3]
                waits = [a[2] for a in attempts[:3]]
                assert waits == sorted(waits) and waits[0] < waits[2], attempts
                assert "Traceback" not in service.log_path.read_text("utf-8", "replace")
            assert health(port) == 0  # not serving without its database

            database.start()
            assert wait_until(lambda: health(port) == 200, timeout=60), board.log_tail()
            probe = f"startup-probe-{uuid.uuid4().hex[:8]}"
            publisher = Publisher(broker.url)
            try:
                assert wait_until(lambda: publisher.publish_all(
                    [telemetry("temp-pump-room", {"temperature_c": 1.0}, message_id=probe)])
                    > 0 and wait_until(lambda: stored(database.url, probe), timeout=2),
                    timeout=60), ingest.log_tail()
            finally:
                publisher.close()
            assert ingest.alive() and board.alive()
            for service in services:
                assert "event=database_available" in service.log_path.read_text("utf-8")
        finally:
            for service in services:
                service.stop()
            broker.stop()
