"""Broker credentials: the Mosquitto password hash and the password and ACL files (pure)."""

from __future__ import annotations

import base64
import grp
import os
import re
import stat
from pathlib import Path

import pytest
from paho.mqtt.client import topic_matches_sub

from services.contract import Kind, topic
from services.devices.broker_auth import (
    ACL_FILE,
    DEFAULT_ITERATIONS,
    PASSWORD_FILE,
    Account,
    AccountError,
    ReloadError,
    Role,
    acl_rules,
    generate_password,
    hash_password,
    reload_mosquitto,
    render_acl_file,
    render_password_file,
    service_username,
    verify_password,
    write_broker_files,
)

SITE = "yangguang-garden"
# Made by Mosquitto 2.0.11: `mosquitto_passwd -b pw alice secret`.
MOSQUITTO_LINE = (
    "alice:$7$101$Ev0evquA1XvSddTZ$oKiiCOCelf7yAXZ+AvmoFJpU/JXR6JIWhh+cGNSrrix+7zFWmvTr1eP"
    "90FwVivt+3NWUmtfAGNeKQBMHRYYp2A=="
)


def _hash() -> str:
    return hash_password("pw")


def _accounts() -> list[Account]:
    h = _hash()
    return [
        Account("smoke-b1", SITE, Role.DEVICE, h),
        Account("cam-b3-stairwell", SITE, Role.CAMERA, h),
        Account("sunlight-ingest", SITE, Role.SERVICE, h),
        Account("sunlight-vision", SITE, Role.SERVICE, h),
        Account("sunlight-board", SITE, Role.SERVICE, h),
        Account("leak-pump-room", SITE, Role.DEVICE, h),
    ]


# --- hashes and passwords ---------------------------------------------------------------


def test_hash_reproduces_mosquitto_passwd_exactly() -> None:
    _, expected = MOSQUITTO_LINE.split(":", 1)
    salt = base64.b64decode(expected.split("$")[3])
    assert hash_password("secret", iterations=101, salt=salt) == expected
    assert verify_password("secret", expected)
    assert not verify_password("Secret", expected)


def test_hash_format_is_mosquitto_2_pbkdf2_sha512() -> None:
    h = hash_password("correct horse")
    match = re.fullmatch(r"\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)", h)
    assert match is not None
    assert int(match.group(1)) == DEFAULT_ITERATIONS
    assert len(base64.b64decode(match.group(2))) == 12  # salt
    assert len(base64.b64decode(match.group(3))) == 64  # SHA-512
    assert hash_password("correct horse") != h  # a fresh salt each time
    assert verify_password("correct horse", h)
    assert hash_password("x", iterations=5000).startswith("$7$5000$")


def test_verify_refuses_malformed_hashes() -> None:
    assert not verify_password("pw", "")
    assert not verify_password("pw", "$6$abc$def")
    assert not verify_password("pw", "pw")


def test_hash_refuses_empty_password_and_zero_iterations() -> None:
    with pytest.raises(ValueError):
        hash_password("")
    with pytest.raises(ValueError):
        hash_password("pw", iterations=0)


def test_generated_passwords_are_long_random_and_url_safe() -> None:
    passwords = {generate_password() for _ in range(200)}
    assert len(passwords) == 200
    for p in passwords:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", p)


# --- accounts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "username", ["", "a+b", "a/b", "a#", "dev:1", "Dev", "a b", "-lead", "x" * 65]
)
def test_usernames_that_would_break_files_or_topics_are_refused(username: str) -> None:
    with pytest.raises(AccountError):
        Account(username, SITE, Role.DEVICE, _hash())


def test_service_names_are_reserved() -> None:
    with pytest.raises(AccountError):
        Account("sunlight-ingest", SITE, Role.DEVICE, _hash())
    with pytest.raises(AccountError):
        Account("leak-pump-room", SITE, Role.SERVICE, _hash())
    with pytest.raises(AccountError):
        Account("leak-pump-room", SITE, Role.DEVICE, "plaintext")


def test_service_username_accepts_short_and_full_names() -> None:
    assert service_username("ingest") == "sunlight-ingest"
    assert service_username("sunlight-board") == "sunlight-board"
    with pytest.raises(AccountError, match="known: ingest, vision, board"):
        service_username("admin")


