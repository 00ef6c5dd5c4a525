"""The board's outgoing contract: topics, what a resident's message may carry, retries,
webhook signatures, and the config that names the webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.config import ConfigError, load_config, parse_config
from services.contract.notify import Escalation, StatusChange, escalation_topic, user_topic
from services.contract.topics import TopicError, parse_topic
from services.jobs.notifier import DeliveryPolicy, status_change
from services.jobs.webhooks import host_of, signature
from services.store.notifications import Pending
from services.tickets.public_text import KnownTerms, Masker

EXAMPLE = Path(__file__).parents[2] / "deploy" / "estate.example.yaml"
AT = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def pending(**changes: object) -> Pending:
    fields: dict[str, object] = dict(
        id=1, kind="status", channel="mqtt", recipient="r-abc123", attempts=0, ticket_id=42,
        seq=3, at=AT, action="reject", from_state="reported", to_state="rejected",
        note="重复报告", actor_role="staff", breach=None, site="yangguang-garden",
        category="lighting", priority="normal", state="rejected", building="b3",
        area="stairwell", department="", assignee="", due_at=None,
    )
    fields.update(changes)
    return Pending(**fields)  # type: ignore[arg-type]


def test_topics_live_under_notify_and_never_look_like_a_device_topic() -> None:
    assert user_topic("yangguang-garden", "r-3fa9") == \
        "sunlight/v1/yangguang-garden/notify/users/r-3fa9"
    assert user_topic("yangguang-garden", "KF-002").endswith("/users/KF-002")
    assert escalation_topic("yangguang-garden", "engineering") == \
        "sunlight/v1/yangguang-garden/notify/escalations/engineering"
    for name in (user_topic("s1", "r-1"), escalation_topic("s1", "cleaning")):
        with pytest.raises(TopicError):
            parse_topic(name)  # ingest would refuse it: never mistaken for a device's


@pytest.mark.parametrize("person", ["a/b", "+", "#", "", "x" * 65, "r 1"])
def test_a_person_id_that_is_not_one_topic_level_is_refused(person: str) -> None:
    with pytest.raises(TopicError):
        user_topic("s1", person)


def test_a_resident_hears_staff_words_but_never_another_residents() -> None:
    by_staff = status_change(pending())
    assert by_staff.note == "重复报告" and by_staff.recipient == "r-abc123"
    by_reporter = status_change(pending(action="reopen", actor_role="resident",
                                        note="我是3-0801的张三，还是坏的"))
    assert by_reporter.note == ""
    assert set(StatusChange.model_fields) == {
        "event_id", "site", "ticket_id", "at", "category", "building", "area", "type",
        "recipient", "action", "from_state", "state", "note"}


def test_staff_words_reach_residents_masked() -> None:
    """Issue 14: every resident who reported the ticket hears its status changes; staff's
    note must not hand the first reporter's name, unit or phone to a co-reporter."""
    notes = "Replaced bulb outside flat 3-1203 for Zhang Wei (13800138001), 王芳 checked"
    heard = status_change(pending(action="resolve", note=notes),
                          Masker(KnownTerms(names=frozenset({"王芳"})))).note
    assert heard.startswith("Replaced bulb outside flat")
    for secret in ("3-1203", "Zhang Wei", "13800138001", "王芳"):
        assert secret not in heard
    assert "3-1203" not in status_change(pending(note=notes)).note  # the patterns at least


def test_retries_back_off_exponentially_up_to_a_cap() -> None:
    policy = DeliveryPolicy(retry_base=timedelta(seconds=2), retry_max=timedelta(minutes=1))
    assert [policy.backoff(n).total_seconds() for n in range(1, 8)] == \
        [2, 4, 8, 16, 32, 60, 60]
    assert policy.backoff(10_000) == timedelta(minutes=1)


def test_webhook_signature_and_logged_host_keep_the_secrets() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert signature("k3y", body) == f"sha256={expected}"
    assert host_of("https://user:tok@hooks.example.com:8443/x?token=abc") == \
        "hooks.example.com:8443"


def test_the_estate_names_its_webhooks() -> None:
    text = EXAMPLE.read_text("utf-8")
    assert load_config(EXAMPLE).notifications.webhook is None

    def with_hooks(kefu: str) -> str:
        return text.replace("# webhook: https://hooks.example.com/sunlight/kefu",
                            f"webhook: {kefu}").replace(
            "webhook: null", "webhook: http://push.local:8080/sunlight")

    parsed = parse_config(with_hooks("https://hooks.example.com/kefu?token=t"))
    assert parsed.department("kefu").webhook == "https://hooks.example.com/kefu?token=t"
    assert parsed.department("cleaning").webhook is None
    assert parsed.notifications.webhook == "http://push.local:8080/sunlight"
    with pytest.raises(ConfigError) as error:
        parse_config(with_hooks("ftp://hooks.example.com/kefu"))
    message = str(error.value)
    assert "departments[0].webhook" in message and "http:// or https://" in message


def test_the_docs_examples_are_what_the_board_sends() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "mqtt.md").read_text("utf-8")
    bodies = re.findall(r"```jsonc\n(.*?)\n```", doc, re.DOTALL)
    models = {"ticket_status": StatusChange, "sla_breach": Escalation}
    assert sorted(json.loads(b)["type"] for b in bodies) == sorted(models)
    for body in bodies:
        data = json.loads(body)
        message = models[data["type"]].model_validate(data)
        assert json.loads(message.model_dump_json()) == data
