"""What every service entry point shares: a stop event set by SIGTERM and SIGINT."""

from __future__ import annotations

import signal
import threading
from types import FrameType


def stop_event() -> threading.Event:
    """An event that SIGTERM or SIGINT (Ctrl-C) sets, so the caller can drain and exit."""
    stop = threading.Event()

    def _handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    return stop
