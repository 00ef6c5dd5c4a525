"""Small helpers shared by the embedded servers: free ports, waiting, log tails, errors."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

LOCALHOST = "127.0.0.1"


class ServiceStartError(RuntimeError):
    """An embedded server did not come up. The message ends with the tail of its log."""

    def __init__(self, service: str, reason: str, log_tail: str = "") -> None:
        self.service = service
        self.reason = reason
        self.log_tail = log_tail
        message = f"{service} did not start: {reason}"
        if log_tail:
            message += f"\n--- last lines of the {service} log ---\n{log_tail}"
        super().__init__(message)


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """True if a server could bind ``host:port`` now (with SO_REUSEADDR, as servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def ephemeral_port(host: str = LOCALHOST) -> int:
    """A port the kernel considers free right now (it may be taken again before use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def choose_port(preferred: int, host: str = LOCALHOST) -> int:
    """``preferred`` if it is free, else a free ephemeral port."""
    return preferred if port_is_free(preferred, host) else ephemeral_port(host)


def port_answers(port: int, host: str = LOCALHOST, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(
    port: int,
    host: str = LOCALHOST,
    *,
    timeout: float,
    alive: Callable[[], bool] | None = None,
) -> bool:
    """Wait until ``host:port`` accepts connections.

    Returns False on timeout, or as soon as ``alive()`` reports that the server died.
    """
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        if alive is not None and not alive():
            return False
        if port_answers(port, host, timeout=0.5):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a text file, or a note saying why there are none."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except OSError as exc:
        return f"(no log at {path}: {exc.strerror})"
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def process_cmdline(pid: int) -> list[str] | None:
    """The command line of a live process, [] where it cannot be read, None if it is gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rpartition(")")[2].split()[0] == "Z":
            return None  # a zombie: dead, only waiting to be reaped
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def terminate(pid: int, *, timeout: float = 10.0) -> None:
    """SIGTERM a process that is not our child, then SIGKILL it if it outlives ``timeout``."""
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_cmdline(pid) is None:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
