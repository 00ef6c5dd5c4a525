"""The gateway YAML: the shipped example loads; mistakes name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import EdgeConfig, seconds
from edge.settings import load_edge_settings
from services.config import ConfigError, load_model

EXAMPLE = Path(__file__).parents[2] / "deploy" / "edge.example.yaml"


def test_the_shipped_example_loads() -> None:
    config = load_model(EdgeConfig, EXAMPLE)
    assert config.site == "yangguang-garden"
    assert {s.device for s in config.sensors} >= {"temp-pump-room", "leak-pump-room"}
    assert config.cameras[0].source.startswith("rtsp://")
    assert config.max_age().days == 7


def test_a_mistake_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "edge.yaml"
    bad.write_text("site: s\ngateway: g\nsensors:\n  - device: d\n    intervall: 5s\n"
                   "    driver: {kind: simulator, model: smoke}\n")
    with pytest.raises(ConfigError, match=r"edge\.yaml:5: .*intervall"):
        load_model(EdgeConfig, bad)


@pytest.mark.parametrize(("text", "expected"), [("500ms", 0.5), ("10s", 10), ("5m", 300),
                                                 ("2h", 7200), ("7d", 604800), (3, 3.0)])
def test_durations(text: str | float, expected: float) -> None:
    assert seconds(text) == expected


def test_broker_comes_from_the_environment_first(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_model(EdgeConfig, EXAMPLE)
    monkeypatch.setenv("EDGE_MQTT_URL", "mqtt://broker.example:1883")
    assert load_edge_settings(config).broker_url(config) == "mqtt://broker.example:1883"
    monkeypatch.delenv("EDGE_MQTT_URL")
    monkeypatch.delenv("MQTT_URL", raising=False)
    assert load_edge_settings(config).broker_url(config) == config.broker


def test_device_passwords_come_from_the_variables_the_file_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = load_model(EdgeConfig, EXAMPLE)
    leak = next(s.credentials for s in config.sensors if s.device == "leak-pump-room")
    assert leak.password_env == "SUNLIGHT_PW_LEAK_PUMP_ROOM"
    monkeypatch.setenv("SUNLIGHT_PW_LEAK_PUMP_ROOM", "s3cret-leak")
    monkeypatch.setenv("UNRELATED_PASSWORD", "not read")
    settings = load_edge_settings(config)
    assert settings.password(leak) == "s3cret-leak"
    assert "UNRELATED_PASSWORD" not in settings.passwords
    assert "s3cret" not in repr(settings)
    monkeypatch.delenv("SUNLIGHT_PW_LEAK_PUMP_ROOM")
    with pytest.raises(KeyError, match="SUNLIGHT_PW_LEAK_PUMP_ROOM is not set"):
        load_edge_settings(config).password(leak)
