"""Tickets as each viewer may see them: the privacy rules of services.board.policy applied
to what the store returns, in one place.

Auditors and the public get `PublicTicket`s (read from the view without personal data);
staff and a resident looking at their own report get full `Ticket`s, of which only the
fields for them are shown. Residents other than the viewer appear in histories and
reports as "resident", without their words.

Everyone but staff reads under the public-text policy (services/tickets/public_text.py):
a resident's own words as written, staff's notes, results and reasons masked, and a
request for information only if it was addressed to them (the ticket's reporter), never
as a co-reporter. Staff are named to the residents who reported the ticket (the only
tickets a resident reads here: they meet the worker at the door); the auditor reads
staff numbers.
"""

from __future__ import annotations

from typing import Any, TypeVar

from services.board.accounts import User
from services.board.context import Board
from services.board.media import EVIDENCE_PREFIX
from services.board.policy import (
    may_see_evidence,
    may_see_media,
    sees_personal_data,
)
from services.board.schemas import (
    ContactOut,
    HistoryOut,
    PhotoOut,
    QueueItem,
    ReportOut,
    TicketDetail,
    TicketOut,
)
from services.config import EstateConfig
from services.store.accounts import Person, people_read
from services.store.media import media_of_ticket_read
from services.store.reads import Plan, run
from services.store.ticket_queries import (
    PhotoEntry,
    PublicTicket,
    has_reported_read,
    reports_of_read,
)
from services.store.tickets import history_read
from services.tickets import Action, HistoryEntry, Role, Source, Ticket, allowed_actions
from services.tickets.public_text import Masker

__all__ = ["detail_of", "evidence_photos", "location_label", "masker_for", "queue_item",
           "ticket_detail", "ticket_out"]

_PATTERNS_ONLY = Masker()  # for a caller without the estate's records at hand

Out = TypeVar("Out", bound=TicketOut)


def location_label(estate: EstateConfig, building: str | None, area: str) -> str:
    return estate.place_text(building, area)


def _category_name(estate: EstateConfig, code: str) -> str:
    try:
        return estate.category(code).name
    except KeyError:
        return code


def masker_for(board: Board, viewer: User | None) -> Plan[Masker | None]:
    """The estate's masker for this viewer; None for staff, who read everything."""
    if sees_personal_data(viewer):
        return None
    return (yield from board.public_text.plan())


def _staff_name(estate: EstateConfig, staff_id: str) -> str:
    try:
        return estate.staff_by_id(staff_id).name if staff_id else ""
    except KeyError:
        return ""


def _description(estate: EstateConfig, t: Ticket | PublicTicket, viewer: User | None,
                 masker: Masker) -> str:
    """A resident's words are theirs and staff's (they may hold a name, phone or unit);
    other readers, the auditor and a co-reporter included, get the category and the
    place."""
    if sees_personal_data(viewer):
        return t.description
    reporter = getattr(t, "reporter_id", None)
    if viewer is not None and reporter is not None and viewer.id == reporter:
        return t.description
    if t.source in (Source.CAMERA, Source.SENSOR):
        return masker(t.description)
    place = location_label(estate, t.building, t.area)
    return f"{_category_name(estate, t.category)} · {place}"


def ticket_out(estate: EstateConfig, t: Ticket | PublicTicket, viewer: User | None,
               cls: type[Out], masker: Masker | None = None, **extra: Any) -> Out:
    """The fields of `t` this viewer may see, as `cls`; staff's text through `masker`
    (the estate's, from `masker_for`) for everyone but staff."""
    staff = sees_personal_data(viewer)
    public = masker or _PATTERNS_ONLY
    named = staff or (viewer is not None and viewer.role is Role.RESIDENT)
    values: dict[str, Any] = dict(
        id=t.id, category=t.category, category_name=_category_name(estate, t.category),
        priority=t.priority, source=t.source, channel=t.channel, state=t.state,
        is_open=t.is_open, description=_description(estate, t, viewer, public),
        building=t.building, area=t.area,
        location=location_label(estate, t.building, t.area), asset=t.asset,
        opened_at=t.opened_at, respond_due_at=t.respond_due_at,
        resolve_due_at=t.resolve_due_at, department=t.department, assignee=t.assignee,
        assignee_name=_staff_name(estate, t.assignee) if named else "",
        responded_at=t.responded_at, resolved_at=t.resolved_at, closed_at=t.closed_at,
        result_notes=t.result_notes if staff else public(t.result_notes),
        reason=t.reason if staff else public(t.reason), reopen_count=t.reopen_count,
        rating=t.rating,
        reporters=1 + t.extra_reporters, breaches=sorted(str(b) for b in t.breaches),
        updated_at=t.updated_at or t.opened_at,
    )
    if isinstance(t, Ticket) and viewer is not None:
        values.update(version=t.version, awaiting_reporter=t.awaiting_reporter_since is not None)
        if viewer.role is Role.RESIDENT:
            values["mine"] = t.reporter_id == viewer.id
    return cls(**values, **extra)


def _masked(entry_role: Role, entry_actor: str, viewer: User) -> bool:
    """Whether a resident's entry is hidden from this viewer (it is someone else's)."""
    return entry_role is Role.RESIDENT and not viewer.is_staff and entry_actor != viewer.id


