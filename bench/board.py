"""Board benchmark: latency (p50, p99) and throughput of the HTTP API with 50 concurrent
clients, listing and creating tickets, with 100,000 tickets in the database.

Run: .venv/bin/python -m bench.board [--tickets 100000] [--clients 50] [--seconds 30]
     [--workers 2] [--rates 100,200,300,400,500]

A fresh database on the real PostgreSQL (DATABASE_URL's server, default 127.0.0.1:5432)
gets two years of generated history (bench/history.py) and a staff account; the board
runs as `sunlight board --workers N` on a free port, and the load comes from another
process (asyncio + httpx, one connection per client). The reads are a page of 20 of the
staff ticket list with a category filter, one ticket with its history, and a page of 50
of the public Open311 list.

Back to back (each client sends its next request when the last one answered): reads
only, and the same reads from wrk (a C client) when it is installed. These find the
server's ceiling; their latency is the queue in front of it (about clients / throughput).

Paced: the same 50 clients send reads at random times, at each offered rate of
`--rates` in all; latency counts from when each request was due, so a client still
waiting for its last answer adds that wait. These show the latency at a given load.

Last, back to back again, a mix with one write in five (an offline report entered by
staff).
Everything shares the machine's cores."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg

from bench.history import generate, scratch_database
from services.board.accounts import NewAccount, create_account
from services.config import load_config
from services.stack.ports import choose_port
from services.tickets import Role

ESTATE = load_config("deploy/estate.example.yaml")
PASSWORD = "bench-password-1"  # a throwaway account in a throwaway database
CATEGORIES = ("lighting", "litter", "cleaning", "repair_routine")
BUILDINGS = ("b1", "b2", "b3", "b4", "b5", "b6")


def _setup(url: str, tickets: int) -> int:
    generate(url, ESTATE.site.id, datetime.now(UTC), tickets, 0)
    with psycopg.connect(url) as conn:
        create_account(conn, ESTATE, NewAccount(login="bench-staff", password=PASSWORD,
                                                role=Role.STAFF, staff_id="KF-002"),
                       datetime.now(UTC))
        row = conn.execute("SELECT max(id) FROM tickets").fetchone()
    return int(row[0]) if row and row[0] else 0


def _start_board(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    # the API alone: the scheduler's first sweep would flag the generated history's
    # overdue tickets while the load runs
    env = os.environ | {"DATABASE_URL": url, "SUNLIGHT_LOG_LEVEL": "WARNING",
                        "SUNLIGHT_CONFIG": "deploy/estate.example.yaml",
                        "SUNLIGHT_BOARD_SCHEDULER": "false"}
    env.pop("MQTT_URL", None)
    board = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "board", "--port", str(port), "--workers",
         str(workers)], env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return board
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    board.kill()
    raise SystemExit("the board did not start")


def _request(client: httpx.AsyncClient, rng: random.Random, max_id: int, writes: float) \
        -> tuple[str, Coroutine[Any, Any, httpx.Response]]:
    """The next request a client sends: a read of one of three kinds, or a write."""
    if rng.random() < writes:
        return "create", client.post("/api/tickets", json={
            "channel": "phone", "category": rng.choice(CATEGORIES),
            "building": rng.choice(BUILDINGS), "area": "lobby",
            "description": "bench: reported by phone"})
    kind = rng.choice(("list", "ticket", "open311"))
    if kind == "list":
        return kind, client.get("/api/tickets", params={
            "category": rng.choice(CATEGORIES), "limit": 20})
    if kind == "ticket":
        return kind, client.get(f"/api/tickets/{rng.randint(1, max_id)}")
    return kind, client.get("/open311/v2/requests.json", params={"limit": 50})


async def _client(base: str, token: str, max_id: int, writes: float, until: float,
                  latencies: dict[str, list[float]], errors: list[str]) -> None:
    """Back to back: the next request as soon as the last one answered."""
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        while time.monotonic() < until:
            kind, request = _request(client, rng, max_id, writes)
            started = time.perf_counter()
            response = await request
            latencies[kind].append(time.perf_counter() - started)
            if response.status_code >= 400:
                errors.append(f"{kind} {response.status_code} {response.text[:200]}")


async def _paced_client(base: str, token: str, max_id: int, rate: float, seconds: float,
                        ready: asyncio.Barrier, latencies: dict[str, list[float]],
                        errors: list[str]) -> None:
    """Requests at random (Poisson) times, `rate` a second on average; each latency counts
    from when the request was due, so time spent waiting for the last answer counts too."""
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random()
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        # the clock starts once every client exists: making one blocks the event loop for
        # tens of ms, which would delay the others' first requests (the generator's cost)
        await ready.wait()
        until = time.monotonic() + seconds
        due = time.monotonic() + rng.expovariate(rate)
        while due < until:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            kind, request = _request(client, rng, max_id, 0.0)
            response = await request
            latencies[kind].append(time.monotonic() - due)
            if response.status_code >= 400:
                errors.append(f"{kind} {response.status_code} {response.text[:200]}")
            due += rng.expovariate(rate)


def _load(base: str, token: str, max_id: int, clients: int, seconds: float,
          writes: float, rate: float | None = None) \
        -> tuple[dict[str, list[float]], list[str], float]:
    """`clients` at once for `seconds`: back to back, or at `rate` requests/s in all."""
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []

    async def run() -> None:
        until = time.monotonic() + seconds
        ready = asyncio.Barrier(clients)
        await asyncio.gather(*(
            _client(base, token, max_id, writes, until, latencies, errors) if rate is None
            else _paced_client(base, token, max_id, rate / clients, seconds, ready,
                               latencies, errors)
            for _ in range(clients)))

    started = time.monotonic()
    asyncio.run(run())
    return latencies, errors, time.monotonic() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _report(title: str, latencies: dict[str, list[float]], errors: list[str],
            elapsed: float) -> float:
    """Print the run's figures; returns the reads' p99 in ms."""
    every = [v for values in latencies.values() for v in values]
    print(f"{title}: {len(every) / elapsed:,.0f} requests/s, {len(errors)} errors")
    groups = {"reads": [v for k, values in latencies.items() if k != "create" for v in values]}
    groups |= {k: v for k, v in latencies.items()}
    for name, values in groups.items():
        if not values:
            continue
        p50 = statistics.median(values) * 1000
        p99 = _percentile(values, 0.99) * 1000
        print(f"  {name:8s} n={len(values):6d}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    if errors:
        print(f"  first errors: {errors[:3]}")
    reads = groups["reads"]
    return _percentile(reads, 0.99) * 1000 if reads else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rates", default="100,200,300,400,500",
                        help="offered read rates (requests/s, from all clients together)"
                             " for the paced runs; empty: none")
    args = parser.parse_args()
    with scratch_database("sunlight_bench_board") as url:
        max_id = _setup(url, args.tickets)
        port = choose_port(8100)
        board = _start_board(url, port, args.workers)
        try:
            _run(port, max_id, args)
        finally:
            os.killpg(board.pid, signal.SIGTERM)
            board.wait(30)


_WRK_SCRIPT = """
math.randomseed(os.time())
request = function()
  local pick = math.random(3)
  if pick == 1 then
    return wrk.format("GET", "/api/tickets?limit=20&category=" .. ({"lighting", "litter",
      "cleaning", "repair_routine"})[math.random(4)])
  elseif pick == 2 then
    return wrk.format("GET", "/api/tickets/" .. math.random(1, MAX_ID))
  end
  return wrk.format("GET", "/open311/v2/requests.json?limit=50")
