"""What every service entry point shares: a stop event set by SIGTERM and SIGINT, and
waiting for the database at start-up."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from services.store.db import DATABASE_AWAY

log = logging.getLogger("sunlight.runtime")

T = TypeVar("T")

FIRST_WAIT_S = 1.0
LONGEST_WAIT_S = 15.0  # a database back is noticed at most this long after it is


class Stopped(Exception):
    """Asked to stop (SIGTERM, Ctrl-C) while waiting for the database."""


def stop_event() -> threading.Event:
    """An event that SIGTERM or SIGINT (Ctrl-C) sets, so the caller can drain and exit."""
    stop = threading.Event()

    def _handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    return stop


def when_database_answers(step: str, action: Callable[[], T], *,
                          stop: threading.Event | None = None) -> T:
    """Run `action`, a start-up step that needs the database, until the database answers:
    a service started before its database (a reboot, a compose file starting everything at
    once) waits for it, one log line per attempt, rather than dying with a traceback.
    Waits grow from FIRST_WAIT_S to LONGEST_WAIT_S; `stop` set while waiting: Stopped."""
    stop = stop or threading.Event()
    wait, attempt = FIRST_WAIT_S, 1
    while True:
        try:
            result = action()
        except DATABASE_AWAY as exc:
            log.warning("event=database_unavailable step=%s attempt=%d retry_in_s=%.1f"
                        " error=%r", step, attempt, wait, " ".join(str(exc).split())[:300])
            if stop.wait(wait):
                raise Stopped(step) from None
            wait, attempt = min(wait * 2, LONGEST_WAIT_S), attempt + 1
            continue
        if attempt > 1:
            log.info("event=database_available step=%s attempts=%d", step, attempt)
        return result
