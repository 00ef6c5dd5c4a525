"""Password hashes (argon2id), opaque session tokens and invitation codes.

Only hashes reach the database: argon2id for passwords (slow on purpose), SHA-256 for
tokens and codes (long random strings, so a fast hash is enough and lookups are exact).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "Busy",
    "check_password",
    "digest",
    "hash_password",
    "needs_rehash",
    "new_invitation_code",
    "new_token",
    "normalise_code",
    "password_check",
]

_hasher = PasswordHasher()  # argon2-cffi's RFC 9106 low-memory profile
# Verified when the login is unknown, so a wrong login costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
# Crockford's base32 letters: no I, L, O or U, so a code read aloud or off paper is typed right.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_LENGTH = 12


def hash_password(password: str) -> str:
    """The hash to store; which passwords are good enough is services.board.password_policy's."""
    return _hasher.hash(password)


# argon2 takes ~50 ms of CPU and 64 MiB per check: a few at once per worker use the cores;
# more only share them, each taking longer, with the memory of all
_CHECKS = threading.BoundedSemaphore(max(2, (os.cpu_count() or 2) // 2))
CHECK_WAIT_S = 10.0


class Busy(RuntimeError):
    """No password check could start within CHECK_WAIT_S."""


@contextmanager
def password_check() -> Iterator[None]:
    """A slot for hashing or checking a password; Busy when none frees up in time."""
    if not _CHECKS.acquire(timeout=CHECK_WAIT_S):
        raise Busy("too many sign-ins at once")
    try:
        yield
    finally:
        _CHECKS.release()


def check_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; with no hash (no such login) it still takes as long."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def new_invitation_code() -> str:
    """Twelve characters in three groups, e.g. "7KQ2-M9XD-4RTB" (60 bits)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, _CODE_LENGTH, 4))


def normalise_code(code: str) -> str:
    """What a resident typed, the way it was issued: case, spaces and dashes forgiven."""
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    raw = raw.replace("O", "0").replace("I", "1").replace("L", "1")
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))
