"""Mosquitto credentials and ACLs: each device may publish only under its own topic.

Pure rendering (hashes, passwords, the password file, the ACL file) plus two small I/O
helpers at the end: `write_broker_files` (atomic) and `reload_mosquitto` (SIGHUP).

Password file (``password_file``), one line per account, the format `mosquitto_passwd`
writes for Mosquitto 2 (PBKDF2-HMAC-SHA512, 64-byte key, 12-byte salt)::

    leak-pump-room:$7$101$<base64 salt>$<base64 hash>

ACL file (``acl_file``): a ``user`` line opens each account's block, ``topic read|write
FILTER`` lines grant. Anything not granted is denied, so a device that has no ``read``
line receives nothing, and a publish outside its own topics is refused (Mosquitto 2 answers
an MQTT 5 QoS 1 publish with PUBACK 0x87 Not authorized and drops the message).

Shared subscriptions: Mosquitto checks a message against ``read`` rules with its real
topic, without the ``$share/{group}/`` prefix, so ``topic read sunlight/v1/{site}/#``
also covers ``$share/ingest/sunlight/v1/{site}/+/telemetry``. (Mosquitto's default ACL
check allows every SUBSCRIBE and filters at delivery.)
"""

from __future__ import annotations

import base64
import contextlib
import grp
import hashlib
import hmac
import os
import re
import secrets
import signal
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from services.contract.topics import ID_PATTERN, ROOT, Kind

__all__ = [
    "ACL_FILE",
    "DEFAULT_ITERATIONS",
    "PASSWORD_FILE",
    "SERVICE_ACCOUNTS",
    "Account",
    "AccountError",
    "BrokerFiles",
    "ReloadError",
    "Role",
    "acl_rules",
    "check_username",
    "generate_password",
    "hash_password",
    "reload_mosquitto",
    "render_acl_file",
    "render_password_file",
    "service_kind",
    "service_username",
    "verify_password",
    "write_broker_files",
]

PASSWORD_FILE = "passwd"
ACL_FILE = "acl"

# mosquitto_passwd's own default (PW_DEFAULT_ITERATIONS in Mosquitto 2.0). It is low, and
# that is deliberate here: every password is machine-made with 192 bits of entropy, so key
# stretching adds no protection against guessing, while single-threaded Mosquitto pays the
# iterations on every CONNECT (a reconnect storm of a whole estate). Mosquitto reads the
# count from each line, so a higher one can be chosen per hash if passwords ever get typed.
DEFAULT_ITERATIONS = 101
_SALT_BYTES = 12  # what mosquitto_passwd uses
_KEY_BYTES = 64  # SHA-512's output
_PASSWORD_BYTES = 24  # 192 bits -> 32 URL-safe characters

_USERNAME = re.compile(f"^{ID_PATTERN}$")
_HASH = re.compile(r"^\$7\$(\d+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$")


class AccountError(ValueError):
    """A username or hash that would corrupt the files or the topics."""


class Role(StrEnum):
    DEVICE = "device"  # a sensor: telemetry, event, status
    CAMERA = "camera"  # a camera: the same plus frame
    SERVICE = "service"  # one of SERVICE_ACCOUNTS


# Service accounts by short name; `sunlight devices service ingest` makes sunlight-ingest.
SERVICE_ACCOUNTS: dict[str, str] = {
    "ingest": "sunlight-ingest",
    "vision": "sunlight-vision",
    "board": "sunlight-board",
}
_DEVICE_KINDS = (Kind.TELEMETRY, Kind.EVENT, Kind.STATUS)
_CAMERA_KINDS = (*_DEVICE_KINDS, Kind.FRAME)


# Every username that starts so is a service's: devices may not use the prefix, so that
# no device's client id (its username, see deploy/) can ever be a service's.
SERVICE_PREFIX = "sunlight-"
# sunlight-ingest, or sunlight-ingest-<name>: another login of the same service, e.g. for
# a second estate on the same broker (`sunlight devices service ingest --name …`)
_SERVICE_NAME = re.compile(
    rf"^({'|'.join(map(re.escape, SERVICE_ACCOUNTS.values()))})(-[a-z0-9][a-z0-9_-]*)?$"
)


def service_kind(username: str) -> str | None:
    """The service account whose rights a username has (`sunlight-ingest-mingyue` ->
    `sunlight-ingest`), or None when it is not a service's username."""
    match = _SERVICE_NAME.match(username)
    return match.group(1) if match and len(username) <= 64 else None


