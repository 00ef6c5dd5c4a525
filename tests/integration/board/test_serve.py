"""The board as `sunlight up` runs it: uvicorn in a thread, a real socket, a clean stop."""

from __future__ import annotations

from pathlib import Path

import httpx

from services.config import EstateConfig, Settings
from services.stack.board import start_board
from services.stack.ports import ephemeral_port, port_answers


def test_the_board_serves_over_http_and_stops(database_url: str, estate: EstateConfig,
                                              tmp_path: Path) -> None:
    port = ephemeral_port()
    running = start_board(Settings(data_dir=tmp_path), estate, database_url, port=port)
    try:
        assert running.url == f"http://127.0.0.1:{port}"
        assert httpx.get(f"{running.url}/api/health", timeout=5).json() == {"status": "ok"}
        problem = httpx.get(f"{running.url}/api/tickets", timeout=5)
        assert problem.status_code == 401
        assert problem.headers["content-type"] == "application/problem+json"
    finally:
        running.stop()
    assert not port_answers(port)
