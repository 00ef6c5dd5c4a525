"""Human durations in config files: "30s", "10m", "4h", "7d", "1h30m", or whole seconds.

A property manager writes SLAs and dwell times; "4h" is harder to get wrong than 14400.
Units must come largest first (w, d, h, m, s), each at most once, so "30m1h" is rejected
rather than guessed at.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

__all__ = ["Duration", "format_duration", "parse_duration"]

_UNITS: tuple[tuple[str, int], ...] = (
    ("w", 7 * 24 * 3600),
    ("d", 24 * 3600),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
)

_PATTERN = re.compile(
    r"^\s*" + r"\s*".join(rf"(?:(?P<{unit}>\d+)\s*{unit})?" for unit, _ in _UNITS) + r"\s*$"
)
_SECONDS = re.compile(r"^\s*\d+\s*$")

_HINT = "use e.g. 30s, 10m, 4h, 7d, 1h30m or whole seconds"


def parse_duration(value: str | int | timedelta) -> timedelta:
    """Parse a duration; raise ValueError with "invalid duration '<value>'" otherwise.

    Negative durations are rejected: nothing in the config means "in the past".
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"invalid duration '{value}': must not be negative")
        return value
    # bool is an int subclass; `dwell: yes` is a mistake, not one second.
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"invalid duration '{value}': must not be negative")
        return timedelta(seconds=value)
    if isinstance(value, str):
        if _SECONDS.match(value):
            return timedelta(seconds=int(value))
        match = _PATTERN.match(value)
        if match and any(match.groupdict().values()):
            seconds = sum(
                int(match.group(unit)) * factor
                for unit, factor in _UNITS
                if match.group(unit) is not None
            )
            return timedelta(seconds=seconds)
    raise ValueError(f"invalid duration '{value}' ({_HINT})")


def format_duration(value: timedelta) -> str:
    """The shortest spelling parse_duration reads back: 5400 s -> "1h30m", 0 -> "0s"."""
    total = value.total_seconds()
    if total != int(total) or total < 0:
        # Sub-second or negative values never come from a config file; keep them exact.
        return f"{total}s"
    seconds = int(total)
    if seconds == 0:
        return "0s"
    parts: list[str] = []
    # Weeks are left out on purpose: "14d" reads better than "2w" in an SLA table.
    for unit, factor in _UNITS[1:]:
        count, seconds = divmod(seconds, factor)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _validate(value: object) -> timedelta:
    if isinstance(value, str | int | timedelta):
        try:
            return parse_duration(value)
        except ValueError as exc:
            # The message goes in as context so braces in the input are never a template.
            raise PydanticCustomError("duration", "{message}", {"message": str(exc)}) from None
    raise PydanticCustomError(
        "duration", "invalid duration '{value}' ({hint})", {"value": value, "hint": _HINT}
    )


# A timedelta field that reads "4h"/"1h30m"/seconds and writes back "4h" in JSON dumps.
Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
