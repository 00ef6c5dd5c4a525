"""CSRF tokens for the pages' forms, beside the Origin check (services.board.pages.access).

Browsers name the page's origin on a POST, but not all of them always do (old browsers,
privacy extensions, some in-app browsers): a post with no Origin cannot be told apart by
it. So every form also carries a token that a page of another site cannot know:
HMAC-SHA256 keyed with the visitor's session token (the HttpOnly session cookie), or,
before signing in, with a random HttpOnly seed cookie set by the page that shows the form.
Nothing is stored on the server and no server secret is needed, so any board worker can
check a token another one rendered. Scripts may send it as the X-CSRF-Token header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from fastapi import Request, Response

from services.board.context import Board
from services.board.cookies import set_cookie
from services.board.deps import COOKIE

__all__ = ["FIELD", "HEADER", "SEED_COOKIE", "form_token", "sent_token", "set_seed",
           "token_for", "valid"]

FIELD = "csrf"
HEADER = "X-CSRF-Token"
SEED_COOKIE = "sunlight_csrf"
_PURPOSE = b"sunlight board form v1"


def token_for(binding: str) -> str:
    digest = hmac.new(binding.encode(), _PURPOSE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _binding(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or request.cookies.get(SEED_COOKIE) or None


def form_token(request: Request) -> str:
    """The token for the forms of the page being rendered; a visitor with no cookie yet
    gets a new seed, which `set_seed` then sets on the response."""
    binding = _binding(request)
    if binding is None:
        binding = request.state.csrf_seed = secrets.token_urlsafe(32)
    return token_for(binding)


def set_seed(request: Request, response: Response, board: Board) -> None:
    seed = getattr(request.state, "csrf_seed", None)
    if seed:
        set_cookie(response, request, board, SEED_COOKIE, seed)


async def sent_token(request: Request) -> str | None:
    """The token a post carries: the header, else the form field."""
    header = request.headers.get(HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return None
    value = (await request.form()).get(FIELD)
    return value if isinstance(value, str) else None


def valid(request: Request, sent: str | None) -> bool:
    binding = _binding(request)
    return bool(sent) and binding is not None and \
        hmac.compare_digest(str(sent).encode(), token_for(binding).encode())
