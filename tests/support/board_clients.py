"""Test clients for a board app that all run on the app's one event loop.

The board opens an asyncio connection pool in its lifespan, and that pool belongs to the
event loop the lifespan ran in. A `TestClient(app)` that is not entered never runs the
lifespan, and runs each request on an event loop of its own. So each app gets one
"keeper" client, entered once (the lifespan's startup), and every client the tests make
for the app (each with its own headers and cookies) sends its requests through the
keeper's portal: the same thread, the same loop. `close()` exits the keeper (the
lifespan's shutdown); a client used after that fails loudly, as the portal is gone."""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from anyio.from_thread import BlockingPortal

with warnings.catch_warnings():  # Starlette's note that httpx2 exists; httpx is what we have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["BoardClients"]

T = TypeVar("T")


class BoardClients:
    """The running app (its lifespan started), and clients for it on its event loop.

    Use as a context manager, or call `close()` (a fixture's teardown): it is what stops
    the app, its pools and the portal's thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        # failed sign-ins are counted per client address across the database: each app's
        # clients come from an address of their own, so one test's failures never
        # throttle another's (TestClient's default address is "testclient" for all)
        self.address = ".".join(str(secrets.randbelow(250) + 1) for _ in range(4))
        self._keeper: TestClient | None = TestClient(app)
        self._keeper.__enter__()  # the lifespan's startup, on the portal's loop

    @property
    def portal(self) -> BlockingPortal:
        """The portal (one thread, one event loop) the app's lifespan ran in."""
        if self._keeper is None or self._keeper.portal is None:
            raise RuntimeError("the board app was closed: its event loop is gone")
        return self._keeper.portal

    def client(self, **options: Any) -> TestClient:
        """A `TestClient(app, **options)` of its own (headers, cookies, redirects) whose
        requests run on the app's event loop, in the state its lifespan set up."""
        portal = self.portal
        assert self._keeper is not None
        options.setdefault("client", (self.address, 50000))
        client = TestClient(self.app, **options)
        client.portal = portal  # TestClient._portal_factory hands this portal out
        client.app_state.update(self._keeper.app_state)  # the state the lifespan yielded
        return client

    def call(self, func: Callable[[], Awaitable[T]]) -> T:
        """Run `func()` on the app's event loop (to call the ASGI app by hand)."""
        return self.portal.call(func)

    def close(self) -> None:
        """The lifespan's shutdown; the portal's thread ends. Closing twice does nothing."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.__exit__(None, None, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