def service_username(name: str, login: str | None = None) -> str:
    """`ingest` or `sunlight-ingest` -> `sunlight-ingest`; with `login`, that username,
    which must be the service's own (`sunlight-ingest-…`); AccountError for anything else."""
    if name in SERVICE_ACCOUNTS:
        base = SERVICE_ACCOUNTS[name]
    elif name in SERVICE_ACCOUNTS.values():
        base = name
    else:
        known = ", ".join(SERVICE_ACCOUNTS)
        raise AccountError(f"unknown service account {name!r} (known: {known})")
    if login is None:
        return base
    if service_kind(login) != base:
        raise AccountError(f"{login!r} is not a login of {base}: use {base}-<name>")
    return login


@dataclass(frozen=True)
class Account:
    """One broker login: its username (the device id or service name), site and role."""

    username: str
    site: str
    role: Role
    password_hash: str

    def __post_init__(self) -> None:
        check_username(self.username)
        check_username(self.site, what="site id")
        if self.role is Role.SERVICE and service_kind(self.username) is None:
            raise AccountError(f"{self.username!r} is not a service account")
        if self.role is not Role.SERVICE and self.username.startswith(SERVICE_PREFIX):
            raise AccountError(f"{self.username!r} is reserved for a service account"
                               f" (device ids may not start with {SERVICE_PREFIX!r})")
        if not _HASH.match(self.password_hash):
            raise AccountError(f"account {self.username!r} has no Mosquitto $7$ password hash")


def check_username(value: str, *, what: str = "username") -> str:
    """Ids go into topics, the password file (`user:hash`) and ACL lines: slugs only."""
    if not _USERNAME.match(value):
        raise AccountError(f"{what} {value!r} must match {ID_PATTERN}")
    return value


# --- passwords ------------------------------------------------------------------------


def generate_password() -> str:
    """A strong random password (192 bits) that is safe in URLs and shell lines."""
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def hash_password(
    password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> str:
    """The `$7$` line Mosquitto 2 checks: PBKDF2-HMAC-SHA512 over the UTF-8 password."""
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    if not password:
        raise ValueError("an empty password cannot be hashed")
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, _KEY_BYTES)
    return f"$7${iterations}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, password_hash: str) -> bool:
    """Whether `password` matches a `$7$` hash, in constant time."""
    match = _HASH.match(password_hash)
    if not match:
        return False
    iterations, salt, expected = match.groups()
    key = hashlib.pbkdf2_hmac(
        "sha512", password.encode(), base64.b64decode(salt), int(iterations), _KEY_BYTES
    )
    return hmac.compare_digest(key, base64.b64decode(expected))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- rendering ------------------------------------------------------------------------

_HEADER = (
    "# Generated by `sunlight devices` from the database; edits here are overwritten.\n"
    "# Mosquitto reads this file at start and on SIGHUP (`sunlight devices write-files\n"
    "# --reload-pid /run/mosquitto/mosquitto.pid`, or `kill -HUP <pid>`).\n"
)


def _ordered(accounts: Iterable[Account]) -> list[Account]:
    """Services first, then devices by id; one entry per username."""
    seen: dict[str, Account] = {}
    for account in accounts:
        if account.username in seen:
            raise AccountError(f"account {account.username!r} appears twice")
        seen[account.username] = account
    return sorted(seen.values(), key=lambda a: (a.role is not Role.SERVICE, a.username))


def render_password_file(accounts: Iterable[Account]) -> str:
    """`username:hash` lines for Mosquitto's `password_file` (revoked accounts left out)."""
    lines = [_HEADER]
    lines += [f"{a.username}:{a.password_hash}\n" for a in _ordered(accounts)]
    return "".join(lines)


def acl_rules(account: Account) -> list[tuple[str, str]]:
    """(access, topic filter) pairs granted to one account; nothing else is allowed."""
    base = f"{ROOT}/{account.site}"
    match account.role:
        case Role.DEVICE:
            return [("write", f"{base}/{account.username}/{kind}") for kind in _DEVICE_KINDS]
        case Role.CAMERA:
            return [("write", f"{base}/{account.username}/{kind}") for kind in _CAMERA_KINDS]
        case Role.SERVICE:
            kind = service_kind(account.username)
            assert kind is not None  # checked in Account
            return _SERVICE_RULES[kind](base)


