"""The board served for real: as `sunlight up` runs it (uvicorn in a thread), and as
`sunlight board --workers 2` runs it (worker processes); a real socket, a clean stop."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import httpx

from services.config import EstateConfig, Settings
from services.stack.board import start_board as start_in_thread
from services.stack.ports import ephemeral_port, port_answers
from tests.support.processes import service_env, start_board


def test_the_board_serves_over_http_and_stops(database_url: str, estate: EstateConfig,
                                              tmp_path: Path) -> None:
    port = ephemeral_port()
    running = start_in_thread(Settings(data_dir=tmp_path), estate, database_url, port=port)
    try:
        assert running.url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{running.url}/api/health", timeout=5).json() == {"status": "ok"}
        problem = httpx.get(f"{running.url}/api/tickets", timeout=5)
        assert problem.status_code == 401
        assert problem.headers["content-type"] == "application/problem+json"
    finally:
        running.stop()
    assert not port_answers(port)


def _listeners(port: int) -> set[int]:
    """The pids with a socket listening on the port (from /proc: no tools needed)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])  # state 0A: LISTEN
    pids = set()
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        with contextlib.suppress(OSError):
            if os.readlink(fd).removeprefix("socket:[").removesuffix("]") in inodes:
                pids.add(int(fd.parts[2]))
    return pids


def test_workers_listen_each_on_its_own_socket_and_stop_together(
        database_url: str, tmp_path: Path) -> None:
    """`sunlight board --workers 2`: each worker has its own SO_REUSEPORT socket, so the
    kernel spreads connections over both; SIGTERM stops the board and both workers."""
    port = ephemeral_port()
    env = service_env(database_url, "mqtt://127.0.0.1:1", tmp_path,
                      SUNLIGHT_BOARD_SCHEDULER="false")
    board = start_board(env, port, tmp_path / "board.log", workers=2)
    try:
        workers = _listeners(port)
        assert len(workers) == 2 and board.proc.pid not in workers
        for _ in range(20):  # new connections, each to one of the workers
            with httpx.Client(timeout=5) as client:
                assert client.get(f"http://127.0.0.1:{port}/api/health").status_code == 200
        # a second board on the same port is refused, not let into the group
        second = subprocess.run(
            [sys.executable, "-m", "services.cli", "board", "--port", str(port), "--workers",
             "2"], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert second.returncode != 0 and "in use" in second.stderr
        assert _listeners(port) == workers
    finally:
        board.stop()
    assert board.proc.returncode == 0, board.log_tail()
    assert not port_answers(port)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
