"""MQTT topics: sunlight/v1/{site}/{device}/{kind}."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

ROOT = "sunlight/v1"
# ids appear in topics, so they must not contain MQTT wildcards or separators
ID_PATTERN = r"[a-z0-9][a-z0-9_-]{0,63}"
_ID = re.compile(ID_PATTERN)


class Kind(StrEnum):
    TELEMETRY = "telemetry"  # sensor readings
    EVENT = "event"  # discrete events: door opened, motion started
    FRAME = "frame"  # a camera JPEG with metadata
    FINDING = "finding"  # the vision service's start/update/end of a condition
    STATUS = "status"  # retained online/offline, offline as the last will


class TopicError(ValueError):
    pass


@dataclass(frozen=True)
class Topic:
    site: str
    device: str
    kind: Kind

    def __str__(self) -> str:
        return f"{ROOT}/{self.site}/{self.device}/{self.kind}"


def topic(site: str, device: str, kind: Kind) -> str:
    for name, value in (("site", site), ("device", device)):
        if not _ID.fullmatch(value):
            raise TopicError(f"{name} id {value!r} must match {ID_PATTERN}")
    return str(Topic(site, device, kind))


@functools.lru_cache(maxsize=4096)  # a site has a few hundred topics, parsed per message
def parse_topic(name: str) -> Topic:
    parts = name.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != ROOT:
        raise TopicError(f"topic {name!r} is not {ROOT}/{{site}}/{{device}}/{{kind}}")
    site, device, kind = parts[2:]
    if not _ID.fullmatch(site) or not _ID.fullmatch(device):
        raise TopicError(f"topic {name!r} has an invalid site or device id")
    try:
        return Topic(site, device, Kind(kind))
    except ValueError:
        raise TopicError(f"topic {name!r} has unknown kind {kind!r}") from None


def subscription(kinds: str | Kind = "+", *, site: str = "+", group: str | None = None) -> str:
    """A filter for every device's messages of a kind; `group` makes it a shared one."""
    if kinds != "+" and kinds not in set(Kind):
        raise TopicError(f"unknown kind {kinds!r}")
    if site != "+" and not _ID.fullmatch(site):
        raise TopicError(f"site id {site!r} must match {ID_PATTERN}")
    if group is not None and not _ID.fullmatch(group):
        raise TopicError(f"share group {group!r} must match {ID_PATTERN}")
    flt = f"{ROOT}/{site}/+/{kinds}"
    return f"$share/{group}/{flt}" if group else flt
