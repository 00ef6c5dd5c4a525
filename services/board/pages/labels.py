"""Names for what a page shows, in the reader's language: states, categories, places,
departments, local times. Templates call these instead of printing codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.board.pages.words import TERMS
from services.config import EstateConfig


@dataclass(frozen=True)
class Labels:
    estate: EstateConfig
    lang: str

    @property
    def english(self) -> bool:
        return self.lang == "en"

    def term(self, kind: str, code: str) -> str:
        return TERMS[self.lang][kind].get(str(code), str(code))

    def state(self, code: str) -> str:
        return self.term("state", code)

    def action(self, code: str) -> str:
        return self.term("action", code)

    def event(self, code: str) -> str:
        """An action as the history tells it (past tense where the language has one)."""
        return TERMS[self.lang]["event"].get(code) or self.action(code)

    def category(self, code: str) -> str:
        try:
            found = self.estate.category(code)
        except KeyError:
            return code
        return found.name_en if self.english else found.name

    def place(self, building: str | None, area: str) -> str:
        return self.estate.place_text(building, area, self.lang)

    def building(self, building_id: str) -> str:
        try:
            found = self.estate.building(building_id)
        except KeyError:
            return building_id
        return (found.name_en or found.name) if self.english else found.name

    def department(self, department_id: str) -> str:
        if not department_id:
            return "—"
        try:
            found = self.estate.department(department_id)
        except KeyError:
            return department_id
        return (found.name_en or found.name) if self.english else found.name

    def staff(self, staff_id: str) -> str:
        try:
            return f"{self.estate.staff_by_id(staff_id).name} ({staff_id})"
        except KeyError:
            return staff_id

    def when(self, at: datetime | None) -> str:
        """Local time of the estate, to the minute."""
        return at.astimezone(self.estate.site.tz).strftime("%Y-%m-%d %H:%M") if at else "—"

    def short(self, at: datetime | None) -> str:
        """Month, day and time: enough under a photo."""
        return at.astimezone(self.estate.site.tz).strftime("%m-%d %H:%M") if at else "—"

    @property
    def site_name(self) -> str:
        site = self.estate.site
        return (site.name_en or site.name) if self.english else site.name
