"""SIGKILL `sunlight board` while a resident's report with photos is on its way, restart it,
and send the report again with the same Idempotency-Key, as a client that got no answer.

Three moments, each made to happen for certain: in the middle of the (slowly streamed)
body; after the photos were written to disk but before the transaction that records them
committed (a lock held by the test keeps the transaction waiting); and after the commit,
before the client read the answer (the test watches the database and never reads it).

After each: no ticket without its photos, no file served or counted as media that no
committed report owns, and the retry files the report exactly once.
"""

from __future__ import annotations

import io
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from PIL import Image

from services.board.media import ORPHAN_AGE
from services.config import load_config
from services.stack.ports import ephemeral_port
from services.store import open_pool
from services.tickets import Role
from tests.support.mqtt import wait_until
from tests.support.processes import (
    ESTATE_FILE,
    Person,
    PrivateDatabase,
    Service,
    person,
    private_database,
    service_env,
    start_board,
)

PHOTOS = 3


class Board:
    """The board process of the test, killed and started again on the same port."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs, self.port = env, logs, ephemeral_port()
        self.service: Service = self.start()

    def start(self) -> Service:
        self.service = start_board(self.env, self.port, self.logs)
        return self.service

    def kill(self) -> None:
        self.service.kill()


@dataclass(frozen=True)
class Setting:
    database: PrivateDatabase
    board: Board
    resident: Person
    data_dir: Path

    @property
    def url(self) -> str:
        return self.database.url

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.board.port}"


def noisy_jpeg(seed: int, side: int = 360) -> bytes:
    """A photo that does not compress: three of them make a body of about a megabyte."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(out, "JPEG",
                                                                           quality=95)
    return out.getvalue()


@dataclass(frozen=True)
class Report:
    """One resident report as the bytes a client sends, and its Idempotency-Key."""

    key: str
    description: str
    head: bytes
    body: bytes

    @classmethod
    def build(cls, port: int, resident: Person, label: str) -> Report:
        key, description = str(uuid.uuid4()), f"{label} {uuid.uuid4().hex[:8]}"
        request = httpx.Request(
            "POST", f"http://127.0.0.1:{port}/api/reports",
            headers=resident.headers | {"Idempotency-Key": key},
            data={"category": "lighting", "building": "b3", "area": "stairwell",
                  "description": description},
            files=[("media", (f"p{i}.jpg", noisy_jpeg(i), "image/jpeg"))
                   for i in range(PHOTOS)])
        body = request.read()
        lines = ["POST /api/reports HTTP/1.1", f"Host: 127.0.0.1:{port}",
                 *(f"{k}: {v}" for k, v in request.headers.items() if k.lower() != "host")]
        return cls(key, description, ("\r\n".join(lines) + "\r\n\r\n").encode(), body)

    def send(self, port: int, upto: float = 1.0, chunk: int = 64 * 1024,
             pause: float = 0.0) -> socket.socket:
        """Send the request up to a fraction of its body (slowly with `pause`); the answer
        is left unread on the returned socket."""
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(self.head)
        end = int(len(self.body) * upto)
        for start in range(0, end, chunk):
            sock.sendall(self.body[start:min(start + chunk, end)])
            time.sleep(pause)
        return sock

    def retry(self, port: int) -> httpx.Response:
        """The client's retry after restarting: the same bytes, the same key."""
        headers = dict(line.split(": ", 1) for line in self.head.decode().split("\r\n")[1:]
                       if ": " in line)
        return httpx.post(f"http://127.0.0.1:{port}/api/reports", headers=headers,
                          content=self.body, timeout=30)


def filed(url: str, description: str) -> list[tuple[int, int]]:
    """(ticket id, photos) of each filing of this report."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT ticket_id, cardinality(photos) FROM ticket_reports"
                            " WHERE description = %s", (description,)).fetchall()
    return [(int(r[0]), int(r[1])) for r in rows]


def media_rows(url: str) -> dict[str, int]:
    """Path of every media row -> its ticket."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT path, ticket_id FROM media").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def files_on_disk(data_dir: Path) -> set[str]:
    media = data_dir / "media"
    return {p.relative_to(data_dir).as_posix() for p in media.rglob("*") if p.is_file()} \
        if media.exists() else set()


def waiting_on_a_lock(url: str) -> bool:
    """Whether a board connection waits for the test's lock on tickets (to insert one, or to
    lock the open ticket the report is linked to)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'sunlight-board'"
            " AND wait_event_type = 'Lock' AND query LIKE '%%tickets%%'").fetchone()
    return row is not None and int(row[0]) > 0


def assert_whole(setting: Setting) -> None:
    """Every report's photos are recorded and on disk and served; every recorded photo is
    a report's; no file is counted as media without a committed row, nor served."""
    url, base, resident = setting.url, setting.base, setting.resident
    rows = media_rows(url)
    on_disk = files_on_disk(setting.data_dir)
    assert set(rows) <= on_disk, f"recorded but missing: {set(rows) - on_disk}"
    with psycopg.connect(url) as conn:
        reports = conn.execute("SELECT ticket_id, photos FROM ticket_reports").fetchall()
    refs = {ref for _, photos in reports for ref in photos}
    assert {f"media/{Path(p).stem}" for p in rows} == refs
    for ref in refs:
        served = httpx.get(f"{base}/api/{ref}", headers=resident.headers, timeout=10)
        assert served.status_code == 200, (ref, served.text)
        assert served.headers["content-type"] == "image/jpeg"
    for orphan in on_disk - set(rows):
        served = httpx.get(f"{base}/api/media/{Path(orphan).stem}", headers=resident.headers,
                           timeout=10)
        assert served.status_code == 404, orphan


