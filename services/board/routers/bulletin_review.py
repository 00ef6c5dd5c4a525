"""Reviewing a week's bulletin before it is sealed, and redacting a sealed one.

Only the estate's manager and the owners' committee's representatives (auditor accounts
listed in `site.bulletin.review.committee`) may: anyone else is refused (403; 401 without
a session), and the public bulletin routes never show a draft (404 until sealed). Every
step goes to the audit log (services/bulletin/review.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.board.accounts import User
from services.board.audit import entry_by
from services.board.context import Board
from services.board.deps import BoardDep, CurrentUser
from services.board.problems import Problem
from services.bulletin import review
from services.bulletin.publish import BulletinError, Published, redact
from services.bulletin.spans import of_field
from services.config import EstateConfig
from services.store.bulletin_drafts import Draft
from services.tickets import Role
from services.tickets.chain import parse_week

router = APIRouter(prefix="/api/bulletin", tags=["bulletin review"])


def may_review(estate: EstateConfig, user: User) -> bool:
    if not user.belongs_to(estate.site.id):
        return False
    return user.role is Role.MANAGER or (
        user.role is Role.AUDITOR and user.id in estate.site.bulletin.review.committee)


def reviewer_label(user: User) -> str:
    """Who redacted, as the public chain records it (an account id, never a name)."""
    return f"{'manager' if user.role is Role.MANAGER else 'committee'} {user.id}"


def _reviewer(board: BoardDep, user: CurrentUser) -> User:
    if not may_review(board.estate, user):
        raise Problem(403, "forbidden", "only the manager and the owners' committee's"
                      " representatives review bulletins")
    return user


Reviewer = Annotated[User, Depends(_reviewer)]


def audit_for(board: Board, user: User, week: str) -> review.Audit:
    now = board.clock()
    return lambda action, summary: entry_by(user, site=board.site, at=now, action=action,
                                            target=f"week:{week}", summary=summary)


def checked_week(week: str) -> str:
    try:
        parse_week(week)
    except ValueError as exc:
        raise Problem.field(422, "validation", "week", str(exc), "path") from None
    return week


def answer(work: Any) -> Any:
    """Run a review step: a missing draft is 404, a refused step 422."""
    try:
        return work()
    except review.DraftNotFound as exc:
        raise Problem(404, "not-found", str(exc)) from None
    except BulletinError as exc:
        raise Problem(422, "validation", str(exc)) from None


def fields(draft: Draft) -> list[dict[str, Any]]:
    """Each text field of the draft with its spans, in ticket order."""
    out = []
    for ticket in draft.content.get("tickets", []):
        for key in ("description", "measures", "reason"):
            name = f"tickets/{ticket['number']}/{key}"
            text = ticket.get(key, "")
            if text or of_field(draft.spans, name):
                out.append({"field": name, "number": ticket["number"], "key": key,
                            "text": text, "spans": of_field(draft.spans, name),
                            "replaceable": key in review.REPLACEABLE})
    return out


def draft_out(draft: Draft) -> dict[str, Any]:
    return {"week": draft.week, "seal_by": draft.seal_by.isoformat(),
            "created_at": draft.created_at.isoformat(),
            "updated_at": draft.updated_at.isoformat(), "content": draft.content,
            "spans": draft.spans, "fields": fields(draft)}


def sealed_out(result: Published) -> dict[str, Any]:
    doc = result.document
    return {"week": doc["week"], "n": doc["n"], "revision": doc["revision"],
            "hash": doc["hash"], "created": result.created}


class FieldIn(BaseModel):
    field: str = Field(max_length=64, description="tickets/<number>/description|measures"
                       "|reason")


class MaskIn(FieldIn):
    start: int | None = Field(default=None, ge=0, description="with end: the range")
    end: int | None = Field(default=None, ge=0)
    text: str | None = Field(default=None, max_length=200,
                             description="or: every occurrence of this text")


class ReplaceIn(FieldIn):
    text: str = Field(max_length=review.TEXT_LIMIT)


class RedactIn(BaseModel):
    fields: list[str] = Field(min_length=1, max_length=50)
    reason: str = Field(min_length=1, max_length=300)


@router.get("/drafts", summary="Drafts under review (manager, owners' committee)")
def drafts(board: BoardDep, user: Reviewer) -> list[dict[str, Any]]:
    return [{"week": d.week, "seal_by": d.seal_by.isoformat(),
             "updated_at": d.updated_at.isoformat()}
            for d in review.listed(board.pool, board.estate)]


@router.get("/drafts/{week}", summary="A draft with its masked spans (the reading is logged)")
def draft(board: BoardDep, user: Reviewer, week: str) -> dict[str, Any]:
    week = checked_week(week)
    return draft_out(answer(lambda: review.read(board.pool, board.estate, week,
                                                audit_for(board, user, week))))


@router.post("/drafts/{week}/remove", summary="Replace a field of the draft by 已删除")
def remove(board: BoardDep, user: Reviewer, week: str, body: FieldIn) -> dict[str, Any]:
    week = checked_week(week)
    return draft_out(answer(lambda: review.remove(
        board.pool, board.estate, week, field=body.field,
        audit=audit_for(board, user, week), now=board.clock())))


@router.post("/drafts/{week}/mask", summary="Mask a range, or every occurrence of a text")
def mask(board: BoardDep, user: Reviewer, week: str, body: MaskIn) -> dict[str, Any]:
    week = checked_week(week)
    audit, now = audit_for(board, user, week), board.clock()
    if body.text is not None:
        text = body.text
        return draft_out(answer(lambda: review.mask_text(
            board.pool, board.estate, week, field=body.field, fragment=text, audit=audit,
            now=now)))
    if body.start is None or body.end is None:
        raise Problem.field(422, "validation", "text", "give start and end, or the text")
    start, end = body.start, body.end
    return draft_out(answer(lambda: review.mask_range(
        board.pool, board.estate, week, field=body.field, start=start, end=end,
        audit=audit, now=now)))


@router.post("/drafts/{week}/replace", summary="Rewrite a measure or reason (masked too)")
def replace(board: BoardDep, user: Reviewer, week: str, body: ReplaceIn) -> dict[str, Any]:
    week = checked_week(week)
    return draft_out(answer(lambda: review.replace(
        board.pool, board.estate, week, field=body.field, text=body.text,
        audit=audit_for(board, user, week), now=board.clock())))


@router.post("/drafts/{week}/seal", summary="Seal the draft into the chain (publish it)")
def seal(board: BoardDep, user: Reviewer, week: str) -> dict[str, Any]:
    week = checked_week(week)
    return sealed_out(answer(lambda: review.seal(
        board.pool, board.estate, week, audit_for(board, user, week), board.clock())))


@router.post("/{week}/redactions", summary="Redact fields of a sealed week by a correction"
             " (the chain still verifies and records when, why and by whom)")
def redactions(board: BoardDep, user: Reviewer, week: str, body: RedactIn) -> dict[str, Any]:
    week = checked_week(week)
    now: datetime = board.clock()

    def work() -> Published:
        audit = audit_for(board, user, week)("bulletin.redact",
                                             f"{', '.join(body.fields)}: {body.reason}")
        return redact(board.pool, board.estate, week, body.fields, reason=body.reason,
                      by=reviewer_label(user), now=now, audit=audit)

    return sealed_out(answer(work))
