"""Small ASGI layers: a cap on request bodies, text the database cannot hold refused as
bad input, and headers every response carries."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from typing import ClassVar

import psycopg
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.board.problems import PROBLEM_JSON, PROBLEM_TYPES

__all__ = ["BodyLimit", "SecurityHeaders", "UnstorableText", "page_policy"]

log = logging.getLogger(__name__)


class BodyLimit:
    """Refuse bodies over `max_bytes`: at once when Content-Length says so, else as soon as
    the streamed bytes pass it (the handler's problem details answer, 413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def _too_large(self) -> HTTPException:
        return HTTPException(413, f"the request is larger than {self.max_bytes // 2**20} MB")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            if _from_a_page(scope["path"], headers):
                await _page(send, self.max_bytes // 2**20)
            else:
                await _problem(send, 413, self._too_large().detail)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        await self.app(scope, limited, send)


async def _problem(send: Send, status: int, detail: str, slug: str = "upload") -> None:
    body = json.dumps({"type": f"/problems/{slug}", "title": PROBLEM_TYPES[slug][0],
                       "status": status, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _from_a_page(path: str, headers: Headers) -> bool:
    """A form of the web pages (services.board.pages), not an API call."""
    return "text/html" in headers.get("accept", "") and not path.startswith("/api/")


async def _page(send: Send, max_mb: int) -> None:
    """The refusal as a page: a browser shows it instead of problem+json (bilingual, as
    nothing of the app, its language or its templates, is reached from here)."""
    await _bilingual_page(
        send, 413, "文件太大",
        f"一次上传合计不能超过 {max_mb} MB，请少选几张照片或换一段更短的视频。",
        f"The upload is too large: at most {max_mb} MB at once. Choose fewer photos or a"
        " shorter video.")


async def _bilingual_page(send: Send, status: int, title: str, zh: str, en: str) -> None:
    body = (
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{status}</title><style>body{{font:16px/1.5 sans-serif;margin:24px}}</style>"
        "<body>"
        f"<h1>{title}</h1><p>{zh}</p><p lang=\"en\">{en}</p>"
        "<p><a href=\"/\">返回 · Back</a></p></body></html>"
    ).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The error, what caused it, and the members of exception groups, once each."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _unstorable(exc: BaseException) -> bool:
    """Whether the error is text that cannot be stored or sent: a NUL character, which
    PostgreSQL text cannot hold (psycopg refuses it before sending, the server refuses
    `\\u0000` in JSON), or a lone surrogate (from a `\\ud800` escape), which UTF-8 cannot
    encode (the driver's encoder, or the JSON answer that repeats the value)."""
    for cause in _causes(exc):
        if isinstance(cause, psycopg.errors.UntranslatableCharacter):
            return True
        if isinstance(cause, psycopg.DataError) and "NUL" in str(cause):
            return True
        if isinstance(cause, UnicodeEncodeError) and "surrogates not allowed" in cause.reason:
            return True
    return False


class UnstorableText:
    """Text no field can hold, refused as invalid input (422) wherever it came in.

    A NUL character or a lone surrogate is valid in JSON, a query or a form, but not in
    PostgreSQL text or in UTF-8: left alone, it surfaces from the driver or the encoder as
    a 500 after the request was checked. Nothing was stored when that happens (the
    transaction rolls back, staged photos are removed), so the request is answered as
    the bad input it is, whichever field of whichever route carried it, new ones too.
    """

    DETAIL = ("the request holds a NUL character (\\u0000) or an unpaired surrogate, which"
              " no text can hold; remove it and send again")

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as exc:
            if started or not _unstorable(exc):
                raise
            log.info("event=unstorable_text path=%s error=%s", scope["path"],
                     type(exc).__name__)
            if _from_a_page(scope["path"], Headers(scope=scope)):
                await _bilingual_page(
                    send, 422, "无法保存的字符",
                    "填写的内容里有无法保存的特殊字符（如 NUL），请删除后再提交。",
                    "What you wrote holds a character that cannot be stored (such as NUL);"
                    " remove it and send again.")
            else:
                await _problem(send, 422, self.DETAIL, slug="validation")


class SecurityHeaders:
    """Headers every response carries: no MIME sniffing (uploads are served back), no
    framing, no referrer leaving the site, and a Content-Security-Policy.

    The policy allows nothing but this origin: no script at all on the board's own pages,
    and of inline code only the blocks the page itself carries, each by its SHA-256 (the
    pages' and the bulletin's <style> blocks, which keep a saved bulletin self-contained).
    An injected <script>, style attribute or event handler is refused by the browser,
    and so is a form posting elsewhere. The hashes are taken from each HTML body as it is
    sent, so a template that changes keeps working without a list to maintain. The API
    documentation (/docs, /redoc) loads its script from the CDN FastAPI names."""

    HEADERS: ClassVar[dict[str, str]] = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }
    # for anything not HTML (JSON, images, video): nothing may run or be framed
    NOT_A_PAGE = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    DOCS_PREFIXES = ("/docs", "/redoc")
    DOCS_CDN = "https://cdn.jsdelivr.net"

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = str(scope["path"]).startswith(self.DOCS_PREFIXES)
        start: Message | None = None
        body: list[bytes] = []

        async def with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.HEADERS.items():
                    headers.setdefault(name, value)
                if "text/html" not in headers.get("content-type", ""):
                    headers.setdefault("Content-Security-Policy", self.NOT_A_PAGE)
                    await send(message)
                    return
                start = message  # held until the body is known: its hashes go in the policy
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            page = b"".join(body)
            MutableHeaders(scope=start).setdefault("Content-Security-Policy",
                                                   page_policy(page, docs=docs))
            await send(start)
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, with_headers)


_INLINE = {kind: re.compile(rb"<%s\b[^>]*>(.*?)</%s>" % (kind, kind), re.DOTALL | re.IGNORECASE)
           for kind in (b"style", b"script")}


def _hashes(page: bytes, kind: bytes) -> list[str]:
    """The CSP source of each inline <style> or <script> block of `page` (those with a src
    attribute load a file: their empty body hashes harmlessly)."""
    found = {base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()
             for m in _INLINE[kind].finditer(page)}
    return [f"'sha256-{h}'" for h in sorted(found)]


def page_policy(page: bytes, *, docs: bool = False) -> str:
    """The Content-Security-Policy of one HTML page."""
    styles = " ".join(["'self'", *_hashes(page, b"style")])
    scripts = " ".join(["'self'", *_hashes(page, b"script")])
    if docs:  # Swagger UI and ReDoc: their bundles, styles and logo from the CDN
        cdn = SecurityHeaders.DOCS_CDN
        styles, scripts = f"{styles} {cdn}", f"{scripts} {cdn}"
        images = f"'self' data: https://fastapi.tiangolo.com {cdn}"
    else:
        images = "'self' data: blob:"
        scripts = "'none'" if scripts == "'self'" else scripts
    return (f"default-src 'none'; script-src {scripts}; style-src {styles}; img-src {images};"
            " media-src 'self' blob:; connect-src 'self'; font-src 'self';"
            " form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
