"""The review page of a week's bulletin draft (Chinese first): every text field with what
was masked highlighted, forms to remove a field, mask a piece of it or rewrite a measure
or reason, and to seal the draft. The same functions as the review API
(services/board/routers/bulletin_review.py); the same people only.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from services.board.accounts import User
from services.board.deps import BoardDep
from services.board.pages.access import PageUser, guard_form
from services.board.pages.errors import PageError, SignInFirst, shown_as_page
from services.board.pages.forms import see_other
from services.board.pages.render import language, render
from services.board.problems import Problem
from services.board.routers.bulletin_review import (
    answer,
    audit_for,
    checked_week,
    fields,
    may_review,
    reviewer_label,
)
from services.bulletin import review
from services.bulletin.publish import redact
from services.bulletin.spans import segments

router = APIRouter(include_in_schema=False, dependencies=[Depends(guard_form)])
Text = Annotated[str, Form()]

WORDS: dict[str, dict[str, Any]] = {
    "zh-CN": {
        "title": "曝光台审核", "drafts": "待审核的草稿", "none": "没有待审核的草稿。",
        "seal_by": "若无人操作，将于 {at} 自动发布", "legend": "高亮处为已遮盖或已修改的内容",
        "masked": "已遮盖", "manual": "人工遮盖", "removed": "已删除", "replaced": "已改写",
        "remove": "删除此字段", "mask": "遮盖文字", "mask_hint": "要遮盖的文字",
        "replace": "改写", "seal": "确认并发布（封存，不可再改）", "empty": "（空）",
        "fields": {"description": "描述", "measures": "处理措施", "reason": "原因"},
        "done": {"removed": "已删除该字段", "masked": "已遮盖", "replaced": "已改写",
                 "sealed": "已发布"},
        "week": "周", "open": "审核", "redact_title": "删除已发布的内容（更正）",
        "redact_hint": "已发布的周若含个人信息：删除该字段，"
                       "核验链仍然成立并记录删除的时间、原因和操作人",
        "field": "字段（如 tickets/12/measures）", "reason": "原因（将公开）",
        "redact": "删除并发布更正",
    },
    "en": {
        "title": "Bulletin review", "drafts": "Drafts to review", "none": "No drafts to review.",
        "seal_by": "Published automatically at {at} if nobody acts",
        "legend": "Highlighted: masked or changed text", "masked": "masked",
        "manual": "masked by hand", "removed": "removed", "replaced": "rewritten",
        "remove": "Remove this field", "mask": "Mask text", "mask_hint": "Text to mask",
        "replace": "Rewrite", "seal": "Seal and publish (final)", "empty": "(empty)",
        "fields": {"description": "Description", "measures": "Measures", "reason": "Reason"},
        "done": {"removed": "Field removed", "masked": "Masked", "replaced": "Rewritten",
                 "sealed": "Published"},
        "week": "Week", "open": "Review", "redact_title": "Remove published text (correction)",
        "redact_hint": "If a published week holds personal data: remove the field; the chain"
                       " still verifies and records when, why and by whom",
        "field": "Field (e.g. tickets/12/measures)", "reason": "Reason (public)",
        "redact": "Remove and publish the correction",
    },
}


def _reviewer(request: Request, board: BoardDep, user: PageUser) -> User:
    if user is None:
        raise SignInFirst(request.url.path)
    request.state.user = user
    if not may_review(board.estate, user):
        raise PageError(Problem(403, "forbidden", "only the manager and the owners'"
                                " committee's representatives review bulletins"))
    return user


PageReviewer = Annotated[User, Depends(_reviewer)]


def _back(week: str, done: str) -> Response:
    return see_other(f"/manager/bulletin/{quote(week)}?done={done}")


@router.get("/manager/bulletin")
def drafts(request: Request, board: BoardDep, user: PageReviewer) -> Response:
    local = board.estate.site.tz
    listed = [(d.week, d.seal_by.astimezone(local).strftime("%Y-%m-%d %H:%M"))
              for d in review.listed(board.pool, board.estate)]
    return render(request, "bulletin_drafts.html", b=WORDS[language(request)], drafts=listed)


@router.get("/manager/bulletin/{week}")
def draft(request: Request, board: BoardDep, user: PageReviewer, week: str) -> Response:
    with shown_as_page():
        week = checked_week(week)
        found = answer(lambda: review.read(board.pool, board.estate, week,
                                           audit_for(board, user, week)))
    words = WORDS[language(request)]
    shown = [{**f, "pieces": segments(f["text"], f["spans"])} for f in fields(found)]
    seal_at = found.seal_by.astimezone(board.estate.site.tz).strftime("%Y-%m-%d %H:%M")
    return render(request, "bulletin_review.html", b=words, week=week, fields=shown,
                  seal_by=words["seal_by"].format(at=seal_at),
                  done=words["done"].get(request.query_params.get("done", ""), ""))


@router.post("/manager/bulletin/{week}/remove")
def remove(board: BoardDep, user: PageReviewer, week: str, field: Text) -> Response:
    with shown_as_page():
        week = checked_week(week)
        answer(lambda: review.remove(board.pool, board.estate, week, field=field,
                                     audit=audit_for(board, user, week), now=board.clock()))
    return _back(week, "removed")


@router.post("/manager/bulletin/{week}/mask")
def mask(board: BoardDep, user: PageReviewer, week: str, field: Text, text: Text = "") \
        -> Response:
    with shown_as_page():
        week = checked_week(week)
        answer(lambda: review.mask_text(board.pool, board.estate, week, field=field,
                                        fragment=text, audit=audit_for(board, user, week),
                                        now=board.clock()))
    return _back(week, "masked")


@router.post("/manager/bulletin/{week}/replace")
def replace(board: BoardDep, user: PageReviewer, week: str, field: Text, text: Text = "") \
        -> Response:
    with shown_as_page():
        week = checked_week(week)
        answer(lambda: review.replace(board.pool, board.estate, week, field=field, text=text,
                                      audit=audit_for(board, user, week), now=board.clock()))
    return _back(week, "replaced")


@router.post("/manager/bulletin/{week}/seal")
def seal(board: BoardDep, user: PageReviewer, week: str) -> Response:
    with shown_as_page():
        week = checked_week(week)
        answer(lambda: review.seal(board.pool, board.estate, week,
                                   audit_for(board, user, week), board.clock()))
    return see_other(f"/bulletin/{quote(week)}")


@router.post("/manager/bulletin/redactions")
def redaction(board: BoardDep, user: PageReviewer, week: Text = "", field: Text = "",
              reason: Text = "") -> Response:
    """Redact a field of a sealed week by a correction (as the API's redactions)."""
    with shown_as_page():
        week = checked_week(week.strip())
        audit = audit_for(board, user, week)("bulletin.redact", f"{field}: {reason}")
        answer(lambda: redact(board.pool, board.estate, week, [field.strip()],
                              reason=reason, by=reviewer_label(user), now=board.clock(),
                              audit=audit))
    return see_other(f"/bulletin/{quote(week)}")
