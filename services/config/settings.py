"""Process settings from the environment (12-factor); the estate itself is in YAML.

Nothing is read at import time: each service's main() calls `load_settings()`, so
tests can set the environment first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LogLevel", "Settings", "load_settings"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


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

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    mqtt_url: str | None = Field(default=None, validation_alias="MQTT_URL")
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

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


def load_settings() -> Settings:
    """Read the settings from the environment now (call it in main(), not at import)."""
    return Settings()
