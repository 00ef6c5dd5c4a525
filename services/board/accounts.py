"""Accounts: creating them (CLI, manager, invitation), signing in and out.

Used by the auth and admin routers and by `sunlight board create-user`; every function
takes a pool or connection and the time, so the same rules hold wherever it is called from.
An account belongs to the estate it was made for: another estate's board does not let it
in, nor redeem that estate's invitation codes. Sign-ins of staff, managers and auditors,
failed ones too, and the invitations issued go to the audit log with their change.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from services.board.password_policy import weakness
from services.board.passwords import (
    Busy,
    check_password,
    digest,
    hash_password,
    needs_rehash,
    new_invitation_code,
    new_token,
    normalise_code,
    password_check,
)
from services.board.problems import Problem
from services.board.throttle import SignInThrottle
from services.config import EstateConfig
from services.store.accounts import (
    Account,
    AccountExistsError,
    Person,
    account_by_login,
    add_account,
    normal_login,
    person_exists,
    revoke_session,
    save_session,
    set_password_hash,
    staff_number_taken,
)
from services.store.audit import AuditEntry, record
from services.store.invitations import Invitation, add_invitation, redeem_invitation
from services.tickets import Actor, Role

__all__ = [
    "NewAccount",
    "User",
    "authenticate",
    "create_account",
    "end_session",
    "issue_invitation",
    "join_with_code",
    "start_session",
]

Conn = psycopg.Connection[Any]
# what a login may be, in its normal form (full-width letters typed on a phone qualify)
BUSY_RETRY_S = 5
LOGIN_PATTERN = re.compile(r"[a-z0-9._@+-]{3,64}")


@dataclass(frozen=True)
class User:
    """Who is making a request."""

    id: str
    login: str
    role: Role
    department: str | None
    name: str
    building: str | None
    site: str | None = None  # the estate of the account; None: not bound to one

    @classmethod
    def of(cls, account: Account) -> User:
        return cls(account.person_id, account.login, account.role, account.department,
                   account.display_name, account.building, account.site)

    def belongs_to(self, site: str) -> bool:
        """Whether this account may use the board of estate `site`."""
        return self.site is None or self.site == site

    @property
    def actor(self) -> Actor:
        # a resident acts under an opaque id only: no name of theirs enters the history
        return Actor(self.id, self.role, "" if self.role is Role.RESIDENT else self.name,
                     department=self.department or "")

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.STAFF, Role.MANAGER)


@dataclass(frozen=True)
class NewAccount:
    login: str
    password: str
    role: Role
    staff_id: str | None = None  # staff: their number in the estate config
    person_id: str | None = None  # manager/auditor: an id of their choosing
    name: str = ""
    phone: str | None = None
    building: str | None = None
    unit: str | None = None


def _new_person_id(role: Role) -> str:
    return f"{role.value[0]}-{secrets.token_hex(6)}"


def _check_login(login: str) -> str:
    """The login in its normal form, if it is one the board accepts."""
    normal = normal_login(login)
    if not LOGIN_PATTERN.fullmatch(normal):
        raise Problem.field(422, "validation", "login", "a login is 3 to 64 letters a-z,"
                            " digits and . _ @ + -", zh="登录名须为 3 到 64 个字母、数字或"
                            " . _ @ + - 符号")
    return normal


def _check_password(new: NewAccount, login: str) -> None:
    weak = weakness(new.password, hints=(login, new.name, new.phone, new.staff_id,
                                         new.person_id, new.unit))
    if weak is not None:
        raise Problem.field(422, "validation", "password", weak.en, zh=weak.zh)


def _staff_person_id(conn: Conn, staff_id: str, site: str) -> str:
    """A staff member's account id: their number, unless another estate's account of the
    same number holds it (numbers are per estate): then "<number>@<estate>"."""
    return staff_id if not person_exists(conn, staff_id) else f"{staff_id}@{site}"


def create_account(conn: Conn, estate: EstateConfig, new: NewAccount, at: datetime) -> Account:
    """Check a new account against the estate config and store it (hashing the password):
    the login in its normal form, a password that is long and not easily guessed, a staff
    number of this estate that has no account here yet."""
    login = _check_login(new.login)
    department = staff_number = None
    person_id = new.person_id or _new_person_id(new.role)
    name = new.name
    if new.role is Role.STAFF:
        if not new.staff_id:
            raise Problem.field(422, "validation", "staff_id", "staff accounts need their staff"
                                " number from the estate config")
        try:
            member = estate.staff_by_id(new.staff_id)
        except KeyError as exc:
            raise Problem.field(422, "validation", "staff_id", str(exc.args[0])) from None
        department = estate.department_of(new.staff_id).id
        staff_number, name = new.staff_id, name or member.name
        if staff_number_taken(conn, estate.site.id, staff_number):
            raise Problem.field(409, "validation", "staff_id", f"the staff number"
                                f" {staff_number!r} has an account in this estate already")
        person_id = _staff_person_id(conn, new.staff_id, estate.site.id)
    elif new.staff_id:
        person_id = new.staff_id
    if new.building is not None:
        try:
            estate.building(new.building)
        except KeyError as exc:
            raise Problem.field(422, "validation", "building", str(exc.args[0])) from None
    _check_password(new, login)
    password_hash = hash_password(new.password)
    person = Person(person_id, new.role.value, name, new.phone, new.building, new.unit)
    try:
        return add_account(conn, person, login=login, password_hash=password_hash,
                           role=new.role, department=department, at=at,
                           site=estate.site.id, staff_number=staff_number)
    except AccountExistsError as exc:
        field = "staff_id" if "staff number" in str(exc) else "login"
        detail = str(exc) if field == "staff_id" else \
            f"the login {login!r} or id {person_id!r} is taken"
        raise Problem.field(409, "validation", field, detail) from None


def _sign_in_entry(account: Account | None, site: str, at: datetime, *, action: str,
                   address: str | None, summary: str = "") -> AuditEntry | None:
    """The audit entry of a sign-in: staff, managers and auditors by name; an unknown login
    anonymously (what was typed is not kept: it may be someone's password); residents'
    sign-ins are not logged."""
    if account is None:
        return AuditEntry(site=site, at=at, role="anonymous", action=action, address=address,
                          summary=summary or "unknown login")
    if account.role not in (Role.STAFF, Role.MANAGER, Role.AUDITOR):
        return None
    return AuditEntry(site=site, at=at, role=account.role.value, action=action,
                      person_id=account.person_id, actor_name=account.display_name,
                      target=f"account:{account.person_id}", address=address, summary=summary)


def authenticate(pool: ConnectionPool, login: str, password: str, now: datetime,
                 throttle: SignInThrottle, *, site: str | None = None,
                 address: str | None = None) -> Account:
    """The account for these credentials, or 401; a try that must wait is 429, refused
    before the password is hashed (services.board.throttle says who waits).

    The password is checked holding no database connection, and by at most a few threads
    of the worker at once (`password_check`): a burst of sign-ins queues for the CPU
    instead of taking every connection and thread the other requests need. A try that
    waited is looked at again, as its address may have been throttled meanwhile.

    Given `site`, only an account of that estate (or an unbound one) signs in: another
    estate's is answered as an unknown login. Sign-ins are logged for that estate."""
    login = normal_login(login)
    with pool.connection() as conn, conn.transaction():
        throttle.check_login(conn, login, address, now)
        account = account_by_login(conn, login, site)
    try:
        with password_check():
            with pool.connection() as conn, conn.transaction():
                throttle.check_login(conn, login, address, now)
            # an unknown login is checked against a dummy hash: as slow as a wrong password
            matches = check_password(account.password_hash if account else None, password)
            rehash = hash_password(password) if matches and account is not None \
                and needs_rehash(account.password_hash) else None  # argon2 was raised since
    except Busy:
        raise Problem(429, "rate-limited", f"too many sign-ins at once; try again in"
                      f" {BUSY_RETRY_S} s", zh=f"同时登录的人太多，请 {BUSY_RETRY_S} 秒后再试",
                      headers={"Retry-After": str(BUSY_RETRY_S)},
                      retry_after=BUSY_RETRY_S) from None

    def note(conn: Conn, action: str, summary: str = "") -> None:
        entry = None if site is None else _sign_in_entry(
            account, site, now, action=action, address=address, summary=summary)
        if entry is not None:
            record(conn, entry)

    with pool.connection() as conn, conn.transaction():
        if not matches:
            throttle.failed_login(conn, login, address, now)
            note(conn, "login.failed", "wrong password" if account else "")
        else:
            assert account is not None
            throttle.signed_in(conn, login)
            if rehash is not None:
                set_password_hash(conn, account.person_id, rehash)
            note(conn, "login")
    if not matches:  # the failure is counted (committed) before the answer
        raise Problem(401, "unauthenticated", "wrong login or password",
                      headers={"WWW-Authenticate": "Bearer"})
    assert account is not None
    return account


def start_session(pool: ConnectionPool, account: Account, now: datetime, ttl: timedelta) \
        -> tuple[str, datetime]:
    """A new opaque token (returned once) and when it expires; only its hash is stored."""
    token, expires = new_token(), now + ttl
    with pool.connection() as conn, conn.transaction():
        save_session(conn, digest(token), account.person_id, now, expires)
    return token, expires


def end_session(pool: ConnectionPool, token: str, now: datetime) -> None:
    with pool.connection() as conn, conn.transaction():
        revoke_session(conn, digest(token), now)


def issue_invitation(pool: ConnectionPool, estate: EstateConfig, *, building: str, uses: int,
                     valid_for: timedelta, created_by: str, now: datetime,
                     audit: AuditEntry | None = None) -> tuple[str, Invitation]:
    """A new code of this estate for one building (returned once) and its stored record;
    `audit` is recorded with it, its summary completed with what was issued."""
    try:
        estate.building(building)
    except KeyError as exc:
        raise Problem.field(422, "validation", "building", str(exc.args[0])) from None
    code = new_invitation_code()
    with pool.connection() as conn, conn.transaction():
        invitation = add_invitation(conn, code_hash=digest(code), hint=code[:4],
                                    building=building, uses=uses, expires_at=now + valid_for,
                                    created_by=created_by, at=now, site=estate.site.id)
        if audit is not None:
            record(conn, replace(audit, target=f"building:{building}", summary=(
                f"invitation {invitation.id} ({invitation.hint}…): {uses} uses, until"
                f" {invitation.expires_at:%Y-%m-%d}")))
    return code, invitation


def join_with_code(pool: ConnectionPool, estate: EstateConfig, code: str, new: NewAccount,
                   now: datetime, *, throttle: SignInThrottle,
                   address: str | None = None) -> Account:
    """A resident's account in the code's building; the use is taken only if it is created.
    Wrong codes are counted per address, and an address guessing codes is made to wait."""
    with pool.connection() as conn:
        with conn.transaction():
            throttle.check_code(conn, address, now)
        with conn.transaction():
            invitation = redeem_invitation(conn, digest(normalise_code(code)), now,
                                           estate.site.id)
            if invitation is not None:
                resident = NewAccount(new.login, new.password, Role.RESIDENT, name=new.name,
                                      phone=new.phone, building=invitation.building,
                                      unit=new.unit)
                return create_account(conn, estate, resident, now)
        with conn.transaction():  # the guess counts, in a transaction of its own
            throttle.wrong_code(conn, address, now)
        raise Problem.field(422, "validation", "code", "this invitation code is unknown, used"
                            " up or expired; ask the property office for a new one",
                            zh="邀请码不存在、已用完或已过期，请向物业服务中心索取新的邀请码")
