"""Sorting a batch of raw MQTT messages into rows and dead letters (pure, no broker, no DB)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.contract import (
    MAX_BYTES,
    Event,
    Finding,
    Frame,
    Kind,
    Payload,
    Phase,
    Rule,
    Status,
    Telemetry,
    encode,
    kind_of,
    topic,
)
from services.ingest.sorting import (
    DEAD_LETTER_CAP,
    Admission,
    FindingRow,
    Incoming,
    Sorted,
    dead_letter,
    sort_batch,
)
from services.store.ingest import EventRow, StatusRow
from services.store.readings import Reading

SITE = "yangguang-garden"
NOW = datetime(2025, 3, 14, 1, 30, tzinfo=UTC)
ADMISSION = Admission(site=SITE, devices=frozenset(
    {"bin-waste-kitchen", "door-b3-stairwell", "leak-pump-room", "cam-b3-stairwell"}))
_seq = iter(range(1, 1_000_000))


def message(device: str, payload: Payload, *, sent_at: datetime = NOW - timedelta(seconds=2),
            message_id: str | None = None, envelope_device: str | None = None,
            kind: Kind | None = None, site: str = SITE) -> Incoming:
    seq = next(_seq)
    raw = encode(message_id=message_id or f"msg-{device}-{seq:06d}",
                 device_id=envelope_device or device, sent_at=sent_at, seq=seq,
                 payload=payload)
    return raw_message(topic(site, device, kind or kind_of(payload)), raw)


def raw_message(name: str, raw: bytes) -> Incoming:
    return Incoming(topic=name, payload=raw, received_at=NOW, mid=7)


def finding(camera: str = "cam-b3-stairwell", phase: Phase = Phase.START) -> Finding:
    return Finding(finding_id="f-cam-b3-exit-0001", camera_id=camera,
                   rule=Rule.BLOCKED_FIRE_EXIT, zone="exit", phase=phase,
                   started_at=NOW - timedelta(minutes=3), box=(0.1, 0.2, 0.5, 0.9),
                   score=0.9)


BIN = Telemetry(readings={"fill_pct": 93.5, "battery_v": 3.61})
DOOR = Event(event="door_opened", data={"contact": "main", "battery_pct": 87})


KINDS_OF_ROW = ("readings", "events", "statuses", "findings", "dead")


def only(out: Sorted, *names: str) -> None:
    """Every list of `out` other than `names` is empty."""
    assert {n for n in KINDS_OF_ROW if getattr(out, n)} <= set(names)


def only_dead(out: Sorted) -> str:
    only(out, "dead")
    assert len(out.dead) == 1
    return out.dead[0].reason


# --- accepted ---------------------------------------------------------------------------


def test_telemetry_gives_one_reading_per_metric() -> None:
    sent = NOW - timedelta(seconds=5)
    out = sort_batch([message("bin-waste-kitchen", BIN, sent_at=sent, message_id="m-bin-0412")],
                     ADMISSION)
    assert out.readings == [
        Reading(sent, SITE, "bin-waste-kitchen", "fill_pct", 93.5, "m-bin-0412"),
        Reading(sent, SITE, "bin-waste-kitchen", "battery_v", 3.61, "m-bin-0412"),
    ]
    only(out, "readings")


def test_integer_readings_become_floats() -> None:
    out = sort_batch([message("bin-waste-kitchen", Telemetry(readings={"fill_pct": 40}))],
                     ADMISSION)
    assert out.readings[0].value == 40.0
    assert isinstance(out.readings[0].value, float)


def test_reading_time_is_the_sent_time_in_any_offset() -> None:
    sent = (NOW - timedelta(seconds=2)).astimezone(ZoneInfo("Asia/Shanghai"))
    assert sent.hour == 9
    out = sort_batch([message("bin-waste-kitchen", BIN, sent_at=sent)], ADMISSION)
    assert out.readings[0].time == sent


def test_event_gives_an_event_row() -> None:
    sent = NOW - timedelta(seconds=1)
    out = sort_batch([message("door-b3-stairwell", DOOR, sent_at=sent, message_id="m-door-1877")],
                     ADMISSION)
    assert out.events == [EventRow(sent, SITE, "door-b3-stairwell", "door_opened",
                                   {"contact": "main", "battery_pct": 87}, "m-door-1877")]
    only(out, "events")


@pytest.mark.parametrize("state", ["online", "offline"])
def test_status_gives_a_status_and_an_event(state: Literal["online", "offline"]) -> None:
    sent = NOW - timedelta(seconds=1)
    out = sort_batch([message("leak-pump-room", Status(state=state), sent_at=sent,
                              message_id="m-leak-lwt-01")], ADMISSION)
    # the status counts from its arrival (a last will is composed at connect time); the
    # event keeps the sent time, which a redelivery repeats, so it is stored once
    assert out.statuses == [StatusRow(NOW, SITE, "leak-pump-room", state, "m-leak-lwt-01")]
    assert out.events == [EventRow(sent, SITE, "leak-pump-room", state, {}, "m-leak-lwt-01")]
    only(out, "statuses", "events")


def test_finding_gives_a_finding_row() -> None:
    out = sort_batch([message("cam-b3-stairwell", finding(), message_id="m-vision-0090")],
                     ADMISSION)
    only(out, "findings")
    [row] = out.findings
    assert isinstance(row, FindingRow)
    assert row.site == SITE
    assert row.received_at == NOW
    assert row.envelope.message_id == "m-vision-0090"
    assert row.envelope.payload == finding()


def test_a_copy_later_in_the_batch_is_left_out_even_with_another_sent_at() -> None:
    # across batches the store claims each (device, message id) once (message_ids)
    first = message("bin-waste-kitchen", BIN, message_id="m-bin-dup-1",
                    sent_at=NOW - timedelta(seconds=5))
    restamped = message("bin-waste-kitchen", BIN, message_id="m-bin-dup-1")
    other_device = message("leak-pump-room", BIN, message_id="m-bin-dup-1")
    out = sort_batch([first, restamped, first, other_device], ADMISSION)
    assert [(r.device_id, r.time) for r in out.readings] == \
        [("bin-waste-kitchen", NOW - timedelta(seconds=5))] * 2 + \
        [("leak-pump-room", NOW - timedelta(seconds=2))] * 2
    assert out.repeated == 2


def keys(out: Sorted) -> list[tuple[str, str]]:
    """The (device, message id) of every accepted message, once each, in order."""
    found = [(r.device_id, r.message_id) for r in out.readings]
    found += [(e.device_id, e.message_id) for e in out.events]
    found += out.finding_keys()
    return list(dict.fromkeys(found))


def test_without_leaves_out_what_was_stored_before() -> None:
    batch = good_messages() + bad_messages()
    out = sort_batch(batch, ADMISSION)
    stored_before = set(keys(out)[:2])
    rest = out.without(stored_before)
    assert keys(rest) == keys(out)[2:]
    assert [s.message_id for s in rest.statuses] == \
        [s.message_id for s in out.statuses if (s.device_id, s.message_id) not in stored_before]
    assert rest.dead == out.dead and rest.repeated == 2
    assert out.without(set()) is out


def test_clock_limits_are_inclusive() -> None:
    at_future = message("bin-waste-kitchen", BIN, sent_at=NOW + ADMISSION.max_future)
    at_past = message("bin-waste-kitchen", BIN, sent_at=NOW - ADMISSION.max_past)
    out = sort_batch([at_future, at_past], ADMISSION)
    assert out.dead == []
    assert len(out.readings) == 4


def test_admission_defaults() -> None:
    assert ADMISSION.max_future == timedelta(minutes=5)
    assert ADMISSION.max_past == timedelta(days=7)


# --- refused: one dead letter each, with a reason that names the problem ----------------

GOOD_TOPIC = topic(SITE, "bin-waste-kitchen", Kind.TELEMETRY)


def _good_raw(**changes: Any) -> bytes:
    doc = json.loads(message("bin-waste-kitchen", BIN).payload)
    doc.update(changes)
    return json.dumps(doc).encode()


def test_malformed_json() -> None:
    reason = only_dead(sort_batch([raw_message(GOOD_TOPIC, b'{"message_id": ')], ADMISSION))
    assert "Invalid JSON" in reason


def test_not_utf8() -> None:
    reason = only_dead(sort_batch([raw_message(GOOD_TOPIC, b"\xff\xfe\x00\x01")], ADMISSION))
    assert "Invalid JSON" in reason


def test_wrong_schema() -> None:
    raw = _good_raw(payload={"state": "online"})
    reason = only_dead(sort_batch([raw_message(GOOD_TOPIC, raw)], ADMISSION))
    assert "payload.readings: Field required" in reason
    assert "payload.state: Extra inputs are not permitted" in reason


def test_unknown_envelope_field() -> None:
    reason = only_dead(sort_batch([raw_message(GOOD_TOPIC, _good_raw(firmware="2.1"))],
                                  ADMISSION))
    assert reason == "firmware: Extra inputs are not permitted"


def test_naive_sent_at() -> None:
    raw = _good_raw(sent_at="2025-03-14T01:29:58")
    reason = only_dead(sort_batch([raw_message(GOOD_TOPIC, raw)], ADMISSION))
    assert reason == "sent_at: Input should have timezone info"


def test_unknown_device() -> None:
    reason = only_dead(sort_batch([message("bin-stolen", BIN)], ADMISSION))
    assert reason == "unknown device 'bin-stolen'"


def test_unknown_site() -> None:
    reason = only_dead(sort_batch([message("bin-waste-kitchen", BIN, site="other-estate")],
                                  ADMISSION))
    assert reason == "unknown site 'other-estate'"


def test_oversize_payload() -> None:
    limit = MAX_BYTES[Kind.TELEMETRY]
    raw = b"{" + b" " * limit + b"}"
    reason = only_dead(sort_batch([raw_message(GOOD_TOPIC, raw)], ADMISSION))
    assert reason == f"payload of {limit + 2} bytes exceeds {limit} for telemetry"


@pytest.mark.parametrize("ahead", [timedelta(minutes=5, seconds=1), timedelta(days=400)])
def test_sent_at_too_far_in_the_future(ahead: timedelta) -> None:
    reason = only_dead(sort_batch([message("bin-waste-kitchen", BIN, sent_at=NOW + ahead)],
                                  ADMISSION))
    assert "too far in the future" in reason
    assert (NOW + ahead).isoformat() in reason


@pytest.mark.parametrize("behind", [timedelta(days=7, seconds=1), timedelta(days=20000)])
def test_sent_at_too_far_in_the_past(behind: timedelta) -> None:
    reason = only_dead(sort_batch([message("bin-waste-kitchen", BIN, sent_at=NOW - behind)],
                                  ADMISSION))
    assert "too far in the past" in reason
    assert (NOW - behind).isoformat() in reason


def test_envelope_device_differs_from_topic_device() -> None:
    msg = message("bin-waste-kitchen", BIN, envelope_device="door-b3-stairwell")
    reason = only_dead(sort_batch([msg], ADMISSION))
    assert reason == ("device_id 'door-b3-stairwell' does not match topic device"
                      " 'bin-waste-kitchen'")


@pytest.mark.parametrize("name", [
    "sunlight/v1/yangguang-garden/bin-waste-kitchen",
    "sunlight/v2/yangguang-garden/bin-waste-kitchen/telemetry",
    "other/v1/yangguang-garden/bin-waste-kitchen/telemetry",
    "sunlight/v1/yangguang-garden/bin-waste-kitchen/telemetry/extra",
    "",
])
def test_topic_not_in_the_layout(name: str) -> None:
    reason = only_dead(sort_batch([raw_message(name, _good_raw())], ADMISSION))
    assert "is not sunlight/v1/{site}/{device}/{kind}" in reason


def test_topic_with_unknown_kind() -> None:
    name = "sunlight/v1/yangguang-garden/bin-waste-kitchen/readings"
    reason = only_dead(sort_batch([raw_message(name, _good_raw())], ADMISSION))
    assert "unknown kind 'readings'" in reason


def test_topic_with_invalid_device_id() -> None:
    name = "sunlight/v1/yangguang-garden/Bin-Waste-Kitchen/telemetry"
    reason = only_dead(sort_batch([raw_message(name, _good_raw())], ADMISSION))
    assert "invalid site or device id" in reason


def test_payload_of_another_kind_than_the_topic() -> None:
    raw = message("bin-waste-kitchen", Status(state="online")).payload
    reason = only_dead(sort_batch([raw_message(GOOD_TOPIC, raw)], ADMISSION))
    assert "payload.readings: Field required" in reason


def test_frame_sent_to_ingest() -> None:
    frame = Frame(jpeg_b64="/9j/4AAQ", width=8, height=8)
    reason = only_dead(sort_batch([message("cam-b3-stairwell", frame)], ADMISSION))
    assert reason == "frames go to the vision service, not ingest"


def test_finding_for_another_camera() -> None:
    msg = message("cam-b3-stairwell", finding(camera="cam-waste-station"))
    reason = only_dead(sort_batch([msg], ADMISSION))
    assert reason == ("finding for camera 'cam-waste-station' published under"
                      " 'cam-b3-stairwell'")


# --- the dead letter --------------------------------------------------------------------


def test_dead_letter_keeps_topic_time_and_payload() -> None:
    raw = b'{"broken": '
    out = sort_batch([raw_message(GOOD_TOPIC, raw)], ADMISSION)
    [dead] = out.dead
    assert dead.topic == GOOD_TOPIC
    assert dead.received_at == NOW
    assert dead.payload == raw
    assert dead.payload_size == len(raw)


def test_dead_letter_keeps_at_most_the_cap() -> None:
    raw = b"\x00" * (MAX_BYTES[Kind.FINDING] + 1)  # the biggest limit ingest reads
    out = sort_batch([raw_message(topic(SITE, "cam-b3-stairwell", Kind.FINDING), raw)],
                     ADMISSION)
    [dead] = out.dead
    assert "exceeds" in dead.reason
    assert len(dead.payload) == DEAD_LETTER_CAP
    assert dead.payload == raw[:DEAD_LETTER_CAP]
    assert dead.payload_size == len(raw)


def test_dead_letter_helper() -> None:
    msg = raw_message("anything", b"x" * (DEAD_LETTER_CAP + 10))
    dead = dead_letter(msg, "why")
    assert (dead.reason, len(dead.payload), dead.payload_size) == \
        ("why", DEAD_LETTER_CAP, DEAD_LETTER_CAP + 10)


def test_last_will_of_a_long_connected_device_is_accepted() -> None:
    connected = NOW - timedelta(days=30)
    will = message("leak-pump-room", Status(state="offline"), sent_at=connected)
    out = sort_batch([will], ADMISSION)
    assert out.dead == []
    assert [s.state for s in out.statuses] == ["offline"]


# --- one bad message never affects the good ones ----------------------------------------


def bad_messages() -> list[Incoming]:
    return [
        raw_message(GOOD_TOPIC, b"not json"),
        raw_message(GOOD_TOPIC, _good_raw(payload={"state": "online"})),
        message("bin-stolen", BIN),
        message("bin-waste-kitchen", BIN, site="other-estate"),
        raw_message(GOOD_TOPIC, b" " * (MAX_BYTES[Kind.TELEMETRY] + 1)),
        message("bin-waste-kitchen", BIN, sent_at=NOW + timedelta(hours=1)),
        message("bin-waste-kitchen", BIN, sent_at=NOW - timedelta(days=8)),
        message("bin-waste-kitchen", BIN, envelope_device="door-b3-stairwell"),
        raw_message("sunlight/v1/yangguang-garden/bin-waste-kitchen", _good_raw()),
        message("cam-b3-stairwell", Frame(jpeg_b64="/9j/4AAQ", width=8, height=8)),
        message("cam-b3-stairwell", finding(camera="cam-waste-station")),
    ]


def good_messages() -> list[Incoming]:
    return [
        message("bin-waste-kitchen", BIN),
        message("door-b3-stairwell", DOOR),
        message("leak-pump-room", Status(state="online")),
        message("cam-b3-stairwell", finding()),
        message("leak-pump-room", Telemetry(readings={"leak": 1})),
    ]


def _accepted(out: Sorted) -> tuple[list[Any], ...]:
    return out.readings, out.events, out.statuses, [f.envelope for f in out.findings]


def test_bad_messages_leave_the_good_ones_alone() -> None:
    good, bad = good_messages(), bad_messages()
    alone = sort_batch(good, ADMISSION)
    assert alone.dead == []
    mixed = sort_batch([m for pair in zip_longest(bad, good) for m in pair if m is not None],
                       ADMISSION)
    assert _accepted(mixed) == _accepted(alone)
    assert len(mixed.dead) == len(bad)
    assert [d.topic for d in mixed.dead] == [m.topic for m in bad]
    assert len({d.reason for d in mixed.dead}) == len(bad)  # each names its own problem


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_any_mix_sorts_each_message_on_its_own(data: st.DataObject) -> None:
    good, bad = good_messages(), bad_messages()
    picks = data.draw(st.lists(st.sampled_from(range(len(good) + len(bad))), max_size=30))
    batch = [(good + bad)[i] for i in picks]
    out = sort_batch(batch, ADMISSION)
    expected, accepted = Sorted(), set()
    for msg in batch:
        one = sort_batch([msg], ADMISSION)
        if keys(one) and keys(one)[0] in accepted:
            continue  # a repeated message is accepted once (the first)
        accepted.update(keys(one))
        for name in KINDS_OF_ROW:
            getattr(expected, name).extend(getattr(one, name))
    assert _accepted(out) == _accepted(expected)
    assert out.dead == expected.dead
    assert len(out.dead) == sum(1 for i in picks if i >= len(good))