def _history(entries: list[HistoryEntry], viewer: User, masker: Masker | None,
             reporter_id: str | None) -> list[HistoryOut]:
    """The history as this viewer may read it: with `masker` (everyone but staff), others'
    words are hidden, staff's masked and staff named by number; a request for information
    is read by the one it was addressed to (the reporter)."""
    out = []
    for seq, e in enumerate(entries, start=1):
        masked = _masked(e.actor.role, e.actor.id, viewer)
        data = {k: v for k, v in e.data.items() if k != "photos"}  # listed with URLs instead
        note, name = e.note, e.actor.name
        if masked:
            data = {k: v for k, v in data.items() if k == "rating"}
            note, name = "", ""
        elif masker is not None and e.actor.id != viewer.id:
            asked_someone_else = e.action == Action.REQUEST_INFO.value and \
                viewer.id != reporter_id
            note = "" if asked_someone_else else masker(note)
            data = {k: masker(v) for k, v in data.items()}
            name = name if viewer.role is Role.RESIDENT else ""
        out.append(HistoryOut(
            seq=seq, at=e.at, action=e.action, from_state=e.from_state, to_state=e.to_state,
            actor="resident" if masked else e.actor.id, actor_role=e.actor.role,
            actor_name=name, note=note, data=data,
        ))
    return out


def evidence_photos(ticket_id: int, entries: list[PhotoEntry]) -> list[PhotoOut]:
    return [
        PhotoOut(url=f"/api/tickets/{ticket_id}/evidence/{ref.removeprefix(EVIDENCE_PREFIX)}",
                 kind="evidence", content_type="image/jpeg", at=entry.at)
        for entry in entries
        for ref in entry.refs
        if ref.startswith(EVIDENCE_PREFIX)
    ]


def _contact(found: Person | None) -> ContactOut | None:
    if found is None:
        return None
    return ContactOut(id=found.id, name=found.display_name, phone=found.phone,
                      building=found.building, unit=found.unit)


def _photo_entries(ticket_id: int, history: list[HistoryEntry]) -> list[PhotoEntry]:
    """The history's entries that carried photos (what `photo_entries_read` selects)."""
    # the domain joins a command's photo references with spaces
    return [PhotoEntry(ticket_id, seq, e.at, e.action, e.actor.role.value,
                       tuple(str(e.data["photos"]).split()))
            for seq, e in enumerate(history, start=1) if "photos" in e.data]


def ticket_detail(estate: EstateConfig, t: Ticket | PublicTicket, viewer: User,
                  masker: Masker | None = None) -> Plan[TicketDetail]:
    """One ticket with its photos, reports and history, for this viewer (a plan of reads:
    `run` or `run_async` it on a reading connection); `masker`: as for `ticket_out`."""
    assert t.id is not None
    ticket_id = t.id
    staff = sees_personal_data(viewer)
    resident = viewer.role is Role.RESIDENT
    history, media, found_reports, *reported = yield (
        history_read(ticket_id), media_of_ticket_read(ticket_id), reports_of_read(ticket_id),
        *([has_reported_read(ticket_id, viewer.id)] if resident else []))
    own = bool(reported and reported[0])
    people: dict[str, Person] = {}
    if staff:
        reporters = {r.reporter_id for r in found_reports if r.reporter_id}
        if isinstance(t, Ticket) and t.reporter_id:
            reporters.add(t.reporter_id)
        people = (yield people_read(sorted(reporters))) if reporters else {}
    photos: list[PhotoOut] = []
    if may_see_evidence(viewer):
        photos += evidence_photos(ticket_id, _photo_entries(ticket_id, history))
    photos += [
        PhotoOut(url=f"/api/media/{m.id}", kind=m.purpose, content_type=m.content_type,
                 at=m.created_at)
        for m in media
        if may_see_media(viewer, m, reported_by_user=own)
    ]
    reports = []
    for r in found_reports:
        mine = r.reporter_id is not None and r.reporter_id == viewer.id
        reports.append(ReportOut(
            reported_at=r.reported_at, source=r.source, channel=r.channel, mine=mine,
            # another resident's words stay with staff; the ticket shows the first report
            description=r.description if staff or mine or r.reporter_id is None else "",
            reporter=_contact(people.get(r.reporter_id or "")) if staff else None,
            photos=[f"/api/{ref}" for ref in r.photos] if staff or mine else [],
        ))
    public = None if staff else (masker or _PATTERNS_ONLY)
    reporter_id = t.reporter_id if isinstance(t, Ticket) else None
    extra: dict[str, Any] = {"photos": photos, "reports": reports,
                             "history": _history(history, viewer, public, reporter_id)}
    if isinstance(t, Ticket):
        extra["allowed_actions"] = [a.value for a in allowed_actions(t, viewer.actor)]
        if staff or t.reporter_id == viewer.id:
            extra["rating_comment"] = t.rating_comment
        if staff:
            extra["reporter"] = _contact(people.get(t.reporter_id or ""))
    return ticket_out(estate, t, viewer, TicketDetail, masker, **extra)


def detail_of(board: Board, t: Ticket | PublicTicket, viewer: User) -> TicketDetail:
    """`ticket_detail` on a reading connection of its own (after a change, say)."""
    with board.reading() as conn:
        masker = run(conn, masker_for(board, viewer))
        return run(conn, ticket_detail(board.estate, t, viewer, masker))


def queue_item(estate: EstateConfig, t: Ticket, entries: list[PhotoEntry], viewer: User,
               masker: Masker | None = None) -> QueueItem:
    assert t.id is not None
    return ticket_out(estate, t, viewer, QueueItem, masker,
                      evidence=evidence_photos(t.id, entries))
