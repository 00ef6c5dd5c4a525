"""The published contract stays true: docs/schemas/ matches the code, docs/mqtt.md's examples
decode."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from services.contract import MAX_BYTES, ContractError, Frame, Kind, decode, kind_of
from services.contract.schemas import export_schemas, render
from services.ingest.sorting import DEAD_LETTER_CAP, Admission

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
MQTT_DOC = ROOT / "docs" / "mqtt.md"
REGENERATE = "python -m services.contract.schemas docs/schemas"

# an example is a ```json block right after <!-- example: {kind} -->
_EXAMPLE = re.compile(r"<!-- example: (?P<kind>[a-z]+) -->\s*```json\n(?P<body>.*?)\n```",
                      re.DOTALL)
_JSON_BLOCK = re.compile(r"^```json\s*$", re.MULTILINE)


def test_export_writes_one_file_per_kind(tmp_path: Path) -> None:
    paths = export_schemas(tmp_path / "out")
    assert [p.name for p in paths] == [f"{k}.schema.json" for k in Kind]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    for kind, path in zip(Kind, paths, strict=True):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"{kind}.schema.json"
        assert schema["additionalProperties"] is False
        assert schema["required"] == ["message_id", "device_id", "sent_at", "seq", "payload"]
        assert str(MAX_BYTES[kind]) in schema["description"]
        payload_ref = schema["properties"]["payload"]["$ref"]
        payload = schema["$defs"][payload_ref.rsplit("/", 1)[1]]
        assert payload["additionalProperties"] is False


def test_metric_names_are_closed_in_the_schema() -> None:
    readings = render(Kind.TELEMETRY)
    schema = json.loads(readings)["$defs"]["Telemetry"]["properties"]["readings"]
    assert schema["patternProperties"] == {"^[a-z][a-z0-9_]{0,47}$": {"type": "number"}}
    assert schema["additionalProperties"] is False  # as the model: no other key passes


def test_export_is_repeatable(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in export_schemas(tmp_path / "a")]
    second = [p.read_bytes() for p in export_schemas(tmp_path / "b")]
    assert first == second


@pytest.mark.parametrize("kind", list(Kind))
def test_published_schema_is_up_to_date(kind: Kind, tmp_path: Path) -> None:
    export_schemas(tmp_path)
    name = f"{kind}.schema.json"
    published = SCHEMAS / name
    assert published.exists(), f"docs/schemas/{name} is missing: run {REGENERATE}"
    assert published.read_text(encoding="utf-8") == (tmp_path / name).read_text(
        encoding="utf-8"), f"docs/schemas/{name} is out of date: run {REGENERATE}"
    assert published.read_text(encoding="utf-8") == render(kind)


def test_no_stray_schema_files() -> None:
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(
        f"{k}.schema.json" for k in Kind)


def _examples() -> list[tuple[Kind, str]]:
    text = MQTT_DOC.read_text(encoding="utf-8")
    found = [(Kind(m["kind"]), m["body"]) for m in _EXAMPLE.finditer(text)]
    # every ```json block is a labelled example: none escapes the check
    assert len(found) == len(_JSON_BLOCK.findall(text))
    return found


def test_the_doc_has_an_example_of_every_kind() -> None:
    assert {kind for kind, _ in _examples()} == set(Kind)


@pytest.mark.parametrize(("kind", "body"), _examples(),
                         ids=lambda v: v if isinstance(v, Kind) else "")
def test_doc_example_decodes(kind: Kind, body: str) -> None:
    try:
        env = decode(kind, body.encode())
    except ContractError as exc:
        pytest.fail(f"the {kind} example in docs/mqtt.md is refused: {exc}")
    assert kind_of(env.payload) is kind
    # the wire form is compact JSON; it must fit the limit too
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert len(compact) <= MAX_BYTES[kind]


def test_doc_frame_example_is_a_jpeg() -> None:
    for kind, body in _examples():
        if kind is Kind.FRAME:
            payload = decode(kind, body.encode()).payload
            assert isinstance(payload, Frame)
            assert payload.jpeg().endswith(b"\xff\xd9")


def test_doc_states_the_code_limits() -> None:
    text = MQTT_DOC.read_text(encoding="utf-8")
    for kind, limit in MAX_BYTES.items():
        assert f"| `{kind}` |" in text
        assert f"{limit:,} bytes".replace(",", " ") in text, kind
    admission = Admission(site="s", devices=frozenset())
    assert admission.max_future == timedelta(minutes=5) and "5 minutes" in text
    assert admission.max_past == timedelta(days=7) and "7 days" in text
    assert DEAD_LETTER_CAP == 64 * 1024 and "first 64 KiB" in text
    assert "sunlight/v1/{site}/{device}/#" in text
