"""Media files under the data directory: written before the transaction that records them,
removed again if it fails, and resolved back to a path only inside their own folders.

References kept on tickets (history photos, result photos, report photos) are relative:
`media/<uuid>` for uploads through the board, `evidence/<camera>/<finding>/<msg>.jpg` for
what ingest saved from the vision service.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from services.board.uploads import Checked

__all__ = ["EVIDENCE_PREFIX", "MEDIA_PREFIX", "MediaFiles", "Staged", "media_id_of"]

MEDIA_PREFIX = "media/"
EVIDENCE_PREFIX = "evidence/"


@dataclass(frozen=True)
class Staged:
    id: uuid.UUID
    checked: Checked
    path: str  # relative to the data directory

    @property
    def ref(self) -> str:
        return f"{MEDIA_PREFIX}{self.id}"


def media_id_of(ref: str) -> uuid.UUID | None:
    if not ref.startswith(MEDIA_PREFIX):
        return None
    try:
        return uuid.UUID(ref.removeprefix(MEDIA_PREFIX))
    except ValueError:
        return None


class MediaFiles:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir.resolve()

    def stage(self, uploads: list[Checked], now: datetime) -> list[Staged]:
        """Write each file (atomically, under a fresh name) and say where it went."""
        staged: list[Staged] = []
        try:
            for checked in uploads:
                media_id = uuid.uuid4()
                relative = f"media/{now:%Y/%m}/{media_id}.{checked.extension}"
                target = self.root / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(".part")
                partial.write_bytes(checked.data)
                os.replace(partial, target)
                staged.append(Staged(media_id, checked, relative))
        except BaseException:
            self.discard(staged)
            raise
        return staged

    def discard(self, staged: list[Staged]) -> None:
        for item in staged:
            with contextlib.suppress(FileNotFoundError):
                (self.root / item.path).unlink()

    def resolve(self, relative: str, folder: str) -> Path | None:
        """The file at `relative` if it lies inside `folder` of the data dir and exists."""
        base = (self.root / folder).resolve()
        path = (self.root / relative).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return None
        return path