end
"""


def _wrk(base: str, token: str, max_id: int, clients: int, seconds: float) -> None:
    """The same reads from wrk (a C client), so that the client takes little CPU."""
    wrk = shutil.which("wrk")
    if wrk is None:
        print("reads with wrk: skipped (apt-get install wrk)")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_WRK_SCRIPT.replace("MAX_ID", str(max_id)))
    out = subprocess.run([wrk, "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--latency",
                          "-s", script.name, "-H", f"Authorization: Bearer {token}", base],
                         capture_output=True, text=True, check=False).stdout
    os.unlink(script.name)
    rate = next((line.split()[-1] for line in out.splitlines() if "Requests/sec" in line), "?")
    marks = {line.split()[0]: line.split()[1] for line in out.splitlines()
             if line.strip().startswith(("50%", "99%"))}
    errors = next((line.strip() for line in out.splitlines() if "Non-2xx" in line), "")
    print(f"reads with wrk: {rate} requests/s; p50 {marks.get('50%')}, p99 {marks.get('99%')}"
          f" {errors}".rstrip())


def _run(port: int, max_id: int, args: argparse.Namespace) -> None:
    base = f"http://127.0.0.1:{port}"
    token = httpx.post(f"{base}/api/auth/login", json={
        "login": "bench-staff", "password": PASSWORD}).json()["token"]
    print(f"{max_id:,} tickets; board: {args.workers} uvicorn workers; {args.clients}"
          f" concurrent clients for {args.seconds:g} s per run; cores: {os.cpu_count()}")
    _load(base, token, max_id, args.clients, 3.0, 0.0)  # warm up
    _report("reads only", *_load(base, token, max_id, args.clients, args.seconds, 0.0))
    _wrk(base, token, max_id, args.clients, args.seconds)
    met = []
    for rate in (float(r) for r in args.rates.split(",") if r.strip()):
        title = f"reads paced at {rate:g} requests/s from {args.clients} clients"
        if _report(title, *_load(base, token, max_id, args.clients, args.seconds, 0.0,
                                 rate)) < 100:
            met.append(rate)
    if args.rates:
        print(f"p99 under 100 ms at: {', '.join(f'{r:g}' for r in met) or 'none'} requests/s")
    # the writes last: the tickets they add leave the database vacuuming and checkpointing
    _report("mixed, 1 in 5 a write", *_load(base, token, max_id, args.clients, args.seconds,
                                             0.2))


if __name__ == "__main__":
    main()
