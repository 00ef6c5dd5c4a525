"""Load test: N sensors and M cameras against one machine running the whole stack, with
CPU, memory, message lag, and a check that nothing was lost.

Run: .venv/bin/python -m bench.load [--minutes 10] [--sensors 200] [--cameras 20]

The stack runs as in production on one box: a scratch database on the real PostgreSQL
(DATABASE_URL's server), a private Mosquitto (the shipped queue limits), and `sunlight
ingest`, `sunlight vision` (OpenCV stages, no YOLO model) and `sunlight board` as
processes (bench/load_stack.py). The devices are the project's edge agents (edge/), run
in this process: sensors on the simulator driver, cameras streaming synthetic scenes
(edge/scenes) through the edge's motion gate, in gateways of 20 sensors and 2 cameras
(bench/load_estate.py). Every few seconds it samples each process's CPU and memory, the
services' /metrics, the board's health answer and the lag of the readings stored; at the
end it checks that every reading the broker acknowledged is stored exactly once, that
every frame was analysed or counted as dropped, and that the tickets the sensor rules
and the scenes call for were opened (bench/load_checks.py). Exit status 1 if not.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.history import SERVER, scratch_database
from bench.load_checks import stored_readings
from bench.load_estate import LoadEstate, build
from bench.load_probe import (
    Metrics,
    ProcessSampler,
    TelemetryTap,
    histogram,
    minus,
    quantile,
    scrape,
    timed_get,
    value,
    with_children,
)
from bench.load_report import Sample, report
from bench.load_stack import Stack, start_stack
from edge.agent import Agent
from edge.settings import EdgeSettings

VISION_LAG = "sunlight_vision_frame_lag_seconds"


@dataclass
class Run:
    """What the run produced, for the report."""

    estate: LoadEstate
    stack: Stack
    agents: list[Agent]
    sampler: ProcessSampler
    started: datetime
    seconds: float
    samples: list[Sample] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)  # the devices stop
    own_backends: list[int] = field(default_factory=list)  # the bench's own connections
    arrivals: dict[str, float] = field(default_factory=dict)  # reading id → at the broker

    def acknowledged(self) -> dict[str, int]:
        """Readings per sensor that the broker acknowledged (PUBACK) to its edge link."""
        return {link.device: link.sent for agent in self.agents
                for link in agent.links.values() if link.device in agent.drivers}


class PostgresBackends:
    """PostgreSQL's processes serving this run's database, not the bench's own (asked
    on a connection to the server's maintenance database, which is not counted)."""

    def __init__(self, db_url: str) -> None:
        self._db = psycopg.conninfo.conninfo_to_dict(db_url)["dbname"]
        self._conn = psycopg.connect(SERVER, autocommit=True)
        self.own: list[int] = []

    def __call__(self) -> list[int]:
        rows = self._conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                  (self._db,)).fetchall()
        return [r[0] for r in rows if r[0] not in self.own]

    def close(self) -> None:
        self._conn.close()


def sample(run: Run, conn: psycopg.Connection[Any], previous: Sample | None) -> Sample:
    run.sampler.sample()
    now = datetime.now(UTC)
    since = previous.at if previous else run.started
    row = conn.execute(
        "SELECT percentile_cont(0.99) WITHIN GROUP"
        " (ORDER BY extract(epoch FROM received_at - time))"
        " FROM readings WHERE received_at > %s AND received_at <= %s", (since, now)).fetchone()
    vision: Metrics = scrape(run.stack.metrics_url("vision"))
    ingest: Metrics = scrape(run.stack.metrics_url("ingest"))
    return Sample(
        at=now, elapsed=(now - run.started).total_seconds(),
        lag_p99=float(row[0]) if row and row[0] is not None else None,
        vision=vision, ingest=ingest, vision_lag=histogram(vision, VISION_LAG),
        board_s=timed_get(f"{run.stack.board_url}/api/health"))


def progress(s: Sample, previous: Sample | None, run: Run) -> str:
    usage = run.sampler.usage
    cpu = " ".join(f"{name} {u.cpu[-1]:.0f}%" for name, u in usage.items())
    analysed = value(s.vision, "sunlight_vision_frames_total")
    dropped = value(s.vision, "sunlight_vision_frames_dropped_total")
    window = minus(s.vision_lag, previous.vision_lag) if previous else s.vision_lag
    p99 = quantile(window, 0.99)
    lag = f"{s.lag_p99 * 1000:.0f} ms" if s.lag_p99 is not None else "-"
    vlag = f"{p99:.2f} s" if p99 is not None else "-"
    return (f"{int(s.elapsed) // 60:2d}:{int(s.elapsed) % 60:02d}  cpu {cpu}"
            f" machine {run.sampler.machine[-1]:.0f}%  | readings p99 {lag}"
            f" | frames {analysed:,.0f} analysed, {dropped:,.0f} dropped, lag p99 {vlag}")