# --- the password file -------------------------------------------------------------------


def test_password_file_has_one_line_per_account_services_first() -> None:
    text = render_password_file(_accounts())
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    users = [line.split(":", 1)[0] for line in lines]
    assert users == [
        "sunlight-board", "sunlight-ingest", "sunlight-vision",
        "cam-b3-stairwell", "leak-pump-room", "smoke-b1",
    ]
    for line in lines:
        assert re.fullmatch(r"[a-z0-9-]+:\$7\$101\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+", line)
    # Mosquitto skips lines that start with '#': the header is a comment to it.
    assert all(line.startswith("#") for line in text.splitlines()[:3])
    assert "SIGHUP" in text


def test_password_file_of_no_accounts_is_only_comments() -> None:
    assert all(line.startswith("#") for line in render_password_file([]).splitlines())


def test_an_account_twice_is_an_error() -> None:
    h = _hash()
    with pytest.raises(AccountError, match="twice"):
        render_password_file([Account("smoke-b1", SITE, Role.DEVICE, h)] * 2)


# --- the ACL file ------------------------------------------------------------------------


def _blocks(text: str) -> dict[str, list[str]]:
    """user -> its `topic` lines, checking that no rule stands outside a user block."""
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("user "):
            current = line.removeprefix("user ")
            assert current not in blocks
            blocks[current] = []
            continue
        assert current is not None, f"rule before any user: {line!r}"
        assert line.startswith("topic "), line  # no `pattern` lines: they apply to all
        blocks[current].append(line)
    return blocks


def test_acl_file_grants_devices_only_their_own_topics() -> None:
    blocks = _blocks(render_acl_file(_accounts()))
    base = f"sunlight/v1/{SITE}"
    assert blocks["smoke-b1"] == [
        f"topic write {base}/smoke-b1/telemetry",
        f"topic write {base}/smoke-b1/event",
        f"topic write {base}/smoke-b1/status",
    ]
    assert blocks["cam-b3-stairwell"] == [
        f"topic write {base}/cam-b3-stairwell/telemetry",
        f"topic write {base}/cam-b3-stairwell/event",
        f"topic write {base}/cam-b3-stairwell/status",
        f"topic write {base}/cam-b3-stairwell/frame",
    ]
    assert blocks["sunlight-ingest"] == [  # write: only to clear retained junk
        f"topic read {base}/#",
        f"topic write {base}/+/telemetry",
        f"topic write {base}/+/event",
    ]
    assert blocks["sunlight-vision"] == [
        f"topic read {base}/+/frame",
        f"topic write {base}/+/finding",
    ]
    assert blocks["sunlight-board"] == [
        f"topic write {base}/notify/#",
        f"topic read {base}/+/status",
    ]


def _may(account: Account, access: str, name: str) -> bool:
    return any(a == access and topic_matches_sub(f, name) for a, f in acl_rules(account))


def test_acl_rules_as_mosquitto_matches_them() -> None:
    h = _hash()
    sensor = Account("smoke-b1", SITE, Role.DEVICE, h)
    camera = Account("cam-b3-stairwell", SITE, Role.CAMERA, h)
    ingest = Account("sunlight-ingest", SITE, Role.SERVICE, h)
    vision = Account("sunlight-vision", SITE, Role.SERVICE, h)
    board = Account("sunlight-board", SITE, Role.SERVICE, h)
    for kind in Kind:
        own = topic(SITE, "smoke-b1", kind)
        assert _may(sensor, "write", own) == (kind in {Kind.TELEMETRY, Kind.EVENT, Kind.STATUS})
        assert not _may(sensor, "write", topic(SITE, "smoke-b2", kind))
        assert not _may(sensor, "write", topic("other-site", "smoke-b1", kind))
        assert not _may(sensor, "read", own)  # devices read nothing
        assert _may(camera, "write", topic(SITE, "cam-b3-stairwell", kind)) == (
            kind is not Kind.FINDING
        )
        assert _may(ingest, "read", own)
        assert not _may(ingest, "read", topic("other-site", "smoke-b1", kind))
        # ingest writes only to clear what a device left retained on telemetry or event
        assert _may(ingest, "write", own) == (kind in {Kind.TELEMETRY, Kind.EVENT})
        assert _may(vision, "read", own) == (kind is Kind.FRAME)
        assert _may(vision, "write", own) == (kind is Kind.FINDING)
        assert _may(board, "read", own) == (kind is Kind.STATUS)
        assert not _may(board, "write", own)
    assert _may(board, "write", f"sunlight/v1/{SITE}/notify/tickets/42")
    assert not _may(board, "write", "sunlight/v1/other-site/notify/tickets/42")