def assert_filed_once(url: str, report: Report, answer: httpx.Response, *,
                      replayed: bool) -> int:
    assert answer.status_code == 201, answer.text
    assert (answer.headers.get("idempotent-replayed") == "true") is replayed
    ticket_id = int(answer.json()["id"])
    assert filed(url, report.description) == [(ticket_id, PHOTOS)]
    assert sum(t == ticket_id for t in media_rows(url).values()) >= PHOTOS
    return ticket_id


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setting]:
    """One database and one board for the module: each test kills the board and starts it
    again, and leaves it running."""
    tmp = tmp_path_factory.mktemp("killed-upload")
    with private_database() as database:
        with open_pool(database.url, max_size=1, name="upload-test") as pool:
            resident = person(pool, load_config(ESTATE_FILE), Role.RESIDENT)
        data_dir = tmp / "data"
        env = service_env(database.url, "mqtt://127.0.0.1:1", data_dir,
                          SUNLIGHT_BOARD_SCHEDULER="false")
        board = Board(env, tmp / "board.log")
        try:
            yield Setting(database, board, resident, data_dir)
        finally:
            board.service.stop()


def test_killed_in_the_middle_of_the_body(setting: Setting) -> None:
    board, url = setting.board, setting.url
    report = Report.build(board.port, setting.resident, "body cut")
    recorded, on_disk = media_rows(url), files_on_disk(setting.data_dir)
    sock = report.send(board.port, upto=0.5, chunk=16 * 1024, pause=0.02)  # slowly
    board.kill()
    sock.close()
    assert filed(url, report.description) == []
    assert media_rows(url) == recorded and files_on_disk(setting.data_dir) == on_disk

    board.start()
    ticket_id = assert_filed_once(url, report, report.retry(board.port), replayed=False)
    assert assert_filed_once(url, report, report.retry(board.port), replayed=True) == ticket_id
    assert_whole(setting)


def test_killed_after_the_commit_before_the_answer_was_read(setting: Setting) -> None:
    board, url = setting.board, setting.url
    report = Report.build(board.port, setting.resident, "answer lost")
    sock = report.send(board.port)
    assert wait_until(lambda: filed(url, report.description) != [], timeout=30, every=0.01)
    board.kill()  # the client never reads the answer: for it, the request failed
    sock.close()
    [(committed, photos)] = filed(url, report.description)
    assert photos == PHOTOS

    board.start()
    answer = report.retry(board.port)
    assert assert_filed_once(url, report, answer, replayed=True) == committed
    assert_whole(setting)


def test_killed_after_the_photos_were_written_before_the_commit(setting: Setting) -> None:
    board, url, data_dir = setting.board, setting.url, setting.data_dir
    report = Report.build(board.port, setting.resident, "commit missed")
    recorded, before = media_rows(url), files_on_disk(data_dir)
    with psycopg.connect(url) as blocker:
        blocker.execute("LOCK TABLE tickets IN EXCLUSIVE MODE")  # reads pass, inserts wait
        sock = report.send(board.port)
        assert wait_until(lambda: waiting_on_a_lock(url), timeout=30), board.service.log_tail()
        staged = files_on_disk(data_dir) - before
        assert len(staged) == PHOTOS  # written, waiting for the transaction to record them
        board.kill()
        sock.close()
        blocker.rollback()
    time.sleep(0.5)  # the killed board's backend sees its client gone and rolls back
    assert filed(url, report.description) == []
    assert media_rows(url) == recorded
    assert files_on_disk(data_dir) == before | staged  # left behind, but never served:

    board.start()
    assert_whole(setting)
    # … and removed at the next start, once older than any upload can take (younger ones
    # may belong to an upload another worker is committing at that moment)
    board.service.stop()
    long_ago = time.time() - ORPHAN_AGE.total_seconds() - 60
    for orphan in staged:
        os.utime(data_dir / orphan, (long_ago, long_ago))
    board.start()
    assert files_on_disk(data_dir) == before

    ticket_id = assert_filed_once(url, report, report.retry(board.port), replayed=False)
    assert len(files_on_disk(data_dir) - before) == PHOTOS
    new_rows = {path: t for path, t in media_rows(url).items() if path not in recorded}
    assert list(new_rows.values()) == [ticket_id] * PHOTOS
    assert_whole(setting)