def run_load(run: Run, every: float, show_every: float) -> None:
    threads = [threading.Thread(target=a.run, args=(run.stop,), name=f"gateway-{i}",
                                daemon=True) for i, a in enumerate(run.agents)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + run.seconds
    last_shown = -math.inf
    with psycopg.connect(run.stack.db_url, autocommit=True) as conn:
        run.own_backends.append(conn.info.backend_pid)
        while time.monotonic() < deadline:
            time.sleep(max(0.0, min(every, deadline - time.monotonic())))
            dead = run.stack.dead()
            if dead:
                run.failures += dead
                break
            previous = run.samples[-1] if run.samples else None
            run.samples.append(sample(run, conn, previous))
            if run.samples[-1].elapsed - last_shown >= show_every:
                print(progress(run.samples[-1], previous, run), flush=True)
                last_shown = run.samples[-1].elapsed
    run.stop.set()
    for t in threads:
        t.join(30)


def settle(run: Run, timeout: float = 90.0) -> None:
    """After the devices stop: until every acknowledged reading is stored, vision has
    analysed (or dropped) every frame it received and ingest has every finding."""
    wanted = sum(run.acknowledged().values())
    deadline = time.monotonic() + timeout
    last: tuple[float, ...] = ()
    while time.monotonic() < deadline:
        with psycopg.connect(run.stack.db_url) as conn:
            stored = stored_readings(conn, {}).messages
        vision = scrape(run.stack.metrics_url("vision"))
        ingest = scrape(run.stack.metrics_url("ingest"))
        now = (value(vision, "sunlight_vision_frames_received_total"),
               value(vision, "sunlight_vision_frames_total"),
               sum(value(vision, "sunlight_vision_findings_total", phase=p)
                   for p in ("start", "update", "end")),
               value(ingest, "sunlight_ingest_findings_total"))
        if stored >= wanted and now == last and now[3] >= now[2]:
            return
        last = now
        time.sleep(1.0)
    run.failures.append(f"not settled after {timeout:.0f} s (readings, frames or findings"
                        " still arriving)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sensors", type=int, default=200)
    parser.add_argument("--cameras", type=int, default=20)
    parser.add_argument("--incidents-per-day", type=float, default=4.0,
                        help="incidents per sensor and simulated day (real estates: ~0.02)")
    parser.add_argument("--litter-dwell", type=float, default=180.0,
                        help="seconds (SPEC default 600: longer than a short run)")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    seconds = args.minutes * 60
    work = Path(tempfile.mkdtemp(prefix="sunlight-load-"))
    try:
        with scratch_database("sunlight_load") as db_url:
            # the scenes outlast the run, so no camera's video loops back to its start
            # (whole minutes: fewer lengths to render and cache)
            estate = build(work, sensors=args.sensors, cameras=args.cameras,
                           scene_seconds=60 * math.ceil((seconds + 60) / 60),
                           incidents_per_day=args.incidents_per_day,
                           litter_dwell_s=args.litter_dwell)
            probe = next(iter(estate.kinds))
            stack = start_stack(db_url, estate.path, estate.site, probe, work)
            try:
                ok = _measure(estate, stack, db_url, seconds, args, work)
            finally:
                stack.stop()
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


def _measure(estate: LoadEstate, stack: Stack, db_url: str, seconds: float,
             args: argparse.Namespace, work: Path) -> bool:
    postgres = PostgresBackends(db_url)
    groups: dict[str, Callable[[], list[int]]] = {
        "ingest": with_children(stack.services["ingest"].proc.pid),
        "vision": with_children(stack.services["vision"].proc.pid),
        "board": with_children(stack.services["board"].proc.pid),
        "mosquitto": lambda: [stack.broker_pid],
        "postgres": postgres,
        "edge sim": lambda: [os.getpid()],  # the gateways' agents (and this sampling)
    }
    # the gateways' broker, whatever MQTT_URL says
    agents = [Agent(config, EdgeSettings(edge_mqtt_url=stack.broker.url))
              for config in estate.gateways]
    # without mosquitto_sub (Debian: mosquitto-clients) the lag is not split edge/ingest
    tap = (TelemetryTap(stack.broker.host, stack.broker.port, estate.site, work / "tap.txt")
           if shutil.which("mosquitto_sub") else None)
    time.sleep(0.5)  # the tap subscribes before the first reading
    run = Run(estate, stack, agents, ProcessSampler(groups), datetime.now(UTC), seconds,
              own_backends=postgres.own)
    try:
        run_load(run, args.sample_every, show_every=30.0 if seconds > 120 else args.sample_every)
        settle(run)
    finally:
        run.arrivals = tap.stop() if tap else {}
    try:
        return report(run, args)
    finally:
        postgres.close()


if __name__ == "__main__":
    main()
