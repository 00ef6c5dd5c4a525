"""The bulletin's typed document (services/tickets/bulletin_model.py): every published
format parses exactly and serialises back to the same canonical JSON, so hashes still
verify; generated documents round-trip; the committed format 1 chain parses and verifies
byte for byte (issue 15)."""

from __future__ import annotations

import copy
import json
import types
import typing
from pathlib import Path
from typing import Any, Literal, NotRequired, Union, get_args, get_origin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from typing_extensions import get_type_hints, is_typeddict

from services.tickets import bulletin_model as model
from services.tickets.bulletin_model import DocumentV1, DocumentV2, parse_document
from services.tickets.chain import canonical, document_hash, seal, verify_chain
from services.tickets.commitments import commit_fields, sealed_form

FORMAT_1 = json.loads((Path(__file__).parent / "data" / "bulletin-format1-chain.json")
                      .read_text(encoding="utf-8"))
TEXT = st.text(max_size=8)
NUMBER = st.integers(-(2**53), 2**53)  # JSON numbers every reader keeps exactly
REAL = st.floats(allow_nan=False, allow_infinity=False)  # canonical JSON has no NaN


def strategy(tp: Any, bound: dict[Any, Any] | None = None) -> st.SearchStrategy[Any]:  # noqa: PLR0911
    """Values of a model type, read from its annotations (so a key the model forgets is
    never generated, and the round trip with real documents shows it)."""
    bound = bound or {}
    tp = bound.get(tp, tp)  # a type parameter (T of Content[T]) as bound
    origin, args = get_origin(tp), tuple(bound.get(a, a) for a in get_args(tp))
    if tp is model.Real or (origin is typing.Annotated and args[0] is float):
        return REAL
    if origin in (Union, types.UnionType):
        return st.one_of(*(strategy(a, bound) for a in args))
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(strategy(args[0], bound), max_size=3)
    if origin is dict:
        return st.dictionaries(TEXT, strategy(args[1], bound), max_size=3)
    if is_typeddict(origin or tp):
        cls = origin or tp
        params = dict(zip(getattr(cls, "__parameters__", ()), args, strict=False))
        hints = get_type_hints(cls, include_extras=True)
        unwrap = {k: get_args(v)[0] if get_origin(v) is NotRequired else v
                  for k, v in hints.items()}
        required = {k: strategy(unwrap[k], params) for k in cls.__required_keys__}
        optional = {k: strategy(unwrap[k], params) for k in cls.__optional_keys__}
        return st.fixed_dictionaries(required, optional=optional)
    simple = {int: NUMBER, str: TEXT, bool: st.booleans(), type(None): st.none(),
              float: REAL}
    return simple[tp]


@settings(max_examples=60, deadline=None)
@given(st.one_of(strategy(DocumentV1), strategy(DocumentV2)))
def test_a_document_round_trips_through_its_canonical_json(document: Any) -> None:
    text = canonical(document)
    parsed = parse_document(json.loads(text))
    assert parsed == document
    assert canonical(parsed) == text
    assert document_hash(parsed) == document_hash(document)


def test_the_committed_format_1_chain_parses_and_verifies_byte_for_byte() -> None:
    parsed = [parse_document(copy.deepcopy(d)) for d in FORMAT_1]
    assert [canonical(p) for p in parsed] == [canonical(d) for d in FORMAT_1]
    assert all(document_hash(p) == p["hash"] for p in parsed)
    assert verify_chain(parsed, week="2026-W47", anchor=FORMAT_1[-1]["hash"]) == []
    assert all("format" not in p for p in parsed)  # format 1: the key never existed


def test_a_format_2_document_parses_sealed_and_served() -> None:
    content = copy.deepcopy(FORMAT_1[-1]["content"])
    for key in ("rejected", "unresolvable"):
        content["summary"][key] = [{"number": r["number"]} for r in content["summary"][key]]
    served = seal(commit_fields({
        "format": 2, "n": 4, "site": FORMAT_1[-1]["site"], "week": "2026-W48",
        "revision": 1, "corrects": None, "reason": "", "published_at": "2026-12-01T12:00:00+08:00",
        "prev_hash": FORMAT_1[-1]["hash"], "content": content, "redactions": []}, {}, {}))
    stored = {**sealed_form(served), "hash": served["hash"]}
    for document in (served, stored):
        parsed = parse_document(json.loads(canonical(document)))
        assert canonical(parsed) == canonical(document)
    assert verify_chain([*FORMAT_1, served]) == []


@pytest.mark.parametrize("change", [
    lambda d: d["content"]["tickets"][0].__setitem__("time_to_fix_s", 72000),  # 72000.0
    lambda d: d["content"]["summary"].__setitem__("listed", 11.0),
    lambda d: d["content"]["summary"].pop("still_open"),
    lambda d: d["content"]["tickets"][0].__setitem__("unknown", 1),
    lambda d: d.__setitem__("format", 1),
])
def test_a_document_that_is_no_format_exactly_is_refused(change: Any) -> None:
    """Parsing never coerces: a number of another type or a key too many or too few would
    serialise differently, so it is refused instead."""
    document = copy.deepcopy(FORMAT_1[1])
    parse_document(document)
    change(document)
    with pytest.raises(ValidationError):
        parse_document(document)
