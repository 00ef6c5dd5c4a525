"""Each service's own settings, beside the process-wide Settings: the board's
(SUNLIGHT_BOARD_*) and the background jobs' (SUNLIGHT_SCHEDULER_*).

Read in main() like every setting and passed on; tests construct them directly.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BoardOptions", "SchedulerOptions"]


class BoardOptions(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    # reports one resident may file per hour (a sliding hour, counted in PostgreSQL)
    reports_per_hour: int = Field(default=10, ge=1,
                                  validation_alias="SUNLIGHT_BOARD_REPORTS_PER_HOUR")
    # failed sign-ins let through before each further one must wait (a delay doubling
    # from 1 s to 15 min; services.board.throttle): per account, for addresses that failed
    # too (a correct password from anywhere else still signs in), and per client address
    # across accounts; wrong invitation codes per address
    login_failures: int = Field(default=5, ge=1,
                                validation_alias="SUNLIGHT_BOARD_LOGIN_FAILURES")
    address_failures: int = Field(default=20, ge=1,
                                  validation_alias="SUNLIGHT_BOARD_ADDRESS_FAILURES")
    code_failures: int = Field(default=5, ge=1, validation_alias="SUNLIGHT_BOARD_CODE_FAILURES")
    session_days: int = Field(default=14, ge=1, validation_alias="SUNLIGHT_BOARD_SESSION_DAYS")
    photo_max_mb: int = Field(default=10, ge=1, validation_alias="SUNLIGHT_BOARD_PHOTO_MAX_MB")
    video_max_mb: int = Field(default=50, ge=1, validation_alias="SUNLIGHT_BOARD_VIDEO_MAX_MB")
    video_max_seconds: int = Field(default=60, ge=1,
                                   validation_alias="SUNLIGHT_BOARD_VIDEO_MAX_SECONDS")
    # each worker runs the scheduler (SLA timers, notifications, the bulletin) unless the
    # scheduler runs elsewhere (another process or host) or not at all
    scheduler: bool = Field(default=True, validation_alias="SUNLIGHT_BOARD_SCHEDULER")
    # cookies marked Secure (sent over HTTPS only): unset, they are whenever the board is
    # reached over HTTPS (its public_url, or the request itself, e.g. X-Forwarded-Proto
    # from the TLS proxy); true forces it, false only for plain-HTTP tests on a laptop
    secure_cookies: bool | None = Field(default=None,
                                        validation_alias="SUNLIGHT_BOARD_SECURE_COOKIES")

    @property
    def session_ttl(self) -> timedelta:
        return timedelta(days=self.session_days)

    @property
    def body_max_bytes(self) -> int:
        """The largest request: nine photos, or one video, plus the form around them."""
        return max(9 * self.photo_max_mb, self.video_max_mb) * 2**20 + 2**20


class SchedulerOptions(BaseSettings):
    """SUNLIGHT_SCHEDULER_*; tests pass short intervals directly."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", populate_by_name=True,
                                      env_prefix="SUNLIGHT_SCHEDULER_")

    # how often each worker reconciles timers with the tickets and flags missed deadlines
    sweep_seconds: float = Field(default=60.0, gt=0)
    # timers are set for deadlines due within this (keeps the job store small)
    horizon_seconds: float = Field(default=3600.0, gt=0)
    # how often each worker looks for notifications to send
    deliver_seconds: float = Field(default=2.0, gt=0)
    delivery_batch: int = Field(default=50, ge=1)
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    delivery_timeout_seconds: float = Field(default=5.0, gt=0)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=900.0, gt=0)
    max_attempts: int = Field(default=20, ge=1)
    threads: int = Field(default=4, ge=1)