_SERVICE_RULES: dict[str, Callable[[str], list[tuple[str, str]]]] = {
    # Everything of its site, shared subscriptions included ($share/ingest/... is checked
    # against the message's topic without the prefix).
    # Write on the devices' telemetry and event topics only to clear what a device left
    # retained there (an empty retained message, services/ingest/service.py).
    "sunlight-ingest": lambda base: [
        ("read", f"{base}/#"),
        ("write", f"{base}/+/{Kind.TELEMETRY}"),
        ("write", f"{base}/+/{Kind.EVENT}"),
    ],
    # Frames in, findings out (ingest turns findings into tickets).
    "sunlight-vision": lambda base: [
        ("read", f"{base}/+/{Kind.FRAME}"),
        ("write", f"{base}/+/{Kind.FINDING}"),
    ],
    # Notifications out, device status in.
    "sunlight-board": lambda base: [
        ("write", f"{base}/notify/#"),
        ("read", f"{base}/+/{Kind.STATUS}"),
    ],
}


def render_acl_file(accounts: Iterable[Account]) -> str:
    """Mosquitto's `acl_file`: one `user` block per account, deny by default."""
    lines = [
        _HEADER,
        "# Nothing is granted before the first `user` line: anonymous clients (refused by\n",
        "# allow_anonymous false anyway) and unknown users may do nothing.\n",
    ]
    for account in _ordered(accounts):
        lines.append(f"\n# {account.role}\nuser {account.username}\n")
        lines += [f"topic {access} {flt}\n" for access, flt in acl_rules(account)]
    return "".join(lines)


# --- I/O: writing the files and reloading the broker -----------------------------------


@dataclass(frozen=True)
class BrokerFiles:
    password_file: Path
    acl_file: Path
    accounts: int


def write_broker_files(
    directory: Path, accounts: Sequence[Account], *, group: str | None = None
) -> BrokerFiles:
    """Write `passwd` and `acl` into `directory`, each atomically (temp file + rename).

    Modes: the password file 0600, the ACL file 0640. With `group` (the group Mosquitto
    runs as, e.g. `mosquitto`) both files get that group and mode 0640, so a broker that
    drops to its own user can read them. Without `group`, a file that exists keeps its
    group (and stays 0640 if that group is not ours): a later `add` without --group must
    not make the files unreadable to the broker at its next reload.

    Mosquitto reads both files only at start and when it gets SIGHUP: after writing, send
    it SIGHUP (`reload_mosquitto`), or the old credentials stay in force. The ACL file is
    written first: every mixture of an old and a new file is safe (a user without ACL
    rules may do nothing), should the broker reload between the two renames.
    """
    directory.mkdir(parents=True, exist_ok=True)
    gid = grp.getgrnam(group).gr_gid if group is not None else None
    acl = directory / ACL_FILE
    passwd = directory / PASSWORD_FILE
    acl_gid = gid if gid is not None else _foreign_group(acl)
    _write_atomic(acl, render_acl_file(accounts), 0o640, acl_gid)
    passwd_gid = gid if gid is not None else _foreign_group(passwd)
    passwd_mode = 0o640 if passwd_gid is not None else 0o600
    _write_atomic(passwd, render_password_file(accounts), passwd_mode, passwd_gid)
    return BrokerFiles(password_file=passwd, acl_file=acl, accounts=len(accounts))


def _foreign_group(path: Path) -> int | None:
    """The group of an existing file when it is not the one new files get; else None."""
    try:
        gid = path.stat().st_gid
    except FileNotFoundError:
        return None
    return gid if gid != os.getegid() else None


def _write_atomic(path: Path, text: str, mode: int, gid: int | None) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # Mode and group before any content is written: no moment with wider access.
        os.fchmod(fd, mode)
        if gid is not None:
            os.fchown(fd, -1, gid)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


class ReloadError(RuntimeError):
    pass


def reload_mosquitto(pid_file: Path) -> int:
    """Send SIGHUP to the Mosquitto whose pid is in `pid_file`, so it rereads both files.

    Refuses (ReloadError) when the pid is not a running `mosquitto`: a stale pid file
    must not make us signal an unrelated process (SIGHUP ends most programs).
    """
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError) as exc:
        raise ReloadError(f"cannot read a pid from {pid_file}: {exc}") from None
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        raise ReloadError(f"no process {pid} (from {pid_file}) is running") from None
    except OSError:
        name = "mosquitto"  # no /proc here: trust the pid file
    if name != "mosquitto":
        raise ReloadError(f"process {pid} (from {pid_file}) is {name!r}, not mosquitto")
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ReloadError(f"process {pid} (from {pid_file}) is gone") from None
    return pid
