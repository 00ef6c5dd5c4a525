"""POST JSON to a webhook: with a timeout, a signature, and no silent redirect.

One call is one attempt; retries (with backoff) are the outbox's job, so a slow or dead
endpoint never holds a worker for long. Only the URL's host is ever logged or stored: the
path or query may hold a token.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "sunlight-board"
_ERROR_BODY = 200  # characters of an error response kept for the record


class WebhookError(RuntimeError):
    """The endpoint did not take the message; the text says why (no URL secrets)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET and call that a success
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def host_of(url: str) -> str:
    return urlsplit(url).netloc.rpartition("@")[2]


def signature(secret: str, body: bytes) -> str:
    """`X-Sunlight-Signature`: receivers recompute it with the shared secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_json(url: str, body: bytes, *, timeout: float, event: str, delivery_id: str,
              secret: str | None = None) -> int:
    """POST one JSON body; the 2xx status, or WebhookError."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "X-Sunlight-Event": event,
        "X-Sunlight-Delivery": delivery_id,  # the same on every retry: receivers dedupe
    }
    if secret:
        headers["X-Sunlight-Signature"] = signature(secret, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    host = host_of(url)
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        detail = exc.read(_ERROR_BODY).decode("utf-8", "replace").strip()
        raise WebhookError(f"{host} answered HTTP {exc.code}: {detail!r}") from None
    except (urllib.error.URLError, OSError) as exc:  # refused, DNS, timeout, TLS
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise WebhookError(f"{host} unreachable: {reason}") from None
    if not 200 <= status < 300:
        raise WebhookError(f"{host} answered HTTP {status}")
    return status
