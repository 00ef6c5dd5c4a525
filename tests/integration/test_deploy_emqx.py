"""The EMQX cluster's authentication and authorization queries (deploy/kubernetes/
emqx.conf) on the real PostgreSQL with the real schema: for accounts made the way
`sunlight devices` makes them, the authentication row is what EMQX's PBKDF2 check needs
(EMQX compares hex(pbkdf2(sha512, password, salt, 101, 64)) with password_hash), a
revoked account gets no row, and the authorization rows are exactly the Mosquitto ACL of
services/devices/broker_auth.py. (EMQX itself is not run here: no image can be pulled.)"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import psycopg
import pytest

from services.devices.broker_auth import Account, Role, acl_rules, hash_password
from services.store import devices as store
from tests.support.deploy import DEPLOY

CONF = (DEPLOY / "kubernetes" / "emqx.conf").read_text()
SITE = "yangguang-garden"
ACTIONS = {"write": "publish", "read": "subscribe"}


def _query(block: str) -> str:
    """The SQL of the `authentication` or `authorization` block, ${username} as a
    psycopg parameter (EMQX sends it as a prepared statement's parameter too)."""
    start = CONF.index(f"\n{block}")
    match = re.search(r'query = """(.*?)"""', CONF[start:], re.S)
    assert match, block
    return (match.group(1).replace("${username}", "%(username)s")
            .replace("${clientid}", "%(clientid)s"))


def _iterations() -> int:
    match = re.search(r"iterations = (\d+)", CONF)
    assert match
    return int(match.group(1))


ACCOUNTS = [
    ("leak-pump-room", Role.DEVICE),
    ("cam-b3-stairwell", Role.CAMERA),
    ("sunlight-ingest", Role.SERVICE),
    ("sunlight-vision", Role.SERVICE),
    ("sunlight-board", Role.SERVICE),
    ("sunlight-ingest-mingyue", Role.SERVICE),  # a second estate's ingest login
]


@pytest.fixture
def conn(empty_database_url: str) -> Any:
    from services.store import upgrade

    upgrade(empty_database_url)
    with psycopg.connect(empty_database_url, autocommit=True) as c:
        for username, role in ACCOUNTS:
            store.add_credential(c, device_id=username, site=SITE, role=role.value,
                                 password_hash=hash_password(f"pw-{username}"))
        yield c


def test_authentication_rows_check_the_password_as_emqx_does(conn: psycopg.Connection[Any]
                                                              ) -> None:
    query = _query("authentication")
    for username, _ in ACCOUNTS:
        rows = conn.execute(query, {"username": username, "clientid": username}).fetchall()
        assert len(rows) == 1, username
        password_hash, salt = rows[0]
        assert isinstance(salt, bytes) and len(salt) == 12
        for password, ok in ((f"pw-{username}", True), ("wrong", False)):
            derived = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _iterations(), 64)
            assert (derived.hex() == password_hash) is ok, username
    assert conn.execute(query, {"username": "nobody", "clientid": "nobody"}).fetchall() == []
    store.revoke_credential(conn, "leak-pump-room")
    assert conn.execute(query, {"username": "leak-pump-room",
                                "clientid": "leak-pump-room"}).fetchall() == []


def test_a_device_logs_in_only_under_its_own_client_id(conn: psycopg.Connection[Any]) -> None:
    """Client ids are bound to accounts at authentication: a device's client id is its
    username, a service's is its username or starts with `username-` (the StatefulSet's
    sunlight-ingest-0, -1 …). So no device can take over the ingest's, the vision
    service's or another device's session (issue 14)."""
    query = _query("authentication")

    def admitted(username: str, clientid: str) -> bool:
        return bool(conn.execute(query, {"username": username, "clientid": clientid})
                    .fetchall())

    for victim in ("sunlight-ingest-0", "sunlight-ingest", "sunlight-vision-shard-1",
                   "sunlight-board-1f2e3d4c", "cam-b3-stairwell", "leak-pump-room-2", ""):
        assert not admitted("leak-pump-room", victim), victim
    assert admitted("leak-pump-room", "leak-pump-room")
    assert admitted("cam-b3-stairwell", "cam-b3-stairwell")
    for username, clientid in (("sunlight-ingest", "sunlight-ingest-0"),
                               ("sunlight-ingest", "sunlight-ingest-1"),
                               ("sunlight-vision", "sunlight-vision"),
                               ("sunlight-vision", "sunlight-vision-shard-0"),
                               ("sunlight-board", "sunlight-board-1f2e3d4c")):
        assert admitted(username, clientid), (username, clientid)
    for username, clientid in (("sunlight-ingest", "leak-pump-room"),
                               ("sunlight-ingest", "sunlight-ingestx"),
                               ("sunlight-vision", "sunlight-ingest-0")):
        assert not admitted(username, clientid), (username, clientid)


def test_authorization_rows_are_the_mosquitto_acl(conn: psycopg.Connection[Any]) -> None:
    query = _query("authorization")
    for username, role in ACCOUNTS:
        rows = conn.execute(query, {"username": username}).fetchall()
        expected = {("allow", ACTIONS[access], topic)
                    for access, topic in acl_rules(Account(username, SITE, role,
                                                              hash_password("x")))}
        assert {row[:3] for row in rows} == expected, username
        assert len(rows) == len(expected)
        # devices: no subscribe rule at all (no $share/… either), and nothing retained
        # but their status
        if role is not Role.SERVICE:
            assert {row[1] for row in rows} == {"publish"}
            for _, _, topic, retain in rows:
                assert retain == (None if topic.endswith("/status") else 0), topic
    store.revoke_credential(conn, "sunlight-vision")
    assert conn.execute(query, {"username": "sunlight-vision"}).fetchall() == []
    assert conn.execute(query, {"username": "nobody"}).fetchall() == []
