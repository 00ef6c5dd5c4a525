"""The background jobs' scheduler: SLA timers in a PostgreSQL job store, the sweep, the
notifier, and the weekly bulletin (services/bulletin/schedule.py).

    handle = start_scheduler(settings, estate, pool, mqtt_url)   # in each board worker,
    ...                                                          # or in `sunlight jobs`
    handle.stop()

Every board worker runs one (and so does each `sunlight jobs`). They share the APScheduler
job store (`sla_jobs`, through SQLAlchemy on psycopg 3), so a deadline's timer is one job
wherever it was set; APScheduler 3 does not stop two schedulers from running the same job,
so the job itself is made safe to run twice (`sla_jobs.flag_if_due`: row lock, re-check,
claim). The sweep and the notifier are per-worker interval jobs in memory: each worker
sweeps and sends, and the database decides who does what (claims and leases).
"""

from __future__ import annotations

import logging
import os
import pickle
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy
from apscheduler.executors.pool import (  # type: ignore[import-untyped,unused-ignore]
    ThreadPoolExecutor,
)
from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped,unused-ignore]
from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped,unused-ignore]
from apscheduler.jobstores.sqlalchemy import (  # type: ignore[import-untyped,unused-ignore]
    SQLAlchemyJobStore,
)
from apscheduler.schedulers.background import (  # type: ignore[import-untyped,unused-ignore]
    BackgroundScheduler,
)
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped,unused-ignore]
from apscheduler.util import datetime_to_utc_timestamp  # type: ignore[import-untyped,unused-ignore]
from psycopg_pool import ConnectionPool
from sqlalchemy.dialects.postgresql import insert

from services.bulletin.schedule import publish_due
from services.bulletin.schedule import seal_trigger as bulletin_seal_trigger
from services.bulletin.schedule import trigger as bulletin_trigger
from services.config import EstateConfig, SchedulerOptions, Settings
from services.jobs.notifier import DeliveryPolicy, Notifier
from services.jobs.push import Push
from services.jobs.sla_jobs import SlaRuntime, bind_runtime, deadline_job, sweep
from services.store.jobs import JOB_TABLE
from services.store.migrate import missing_tables
from services.tickets.deadlines import Deadline

__all__ = ["SchedulerHandle", "start_scheduler"]

log = logging.getLogger(__name__)

SLA_STORE = "sla"


class SharedJobStore(SQLAlchemyJobStore):  # type: ignore[misc]
    """APScheduler's SQLAlchemy store, made safe for several schedulers on one table.

    Adding upserts (two workers' sweeps may set the same timer at once), and updating or
    removing a job that another worker already ran and removed is not an error: in
    APScheduler 3 that error would end the scheduler's thread.
    """

    def add_job(self, job: Any) -> None:
        values = {
            "next_run_time": datetime_to_utc_timestamp(job.next_run_time),
            "job_state": self._state(job),
        }
        upsert = insert(self.jobs_t).values(id=job.id, **values).on_conflict_do_update(
            index_elements=[self.jobs_t.c.id], set_=values)
        with self.engine.begin() as connection:
            connection.execute(upsert)

    def _state(self, job: Any) -> bytes:
        return pickle.dumps(job.__getstate__(), self.pickle_protocol)

    def update_job(self, job: Any) -> None:
        try:
            super().update_job(job)
        except JobLookupError:
            log.debug("event=job_gone job=%s", job.id)

    def remove_job(self, job_id: str) -> None:
        try:
            super().remove_job(job_id)
        except JobLookupError:
            log.debug("event=job_gone job=%s", job_id)


class _Scheduler(BackgroundScheduler):  # type: ignore[misc]
    def _process_jobs(self) -> float | None:
        # APScheduler 3 lets a job store error (the database restarting) escape this loop
        # and end the scheduler's thread; log it and try again a little later instead
        try:
            result: float | None = super()._process_jobs()
        except Exception:
            log.exception("event=scheduler_round_failed")
            return float(self.jobstore_retry_interval)
        return result


class _Timers:
    """Timers as APScheduler jobs in the shared store (the sweep's TimerBook)."""

    def __init__(self, scheduler: _Scheduler) -> None:
        self._scheduler = scheduler

    def schedule(self, job: str, deadline: Deadline) -> None:
        self._scheduler.add_job(
            deadline_job, DateTrigger(run_date=deadline.due_at),
            args=(deadline.ticket_id, deadline.breach.value), id=job, jobstore=SLA_STORE,
            replace_existing=True, misfire_grace_time=None, coalesce=True, max_instances=1,
        )

    def unschedule(self, job: str) -> None:
        self._scheduler.remove_job(job, jobstore=SLA_STORE)