def test_acl_file_leaves_out_accounts_not_given() -> None:
    # Revoked accounts are simply not passed in: they get no user block, hence no rights.
    text = render_acl_file(_accounts()[:1])
    assert set(_blocks(text)) == {"smoke-b1"}


# --- writing -------------------------------------------------------------------------------


def test_files_are_written_atomically_with_restrictive_modes(tmp_path: Path) -> None:
    target = tmp_path / "mosquitto"
    accounts = _accounts()
    written = write_broker_files(target, accounts)
    assert written.accounts == 6
    assert written.password_file == target / PASSWORD_FILE
    assert stat.S_IMODE(os.stat(written.password_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(written.acl_file).st_mode) == 0o640
    assert written.password_file.read_text() == render_password_file(accounts)
    assert written.acl_file.read_text() == render_acl_file(accounts)
    # Rewriting replaces the files (a new inode) and leaves no temporary files behind.
    before = os.stat(written.acl_file).st_ino
    write_broker_files(target, accounts[:2])
    assert os.stat(written.acl_file).st_ino != before
    assert sorted(p.name for p in target.iterdir()) == [ACL_FILE, PASSWORD_FILE]
    assert set(_blocks(written.acl_file.read_text())) == {"smoke-b1", "cam-b3-stairwell"}


def test_files_with_a_group_are_group_readable(tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    written = write_broker_files(tmp_path, _accounts(), group=group)
    for path in (written.password_file, written.acl_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        assert os.stat(path).st_gid == os.getgid()


def test_reload_refuses_a_pid_that_is_not_mosquitto(tmp_path: Path) -> None:
    pid_file = tmp_path / "mosquitto.pid"
    with pytest.raises(ReloadError, match="cannot read a pid"):
        reload_mosquitto(pid_file)
    pid_file.write_text(f"{os.getpid()}\n")  # this Python: SIGHUP would end it
    with pytest.raises(ReloadError, match="not mosquitto"):
        reload_mosquitto(pid_file)


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file another group needs root")
def test_a_rewrite_without_group_keeps_the_brokers_group(tmp_path: Path) -> None:
    other = next(g.gr_gid for g in grp.getgrall() if g.gr_gid != os.getegid())
    written = write_broker_files(tmp_path, _accounts())
    for path in (written.password_file, written.acl_file):
        os.chown(path, -1, other)
        path.chmod(0o640)
    write_broker_files(tmp_path, _accounts()[:1])  # e.g. `sunlight devices add` later
    for path in (written.password_file, written.acl_file):
        assert os.stat(path).st_gid == other
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_service_logins_and_the_reserved_prefix() -> None:
    """A second estate's ingest login has the ingest's rights; no device may take a name
    that starts like a service's (its client id would be a service's, see deploy/)."""
    from services.devices.broker_auth import service_kind, service_username

    assert service_kind("sunlight-ingest") == "sunlight-ingest"
    assert service_kind("sunlight-ingest-mingyue") == "sunlight-ingest"
    assert service_kind("sunlight-ingestx") is None
    assert service_kind("leak-pump-room") is None
    assert service_username("ingest", "sunlight-ingest-b") == "sunlight-ingest-b"
    with pytest.raises(AccountError):
        service_username("ingest", "sunlight-vision-b")
    site = "yangguang-garden"
    h = hash_password("x")
    account = Account("sunlight-ingest-b", site, Role.SERVICE, h)
    assert acl_rules(account) == acl_rules(Account("sunlight-ingest", site, Role.SERVICE, h))
    for name in ("sunlight-ingest-1", "sunlight-anything"):
        with pytest.raises(AccountError, match="reserved"):
            Account(name, site, Role.DEVICE, h)
