"""The load test's report: what was simulated, CPU and memory per process, lags minute by
minute, and the accounting of every reading, frame, finding and ticket."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg

from bench import load_checks as checks
from bench.load_estate import FPS, FRAME_WIDTH, KEYFRAME_EVERY_S, SENSOR_KINDS
from bench.load_probe import Metrics, histogram, minus, quantile, scrape, value
from services.config import load_config

if TYPE_CHECKING:
    from bench.load import Run

VISION = "sunlight_vision_"


@dataclass(frozen=True)
class Sample:
    at: datetime
    elapsed: float  # seconds since the devices started
    lag_p99: float | None  # of the readings written since the previous sample
    vision: Metrics
    ingest: Metrics
    vision_lag: list[tuple[float, float]]  # cumulative histogram buckets
    board_s: float | None  # one GET /api/health


def report(run: Run, args: argparse.Namespace) -> bool:
    """Print the figures; True when nothing was lost and the tickets are as expected."""
    setup(run, args)
    resources(run)
    with psycopg.connect(run.stack.db_url) as conn:
        lags(run, conn)
        accounting(run, conn)
    if run.failures:
        print("\nFAILED:\n  " + "\n  ".join(run.failures))
        return False
    print("\nnothing lost: every acknowledged reading stored once, every frame analysed or"
          " counted, every finding handled, the expected tickets opened")
    return True


def setup(run: Run, args: argparse.Namespace) -> None:
    kinds = Counter(run.estate.kinds.values())
    by_interval: dict[float, list[str]] = {}
    for kind, (_, interval) in SENSOR_KINDS.items():
        if kinds[kind]:
            by_interval.setdefault(interval, []).append(f"{kinds[kind]} {kind}")
    offered = sum(1 / i for i in run.estate.intervals.values())
    scenes = Counter(c.kind for c in run.estate.cameras)
    print(f"\nload test: {len(run.estate.kinds)} sensors and {len(run.estate.cameras)} cameras"
          f" for {run.seconds / 60:g} min on {os.cpu_count()} cores"
          f" ({len(run.agents)} edge gateways in this process)")
    for interval, names in sorted(by_interval.items()):
        print(f"  every {interval:g} s: {', '.join(names)}")
    print(f"  telemetry offered: {offered:.1f} msg/s (QoS 1); simulated incidents"
          f" {args.incidents_per_day:g} per sensor and day")
    print(f"  cameras: {', '.join(f'{n} {k}' for k, n in scenes.items())} scenes, {FRAME_WIDTH}"
          f" px wide, {FPS:g} frames/s read, sent when the edge sees motion plus a keyframe"
          f" every {KEYFRAME_EVERY_S:g} s (QoS 0); litter dwell {args.litter_dwell:g} s,"
          " fire exit 120 s")


def resources(run: Run) -> None:
    cores = os.cpu_count() or 1
    machine = [m * cores for m in run.sampler.machine]
    ours = [sum(u.cpu[i] for u in run.sampler.usage.values()) for i in range(len(machine))]
    print(f"\n{'process':<12} {'CPU mean':>9} {'CPU max':>8} {'RSS first':>10} {'RSS last':>9}"
          f" {'RSS max':>8}   (CPU: % of one core; RSS: MiB)")
    for name, usage in run.sampler.usage.items():
        if not usage.cpu:
            continue
        print(f"{name:<12} {statistics.fmean(usage.cpu):8.1f}% {max(usage.cpu):7.1f}%"
              f" {usage.rss[0]:10.0f} {usage.rss[-1]:9.0f} {max(usage.rss):8.0f}")
    if machine:
        others = [m - o for m, o in zip(machine, ours, strict=True)]
        print(f"{'all of ours':<12} {statistics.fmean(ours):8.1f}% {max(ours):7.1f}%")
        print(f"{'machine':<12} {statistics.fmean(machine):8.1f}% {max(machine):7.1f}%"
              f"   of {100 * cores}%; other processes (not this test):"
              f" {statistics.fmean(others):.0f}% mean")


def _at(samples: list[Sample], elapsed: float) -> int | None:
    """The index of the last sample taken by `elapsed` seconds into the run."""
    before = [i for i, s in enumerate(samples) if s.elapsed <= elapsed + 1e-6]
    return before[-1] if before else None


def lags(run: Run, conn: psycopg.Connection[Any]) -> None:
    by_minute = checks.reading_lags(conn, run.started, by_minute=True)
    print("\nby minute: telemetry lag = sensor read -> row written; vision lag = frame"
          " captured -> analysed (from its histogram); RSS at the minute's end;"
          " board = GET /api/health")
    print(f"{'min':>3} {'readings':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
          f" {'frames':>7} {'dropped':>7} {'v.p50 s':>7} {'v.p99 s':>7}"
          f" {'ingest MiB':>10} {'vision MiB':>10} {'board ms':>8}")
    usage = run.sampler.usage
    for minute, lag in by_minute:
        i, j = _at(run.samples, 60.0 * minute), _at(run.samples, 60.0 * (minute + 1))
        if j is None:
            continue
        first, last = (run.samples[i] if i is not None else None), run.samples[j]
        base: Metrics = first.vision if first else {}
        frames, dropped = (value(last.vision, f"{VISION}{name}") - value(base, f"{VISION}{name}")
                           for name in ("frames_total", "frames_dropped_total"))
        window = minus(last.vision_lag, first.vision_lag) if first else last.vision_lag
        board = [s.board_s for s in run.samples
                 if 60 * minute < s.elapsed <= 60 * (minute + 1) and s.board_s is not None]
        print(f"{minute + 1:>3} {lag.count:>8,} {lag.p50 * 1000:>7.0f} {lag.p99 * 1000:>7.0f}"
              f" {lag.max * 1000:>7.0f} {frames:>7,.0f} {dropped:>7,.0f}"
              f" {_s(quantile(window, 0.5))} {_s(quantile(window, 0.99))}"
              f" {usage['ingest'].rss[j]:>10.0f} {usage['vision'].rss[j]:>10.0f}"
              f" {statistics.median(board) * 1000 if board else float('nan'):>8.0f}")
    overall = checks.reading_lags(conn, run.started, by_minute=False)
    if overall:
        lag = overall[0][1]
        last_hist = run.samples[-1].vision_lag if run.samples else []
        print(f"all {lag.count:>8,} {lag.p50 * 1000:>7.0f} {lag.p99 * 1000:>7.0f}"
              f" {lag.max * 1000:>7.0f} {'':>7} {'':>7} {_s(quantile(last_hist, 0.5))}"
              f" {_s(quantile(last_hist, 0.99))}")
    split = checks.lag_split(conn, run.started, run.arrivals)
    if split:
        edge, server = split
        print(f"telemetry lag split by a broker subscriber's stamp ({edge.count:,} readings):"
              f" read -> at the broker {edge.p50 * 1000:.0f} / {edge.p99 * 1000:.0f} /"
              f" {edge.max * 1000:.0f} ms (edge: outbox, drain loop, PUBACK wait); at the"
              f" broker -> row written {server.p50 * 1000:.0f} / {server.p99 * 1000:.0f} /"
              f" {server.max * 1000:.0f} ms (ingest; p50 / p99 / max)")
    if run.samples:
        batches = histogram(run.samples[-1].ingest, "sunlight_ingest_batch_seconds")
        print(f"ingest: {batches[-1][1] if batches else 0:,.0f} batches, each written and"
              f" committed in {_ms(quantile(batches, 0.5))} (p50), {_ms(quantile(batches, 0.99))}"
              " (p99), from its histogram")
    if len(by_minute) >= 3:
        xs = [float(m) for m, _ in by_minute]
        slope = statistics.linear_regression(xs, [lag.p99 * 1000 for _, lag in by_minute]).slope
        print(f"telemetry p99 trend over the run: {slope:+.1f} ms per minute")
    print("RSS trend, last minus first sample: " + ", ".join(
        f"{name} {u.rss[-1] - u.rss[0]:+.0f} MiB" for name, u in run.sampler.usage.items()
        if u.rss))


def _ms(seconds: float | None) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds is not None else "-"


def _s(seconds: float | None) -> str:
    return f"{seconds:>7.2f}" if seconds is not None else f"{'-':>7}"


def accounting(run: Run, conn: psycopg.Connection[Any]) -> None:
    print()
    telemetry(run, conn)
    frames(run)
    tickets(run, conn)


def telemetry(run: Run, conn: psycopg.Connection[Any]) -> None:
    acknowledged = run.acknowledged()
    generated = sum(a.stats.readings for a in run.agents)
    queued = sum(len(a.outbox) for a in run.agents)
    stored = checks.stored_readings(conn, acknowledged)
    dead = checks.dead_letters(conn)
    acked = sum(acknowledged.values())
    print(f"telemetry: {generated:,} read by the sensors, {acked:,} acknowledged by the broker"
          f" (PUBACK), {queued:,} still queued at the edge; {stored.messages:,} stored"
          f" ({stored.duplicates} duplicates, {stored.gaps} sequence gaps,"
          f" {len(stored.short)} sensors missing acknowledged readings), {len(dead)} dead"
          " letters")
    if stored.duplicates or stored.gaps or stored.short:
        run.failures.append(f"readings: {stored.duplicates} duplicates, {stored.gaps} gaps,"
                            f" missing for {', '.join(stored.short[:10])}")
    if stored.messages > generated or stored.messages < acked:
        run.failures.append(f"readings stored {stored.messages} outside [{acked}, {generated}]")
    if dead:
        run.failures.append(f"dead letters: {dead[:3]}")


def frames(run: Run) -> None:
    cams = [s for a in run.agents for s in a.stats.cameras.values()]
    read = sum(c.read for c in cams)
    sent = sum(c.sent for c in cams)
    still = sum(c.skipped_still for c in cams)
    offline = sum(c.dropped_offline for c in cams)
    final = scrape(run.stack.metrics_url("vision"))
    received = value(final, f"{VISION}frames_received_total") - run.stack.vision_probes
    analysed = value(final, f"{VISION}frames_total")
    dropped = value(final, f"{VISION}frames_dropped_total")
    bad = value(final, f"{VISION}bad_frames_total")
    print(f"frames: {read:,} read by the cameras, {still:,} still (not sent, by design),"
          f" {offline:,} not sent (link down); {sent:,} sent (QoS 0), {received:,.0f} received"
          f" by vision ({sent - received:,.0f} lost in transit): {analysed:,.0f} analysed,"
          f" {dropped:,.0f} dropped (backlog full), {bad:,.0f} unusable")
    if received != analysed + dropped + bad:
        run.failures.append(f"frames unaccounted for: {received:.0f} received, {analysed:.0f}"
                            f" analysed + {dropped:.0f} dropped + {bad:.0f} unusable")
    if sent != received:
        run.failures.append(f"frames lost between the edge and vision: {sent - received:.0f}")
    ingest = scrape(run.stack.metrics_url("ingest"))
    published = sum(value(final, f"{VISION}findings_total", phase=p)
                    for p in ("start", "update", "end"))
    handled = value(ingest, "sunlight_ingest_findings_total")
    print(f"findings: {published:,.0f} published by vision, {handled:,.0f} handled by ingest")
    if handled < published:
        run.failures.append(f"findings lost: {published:.0f} published, {handled:.0f} handled")


def tickets(run: Run, conn: psycopg.Connection[Any]) -> None:
    estate = load_config(run.estate.path)
    states = checks.rule_states(conn, estate)
    # ingest ticks every few seconds: what is due now must be open one tick period later
    checked = datetime.now(UTC)
    time.sleep(checks.INGEST_TICK.total_seconds())
    opened = checks.sensor_tickets(conn, estate)
    later = datetime.now(UTC)
    sure = {s.key for s in states if s.due_by(checked)}
    allowed = {s.key for s in states if s.due_by(later)}
    delays = sorted(opened.values())
    print(f"sensor tickets: {len(opened)} opened; the stored readings call for {len(sure)}"
          f" (+{len(allowed - sure)} falling due while checking)"
          + _delays(delays, "after the condition held for the rule's duration"))
    missing, extra = sure - set(opened), set(opened) - allowed
    if missing or extra:
        run.failures.append(f"sensor tickets: missing {sorted(missing)[:10]},"
                            f" unexpected {sorted(extra)[:10]}")
    frames_read = {d: s.read for a in run.agents for d, s in a.stats.cameras.items()}
    table = checks.camera_tickets(conn, run.estate.cameras, frames_read)
    total = checks.CameraExpectation()
    for (camera, zone), e in sorted(table.items()):
        total.sure += e.sure
        total.possible += e.possible
        total.actual += e.actual
        total.delays += e.delays
        if not e.sure <= e.actual <= e.possible:
            run.failures.append(f"camera tickets {camera}/{zone}: {e.actual} opened, scene"
                                f" calls for {e.sure} to {e.possible}")
    print(f"camera tickets: {total.actual} opened; the scenes call for {total.sure} to"
          f" {total.possible}" + _delays(sorted(total.delays), "after the dwell"))


def _delays(delays: list[float], after: str) -> str:
    if not delays:
        return ""
    return (f"; written {statistics.median(delays):.1f} s (median), {delays[-1]:.1f} s (max)"
            f" {after}")
