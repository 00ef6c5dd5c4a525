"""Slowing down password and invitation-code guessing without locking anyone out.

Failures are counted per account (by its normal login) and per client address. After a
few free failures each further one makes the next try wait, the wait doubling up to 15
minutes; counts are forgotten after an hour without failures.

- An address that is waiting is refused whatever it sends: that is the per-address limit
  across accounts, which stops a spray of many logins from one place.
- An account that is waiting is refused only to addresses that have failed too. A correct
  password from an address with no failures always signs in: whoever guesses at `admin`
  slows their own guessing down, never the real admin's sign-in.
- Invitation codes: wrong codes are counted per address the same way.

Refusals come before any password is hashed (argon2 takes ~50 ms of CPU and 64 MiB on
purpose), so a throttled guesser costs the board one indexed read. The client address is
the one the audit log names (services.board.audit): uvicorn's, which trusts
X-Forwarded-For only from FORWARDED_ALLOW_IPS (127.0.0.1 unless set), so a client cannot
pick its own address. IPv6 clients are counted per /64, the block one host usually holds.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg

from services.board.problems import Problem
from services.store import throttle

__all__ = ["Limits", "SignInThrottle", "address_key"]

Conn = psycopg.Connection[Any]
FORGET = timedelta(hours=1)
FIRST_DELAY = timedelta(seconds=1)
LONGEST = timedelta(minutes=15)


@dataclass(frozen=True)
class Limits:
    """Failures let through before delays start, per account, per address, and wrong
    invitation codes per address."""

    account: int = 5
    address: int = 20
    codes: int = 5


def address_key(address: str | None) -> str:
    """What an address is counted as: itself, its /64 for IPv6, "unknown" without one."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _login_key(login: str) -> str:
    """The key of a login's count: its hash, as what was typed may be someone's password
    typed into the wrong field (the audit log keeps no unknown login either)."""
    return "login:" + hashlib.sha256(login.encode()).hexdigest()[:32]


def _refusal(until: datetime, now: datetime, *, en: str, zh: str) -> Problem:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return Problem(429, "rate-limited", f"{en}; try again in {seconds} s",
                   zh=f"{zh}，请 {seconds} 秒后再试", headers={"Retry-After": str(seconds)},
                   retry_after=seconds)


class SignInThrottle:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    # --- passwords --------------------------------------------------------------------

    def check_login(self, conn: Conn, login: str, address: str | None, now: datetime) -> None:
        """Refuse (429) a try that must wait: `login` in its normal form."""
        by_address, by_account = f"address:{address_key(address)}", _login_key(login)
        found = throttle.state(conn, [by_address, by_account], now, FORGET)
        failures, until = found.get(by_address, (0, now))
        if until > now:
            raise _refusal(until, now, en="too many failed sign-ins from your address",
                           zh="您所在的网络登录失败次数过多")
        account_until = found.get(by_account, (0, now))[1]
        if failures and account_until > now:
            raise _refusal(account_until, now, en="too many failed sign-ins for this account",
                           zh="这个账号登录失败次数过多")

    def failed_login(self, conn: Conn, login: str, address: str | None, now: datetime) -> None:
        for key, free in ((f"address:{address_key(address)}", self.limits.address),
                          (_login_key(login), self.limits.account)):
            throttle.fail(conn, key, now, forget=FORGET, free=free, first_delay=FIRST_DELAY,
                          longest=LONGEST)

    def signed_in(self, conn: Conn, login: str) -> None:
        """The account's own count starts again; the address keeps its failures."""
        throttle.clear(conn, _login_key(login))

    # --- invitation codes -------------------------------------------------------------

    def check_code(self, conn: Conn, address: str | None, now: datetime) -> None:
        key = f"join:{address_key(address)}"
        until = throttle.state(conn, [key], now, FORGET).get(key, (0, now))[1]
        if until > now:
            raise _refusal(until, now, en="too many wrong invitation codes from your address",
                           zh="您所在的网络输错邀请码次数过多")

    def wrong_code(self, conn: Conn, address: str | None, now: datetime) -> None:
        throttle.fail(conn, f"join:{address_key(address)}", now, forget=FORGET,
                      free=self.limits.codes, first_delay=FIRST_DELAY, longest=LONGEST)
