"""The gateway's environment, read once in main() and passed to the agent: the broker
(EDGE_MQTT_URL, else MQTT_URL, over the YAML's `broker`) and each device's password,
under the variable its `credentials.password_env` names (never in the YAML).

    settings = load_edge_settings(config)    # in main(), not at import
    Agent(config, settings)
"""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge.config import Credentials, EdgeConfig

__all__ = ["EdgeSettings", "load_edge_settings"]


class EdgeSettings(BaseSettings):
    """Fields may also be passed by name: `EdgeSettings(edge_mqtt_url=…)` in tests."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True,
                                      env_ignore_empty=True)

    edge_mqtt_url: str | None = Field(default=None, validation_alias="EDGE_MQTT_URL",
                                      repr=False)
    mqtt_url: str | None = Field(default=None, validation_alias="MQTT_URL", repr=False)
    # the device passwords by the name of their variable (load_edge_settings fills it)
    passwords: dict[str, str] = Field(default_factory=dict, repr=False)

    def broker_url(self, config: EdgeConfig) -> str:
        url = self.edge_mqtt_url or self.mqtt_url or config.broker
        if not url:
            raise ValueError("no broker: set `broker` in the file, or EDGE_MQTT_URL")
        return url

    def password(self, credentials: Credentials) -> str | None:
        if not credentials.password_env:
            return None
        value = self.passwords.get(credentials.password_env)
        if value is None:
            raise KeyError(f"environment variable {credentials.password_env} is not set")
        return value


def load_edge_settings(config: EdgeConfig) -> EdgeSettings:
    """The settings from the environment now, with the passwords `config` names."""
    names = {c.password_env for c in config.credentials() if c.password_env}
    return EdgeSettings(passwords={n: os.environ[n] for n in names if n in os.environ})
