"""/metrics of ingest, vision and `sunlight up` binds 127.0.0.1 unless opened on purpose
(--metrics-host or SUNLIGHT_METRICS_HOST): the real prometheus server on a real socket."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from services.cli.common import serve_metrics
from services.config import Settings
from tests.support.deploy import check_sunlight_argv, option_default


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", [["ingest"], ["vision"], ["up"]], ids=" ".join)
def test_each_service_takes_the_option_and_defaults_to_the_setting(command: list[str]) -> None:
    assert option_default(command, "--metrics-host") is None
    assert check_sunlight_argv(["sunlight", *command, "--metrics-host", "0.0.0.0"]) == []


def test_the_setting_is_loopback_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUNLIGHT_METRICS_HOST", raising=False)
    assert Settings().metrics_host == "127.0.0.1"
    monkeypatch.setenv("SUNLIGHT_METRICS_HOST", "0.0.0.0")
    assert Settings().metrics_host == "0.0.0.0"


def test_metrics_listen_on_the_address_given_only() -> None:
    # 127.0.0.2 is loopback too on Linux: bound there, 127.0.0.1 must not answer
    host = "127.0.0.2"
    try:
        port = _free_port(host)
    except OSError:
        pytest.skip("127.0.0.2 is not a loopback address here")
    server = serve_metrics(port, host)
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as answer:
            assert answer.status == 200 and b"python_info" in answer.read()
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        server.shutdown()
        server.server_close()
    assert serve_metrics(0, host) is None  # port 0: no server at all