@dataclass
class SchedulerHandle:
    """A running scheduler; `stop()` ends it (waiting for running jobs) and is idempotent."""

    worker: str
    sla: SlaRuntime
    notifier: Notifier
    _scheduler: _Scheduler
    _push: Push | None
    _stop: threading.Event
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def stop(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._stop.set()  # the notifier gives back what it has not sent yet
            self._scheduler.shutdown(wait=True)  # also disposes of the job store's engine
            if self._push is not None:
                self._push.close()
        log.info("event=scheduler_stopped worker=%s", self.worker)


def _conninfo(settings: Settings, pool: ConnectionPool) -> str:
    if settings.database_url:
        return settings.database_url
    if isinstance(pool.conninfo, str):
        return pool.conninfo
    raise ValueError("no database URL for the job store (set DATABASE_URL)")


def _engine(conninfo: str) -> sqlalchemy.Engine:
    # a creator instead of a URL: conninfo may be a URL or "host=… dbname=…" alike
    def connect() -> psycopg.Connection[Any]:
        return psycopg.connect(conninfo, application_name="sunlight-scheduler")

    return sqlalchemy.create_engine("postgresql+psycopg://", creator=connect, pool_size=2,
                                    max_overflow=2, pool_pre_ping=True)


def _check_schema(pool: ConnectionPool) -> None:
    with pool.connection() as conn:
        missing = missing_tables(conn, ["deliveries", JOB_TABLE])
    if missing:
        raise RuntimeError("the SLA tables are missing: run `sunlight db upgrade` (0007)")


def _delivery_policy(options: SchedulerOptions) -> DeliveryPolicy:
    return DeliveryPolicy(
        batch=options.delivery_batch,
        lease=timedelta(seconds=options.delivery_lease_seconds),
        timeout=options.delivery_timeout_seconds,
        retry_base=timedelta(seconds=options.retry_base_seconds),
        retry_max=timedelta(seconds=options.retry_max_seconds),
        max_attempts=options.max_attempts,
    )


def _worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def start_scheduler(settings: Settings, estate: EstateConfig, pool: ConnectionPool,
                    mqtt_url: str | None, *, options: SchedulerOptions | None = None) \
        -> SchedulerHandle:
    """Start SLA timers, the sweep (now, then every `sweep_seconds`) and the notifier.

    `mqtt_url` None: nothing is published on MQTT (those deliveries are recorded as
    skipped). Webhooks come from the estate config. Returns at once; call `stop()`.
    """
    options = options or SchedulerOptions()
    _check_schema(pool)
    quiet = logging.getLogger("apscheduler")
    if quiet.level == logging.NOTSET:  # at INFO it logs every run of every job
        quiet.setLevel(logging.WARNING)
    worker = _worker_name()
    stop = threading.Event()
    runtime = SlaRuntime(pool, estate.site.id, worker,
                         horizon=timedelta(seconds=options.horizon_seconds))
    store = SharedJobStore(engine=_engine(_conninfo(settings, pool)), tablename=JOB_TABLE)
    # MQTT 3.1.1 servers need only accept client ids of up to 23 characters; EMQX admits
    # a service only under `its-username-…` (deploy/kubernetes/emqx.conf)
    push = Push(mqtt_url, f"sunlight-board-{uuid.uuid4().hex[:8]}") if mqtt_url else None
    notifier = Notifier(pool, estate, worker, _delivery_policy(options), push=push,
                        secret=settings.secret_key, stop=stop)
    scheduler = _Scheduler(
        jobstores={"default": MemoryJobStore(), SLA_STORE: store},
        executors={"default": ThreadPoolExecutor(
            options.threads, pool_kwargs={"initializer": bind_runtime,
                                          "initargs": (runtime,)})},
        timezone=UTC,
        daemon=True,
    )
    handle = SchedulerHandle(worker, runtime, notifier, scheduler, push, stop)
    timers = _Timers(scheduler)

    def sweep_job() -> None:
        try:
            sweep(runtime, timers)
        except Exception:  # the database is away: the next sweep catches up
            log.exception("event=sla_sweep_failed worker=%s", worker)

    now = datetime.now(UTC)
    local = {"jobstore": "default", "max_instances": 1, "coalesce": True,
             "misfire_grace_time": None, "next_run_time": now}
    scheduler.add_job(sweep_job, "interval", seconds=options.sweep_seconds, id="sla-sweep",
                      **local)
    scheduler.add_job(notifier.run_once, "interval", seconds=options.deliver_seconds,
                      id="notifier", **local)
    # the weekly bulletin: drafted, then sealed at the review deadline, on its schedule;
    # and now for what came due while down
    scheduler.add_job(publish_due, bulletin_trigger(estate), args=(pool, estate),
                      id="bulletin", jobstore="default", max_instances=1, coalesce=True,
                      misfire_grace_time=None)
    scheduler.add_job(publish_due, bulletin_seal_trigger(estate), args=(pool, estate),
                      id="bulletin-seal", jobstore="default", max_instances=1, coalesce=True,
                      misfire_grace_time=None)
    scheduler.add_job(publish_due, args=(pool, estate), id="bulletin-catch-up", **local)
    try:
        scheduler.start()
    except Exception:
        if push is not None:
            push.close()
        store.engine.dispose()
        raise
    log.info("event=scheduler_started worker=%s site=%s sweep_s=%g deliver_s=%g mqtt=%s",
             worker, estate.site.id, options.sweep_seconds, options.deliver_seconds,
             bool(push))
    return handle
