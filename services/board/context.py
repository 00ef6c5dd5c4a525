"""What every request handler of one board app shares: settings, estate, pool, services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from psycopg_pool import ConnectionPool

from services.board.media import MediaFiles
from services.board.options import BoardOptions
from services.board.workflow import Workflow
from services.config import EstateConfig, Settings
from services.store import TicketStore

__all__ = ["Board"]


@dataclass(frozen=True)
class Board:
    settings: Settings
    options: BoardOptions
    estate: EstateConfig
    pool: ConnectionPool
    tickets: TicketStore
    files: MediaFiles
    workflow: Workflow
    clock: Callable[[], datetime]

    @property
    def site(self) -> str:
        return self.estate.site.id

    @property
    def secure_cookies(self) -> bool:
        return self.estate.site.public_url.startswith("https://")
