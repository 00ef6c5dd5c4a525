"""Two small ASGI layers: a cap on request bodies, and headers every response carries."""

from __future__ import annotations

import json
from typing import ClassVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.board.problems import PROBLEM_JSON

__all__ = ["BodyLimit", "SecurityHeaders"]


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


async def _problem(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"type": "/problems/upload", "title": "An upload was refused",
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
    body = (
        '<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>413</title><body style=\"font:16px/1.5 sans-serif;margin:24px\">"
        f"<h1>文件太大</h1><p>一次上传合计不能超过 {max_mb} MB，"
        "请少选几张照片或换一段更短的视频。</p>"
        f"<p lang=\"en\">The upload is too large: at most {max_mb} MB at once. Choose fewer"
        " photos or a shorter video.</p><p><a href=\"/\">返回 · Back</a></p></body></html>"
    ).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """No MIME sniffing (uploads are served back), no framing, no referrer leaving the site."""

    HEADERS: ClassVar[dict[str, str]] = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
    }

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
