"""Receivers for what the board sends: a real HTTP server for webhooks, an MQTT subscriber."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.config import EstateConfig
from services.mqtt import BrokerAddress, connect, make_client


@dataclass(frozen=True)
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int  # what the receiver answered


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers 500 to the first
    `fail_first` of them."""

    def __init__(self, fail_first: int = 0) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._fail_left = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                with receiver._lock:
                    status = 500 if receiver._fail_left > 0 else 200
                    receiver._fail_left -= status == 500
                    receiver.requests.append(
                        Request(self.path, dict(self.headers.items()), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def accepted(self, path: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests
                    if r.status == 200 and (path is None or r.path == path)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Subscriber:
    """Collects the messages on one topic filter (QoS 1)."""

    def __init__(self, url: str, topic_filter: str) -> None:
        address = BrokerAddress.parse(url)
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client, props = make_client(address, f"test-sub-{uuid.uuid4().hex[:8]}",
                                          persistent=False)

        def on_connect(client: Any, *_: Any) -> None:
            client.subscribe(topic_filter, qos=1)

        def on_subscribe(*_: Any) -> None:
            self._subscribed.set()

        def on_message(_c: Any, _u: Any, message: Any) -> None:
            with self._lock:
                self.messages.append((message.topic, json.loads(message.payload)))

        self._client.on_connect = on_connect
        self._client.on_subscribe = on_subscribe
        self._client.on_message = on_message
        connect(self._client, address, props, persistent=False)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError(f"could not subscribe to {topic_filter} at {url}")

    def received(self, topic: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [body for name, body in self.messages if topic is None or name == topic]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


def local_estate(estate: EstateConfig, *, webhook: str | None = None) -> EstateConfig:
    """The estate on a site id of its own (tests share one database), with every
    department's escalations and the residents' notifications POSTed under `webhook`.

    Rebuilt from its data rather than copied: a copy would keep the lookup indexes
    cached on the original."""
    data = estate.model_dump()
    data["site"]["id"] = f"t{uuid.uuid4().hex[:10]}"
    for department in data["departments"]:
        department["webhook"] = f"{webhook}/heads/{department['id']}" if webhook else None
    data["notifications"] = {"webhook": f"{webhook}/residents" if webhook else None}
    return EstateConfig.model_validate(data)
