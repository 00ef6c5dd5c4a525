"""Process settings from the environment (12-factor); the estate itself is in YAML.

Nothing is read at import time: each service's main() calls `load_settings()`, so
tests can set the environment first.

Secrets come from the environment only, never from a committed file: DATABASE_URL and
MQTT_URL (with their passwords) and SUNLIGHT_SECRET_KEY, or NAME_FILE naming a file that
holds the value (Docker and Kubernetes secrets mounted as files). The example files'
placeholder `change-me` is refused, so a copied example cannot run with a known password.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = ["PLACEHOLDER_SECRETS", "SECRET_SETTINGS", "LogLevel", "Settings", "load_settings"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# the variables that carry secrets, each also readable from NAME_FILE
SECRET_SETTINGS = ("DATABASE_URL", "MQTT_URL", "SUNLIGHT_SECRET_KEY")
# what the committed examples hold in place of a secret
PLACEHOLDER_SECRETS = frozenset({"change-me", "CHANGE-ME", "PASSWORD"})


class _SecretFiles(PydanticBaseSettingsSource):
    """NAME_FILE=/run/secrets/…: the secret NAME read from that file (trailing newline off)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # all the work is in __call__

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in SECRET_SETTINGS:
            path = os.environ.get(f"{name}_FILE")
            if not path:
                continue
            if os.environ.get(name):
                raise ValueError(f"both {name} and {name}_FILE are set: set one")
            try:
                found[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"{name}_FILE={path}: {exc.strerror}") from None
        return found


def _placeholder_in(value: str) -> bool:
    password = urlsplit(value).password if "://" in value else value
    return password in PLACEHOLDER_SECRETS


class Settings(BaseSettings):
    """Environment variables, with embedded defaults for a laptop.

    `database_url` / `mqtt_url` of None mean "start the embedded PostgreSQL / broker".
    Fields may also be passed by name: `Settings(data_dir=tmp_path)`.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="ignore",  # the environment is full of unrelated variables
        populate_by_name=True,
        env_ignore_empty=True,  # DATABASE_URL= (empty) means unset, not ""
        case_sensitive=False,
    )

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL", repr=False)
    mqtt_url: str | None = Field(default=None, validation_alias="MQTT_URL", repr=False)
    data_dir: Path = Field(default=Path(".sunlight"), validation_alias="SUNLIGHT_DATA_DIR")
    config_path: Path = Field(
        default=Path("deploy/estate.example.yaml"), validation_alias="SUNLIGHT_CONFIG"
    )
    # repr=False keeps the key out of logs and tracebacks that print the settings.
    secret_key: str | None = Field(default=None, validation_alias="SUNLIGHT_SECRET_KEY", repr=False)
    log_level: LogLevel = Field(default="INFO", validation_alias="SUNLIGHT_LOG_LEVEL")
    # a YOLO model for the vision service (.pt, .onnx or an OpenVINO folder); None: the
    # OpenCV static-object detector alone
    vision_model: Path | None = Field(default=None, validation_alias="SUNLIGHT_VISION_MODEL")
    vision_imgsz: int = Field(default=640, ge=32, validation_alias="SUNLIGHT_VISION_IMGSZ")
    # where ingest, vision and `up` serve /metrics: loopback unless deliberately opened
    # (0.0.0.0 in a pod or container that a Prometheus outside it scrapes)
    metrics_host: str = Field(default="127.0.0.1", min_length=1,
                              validation_alias="SUNLIGHT_METRICS_HOST")
    # ingest: dead-letter bytes kept per device and hour; past it messages are counted
    # (dead_letter_budget), not stored, and staff are alerted (docs/mqtt.md)
    dead_letter_bytes_per_hour: int = Field(
        default=1_000_000, ge=0, validation_alias="SUNLIGHT_DEAD_LETTER_BYTES_PER_HOUR")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _SecretFiles(settings_cls), dotenv_settings,
                file_secret_settings)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("database_url", "mqtt_url", "secret_key")
    @classmethod
    def _not_a_placeholder(cls, value: str | None) -> str | None:
        if value is not None and _placeholder_in(value):
            raise ValueError("still holds the example's placeholder password: set the real"
                             " secret (deploy/compose/bootstrap.sh writes them)")
        return value


def load_settings() -> Settings:
    """Read the settings from the environment now (call it in main(), not at import)."""
    return Settings()
