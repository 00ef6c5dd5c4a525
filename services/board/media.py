"""Media files under the data directory: written before the transaction that records them,
removed again if it fails, and resolved back to a path only inside their own folders.

A board killed between writing a file and committing its row leaves the file behind with
no row: it is never served (files are found through their rows only), and `sweep` removes
such files when the board starts again, once they are older than any request can last.

References kept on tickets (history photos, result photos, report photos) are relative:
`media/<uuid>` for uploads through the board, `evidence/<camera>/<finding>/<msg>.jpg` for
what ingest saved from the vision service.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from services.board.uploads import Checked

__all__ = ["EVIDENCE_PREFIX", "MEDIA_PREFIX", "ORPHAN_AGE", "MediaFiles", "Staged"]

log = logging.getLogger(__name__)
MEDIA_PREFIX = "media/"
EVIDENCE_PREFIX = "evidence/"
# A file without a row younger than this may be an upload another worker is committing now.
ORPHAN_AGE = timedelta(minutes=15)
_SWEEP_BATCH = 1000


@dataclass(frozen=True)
class Staged:
    id: uuid.UUID
    checked: Checked
    path: str  # relative to the data directory

    @property
    def ref(self) -> str:
        return f"{MEDIA_PREFIX}{self.id}"


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

    def sweep(self, known: Callable[[list[str]], set[str]], now: datetime,
              older_than: timedelta = ORPHAN_AGE) -> list[str]:
        """Remove files of this month's and last month's uploads that no media row names
        (`known` says which paths have one) and that are older than `older_than`.

        Called at start, so the two newest month folders are all a crash can have left
        anything in; half-written `.part` files go the same way."""
        this_month = now.replace(day=1)
        last_month = (this_month - timedelta(days=1)).replace(day=1)
        cutoff = (now - older_than).timestamp()
        candidates: list[str] = []
        for month in {f"{this_month:%Y/%m}", f"{last_month:%Y/%m}"}:
            folder = self.root / MEDIA_PREFIX / month
            if folder.is_dir():
                candidates += [p.relative_to(self.root).as_posix() for p in folder.iterdir()
                               if p.is_file() and p.stat().st_mtime < cutoff]
        removed: list[str] = []
        for start in range(0, len(candidates), _SWEEP_BATCH):
            batch = candidates[start:start + _SWEEP_BATCH]
            for orphan in sorted(set(batch) - known(batch)):
                with contextlib.suppress(FileNotFoundError):
                    (self.root / orphan).unlink()
                removed.append(orphan)
        if removed:
            log.warning("event=media_orphans_removed count=%d first=%s", len(removed),
                        removed[0])
        return removed

    def resolve(self, relative: str, folder: str) -> Path | None:
        """The file at `relative` if it lies inside `folder` of the data dir and exists."""
        base = (self.root / folder).resolve()
        path = (self.root / relative).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            return None
        return path
