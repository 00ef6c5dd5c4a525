"""The embedded stack for `sunlight up`: PostgreSQL and an MQTT broker under a data dir.

    db = start_database(Path(".sunlight"))   # db.url  -> postgresql://postgres@127.0.0.1:54329/sunlight
    mq = start_broker(Path(".sunlight"))     # mq.url  -> mqtt://127.0.0.1:18830, mq.kind
    ...
    mq.stop(); db.stop()                      # both idempotent

Production runs against real servers; nothing else imports this package.
"""

from services.stack.broker import RunningBroker, find_mosquitto, start_broker
from services.stack.database import RunningDatabase, start_database
from services.stack.ports import ServiceStartError

__all__ = [
    "RunningBroker",
    "RunningDatabase",
    "ServiceStartError",
    "find_mosquitto",
    "start_broker",
    "start_database",
]
