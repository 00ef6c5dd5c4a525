"""Format 2 bulletins: salted commitments to each text, redaction that keeps the chain
verifiable, and format 1 documents (published before) verifying byte for byte.

data/bulletin-format1-chain.json is a chain of three publications (the demo week, a week
before it, and a correction) made by the code before format 2, exported as served."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from services.bulletin.html import render_html
from services.bulletin.spans import found, mask_range, segments, span
from services.bulletin.text import render_text
from services.bulletin.view import readable
from services.tickets.chain import GENESIS, document_hash, redactions, seal, verify_chain
from services.tickets.commitments import (
    REDACTED,
    commit,
    commit_fields,
    commitments,
    salted_digest,
    sealed_form,
    withhold,
)

FORMAT_1 = json.loads((Path(__file__).parent / "data" / "bulletin-format1-chain.json")
                      .read_text(encoding="utf-8"))
NAME = "王芳 Wang Fang"


def _v1_hash(document: dict[str, Any]) -> str:
    """The format 1 rule, written out here: SHA-256 of the canonical JSON without hash."""
    body = {k: v for k, v in document.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _next(chain: list[dict[str, Any]], *, revision: int = 1, reason: str = "",
          measures: str = f"更换灯泡，{NAME}已确认", redacted: tuple[str, ...] = (),
          by: str = "") -> dict[str, Any]:
    """A format 2 publication of week 2026-W48 appended to `chain`."""
    last = copy.deepcopy(chain[-1]["content"])
    ticket = copy.deepcopy(last["tickets"][0])
    ticket.update({"number": 901, "measures": measures, "reason": "", "opened_in_week": True})
    content = {**last, "week": "2026-W48", "tickets": [ticket], "opened_numbers": [901],
               "summary": {**last["summary"], "listed": 1, "opened": 1,
                           "by_status": {"resolved": 1}, "rejected": [], "unresolvable": []}}
    plain = {"format": 2, "n": len(chain) + 1, "site": chain[-1]["site"],
             "week": "2026-W48", "revision": revision,
             "corrects": chain[-1]["hash"] if revision > 1 else None, "reason": reason,
             "published_at": "2026-12-01T12:00:00+08:00", "prev_hash": chain[-1]["hash"],
             "content": content,
             "redactions": [{"field": f, "by": by} for f in redacted]}
    return seal(commit_fields(plain, {}, {}))


def test_format_1_documents_verify_byte_for_byte() -> None:
    assert [d.get("format") for d in FORMAT_1] == [None, None, None]
    for document in FORMAT_1:
        assert document_hash(document) == _v1_hash(document) == document["hash"]
    assert verify_chain(FORMAT_1, week="2026-W47", anchor=FORMAT_1[-1]["hash"]) == []
    edited = copy.deepcopy(FORMAT_1)
    edited[1]["content"]["tickets"][0]["measures"] += "!"
    assert any("altered" in p for p in verify_chain(edited))
    for document in FORMAT_1:  # still rendered as they were
        assert document["hash"] in render_text(document)
        assert document["hash"] in render_html(document)


def test_a_format_2_text_is_committed_by_a_salted_digest_outside_the_hash() -> None:
    doc = _next(FORMAT_1)
    field = commitments(doc)["tickets/901/measures"]
    assert field["digest"] == salted_digest(field["salt"], field["text"])
    assert NAME not in json.dumps(sealed_form(doc), ensure_ascii=False)
    # the same text under another salt commits to another digest: no guessing by hashing
    assert commit(field["text"])["digest"] != field["digest"]
    chain = [*FORMAT_1, doc]
    assert verify_chain(chain, week="2026-W48", anchor=doc["hash"]) == []
    assert readable(doc)["content"]["tickets"][0]["measures"] == f"更换灯泡，{NAME}已确认"


def test_a_redacted_field_verifies_and_is_reported() -> None:
    first = _next(FORMAT_1)
    name = "tickets/901/measures"
    second = seal({**withhold(first, {name}), "n": first["n"] + 1, "revision": 2,
                   "corrects": first["hash"], "prev_hash": first["hash"],
                   "reason": commit("措施中含有业主姓名"),
                   "published_at": "2026-12-02T09:30:00+08:00",
                   "redactions": [{"field": name, "by": "manager PM-001"}]})
    served = [*FORMAT_1, withhold(first, {name}), second]
    assert NAME not in json.dumps(served, ensure_ascii=False)
    assert verify_chain(served, week="2026-W48", anchor=second["hash"]) == []
    [found_redaction] = redactions(served)
    assert (found_redaction.week, found_redaction.field, found_redaction.n) == (
        "2026-W48", name, second["n"])
    assert found_redaction.withheld_in == (first["n"], second["n"])
    assert found_redaction.reason == "措施中含有业主姓名"
    assert found_redaction.by == "manager PM-001"
    assert found_redaction.at == "2026-12-02T09:30:00+08:00"
    assert readable(second)["content"]["tickets"][0]["measures"] == REDACTED


def test_text_cannot_vanish_or_change_unnoticed() -> None:
    doc = _next(FORMAT_1)
    name = "tickets/901/measures"
    silently = [*FORMAT_1, withhold(doc, {name})]
    assert any("withheld without a recorded redaction" in p for p in verify_chain(silently))
    changed = copy.deepcopy(doc)
    changed["content"]["tickets"][0]["measures"]["text"] = "更换灯泡"
    problems = verify_chain([*FORMAT_1, changed])
    assert any(f"{name} does not match its commitment" in p for p in problems)
    assert not any("its hash" in p for p in problems)  # the hash covers digests only
    digest = copy.deepcopy(doc)
    digest["content"]["tickets"][0]["measures"]["digest"] = "0" * 64
    assert any("altered" in p for p in verify_chain([*FORMAT_1, digest]))
    assert FORMAT_1[0]["prev_hash"] == GENESIS


def test_spans_follow_the_masker_and_the_reviewer() -> None:
    public = "换灯管，电话＊＊＊回访"
    assert found("f", "换灯管，电话13900001111回访", public) == [span("f", 6, 9, "masked")]
    assert found("f", "换灯管", "换灯管") == []
    text, spans = mask_range("王芳说好的，电话＊＊＊", [span("f", 8, 11, "masked")], "f", 0, 2)
    assert text == "＊＊＊说好的，电话＊＊＊"
    assert spans == [span("f", 9, 12, "masked"), span("f", 0, 3, "manual")]
    assert segments(text, spans) == [("＊＊＊", "manual"), ("说好的，电话", None),
                                     ("＊＊＊", "masked")]
