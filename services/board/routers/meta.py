"""What a client needs to build its forms (categories, places, departments), and health."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from services.board.deps import BoardDep, OptionalUser
from services.board.policy import sees_personal_data
from services.board.problems import unavailable
from services.board.views import location_label
from services.store.db import ping

router = APIRouter(prefix="/api", tags=["meta"])


class CategoryOut(BaseModel):
    code: str
    name: str
    name_en: str
    department: str
    default_priority: str
    priorities: list[str]


class PlaceOut(BaseModel):
    building: str | None
    area: str
    label: str


class StaffOut(BaseModel):
    id: str
    name: str  # staff see names; everyone else the staff number (a name is personal data)


class DepartmentOut(BaseModel):
    id: str
    name: str
    name_en: str | None
    staff: list[StaffOut]


class EstateOut(BaseModel):
    site: str
    name: str
    categories: list[CategoryOut]
    places: list[PlaceOut]
    departments: list[DepartmentOut]


@router.get("/estate", summary="Categories, places and departments of this estate")
def estate(board: BoardDep, user: OptionalUser) -> EstateOut:
    e = board.estate
    named = sees_personal_data(user)
    places = [PlaceOut(building=b.id, area=a.id, label=location_label(e, b.id, a.id))
              for b in e.buildings for a in b.areas]
    places += [PlaceOut(building=None, area=a.id, label=location_label(e, None, a.id))
               for a in e.areas]
    return EstateOut(
        site=e.site.id, name=e.site.name,
        categories=[CategoryOut(code=c.code, name=c.name, name_en=c.name_en,
                                department=c.department, default_priority=c.default_priority,
                                priorities=[p.value for p in c.sla]) for c in e.categories],
        places=places,
        departments=[DepartmentOut(id=d.id, name=d.name, name_en=d.name_en,
                                   staff=[StaffOut(id=s.id, name=s.name if named else s.id)
                                          for s in d.staff])
                     for d in e.departments],
    )


@router.get("/health", summary="Whether the board can reach its database")
def health(board: BoardDep) -> dict[str, str]:
    try:
        ping(board.pool)
    except Exception as exc:
        raise unavailable(exc) from None  # 503 with Retry-After, as every route answers
    return {"status": "ok"}
