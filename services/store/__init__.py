"""The only place with SQL: pool, migrations, TimescaleDB detection, repositories."""

from services.store.db import open_pool
from services.store.migrate import upgrade
from services.store.tickets import ConflictError, NewTicket, NotFoundError, Opened, TicketStore
from services.store.timescale import Capabilities, detect

__all__ = [
    "Capabilities",
    "ConflictError",
    "NewTicket",
    "NotFoundError",
    "Opened",
    "TicketStore",
    "detect",
    "open_pool",
    "upgrade",
]
