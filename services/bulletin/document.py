"""The week's figures (from SQL) shaped into the bulletin's public content.

Only public fields go in: numbers, categories, coarse places (building and area, never a
unit), sources, states, reasons, measures, departments and staff (by staff number: a
name is personal data), times and ratings (anonymous). What residents wrote is never
published: their tickets are described by category and place (a resident may well write
their name, phone and unit into a report). Machine descriptions and staff-written
measures and reasons go through the public-text policy's masker
(services/tickets/public_text.py): names the estate's records know, in Chinese and
pinyin, phones, ID numbers, e-mail addresses, units, plates and cued names are masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from services.config import EstateConfig
from services.tickets.bulletin_model import (
    CategoryFigures,
    Change,
    Compliance,
    DepartmentFigures,
    HotSpot,
    ReadableDocument,
    Summary,
    TicketEntry,
    TrendWeek,
)
from services.tickets.public_text import KnownTerms, Masker
from services.tickets.states import DONE

DESCRIPTION_CHARS = 60
STATUS_GROUPS = {
    "resolved": "resolved", "closed": "resolved", "rejected": "rejected",
    "unresolvable": "unresolvable", "pending_confirmation": "pending_confirmation",
}
MACHINE_SOURCES = ("camera", "sensor")


def estate_masker(estate: EstateConfig, known: KnownTerms | None = None) -> Masker:
    """The masker for a bulletin: staff names from the config and what the database knows
    (services.store.known_terms), besides the patterns."""
    return Masker(KnownTerms(names=estate.staff_names()) | (known or KnownTerms()))


def mask(text: str, limit: int | None = None, masker: Masker | None = None) -> str:
    """Free text fit for the public: whitespace collapsed, personal data masked (with the
    config's staff names and the patterns when no `masker` is given)."""
    masked = (masker or Masker())(" ".join(text.split()))
    if limit is not None and len(masked) > limit:
        masked = masked[: limit - 1] + "…"
    return masked


def _iso(value: datetime | None, estate: EstateConfig) -> str | None:
    return value.astimezone(estate.site.tz).isoformat() if value else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _seconds(value: float | None) -> float | None:
    return round(float(value), 1) if value is not None else None


def _person(staff_id: str | None) -> str:
    """The responsible person by staff number (工号), which SPEC §4 allows for: their name
    is personal data, and a published name cannot be taken back."""
    return staff_id or ""


def _department_name(estate: EstateConfig, department: str | None) -> str:
    if not department:
        return ""
    try:
        return estate.department(department).name
    except KeyError:
        return department


# Published documents (formats 1 and 2) join a building and an area with a space, not the
# board's " · ", and an unknown place's ids with "/": new publications keep doing so, so
# that a week's documents read alike and the fixtures' bulletins stay byte for byte.
BULLETIN_PLACE_SEPARATOR = " "
BULLETIN_IDS_SEPARATOR = "/"


def place_names(estate: EstateConfig, building: str | None, area: str) -> tuple[str, str]:
    """The coarse place as residents name it (zh, en): 1号楼 楼道 / Building 1 Stairwell."""
    zh, en = (estate.place_text(building, area, lang, separator=BULLETIN_PLACE_SEPARATOR,
                                ids_separator=BULLETIN_IDS_SEPARATOR) for lang in ("zh", "en"))
    return zh, en


def _category(estate: EstateConfig, code: str) -> tuple[str, str]:
    try:
        category = estate.category(code)
    except KeyError:
        return code, code
    return category.name, category.name_en


def _description(row: Mapping[str, Any], category_name: str, estate: EstateConfig,
                 masker: Masker) -> str:
    if row["source"] in MACHINE_SOURCES:
        return mask(row["description"], DESCRIPTION_CHARS, masker)
    return f"{category_name} · {place_names(estate, row['building'], row['area'])[0]}"


def ticket_entry(row: Mapping[str, Any], estate: EstateConfig,
                 masker: Masker | None = None) -> TicketEntry[str]:
    masker = masker or estate_masker(estate)
    name, name_en = _category(estate, row["category"])
    place = place_names(estate, row["building"], row["area"])
    return {
        "number": row["id"],
        "category": row["category"],
        "category_name": name,
        "category_name_en": name_en,
        "description": _description(row, name, estate, masker),
        "building": row["building"] or "",
        "area": row["area"],
        "place_name": place[0],
        "place_name_en": place[1],
        "asset": row["asset"] or "",
        "source": row["source"],
        "channel": row["channel"],
        "status": row["state"],
        "status_group": STATUS_GROUPS.get(row["state"], "in_progress"),
        "reason": mask(row["reason"] or "", masker=masker),
        "measures": mask(row["measures"] or "", masker=masker),
        "department": row["department"] or "",
        "department_name": _department_name(estate, row["department"]),
        "person": _person(row["assignee"]),
        "opened_at": _iso(row["opened_at"], estate),
        "opened_in_week": bool(row["opened_in_week"]),
        "responded_at": _iso(row["responded_at"], estate),
        "resolved_at": _iso(row["resolved_at"], estate),
        "time_to_fix_s": _seconds(row["ttf_s"]),
        "sla_response": row["sla_response"],
        "sla_resolution": row["sla_resolution"],
        "satisfaction": row["rating"],
        "extra_reporters": row["extra_reporters"],
    }


def _compliance(met: int, breached: int) -> Compliance:
    return {"met": met, "breached": breached, "compliance": _share(met, met + breached)}


def summary(figures: Mapping[str, Any], estate: EstateConfig,
            masker: Masker | None = None) -> Summary:
    masker = masker or estate_masker(estate)
    s = figures["summary"]
    ratings = {str(k): 0 for k in range(1, 6)}
    ratings.update({str(r["rating"]): r["n"] for r in figures["ratings"]})
    departments: list[DepartmentFigures] = []
    for d in figures["departments"]:
        resolution = _compliance(d["resolution_met"], d["resolution_breached"])
        departments.append({
            "department": d["department"],
            "name": _department_name(estate, d["department"]),
            "handled": d["handled"],
            "resolved": d["resolved"],
            "response": _compliance(d["response_met"], d["response_breached"]),
            "resolution": resolution,
            "ttf_median_s": _seconds(d["ttf_median_s"]),
            "satisfaction_average": _round(d["satisfaction_average"]),
            "rank": 0,  # set below, once sorted
        })
    # 奖优罚劣: best resolution compliance first, then the faster, then the better rated
    departments.sort(key=lambda d: (
        -(d["resolution"]["compliance"] if d["resolution"]["compliance"] is not None else -1),
        d["ttf_median_s"] if d["ttf_median_s"] is not None else float("inf"),
        -(d["satisfaction_average"] or 0), d["department"]))
    for rank, d in enumerate(departments, start=1):
        d["rank"] = rank
    by_category: list[CategoryFigures] = []
    for c in figures["by_category"]:
        name, name_en = _category(estate, c["category"])
        by_category.append({
            "category": c["category"], "name": name, "name_en": name_en,
            "listed": c["listed"], "opened": c["opened"],
            "resolved_in_week": c["resolved_in_week"],
            "ttf_median_s": _seconds(c["ttf_median_s"]),
            "ttf_p90_s": _seconds(c["ttf_p90_s"]),
        })
    hot_spots: list[HotSpot] = []
    for h in figures["hot_spots"]:
        hot_spots.append({
            "kind": h["kind"], "place": h["place"], "tickets": h["tickets"],
            "numbers": list(h["numbers"]), "categories": sorted(h["categories"]),
            "advice": "consider_replacement" if h["kind"] == "asset" else "inspect",
        })
    rows = figures["rows"]
    return {
        "listed": s["listed"],
        "opened": s["opened"],
        "carried_over": s["listed"] - s["opened"],
        "resolved_in_week": s["resolved_in_week"],
        "by_status": _by_status(figures["by_status"]),
        "by_state": {r["state"]: r["n"] for r in figures["by_status"]},
        "by_source": {r["source"]: r["n"] for r in figures["by_source"]},
        "machine_share": _share(s["opened_by_machines"], s["opened"]),
        "resident_share": _share(s["opened_by_people"], s["opened"]),
        "by_category": by_category,
        "ttf_median_s": _seconds(s["ttf_median_s"]),
        "ttf_p90_s": _seconds(s["ttf_p90_s"]),
        "sla_response": _compliance(s["response_met"], s["response_breached"]),
        "sla_resolution": _compliance(s["resolution_met"], s["resolution_breached"]),
        "satisfaction": {"average": _round(s["satisfaction_average"]),
                         "ratings": s["ratings"], "distribution": ratings},
        "hot_spots": hot_spots,
        "departments": departments,
        "rejected": [{"number": r["id"], "reason": mask(r["reason"] or "", masker=masker)}
                     for r in rows if r["state"] == "rejected"],
        "unresolvable": [{"number": r["id"], "reason": mask(r["reason"] or "", masker=masker)}
                         for r in rows if r["state"] == "unresolvable"],
        "still_open": sum(1 for r in rows if r["state"] not in DONE),
    }


def _by_status(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Counts by the bulletin's statuses: resolved, in progress, unresolvable, rejected,
    awaiting confirmation."""
    out: dict[str, int] = {}
    for r in rows:
        group = STATUS_GROUPS.get(r["state"], "in_progress")
        out[group] = out.get(group, 0) + r["n"]
    return out


def _round(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None


def trend(figures: Mapping[str, Any], estate: EstateConfig, week_start: datetime,
          weeks: int = 8) -> list[TrendWeek]:
    """Tickets opened per week for the `weeks` weeks ending with this one; weeks without
    tickets are there, with zeros."""
    found = {t["week_start"]: t for t in figures["trend"]}
    out: list[TrendWeek] = []
    for k in range(weeks - 1, -1, -1):
        start = week_start - timedelta(weeks=k)
        row = found.get(start, {"opened": 0, "by_machines": 0})
        out.append({"week_start": start.astimezone(estate.site.tz).isoformat(),
                    "opened": row["opened"],
                    "by_machines": row["by_machines"]})
    return out


def week_over_week(this: Summary, previous: Summary | None) -> dict[str, Change]:
    """This week's headline figures against last week's (None where unknown)."""
    keys = {
        "opened": ("opened",),
        "resolved_in_week": ("resolved_in_week",),
        "ttf_median_s": ("ttf_median_s",),
        "resolution_compliance": ("sla_resolution", "compliance"),
        "response_compliance": ("sla_response", "compliance"),
        "satisfaction_average": ("satisfaction", "average"),
    }
    out: dict[str, Change] = {}
    for name, path in keys.items():
        now: Any = this
        before: Any = previous
        for key in path:
            now = now.get(key) if isinstance(now, Mapping) else None
            before = before.get(key) if isinstance(before, Mapping) else None
        change = None
        if isinstance(now, int | float) and isinstance(before, int | float):
            change = round(now - before, 4)
        out[name] = {"this_week": now, "last_week": before, "change": change}
    return out


def readable(document: ReadableDocument) -> ReadableDocument:
    """A published document with the fields later formats added filled in, so that pages
    render every publication ever made (those are immutable, never migrated)."""
    content = document["content"].copy()
    tickets: list[TicketEntry[str]] = []
    for t in content.get("tickets", []):
        place = "/".join(p for p in (t.get("building"), t.get("area")) if p)
        tickets.append({"place_name": place, "place_name_en": place, **t})
    content["tickets"] = tickets
    return {**document, "content": content}
