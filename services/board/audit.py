"""What the board writes to the audit log, and where a request came from.

`ClientAddress` (an ASGI layer) keeps the client's address for the request, so that the
write path (services.board.workflow) can name it without every caller passing it along.
Behind a reverse proxy, run uvicorn with --proxy-headers (and --forwarded-allow-ips) so
that this is the resident's or the staff member's address, not the proxy's.
"""

from __future__ import annotations

import getpass
import os
from contextvars import ContextVar
from datetime import datetime

from starlette.types import ASGIApp, Receive, Scope, Send

from services.board.accounts import User
from services.store.audit import AuditEntry
from services.tickets import Actor, Role

__all__ = ["AUDITED_ROLES", "ClientAddress", "by_operator", "client_address", "entry_by",
           "is_audited"]

# the roles whose actions and sign-ins are logged: residents' own steps are in each
# ticket's history, and no resident is named in the audit log
AUDITED_ROLES = frozenset({Role.STAFF, Role.MANAGER, Role.AUDITOR})

_address: ContextVar[str | None] = ContextVar("sunlight_client_address", default=None)


def client_address() -> str | None:
    """The address of the request being answered; None outside a request."""
    return _address.get()


class ClientAddress:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        token = _address.set(str(client[0]) if client else None)
        try:
            await self.app(scope, receive, send)
        finally:
            _address.reset(token)


def is_audited(actor: Actor | User) -> bool:
    return actor.role in AUDITED_ROLES


def entry_by(who: Actor | User, *, site: str, at: datetime, action: str, target: str = "",
             summary: str = "") -> AuditEntry:
    """An entry for something `who` did in this request."""
    return AuditEntry(site=site, at=at, role=who.role.value, action=action, person_id=who.id,
                      actor_name=who.name, target=target, address=client_address(),
                      summary=summary)


def _system_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container's uid with no passwd entry
        return f"uid {os.getuid()}"


def by_operator(*, site: str, at: datetime, action: str, target: str = "",
                summary: str = "") -> AuditEntry:
    """An entry for a command run at the command line (`sunlight …`), named by the system
    user who ran it."""
    return AuditEntry(site=site, at=at, role="operator", action=action,
                      actor_name=_system_user(), target=target, summary=summary)
