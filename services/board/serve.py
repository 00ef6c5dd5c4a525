"""Serving the board with uvicorn, one or several worker processes.

Several workers each listen on a socket of their own, bound with SO_REUSEPORT, so the
kernel spreads new connections over them by a hash of the addresses. With one shared
socket (uvicorn's `--workers`), the first worker to wake accepts a whole burst: 50
keep-alive clients arriving together split 39/11, 9/41 or 14/36 here, and the busier
worker's clients waited twice as long (reads p99 120–150 ms instead of under 100).

Sockets are bound with IPPROTO_TCP: uvicorn leaves the protocol number at 0, asyncio then
never sets TCP_NODELAY on accepted connections, and every keep-alive response after the
first waits ~40 ms for the client's delayed ACK (Kludex/uvicorn#3149; measured here:
44 ms per request with 2 workers, 1.4 ms with 1).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from fastapi import FastAPI

__all__ = ["serve"]

STOP_S = 30.0  # how long workers get to finish their requests when the board stops
# a worker that dies sooner than this after it started failed to start (a bad database
# URL, a port taken): the board stops rather than start it again and again
STARTUP_S = 10.0

log = logging.getLogger(__name__)


def _listen(host: str, port: int, *, shared: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _run(app: Callable[[], FastAPI], sock: socket.socket, host: str, port: int) -> None:
    config = uvicorn.Config(app, factory=True, host=host, port=port, log_config=None,
                            proxy_headers=True)
    uvicorn.Server(config).run(sockets=[sock])


def _worker(app: Callable[[], FastAPI], host: str, port: int) -> None:
    """One worker process, with its own socket in the port's SO_REUSEPORT group."""
    _run(app, _listen(host, port, shared=True), host, port)


def serve(host: str, port: int, workers: int, app: Callable[[], FastAPI], *,
          listening: Callable[[], None] = lambda: None) -> None:
    """Run the board until interrupted; `listening` runs once the port is known to be free.

    `app` builds a worker's app, in the worker: with several workers it travels to each
    new process by pickling (spawn), so it is a module-level function, or a
    functools.partial of one with what the supervisor read (the settings)."""
    try:  # (workers: another program on the port must not join their group unnoticed)
        sock = _listen(host, port, shared=False)
    except OSError as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    listening()
    if workers == 1:
        _run(app, sock, host, port)
        return
    sock.close()
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)
    spawn = multiprocessing.get_context("spawn")

    def start() -> tuple[BaseProcess, float]:
        process = spawn.Process(target=_worker, args=(app, host, port),
                                name="sunlight-board")
        process.start()
        return process, time.monotonic()

    running = [start() for _ in range(workers)]
    try:
        while not stopping.wait(0.5):
            for i, (process, started) in enumerate(running):
                if process.is_alive():
                    continue
                if time.monotonic() - started < STARTUP_S:
                    raise SystemExit(f"a board worker failed to start (exit code"
                                     f" {process.exitcode})")
                log.warning("event=worker_exited pid=%s code=%s: starting another",
                            process.pid, process.exitcode)
                running[i] = start()
    finally:
        for process, _ in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process, _ in running:
            process.join(STOP_S)
            if process.is_alive():
                process.kill()
