"""Request and response bodies of the board's JSON API.

Requests forbid unknown fields (a typo is an error, not a silently ignored field).
Responses are built per viewer in services.board.views; a field that a viewer may not
see is left out (None) rather than blanked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.tickets import Channel, Priority, Role, Source, State

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=2000)]
# a new login: what it may be is checked on its normal form (services.board.accounts), so
# that full-width letters typed on a phone count as the letters they are
Login = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
# a new password: length and guessability are services.board.password_policy's
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32,
                                         pattern=r"^\+?[0-9 -]{3,32}$")]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- accounts ---------------------------------------------------------------------------


class LoginIn(In):
    login: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class MeOut(BaseModel):
    """The signed-in person, with their own personal data."""

    id: str
    login: str
    role: Role
    department: str | None
    name: str
    building: str | None
    phone: str | None = None
    unit: str | None = None


class SessionOut(BaseModel):
    token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: MeOut


class JoinIn(In):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=32)]
    login: Login
    password: Password
    name: Short = ""
    phone: Phone | None = None
    unit: Short | None = None  # kept private: never shown to anyone but staff


class InvitationIn(In):
    building: str
    uses: int = Field(default=1, ge=1, le=1000)
    valid_days: int = Field(default=30, ge=1, le=366)


class InvitationOut(BaseModel):
    id: int
    code: str | None = Field(default=None, description="Only in the response that creates it.")
    hint: str
    building: str
    uses_left: int
    expires_at: datetime
    created_at: datetime
    revoked: bool


class UserIn(In):
    login: Login
    password: Password
    role: Literal[Role.STAFF, Role.MANAGER, Role.AUDITOR]
    staff_id: Short | None = Field(default=None, description="Staff: the number in the estate"
                                   " config; their department follows from it.")
    name: Short = ""
    phone: Phone | None = None


class UserOut(BaseModel):
    id: str
    login: str
    role: Role
    department: str | None
    name: str


# --- tickets ----------------------------------------------------------------------------


class PhotoOut(BaseModel):
    url: str
    kind: Literal["evidence", "report", "info", "result"]
    content_type: str
    at: datetime


class HistoryOut(BaseModel):
    seq: int
    at: datetime
    action: str
    from_state: State | None
    to_state: State
    actor: str = Field(description="A staff number or service name; residents show as"
                       " 'resident' to everyone but themselves and staff.")
    actor_role: Role
    actor_name: str
    note: str
    data: dict[str, str]


class ContactOut(BaseModel):
    """Personal data of a reporter: staff only."""

    id: str
    name: str
    phone: str | None
    building: str | None
    unit: str | None


class ReportOut(BaseModel):
    """One report of the ticket: the first, or a duplicate linked to it."""

    reported_at: datetime
    source: Source
    channel: Channel
    description: str
    mine: bool = False
    reporter: ContactOut | None = None
    photos: list[str] = []


class TicketOut(BaseModel):
    """What anyone allowed to see a ticket sees: no reporter, no personal data."""

    id: int
    category: str
    category_name: str
    priority: Priority
    source: Source
    channel: Channel
    state: State
    is_open: bool
    description: str
    building: str | None
    area: str
    location: str
    asset: str | None
    opened_at: datetime
    respond_due_at: datetime
    resolve_due_at: datetime
    department: str
    assignee: str
    assignee_name: str
    responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    result_notes: str
    reason: str
    reopen_count: int
    rating: int | None
    reporters: int
    breaches: list[str]
    updated_at: datetime
    version: int | None = Field(default=None, description="Send it back with an action to"
                                " make sure nobody changed the ticket meanwhile (else 409).")
    awaiting_reporter: bool | None = None
    mine: bool | None = Field(default=None, description="Residents: whether they filed the"
                              " first report (only they may rate or reopen).")


class TicketDetail(TicketOut):
    rating_comment: str | None = None
    reporter: ContactOut | None = None
    photos: list[PhotoOut] = []
    reports: list[ReportOut] = []
    history: list[HistoryOut] = []
    allowed_actions: list[str] = []


class TicketPage(BaseModel):
    items: list[TicketOut]
    next_before: int | None = Field(description="Pass as `before` for the next page.")


class QueueItem(TicketOut):
    evidence: list[PhotoOut]


class ReportCreated(BaseModel):
    id: int
    linked: bool = Field(description="True: an open ticket of the same problem existed, and"
                         " this report was added to it.")
    reporters: int
    ticket: TicketDetail


# --- staff actions ----------------------------------------------------------------------


class VersionIn(In):
    version: int | None = None
    note: Text = ""


class NoteIn(In):
    version: int | None = None
    note: Required


class ReasonIn(In):
    version: int | None = None
    reason: Required
    note: Text = ""


class DispatchIn(In):
    version: int | None = None
    department: Short
    assignee: Short = Field(description="A staff number of that department.")
    reason: Text = Field(default="", description="Needed to reassign.")


class OfflineReportIn(In):
    """A report taken at the front desk, by phone or from the suggestion box."""

    channel: Literal[Channel.FRONT_DESK, Channel.PHONE, Channel.SUGGESTION_BOX]
    category: Short
    building: Short | None = None
    area: Short
    description: Required
    priority: Priority | None = None


class MergeIn(In):
    primary_id: int = Field(description="The ticket this one duplicates.")


# --- resident actions -------------------------------------------------------------------


class RatingIn(In):
    rating: int = Field(ge=1, le=5)
    comment: Text = ""
    version: int | None = None


class ReopenIn(In):
    reason: Required
    version: int | None = None
