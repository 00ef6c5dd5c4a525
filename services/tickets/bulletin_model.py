"""The published bulletin document, typed: what each format holds, key by key.

A published document is immutable and hashed byte for byte (services/tickets/chain.py),
so it stays the JSON object it was published as: these are TypedDicts, checked by mypy
where the document is built, verified and rendered, never a conversion that could change a
key or turn 3 into 3.0. `parse_document` checks that a JSON document is one of the formats
exactly (no key missing, none unknown, every number of its own type) and returns it
unchanged, so parsing and serialising again gives the same canonical JSON.

Versions (never edited, only added):

* `DocumentV1`: no `format` key; every text a plain string inside the hash. Its oldest
  publications have no `place_name`/`place_name_en` on tickets.
* `DocumentV2`: `"format": 2`; each free text a salted commitment (`Commitment`,
  services/tickets/commitments.py), the document's `redactions` listed.
* `ReadableDocument`: what the pages and the text render (services/bulletin/view.py
  `readable`): any format with its texts as strings and the later fields filled in.

`content.format` (1 or 2) is the version of the content's meaning, apart from the
document's.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, NotRequired, TypeVar

from pydantic import BeforeValidator, ConfigDict, TypeAdapter, with_config
from typing_extensions import TypedDict  # pydantic reads only this one before 3.12

_EXACT = ConfigDict(extra="forbid", strict=True)
T = TypeVar("T")


def _float_only(value: object) -> object:
    """Strict pydantic still takes 3 for a float and returns 3.0, which would change the
    canonical JSON (and the hash): a float is written as one."""
    if value is not None and type(value) is not float:
        raise ValueError(f"a float is written with a point: {value!r}")
    return value


Real = Annotated[float, BeforeValidator(_float_only)]  # a float, as published


@with_config(_EXACT)
class Commitment(TypedDict):
    """A committed text: the digest, and the opening (salt and text) where it is served."""

    digest: str
    salt: NotRequired[str]
    text: NotRequired[str]


Text = str | Commitment  # a free text of a format 2 document


@with_config(_EXACT)
class Site(TypedDict):
    id: str
    name: str
    name_en: str
    url: str


@with_config(_EXACT)
class Period(TypedDict):
    start: str
    end: str
    timezone: str


@with_config(_EXACT)
class TicketEntry(TypedDict, Generic[T]):
    """One listed ticket; `T` is how its free texts are held (str, or `Text`)."""

    number: int
    category: str
    category_name: str
    category_name_en: str
    description: T
    building: str
    area: str
    place_name: NotRequired[str]  # since the first weeks of format 1
    place_name_en: NotRequired[str]
    asset: str
    source: str
    channel: str
    status: str
    status_group: str
    reason: T
    measures: T
    department: str
    department_name: str
    person: str
    opened_at: str | None
    opened_in_week: bool
    responded_at: str | None
    resolved_at: str | None
    time_to_fix_s: Real | None
    sla_response: str
    sla_resolution: str
    satisfaction: int | None
    extra_reporters: int


@with_config(_EXACT)
class Compliance(TypedDict):
    met: int
    breached: int
    compliance: Real | None


@with_config(_EXACT)
class Satisfaction(TypedDict):
    average: Real | None
    ratings: int
    distribution: dict[str, int]


@with_config(_EXACT)
class CategoryFigures(TypedDict):
    category: str
    name: str
    name_en: str
    listed: int
    opened: int
    resolved_in_week: int
    ttf_median_s: Real | None
    ttf_p90_s: Real | None


@with_config(_EXACT)
class HotSpot(TypedDict):
    kind: str  # asset or place
    place: str
    tickets: int
    numbers: list[int]
    categories: list[str]
    advice: str


@with_config(_EXACT)
class DepartmentFigures(TypedDict):
    department: str
    name: str
    handled: int
    resolved: int
    response: Compliance
    resolution: Compliance
    ttf_median_s: Real | None
    satisfaction_average: Real | None
    rank: int


@with_config(_EXACT)
class Declined(TypedDict):
    """A rejected or unresolvable ticket in the summary: with its reason in content
    format 1, by number alone in format 2 (the reason is the ticket's committed one)."""

    number: int
    reason: NotRequired[str]


@with_config(_EXACT)
class Summary(TypedDict):
    listed: int
    opened: int
    carried_over: int
    resolved_in_week: int
    by_status: dict[str, int]
    by_state: dict[str, int]
    by_source: dict[str, int]
    machine_share: Real | None
    resident_share: Real | None
    by_category: list[CategoryFigures]
    ttf_median_s: Real | None
    ttf_p90_s: Real | None
    sla_response: Compliance
    sla_resolution: Compliance
    satisfaction: Satisfaction
    hot_spots: list[HotSpot]
    departments: list[DepartmentFigures]
    rejected: list[Declined]
    unresolvable: list[Declined]
    still_open: int


Figure = int | Real | None  # a headline figure: a count, a share, seconds, an average


@with_config(_EXACT)
class Change(TypedDict):
    this_week: Figure
    last_week: Figure
    change: Figure


@with_config(_EXACT)
class TrendWeek(TypedDict):
    week_start: str
    opened: int
    by_machines: int


@with_config(_EXACT)
class Content(TypedDict, Generic[T]):
    """A week's figures and tickets; `T` is how the tickets' free texts are held."""

    format: int
    site: Site
    week: str
    period: Period
    opened_numbers: list[int]
    tickets: list[TicketEntry[T]]
    summary: Summary
    week_over_week: dict[str, Change]
    trend: list[TrendWeek]


@with_config(_EXACT)
class RedactionEntry(TypedDict):
    field: str
    by: str


@with_config(_EXACT)
class DocumentV1(TypedDict):
    """A publication before commitments: no `format` key, texts inside the hash."""

    n: int
    site: str
    week: str
    revision: int
    corrects: str | None
    reason: str
    published_at: str
    prev_hash: str
    content: Content[str]
    hash: str


@with_config(_EXACT)
class DocumentV2(TypedDict):
    """A publication with salted commitments to its texts (sealed or served)."""

    format: Literal[2]
    n: int
    site: str
    week: str
    revision: int
    corrects: str | None
    reason: Text
    published_at: str
    prev_hash: str
    content: Content[Text]
    redactions: list[RedactionEntry]
    hash: str


Document = DocumentV1 | DocumentV2


class ReadableDocument(TypedDict):
    """Any publication as read: texts as strings, the later fields filled in."""

    n: int
    site: str
    week: str
    revision: int
    corrects: str | None
    reason: str
    published_at: str
    prev_hash: str
    content: Content[str]
    hash: str
    format: NotRequired[int]
    redactions: NotRequired[list[RedactionEntry]]


_DOCUMENT: TypeAdapter[Document] = TypeAdapter(Document)


def parse_document(value: Any) -> Document:
    """`value` (decoded JSON) as the format it is, unchanged; a pydantic ValidationError
    when it is none of them exactly."""
    return _DOCUMENT.validate_python(value)
