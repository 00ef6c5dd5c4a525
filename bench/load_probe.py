"""What the load test watches while it runs: CPU and memory per process (psutil), the
services' Prometheus metrics and a board request, sampled every few seconds; and when
each reading reached the broker."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # (no stubs installed)
from prometheus_client.parser import text_string_to_metric_families

Metrics = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Metrics:
    """Every sample of a /metrics page, keyed by (name, sorted labels)."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def histogram(metrics: Metrics, name: str) -> list[tuple[float, float]]:
    """(upper bound, cumulative count) of a histogram, in bound order."""
    rows = [(float(dict(labels)["le"]), v) for (n, labels), v in metrics.items()
            if n == f"{name}_bucket"]
    return sorted(rows)


def quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """A quantile from cumulative buckets, interpolated inside its bucket as Prometheus's
    histogram_quantile does; None without observations."""
    total = buckets[-1][1] if buckets else 0.0
    if total <= 0:
        return None
    rank, lower, below = q * total, 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if bound == float("inf"):
                return lower  # beyond the last finite bound: say at least that
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def minus(later: list[tuple[float, float]], earlier: list[tuple[float, float]]) \
        -> list[tuple[float, float]]:
    """The observations between two scrapes of one histogram."""
    before = dict(earlier)
    return [(bound, count - before.get(bound, 0.0)) for bound, count in later]


@dataclass
class Usage:
    """CPU (% of one core) and resident memory (MiB) of one named group of processes."""

    cpu: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)


class ProcessSampler:
    """Per group (a service, the broker, PostgreSQL's backends of this database, ...), the
    CPU used between samples and the memory held, over processes found by a callable."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self._groups = groups
        self._cpu: dict[int, float] = {}
        self._procs: dict[int, psutil.Process] = {}
        self.usage: dict[str, Usage] = {name: Usage() for name in groups}
        self.machine: list[float] = []
        self._at = time.monotonic()
        psutil.cpu_percent()
        self._prime()

    def _process(self, pid: int) -> psutil.Process:
        proc = self._procs.get(pid)
        if proc is None:
            proc = self._procs[pid] = psutil.Process(pid)
        return proc

    def _prime(self) -> None:
        for pids in self._groups.values():
            for pid in pids():
                try:
                    times = self._process(pid).cpu_times()
                except psutil.Error:
                    continue
                self._cpu[pid] = times.user + times.system

    def sample(self) -> None:
        now = time.monotonic()
        elapsed = max(now - self._at, 1e-6)
        self._at = now
        self.machine.append(psutil.cpu_percent())
        for name, pids in self._groups.items():
            cpu = rss = 0.0
            for pid in pids():
                try:
                    proc = self._process(pid)
                    with proc.oneshot():
                        times = proc.cpu_times()
                        memory = proc.memory_info().rss
                except psutil.Error:
                    continue
                total = times.user + times.system
                # a process seen for the first time started during the interval
                cpu += total - self._cpu.get(pid, 0.0)
                self._cpu[pid] = total
                rss += memory
            self.usage[name].cpu.append(100.0 * cpu / elapsed)
            self.usage[name].rss.append(rss / 2**20)


def with_children(pid: int) -> Callable[[], list[int]]:
    """A process and its children (uvicorn workers, multiprocessing helpers)."""
    def pids() -> list[int]:
        try:
            proc = psutil.Process(pid)
            return [pid, *(c.pid for c in proc.children(recursive=True))]
        except psutil.Error:
            return []
    return pids


def timed_get(url: str) -> float | None:
    """Seconds one GET took, or None if it failed."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read()
    except OSError:
        return None
    return time.perf_counter() - started


class TelemetryTap:
    """A `mosquitto_sub` (a C client in its own process) stamping when each reading reaches
    the broker's subscribers, to split the lag between the edge and ingest."""

    def __init__(self, host: str, port: int, site: str, path: Path) -> None:
        self._path = path
        with path.open("wb") as out:
            self._proc = subprocess.Popen(
                ["mosquitto_sub", "-h", host, "-p", str(port), "-q", "0",
                 "-t", f"sunlight/v1/{site}/+/telemetry", "-F", "%U %p"], stdout=out)

    def stop(self) -> dict[str, float]:
        """Message id → arrival (epoch seconds), for every reading seen."""
        self._proc.terminate()
        self._proc.wait(10)
        arrivals = {}
        for line in self._path.read_text(errors="replace").splitlines():
            stamp, _, payload = line.partition(" ")
            with contextlib.suppress(ValueError, KeyError, TypeError):
                arrivals[json.loads(payload)["message_id"]] = float(stamp)
        return arrivals
