"""The MQTT contract: topics, the envelope and each payload kind, and what decode refuses."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.contract import (
    ENVELOPES,
    MAX_BYTES,
    ROOT,
    SCHEMA_VERSION,
    ContractError,
    Event,
    Finding,
    Frame,
    Kind,
    Payload,
    Phase,
    Rule,
    Status,
    Telemetry,
    Topic,
    TopicError,
    decode,
    encode,
    kind_of,
    parse_topic,
    subscription,
    topic,
)

T0 = datetime(2025, 3, 14, 9, 26, 53, 589000, tzinfo=timezone(timedelta(hours=8)))
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16 + b"\xff\xd9"
JPEG_B64 = base64.b64encode(JPEG).decode()

PAYLOADS: dict[Kind, Payload] = {
    Kind.TELEMETRY: Telemetry(readings={"fill_pct": 93.5, "battery_v": 3.61, "count": 7}),
    Kind.EVENT: Event(event="door_opened",
                      data={"contact": "main", "n": 3, "x": 1.5, "ok": True, "none": None}),
    Kind.FRAME: Frame(jpeg_b64=JPEG_B64, width=640, height=480, keyframe=True, motion=True),
    Kind.FINDING: Finding(
        finding_id="f-cam-1-exit-0001", camera_id="cam-1", rule=Rule.BLOCKED_FIRE_EXIT,
        zone="exit", phase=Phase.START, started_at=T0 - timedelta(minutes=2),
        box=(0.1, 0.2, 0.5, 0.9), label="bicycle", score=0.87, evidence_jpeg_b64=JPEG_B64,
    ),
    Kind.STATUS: Status(state="offline"),
}


def _raw(kind: Kind, payload: Payload | None = None, **envelope: Any) -> bytes:
    return encode(**{"message_id": "msg-00000001", "device_id": "dev-1", "sent_at": T0,
                     "seq": 7, "payload": payload or PAYLOADS[kind], **envelope})


def _doc(kind: Kind) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_raw(kind))
    return doc


def _decode_doc(kind: Kind, doc: Any) -> Any:
    return decode(kind, json.dumps(doc).encode())


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(Kind))
def test_round_trip(kind: Kind) -> None:
    payload = PAYLOADS[kind]
    assert kind_of(payload) is kind
    raw = _raw(kind)
    env = decode(kind, raw)
    assert env.payload == payload
    assert type(env.payload) is type(payload)
    assert env.message_id == "msg-00000001"
    assert env.device_id == "dev-1"
    assert env.sent_at == T0
    assert env.sent_at.utcoffset() == timedelta(hours=8)
    assert env.seq == 7
    assert env.schema_version == SCHEMA_VERSION == 1
    # encoding the decoded message gives the same bytes: nothing is lost or invented
    assert encode(message_id=env.message_id, device_id=env.device_id, sent_at=env.sent_at,
                  seq=env.seq, payload=env.payload) == raw


def test_encode_writes_the_documented_fields() -> None:
    doc = _doc(Kind.STATUS)
    assert list(doc) == ["message_id", "device_id", "sent_at", "seq", "schema_version",
                         "payload"]
    assert doc["payload"] == {"state": "offline"}
    assert doc["sent_at"] == "2025-03-14T09:26:53.589000+08:00"


def test_encode_leaves_out_absent_optional_fields() -> None:
    finding = Finding(finding_id="f-cam-1-exit-0001", camera_id="cam-1", rule=Rule.LITTER,
                      zone="floor", phase=Phase.END, started_at=T0)
    doc = json.loads(_raw(Kind.FINDING, finding))
    assert "box" not in doc["payload"]
    assert "evidence_jpeg_b64" not in doc["payload"]
    assert decode(Kind.FINDING, _raw(Kind.FINDING, finding)).payload == finding


def test_event_data_keeps_null_values() -> None:
    env = decode(Kind.EVENT, _raw(Kind.EVENT))
    assert isinstance(env.payload, Event)
    assert env.payload.data["none"] is None


def test_schema_version_defaults_to_1_when_absent() -> None:
    doc = _doc(Kind.STATUS)
    del doc["schema_version"]
    assert _decode_doc(Kind.STATUS, doc).schema_version == 1


def test_other_schema_version_refused() -> None:
    doc = _doc(Kind.STATUS)
    doc["schema_version"] = 2
    with pytest.raises(ContractError, match="schema_version"):
        _decode_doc(Kind.STATUS, doc)


def test_utc_z_suffix_accepted() -> None:
    doc = _doc(Kind.STATUS)
    doc["sent_at"] = "2025-03-14T01:26:53Z"
    assert _decode_doc(Kind.STATUS, doc).sent_at == datetime(2025, 3, 14, 1, 26, 53, tzinfo=UTC)


def test_payload_of_another_kind_refused() -> None:
    with pytest.raises(ContractError, match=r"payload\.readings"):
        decode(Kind.TELEMETRY, _raw(Kind.STATUS))


def test_encode_validates() -> None:
    with pytest.raises(ValidationError):
        _raw(Kind.STATUS, device_id="Dev/1")
    with pytest.raises(ValidationError):
        _raw(Kind.STATUS, sent_at=datetime(2025, 3, 14, 9, 0))  # naive


# --- unknown fields ---------------------------------------------------------------------


def test_unknown_envelope_field_refused() -> None:
    doc = _doc(Kind.TELEMETRY)
    doc["firmware"] = "1.2.3"
    with pytest.raises(ContractError, match="firmware: Extra inputs are not permitted"):
        _decode_doc(Kind.TELEMETRY, doc)


@pytest.mark.parametrize("kind", list(Kind))
def test_unknown_payload_field_refused(kind: Kind) -> None:
    doc = _doc(kind)
    doc["payload"]["colour"] = "red"
    with pytest.raises(ContractError, match=r"payload\.colour: Extra inputs are not permitted"):
        _decode_doc(kind, doc)


@pytest.mark.parametrize("field", ["message_id", "device_id", "sent_at", "seq", "payload"])
def test_missing_envelope_field_refused(field: str) -> None:
    doc = _doc(Kind.TELEMETRY)
    del doc[field]
    with pytest.raises(ContractError, match=f"{field}: Field required"):
        _decode_doc(Kind.TELEMETRY, doc)


# --- field rules ------------------------------------------------------------------------


@pytest.mark.parametrize("sent_at", ["2025-03-14T09:26:53", "2025-03-14T09:26:53.589",
                                     "2025-03-14 09:26:53"])
def test_naive_timestamp_refused(sent_at: str) -> None:
    doc = _doc(Kind.TELEMETRY)
    doc["sent_at"] = sent_at
    with pytest.raises(ContractError, match="sent_at: Input should have timezone info"):
        _decode_doc(Kind.TELEMETRY, doc)


def test_naive_started_at_refused() -> None:
    doc = _doc(Kind.FINDING)
    doc["payload"]["started_at"] = "2025-03-14T09:20:00"
    with pytest.raises(ContractError, match=r"payload\.started_at: .*timezone"):
        _decode_doc(Kind.FINDING, doc)


def test_garbage_timestamp_refused() -> None:
    doc = _doc(Kind.TELEMETRY)
    doc["sent_at"] = "yesterday"
    with pytest.raises(ContractError, match="sent_at"):
        _decode_doc(Kind.TELEMETRY, doc)


@pytest.mark.parametrize("token", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"])
def test_non_finite_reading_refused(token: bytes) -> None:
    # json.dumps would never write these; a device's hand-rolled JSON might
    raw = _raw(Kind.TELEMETRY, Telemetry(readings={"fill_pct": 12345.5}))
    raw = raw.replace(b"12345.5", token)
    assert token in raw
    with pytest.raises(ContractError, match=r"payload\.readings\.fill_pct: .*finite"):
        decode(Kind.TELEMETRY, raw)


def test_huge_integer_reading_refused() -> None:
    doc = _doc(Kind.TELEMETRY)
    doc["payload"]["readings"]["count"] = 10**400
    with pytest.raises(ContractError, match="finite"):
        _decode_doc(Kind.TELEMETRY, doc)


@pytest.mark.parametrize("readings", [{}, {f"m{i}": 1.0 for i in range(65)}])
def test_reading_count_limits(readings: dict[str, float]) -> None:
    doc = _doc(Kind.TELEMETRY)
    doc["payload"]["readings"] = readings
    with pytest.raises(ContractError, match=r"payload\.readings"):
        _decode_doc(Kind.TELEMETRY, doc)


@pytest.mark.parametrize("name", ["FillPct", "1st", "fill-pct", "fill pct", "", "a" * 49])
def test_bad_metric_name_refused(name: str) -> None:
    doc = _doc(Kind.TELEMETRY)
    doc["payload"]["readings"] = {name: 1.0}
    with pytest.raises(ContractError, match=r"payload\.readings"):
        _decode_doc(Kind.TELEMETRY, doc)


@pytest.mark.parametrize("reading", [None, [1], {"v": 1}, "twelve"])
def test_non_number_reading_refused(reading: Any) -> None:
    doc = _doc(Kind.TELEMETRY)
    doc["payload"]["readings"] = {"fill_pct": reading}
    with pytest.raises(ContractError, match=r"payload\.readings\.fill_pct"):
        _decode_doc(Kind.TELEMETRY, doc)


@pytest.mark.parametrize(("path", "value"), [
    (("payload", "readings", "fill_pct"), "12"),
    (("payload", "readings", "fill_pct"), True),
    (("seq",), "7"),
    (("schema_version",), True),
    (("sent_at",), 1741915613),
])
def test_values_of_the_wrong_json_type_refused(path: tuple[str, ...], value: Any) -> None:
    doc = _doc(Kind.TELEMETRY)
    inner = doc
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = value
    with pytest.raises(ContractError, match=path[-1]):
        _decode_doc(Kind.TELEMETRY, doc)


@pytest.mark.parametrize(("field", "value"), [
    ("message_id", "short"),
    ("message_id", "x" * 65),
    ("message_id", "has space-1234"),
    ("message_id", "slash/in/it-1234"),
    ("device_id", "Dev-1"),
    ("device_id", "dev/1"),
    ("device_id", "dev+"),
    ("device_id", "dev#"),
    ("device_id", "-dev"),
    ("device_id", ""),
    ("device_id", "dev-1\n"),
    ("device_id", "d" * 65),
    ("seq", -1),
    ("seq", 1.5),
])
def test_bad_envelope_values_refused(field: str, value: Any) -> None:
    doc = _doc(Kind.STATUS)
    doc[field] = value
    with pytest.raises(ContractError, match=f"^{field}: "):
        _decode_doc(Kind.STATUS, doc)


def test_bad_status_state_refused() -> None:
    doc = _doc(Kind.STATUS)
    doc["payload"]["state"] = "sleeping"
    with pytest.raises(ContractError, match=r"payload\.state"):
        _decode_doc(Kind.STATUS, doc)


@pytest.mark.parametrize(("field", "value"), [
    ("rule", "graffiti"), ("phase", "paused"), ("score", 1.5), ("score", -0.1),
    ("camera_id", "Cam 1"), ("zone", "exit/1"), ("label", "x" * 65),
])
def test_bad_finding_values_refused(field: str, value: Any) -> None:
    doc = _doc(Kind.FINDING)
    doc["payload"][field] = value
    with pytest.raises(ContractError, match=rf"payload\.{field}"):
        _decode_doc(Kind.FINDING, doc)


@pytest.mark.parametrize(("field", "value"), [("width", 0), ("height", 8193), ("jpeg_b64", "")])
def test_bad_frame_values_refused(field: str, value: Any) -> None:
    doc = _doc(Kind.FRAME)
    doc["payload"][field] = value
    with pytest.raises(ContractError, match=rf"payload\.{field}"):
        _decode_doc(Kind.FRAME, doc)


@pytest.mark.parametrize("box", [b"[NaN, 0.1, 0.5, 0.9]", b"[0.1, 0.2, 5.0, -3.0]",
                                 b"[0.1, 0.2, Infinity, 0.9]"])
def test_finding_box_outside_the_image_refused(box: bytes) -> None:
    raw = _raw(Kind.FINDING).replace(b"[0.1,0.2,0.5,0.9]", box)
    assert box in raw
    with pytest.raises(ContractError, match=r"payload\.box"):
        decode(Kind.FINDING, raw)


@pytest.mark.parametrize("token", [b"NaN", b"Infinity"])
def test_non_finite_event_data_refused(token: bytes) -> None:
    raw = _raw(Kind.EVENT).replace(b'"x":1.5', b'"x":' + token)
    assert token in raw
    with pytest.raises(ContractError, match=r"payload\.data"):
        decode(Kind.EVENT, raw)


def test_event_data_refuses_nested_values() -> None:
    doc = _doc(Kind.EVENT)
    doc["payload"]["data"]["nested"] = {"a": 1}
    with pytest.raises(ContractError, match=r"payload\.data\.nested"):
        _decode_doc(Kind.EVENT, doc)


# --- size and JSON ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(Kind))
def test_oversize_refused_before_parsing(kind: Kind) -> None:
    limit = MAX_BYTES[kind]
    # not JSON at all: a size refusal proves the parser never ran
    with pytest.raises(ContractError, match=f"payload of {limit + 1} bytes exceeds {limit}"):
        decode(kind, b"x" * (limit + 1))


def test_message_at_the_size_limit_is_parsed() -> None:
    doc = _doc(Kind.EVENT)
    raw = json.dumps(doc).encode()
    padded = raw[:-1] + b" " * (MAX_BYTES[Kind.EVENT] - len(raw)) + b"}"
    assert len(padded) == MAX_BYTES[Kind.EVENT]
    assert decode(Kind.EVENT, padded).payload == PAYLOADS[Kind.EVENT]


def test_size_limits() -> None:
    assert set(MAX_BYTES) == set(Kind)
    assert MAX_BYTES[Kind.STATUS] <= MAX_BYTES[Kind.TELEMETRY] <= MAX_BYTES[Kind.FRAME]


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "Invalid JSON: EOF while parsing"),
    (b"{not json", "Invalid JSON: key must be a string"),
    (b'{"message_id": "msg-00000001",', "Invalid JSON"),
    (b"\xff\xfe\x00{", "Invalid JSON"),
    (b"[" * 5000 + b"]" * 5000, "Invalid JSON: recursion limit exceeded"),
    (b"[]", "Input should be an object"),
    (b"null", "Input should be an object"),
    (b'"telemetry"', "Input should be an object"),
])
def test_malformed_json_gives_a_readable_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as caught:
        decode(Kind.TELEMETRY, raw)
    message = str(caught.value)
    assert reason in message
    assert "\n" not in message
    assert "https://" not in message  # no pydantic documentation links
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_reason_lists_at_most_five_problems() -> None:
    doc = {"payload": {"readings": {f"M{i}": "x" for i in range(10)}}, "a": 1, "b": 2}
    with pytest.raises(ContractError) as caught:
        _decode_doc(Kind.TELEMETRY, doc)
    assert str(caught.value).count("; ") == 4


# --- frames -----------------------------------------------------------------------------


def test_frame_jpeg_returns_the_bytes() -> None:
    frame = PAYLOADS[Kind.FRAME]
    assert isinstance(frame, Frame)
    assert frame.jpeg() == JPEG


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, b"GIF89a", b"\xff"])
def test_frame_jpeg_refuses_non_jpeg(data: bytes) -> None:
    frame = Frame(jpeg_b64=base64.b64encode(data).decode(), width=1, height=1)
    with pytest.raises(ValueError, match="not a JPEG"):
        frame.jpeg()


def test_frame_jpeg_refuses_bad_base64() -> None:
    with pytest.raises(ValueError, match="base64"):
        Frame(jpeg_b64="/9j/!!!!", width=1, height=1).jpeg()


# --- topics -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(Kind))
def test_topic_round_trip(kind: Kind) -> None:
    name = topic("yangguang-garden", "leak-pump-room", kind)
    assert name == f"sunlight/v1/yangguang-garden/leak-pump-room/{kind}"
    assert name.startswith(ROOT + "/")
    parsed = parse_topic(name)
    assert parsed == Topic("yangguang-garden", "leak-pump-room", kind)
    assert parsed.kind is kind
    assert str(parsed) == name


BAD_IDS = ["a/b", "a+", "+", "#", "a#", "Dev", "UPPER", "", "-dev", "_dev", "dev.1",
           "dev 1", "d" * 65, "设备"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_topic_refuses_bad_ids(bad: str) -> None:
    with pytest.raises(TopicError, match="device id"):
        topic("site", bad, Kind.TELEMETRY)
    with pytest.raises(TopicError, match="site id"):
        topic(bad, "dev", Kind.TELEMETRY)


def test_longest_id_accepted() -> None:
    assert parse_topic(topic("s" * 64, "d" * 64, Kind.EVENT)).device == "d" * 64


@pytest.mark.parametrize("bad", [b for b in BAD_IDS if "/" not in b])
def test_parse_topic_refuses_bad_ids(bad: str) -> None:
    with pytest.raises(TopicError, match="invalid site or device id"):
        parse_topic(f"sunlight/v1/site/{bad}/telemetry")
    with pytest.raises(TopicError, match="invalid site or device id"):
        parse_topic(f"sunlight/v1/{bad}/dev/telemetry")


@pytest.mark.parametrize("name", [
    "sunlight/v2/site/dev/telemetry",
    "Sunlight/v1/site/dev/telemetry",
    "other/v1/site/dev/telemetry",
    "/sunlight/v1/site/dev/telemetry",
    "sunlight/v1/site/dev/telemetry/",
    "sunlight/v1/site/dev",
    "sunlight/v1/site/a/b/telemetry",
    "sunlight/v1/site/dev/telemetry/extra",
    "sunlight/v1",
    "",
])
def test_parse_topic_refuses_wrong_layout(name: str) -> None:
    with pytest.raises(TopicError, match=r"is not sunlight/v1/\{site\}/\{device\}/\{kind\}"):
        parse_topic(name)


@pytest.mark.parametrize("kind", ["readings", "Telemetry", "TELEMETRY", "+", "#", "",
                                  "telemetry "])
def test_parse_topic_refuses_wrong_kind(kind: str) -> None:
    with pytest.raises(TopicError, match="unknown kind"):
        parse_topic(f"sunlight/v1/site/dev/{kind}")


def test_trailing_newline_in_an_id_refused() -> None:
    with pytest.raises(TopicError):
        topic("site\n", "dev", Kind.STATUS)
    with pytest.raises(TopicError):
        parse_topic("sunlight/v1/site/dev\n/status")


def test_subscription_filters() -> None:
    assert subscription() == "sunlight/v1/+/+/+"
    assert subscription(Kind.TELEMETRY) == "sunlight/v1/+/+/telemetry"
    assert subscription(Kind.STATUS, site="yangguang-garden") == \
        "sunlight/v1/yangguang-garden/+/status"
    assert subscription(Kind.EVENT, site="yangguang-garden", group="ingest") == \
        "$share/ingest/sunlight/v1/yangguang-garden/+/event"


@pytest.mark.parametrize("kind", list(Kind))
def test_subscription_matches_the_topics_it_is_for(kind: Kind) -> None:
    flt = subscription(kind, site="s").split("/")
    name = topic("s", "dev-9", kind).split("/")
    assert len(flt) == len(name)
    assert all(f in ("+", n) for f, n in zip(flt, name, strict=True))


@pytest.mark.parametrize(("kinds", "site", "group"), [
    ("+", "a/#", None), ("+", "Site", None), ("frames", "+", None), ("#", "+", None),
    ("+", "+", "a/b"),
])
def test_subscription_refuses_bad_parts(kinds: str, site: str, group: str | None) -> None:
    with pytest.raises((TopicError, ValueError)):
        subscription(kinds, site=site, group=group)


# --- decode never fails with anything but ContractError ----------------------------------

scalars = (st.none() | st.booleans() | st.integers()
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)

# envelope-shaped values reach the field and payload validators, not just the top level
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "message_id": st.sampled_from(["msg-00000001", "x", 5]) | scalars,
        "device_id": st.sampled_from(["dev-1", "Dev/1", ""]) | scalars,
        "sent_at": st.sampled_from(["2025-03-14T09:26:53Z", "2025-03-14T09:26:53",
                                    "9999-12-31T23:59:59-14:00", 0]) | scalars,
        "seq": st.integers() | scalars,
        "schema_version": st.sampled_from([1, 2, True, "1"]),
        "payload": st.builds(lambda k: _doc(k)["payload"], st.sampled_from(Kind)) | json_values,
        "extra": scalars,
    },
)


def _decode_or_refuse(kind: Kind, raw: bytes) -> None:
    try:
        env = decode(kind, raw)
    except ContractError as exc:
        assert str(exc)
    else:
        assert isinstance(env.payload, type(PAYLOADS[kind]))


FUZZ = settings(max_examples=2000, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(kind=st.sampled_from(Kind), raw=st.binary(max_size=512))
def test_decode_arbitrary_bytes(kind: Kind, raw: bytes) -> None:
    _decode_or_refuse(kind, raw)


@settings(FUZZ, max_examples=1000)  # recursive values cost ~5 ms each to generate
@given(kind=st.sampled_from(Kind), value=json_values | envelopes)
def test_decode_arbitrary_json(kind: Kind, value: Any) -> None:
    _decode_or_refuse(kind, json.dumps(value).encode())


@given(kind=st.sampled_from(Kind))
def test_every_kind_has_an_envelope_model(kind: Kind) -> None:
    assert ENVELOPES[kind].model_fields["payload"].annotation is type(PAYLOADS[kind])
