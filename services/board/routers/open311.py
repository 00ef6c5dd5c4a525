"""Open311 GeoReport v2 (JSON) over the same tickets: services, requests, one request.

Reading is public and built from the `public_tickets` view (no personal data) under the
public-text policy (services/tickets/public_text.py): a request's `description` is what
its reader wrote (to them), else the category and the place; `status_notes` are staff's
words masked; staff read both as written. `media_url` appears only for a signed-in viewer
who may see that file. Posting needs a resident's
session (cookie or bearer token): there is no other api_key. Places are the estate's
coarse locations, given as `address_id` = "building/area" (e.g. "b3/lobby") or a site
area ("south-gate"); coordinates are not used. Errors are problem details, like the rest
of the board.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile, status
from pydantic import BaseModel

from services.board.accounts import User
from services.board.context import Board
from services.board.deps import BoardDep, OptionalUser, ResidentUser
from services.board.policy import may_see_media, sees_personal_data
from services.board.problems import Problem
from services.board.reporting import REPLAYED_HEADER
from services.board.routers.reports import (
    REPLAY_RESPONSES,
    IdempotencyKey,
    file_resident_report,
    keyed,
)
from services.board.views import location_label
from services.config import Category
from services.store.media import MediaRow, media_of_tickets_read
from services.store.reads import Plan, run_async
from services.store.ticket_queries import (
    PublicTicket,
    TicketFilter,
    list_public_read,
    own_words_read,
    reported_among_read,
)
from services.tickets import Channel, Role, Source, State
from services.tickets.public_text import Masker

MACHINE_SOURCES = (Source.CAMERA, Source.SENSOR)

router = APIRouter(prefix="/open311/v2", tags=["open311"])

MAX_REQUESTS = 1000
_OPEN_STATES = tuple(s for s in State if s.is_open)
_CLOSED_STATES = tuple(s for s in State if not s.is_open)


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = False
    type: Literal["realtime", "batch", "blackbox"] = "realtime"
    keywords: str = ""
    group: str


class ServiceRequest(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    service_notice: str | None = None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str
    address_id: str
    zipcode: None = None
    lat: None = None
    long: None = None
    media_url: str | None = None


class Created(BaseModel):
    service_request_id: str
    service_notice: str
    account_id: str | None = None


def _english(request: Request) -> bool:
    return request.headers.get("accept-language", "").lower().startswith("en")


def _name(category: Category, english: bool) -> str:
    return category.name_en if english else category.name


def _status_notes(t: PublicTicket, masker: Masker | None) -> str:
    """The state and staff's reason or result notes, masked unless `masker` is None (for
    staff)."""
    detail = {State.REJECTED: t.reason, State.UNRESOLVABLE: t.reason,
              State.RESOLVED: t.result_notes, State.CLOSED: t.result_notes}.get(t.state, "")
    if detail and masker is not None:
        detail = masker(detail)
    return f"{t.state.value}: {detail}" if detail else t.state.value


def _media_url(request: Request, user: User | None, media: list[MediaRow], reported: bool) \
        -> str | None:
    visible = [m for m in media if may_see_media(user, m, reported_by_user=reported)]
    if not visible:
        return None
    return f"{str(request.base_url).rstrip('/')}/api/media/{visible[0].id}"


def _requests(request: Request, board: Board, user: User | None, f: TicketFilter) \
        -> Plan[list[ServiceRequest]]:
    found: list[PublicTicket] = yield list_public_read(board.site, f)
    english, tz = _english(request), board.estate.site.tz
    ids = [t.id for t in found]
    media: dict[int, list[MediaRow]] = {tid: [] for tid in ids}
    mine: set[int] = set()
    own: dict[int, str] = {}
    if user is not None and ids:  # the public never gets a media_url
        media = yield media_of_tickets_read(ids)
        if user.role is Role.RESIDENT:
            mine, own = yield (reported_among_read(user.id, ids), own_words_read(user.id, ids))
    staff = sees_personal_data(user)
    masker = None if staff else (yield from board.public_text.plan())
    out = []
    for t in found:
        try:
            category = board.estate.category(t.category)
            service_name = _name(category, english)
            department = board.estate.department(t.department or category.department)
            agency = (department.name_en or department.name) if english else department.name
        except KeyError:
            service_name, agency = t.category, t.department
        place = location_label(board.estate, t.building, t.area)
        out.append(ServiceRequest(
            service_request_id=str(t.id), status="open" if t.is_open else "closed",
            status_notes=_status_notes(t, masker), service_name=service_name,
            service_code=t.category,
            description=_description(t, masker, own.get(t.id), service_name, place),
            agency_responsible=agency,
            requested_datetime=t.opened_at.astimezone(tz),
            updated_datetime=t.updated_at.astimezone(tz),
            expected_datetime=t.resolve_due_at.astimezone(tz) if t.is_open else None,
            address=place,
            address_id=f"{t.building}/{t.area}" if t.building else t.area,
            media_url=_media_url(request, user, media[t.id], t.id in mine),
        ))
    return out


def _description(t: PublicTicket, masker: Masker | None, own_words: str | None,
                 service_name: str, place: str) -> str:
    """What a resident wrote is theirs and staff's: they may have put a name, phone or unit
    in it. A resident reads back their own report's words (a co-reporter: theirs, never the
    first reporter's); staff (`masker` None) read the ticket's; others the category and
    the place, as on the bulletin. Machine findings keep their words, masked."""
    if masker is None:
        return t.description
    if own_words is not None:
        return own_words
    if t.source in MACHINE_SOURCES:
        return masker(t.description)
    return f"{service_name} · {place}"


@router.get("/services.json", summary="The categories residents can report (service list)")
def services(request: Request, board: BoardDep) -> list[Service]:
    english = _english(request)
    result = []
    for c in board.estate.categories:
        department = board.estate.department(c.department)
        result.append(Service(
            service_code=c.code, service_name=_name(c, english),
            description=_name(c, not english),
            group=(department.name_en or department.name) if english else department.name,
        ))
    return result


def _split_ids(value: str | None) -> tuple[int, ...]:
    if not value:
        return ()
    try:
        return tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise Problem.field(422, "validation", "service_request_id", "a comma-separated list"
                            " of request ids", where="query") from None


@router.get("/requests.json", summary="Service requests, newest first")
async def requests(
    *,
    request: Request,
    board: BoardDep,
    user: OptionalUser,
    service_request_id: Annotated[str | None, Query(description="Ids, comma-separated.")] =
    None,
    service_code: str | None = None,
    start_date: datetime | None = None,
    end_date: datetime | None = None,
    status: Literal["open", "closed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_REQUESTS)] = 200,
) -> list[ServiceRequest]:
    for name, value in (("start_date", start_date), ("end_date", end_date)):
        if value is not None and value.tzinfo is None:
            raise Problem.field(422, "validation", name, "give a time zone, e.g."
                                " 2026-11-23T08:00:00+08:00", where="query")
    states = {"open": _OPEN_STATES, "closed": _CLOSED_STATES}.get(status or "", ())
    f = TicketFilter(states=states, category=service_code, ids=_split_ids(service_request_id),
                     opened_from=start_date, opened_to=end_date, limit=limit)
    async with board.reading_async() as conn:
        return await run_async(conn, _requests(request, board, user, f))


@router.get("/requests/{request_id}.json", summary="One service request (a list of one)")
async def one_request(request_id: int, request: Request, board: BoardDep,
                      user: OptionalUser) -> list[ServiceRequest]:
    f = TicketFilter(ids=(request_id,), limit=1)
    async with board.reading_async() as conn:
        found = await run_async(conn, _requests(request, board, user, f))
    if not found:
        raise Problem(404, "not-found", f"no service request {request_id}")
    return found


def _place(address_id: str | None) -> tuple[str | None, str]:
    if not address_id or not address_id.strip():
        raise Problem.field(422, "validation", "address_id", "give the place as"
                            " 'building/area' (e.g. 'b3/lobby') or a site area id")
    building, _, area = address_id.strip().rpartition("/")
    return building or None, area


@router.post("/requests.json", status_code=status.HTTP_201_CREATED, responses=REPLAY_RESPONSES,
             summary="Report a problem (a resident's session or bearer token)")
def create_request(
    *,
    board: BoardDep,
    user: ResidentUser,
    response: Response,
    service_code: Annotated[str, Form()],
    description: Annotated[str, Form(min_length=1, max_length=2000)],
    address_id: Annotated[str | None, Form(description="'building/area' or a site area.")] =
    None,
    media_url: Annotated[str | None, Form(description="Not fetched: upload `media`.")] = None,
    media: Annotated[list[UploadFile] | None, File(description="Up to 9 photos or one"
                                                   " short video.")] = None,
    idempotency_key: IdempotencyKey = None,
) -> list[Created]:
    if media_url:
        raise Problem.field(422, "validation", "media_url", "the board does not fetch URLs;"
                            " upload the photo as `media`")
    building, area = _place(address_id)
    once = keyed(board, user, idempotency_key, {
        "category": service_code, "building": building, "area": area,
        "description": description}, media or [])
    opened = file_resident_report(board, user, category=service_code, building=building,
                                  area=area, description=description, media=media or [],
                                  channel=Channel.APP, once=once)
    if once is not None and once.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    ticket = opened.ticket
    notice = ("received" if opened.created else
              f"an open request for the same problem exists; yours was added to it"
              f" ({ticket.reporters} residents reported)")
    return [Created(service_request_id=str(ticket.id), service_notice=notice)]
