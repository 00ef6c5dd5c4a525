"""The services as their own processes, the way they run in production, for fault tests:
`sunlight board` and `sunlight ingest` started with an environment, and accounts with a
live session to call the board with."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from psycopg_pool import ConnectionPool

from services.board.accounts import NewAccount, create_account, start_session
from services.config import BoardOptions, EstateConfig
from services.stack import RunningDatabase, start_database
from services.stack.ports import ephemeral_port
from services.store import upgrade
from services.tickets import Role

ROOT = Path(__file__).parents[2]
ESTATE_FILE = ROOT / "deploy" / "estate.example.yaml"


class PrivateDatabase:
    """A PostgreSQL server of a test's own, migrated, to stop and start again on one port.

    Its data lives outside pytest's temporary folders: the server runs as another user
    when the tests run as root, and each new pytest session makes its base folder private
    again (mode 700), which would lock the server's own pg_ctl out of the data halfway."""

    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="sunlight-test-pg-"))
        self._port = ephemeral_port()
        self.server: RunningDatabase = self.start()
        upgrade(self.url)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> RunningDatabase:
        self.server = start_database(self.home, port=self._port, stop_at_exit=False)
        return self.server

    def stop(self) -> None:
        self.server.stop()


@contextlib.contextmanager
def private_database() -> Iterator[PrivateDatabase]:
    db = PrivateDatabase()
    try:
        yield db
    finally:
        db.stop()
        shutil.rmtree(db.home, ignore_errors=True)


def service_env(database_url: str, mqtt_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return os.environ | {
        "DATABASE_URL": database_url,
        "MQTT_URL": mqtt_url,
        "SUNLIGHT_CONFIG": str(ESTATE_FILE),
        "SUNLIGHT_DATA_DIR": str(data_dir),
        "SUNLIGHT_BOARD_REPORTS_PER_HOUR": "100000",
        **extra,
    }


@dataclass
class Service:
    """A started service process; its stderr goes to `log_path` for the failure message."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler, no cleanup, as a crash or the OOM killer would."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _start(args: list[str], env: dict[str, str], log_path: Path) -> Service:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "services.cli", *args], cwd=ROOT,
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    return Service(proc, log_path)


def start_service(args: list[str], env: dict[str, str], log_path: Path) -> Service:
    """`sunlight ARGS…` as a process, without waiting for it to be ready."""
    return _start(args, env, log_path)


def start_board(env: dict[str, str], port: int, log_path: Path, timeout: float = 60, *,
                workers: int = 1) -> Service:
    """`sunlight board` on 127.0.0.1:port, once /api/health answers 200."""
    board = _start(["board", "--port", str(port), "--workers", str(workers)], env, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not board.alive():
            raise AssertionError(f"the board exited: {board.log_tail()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return board
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    board.kill()
    raise AssertionError(f"the board did not answer within {timeout} s: {board.log_tail()}")


def start_ingest(env: dict[str, str], client_id: str, log_path: Path) -> Service:
    """`sunlight ingest` (ready once it has subscribed: wait for a probe to be stored)."""
    return _start(["ingest", "--client-id", client_id, "--metrics-port", "0"], env, log_path)


@dataclass(frozen=True)
class Person:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def person(pool: ConnectionPool, estate: EstateConfig, role: Role, *,
           staff_id: str | None = None) -> Person:
    """A new account with a live session (residents live in building 3)."""
    resident = role is Role.RESIDENT
    new = NewAccount(f"{role.value}-{uuid.uuid4().hex[:8]}", "correct horse battery", role,
                     staff_id=staff_id, name="测试住户" if resident else "",
                     phone="13800000009" if resident else None,
                     building="b3" if resident else None, unit="3-0101" if resident else None)
    now = datetime.now(UTC)
    with pool.connection() as conn, conn.transaction():
        account = create_account(conn, estate, new, now)
    token, _ = start_session(pool, account, now, BoardOptions().session_ttl)
    return Person(account.person_id, token)
