"""The board inside `sunlight up`: uvicorn in a thread, on 8000 or a free port."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from psycopg_pool import ConnectionPool

from services.config import EstateConfig, Settings
from services.stack.ports import LOCALHOST, ServiceStartError, choose_port

if TYPE_CHECKING:
    import uvicorn

    from services.board.app import JobsStarter

PREFERRED_PORT = 8000


@dataclass
class RunningBoard:
    url: str
    _server: uvicorn.Server
    _thread: threading.Thread
    _pool: ConnectionPool

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)
        self._pool.close()


def start_board(settings: Settings, estate: EstateConfig, db_url: str, *,
                port: int | None = None, timeout: float = 20.0,
                jobs: JobsStarter | None = None) -> RunningBoard:
    """Serve the board on 127.0.0.1 until `stop()`; ServiceStartError if it does not start.
    `jobs`: run the background jobs in it too."""
    import uvicorn

    from services.board.app import create_app
    from services.board.main import POOL_WAIT_S, sweep_media
    from services.store import open_pool

    chosen = port or choose_port(PREFERRED_PORT)
    # as `sunlight board` does: a short wait for a connection (503, not a hang, while the
    # database is away) and leftovers of an upload cut short by a crash removed
    pool = open_pool(db_url, max_size=8, name="sunlight-board", wait_s=POOL_WAIT_S)
    sweep_media(pool, settings.data_dir)
    app = create_app(settings, estate, pool, jobs=jobs)
    server = uvicorn.Server(uvicorn.Config(app, host=LOCALHOST, port=chosen, log_config=None))
    thread = threading.Thread(target=server.run, name="board", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            pool.close()
            raise ServiceStartError("board", f"uvicorn did not start on {LOCALHOST}:{chosen}")
        time.sleep(0.05)
    return RunningBoard(f"http://{LOCALHOST}:{chosen}", server, thread, pool)
