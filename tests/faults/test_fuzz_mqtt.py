"""Fuzzing the ingest's door (SPEC §7: bad input of any kind gets a clear error and loses
nothing already accepted): 12,000 generated MQTT messages through `sort_batch`, the
function ingest runs on every batch.

Messages start from valid ones of every kind and are then mutated the ways a broken
device or an attacker would: bytes flipped, cut short, spliced, JSON values swapped for
others of any type, fields dropped or added, topics bent. Every message must end either
accepted or in the dead letter with a reason (frames too: they belong to the vision
service), never as an exception, and a good message in the same batch must still be
accepted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.contract import (
    Event,
    Finding,
    Frame,
    Kind,
    Phase,
    Rule,
    Status,
    Telemetry,
    encode,
    topic,
)
from services.ingest.sorting import Admission, Incoming, sort_batch

SITE = "fuzz-estate"
NOW = datetime.now(UTC)
DEVICES = ("bin-1", "door-1", "cam-1")
ADMISSION = Admission(site=SITE, devices=frozenset(DEVICES))
PAYLOADS: dict[Kind, Any] = {
    Kind.TELEMETRY: Telemetry(readings={"fill_pct": 71.5, "battery_v": 3.6}),
    Kind.EVENT: Event(event="door_opened", data={"by": "card", "n": 3}),
    Kind.STATUS: Status(state="online"),
    Kind.FINDING: Finding(finding_id="cam-1.exit.1", camera_id="cam-1",
                          rule=Rule.BLOCKED_FIRE_EXIT, zone="exit", phase=Phase.START,
                          started_at=NOW - timedelta(minutes=3), box=(0.1, 0.2, 0.3, 0.4),
                          label="box", score=0.9),
    Kind.FRAME: Frame(jpeg_b64="/9j/2Q==", width=2, height=2, motion=False),
}
DEVICE_OF = {Kind.TELEMETRY: "bin-1", Kind.EVENT: "door-1", Kind.STATUS: "door-1",
             Kind.FINDING: "cam-1", Kind.FRAME: "cam-1"}
GOOD = Incoming(topic(SITE, "bin-1", Kind.TELEMETRY),
                encode(message_id="good-msg-1", device_id="bin-1", sent_at=NOW, seq=1,
                       payload=PAYLOADS[Kind.TELEMETRY]), NOW)

scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=20)
           | st.floats(allow_nan=True, allow_infinity=True))
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3)
                      | st.dictionaries(st.text(max_size=6), c, max_size=3), max_leaves=6)


def _valid(kind: Kind, seq: int) -> bytes:
    return encode(message_id=f"fuzz-msg-{seq}", device_id=DEVICE_OF[kind], sent_at=NOW, seq=seq,
                  payload=PAYLOADS[kind])


@st.composite
def mutated(draw: st.DrawFn) -> Incoming:
    kind = draw(st.sampled_from(list(Kind)))
    raw = _valid(kind, draw(st.integers(0, 10**6)))
    how = draw(st.sampled_from(["flip", "cut", "splice", "json", "drop", "add", "raw"]))
    if how == "flip":
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1:]
    elif how == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif how == "splice":
        raw = raw + draw(st.binary(max_size=64))
    elif how == "raw":
        raw = draw(st.binary(max_size=300))
    else:
        doc = json.loads(raw)
        target = doc if draw(st.booleans()) else doc["payload"]
        if how == "json" and target:
            target[draw(st.sampled_from(sorted(target)))] = draw(values)
        elif how == "drop" and target:
            del target[draw(st.sampled_from(sorted(target)))]
        else:
            target[draw(st.text(max_size=10))] = draw(values)
        raw = json.dumps(doc, allow_nan=True).encode()
    name = topic(SITE, DEVICE_OF[kind], kind)
    if draw(st.integers(0, 9)) == 0:  # bent topics now and then
        name = draw(st.sampled_from([
            name.replace(SITE, "other-site"), name.replace(DEVICE_OF[kind], "stranger"),
            name + "/extra", name.rsplit("/", 1)[0] + "/nonsense", "sunlight/v2/x/y/z",
            draw(st.text(max_size=40))]))
    return Incoming(name, raw, NOW)


@settings(max_examples=12_000, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_every_mutated_message_is_accepted_or_dead_lettered_with_a_reason(
        msg: Incoming) -> None:
    out = sort_batch([GOOD, msg], ADMISSION)
    assert "good-msg-1" in {r.message_id for r in out.readings}  # the good one is kept
    # messages, not rows: a reading per metric, a status also as an event
    accepted = ({r.message_id for r in out.readings} | {e.message_id for e in out.events}
                | {f.envelope.message_id for f in out.findings}) - {"good-msg-1"}
    assert len(accepted) + len(out.dead) == 1
    for dead in out.dead:
        assert dead.reason.strip() and dead.topic == msg.topic
