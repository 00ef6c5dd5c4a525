"""The sensor-rule engine (threshold + duration + hysteresis) with the example estate's rules."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.config import load_config
from services.config.estate import SensorRule
from services.ingest.rules import IDLE, Condition, ConditionPhase, Outcome, Step, observe, tick

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "estate.example.yaml"
RULES: dict[str, SensorRule] = {r.id: r for r in load_config(EXAMPLE).sensor_rules}
LEAK = RULES["water-leak"]
BIN = RULES["bin-full"]
LAMP = RULES["lamp-out"]
T0 = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


@dataclass(frozen=True)
class Seen:
    outcome: Outcome
    at: datetime  # what the step says: the crossing, or the clearing
    when: datetime  # the reading or tick that produced it


def feed(rule: SensorRule, readings: Iterable[tuple[float, float]], *, night: bool = True,
         cond: Condition = IDLE) -> tuple[Condition, list[Seen]]:
    """Apply (minute, value) readings in order; the final condition and every outcome."""
    seen = []
    for m, value in readings:
        step = observe(rule, cond, minutes(m), value, night=night)
        cond = step.condition
        if step.outcome is not None:
            assert step.at is not None
            seen.append(Seen(step.outcome, step.at, minutes(m)))
    return cond, seen


def test_example_rules_are_what_these_tests_assume() -> None:
    assert (LEAK.threshold, LEAK.clear_at, LEAK.duration) == (0.5, 0.5, timedelta(0))
    assert (BIN.threshold, BIN.clear_at, BIN.duration) == (90, 30, timedelta(minutes=10))
    assert (LAMP.threshold, LAMP.clear_at, LAMP.duration, LAMP.night_only) == \
        (0.1, 0.3, timedelta(minutes=15), True)
    assert not LEAK.night_only and not BIN.night_only


# --- duration 0: a leak opens at once ---------------------------------------------------


def test_leak_opens_at_once_and_clears() -> None:
    step = observe(LEAK, IDLE, T0, 1.0)
    assert step == Step(Condition(ConditionPhase.ACTIVE, since=T0, last_time=T0, last_value=1.0),
                        Outcome.OPENED, T0)
    cond, seen = feed(LEAK, [(1, 1.0), (2, 1.0), (3, 0.0)], cond=step.condition)
    assert seen == [Seen(Outcome.CLEARED, minutes(3), minutes(3))]
    assert cond.phase is ConditionPhase.IDLE and cond.since is None


def test_dry_leak_sensor_stays_idle() -> None:
    cond, seen = feed(LEAK, [(m, 0.0) for m in range(60)])
    assert seen == []
    assert cond.phase is ConditionPhase.IDLE
    assert cond.last_time == minutes(59) and cond.last_value == 0.0


def test_flapping_leak_sensor_gives_opened_cleared_pairs() -> None:
    # the engine reports each wet/dry; the ingest layer reuses the open ticket
    values = [1.0, 0.0] * 5
    cond, seen = feed(LEAK, [(i * 0.5, v) for i, v in enumerate(values)])
    assert [s.outcome for s in seen] == [Outcome.OPENED, Outcome.CLEARED] * 5
    assert [s.at for s in seen] == [minutes(i * 0.5) for i in range(10)]
    assert cond.phase is ConditionPhase.IDLE


# --- duration, hysteresis ---------------------------------------------------------------


def test_full_bin_opens_only_after_ten_minutes_pending() -> None:
    cond, seen = feed(BIN, [(0, 95.0), (5, 96.0), (9.99, 97.0)])
    assert seen == []
    assert cond.phase is ConditionPhase.PENDING and cond.since == T0
    cond, seen = feed(BIN, [(10, 97.0)], cond=cond)
    assert seen == [Seen(Outcome.OPENED, T0, minutes(10))]  # `at` is the crossing
    assert cond.phase is ConditionPhase.ACTIVE and cond.since == T0


def test_full_bin_stays_active_in_the_band_and_clears_below_30() -> None:
    cond, seen = feed(BIN, [(0, 95.0), (10, 95.0)])
    assert [s.outcome for s in seen] == [Outcome.OPENED]
    cond, seen = feed(BIN, [(20, 89.0), (30, 60.0), (40, 31.0), (50, 30.1), (60, 91.0),
                            (70, 95.0)], cond=cond)
    assert seen == []
    assert cond.phase is ConditionPhase.ACTIVE
    cond, seen = feed(BIN, [(80, 30.0)], cond=cond)  # clear_at is inclusive
    assert seen == [Seen(Outcome.CLEARED, minutes(80), minutes(80))]
    assert cond.phase is ConditionPhase.IDLE and cond.since is None


def test_exactly_the_threshold_is_not_a_breach() -> None:
    cond, seen = feed(BIN, [(m, 90.0) for m in range(30)])
    assert seen == [] and cond.phase is ConditionPhase.IDLE


def test_emptied_before_the_duration_never_opens() -> None:
    cond, seen = feed(BIN, [(0, 95.0), (5, 20.0), (12, 20.0)])
    assert seen == [] and cond.phase is ConditionPhase.IDLE
    # the next crossing starts a new pending period from its own time
    cond, seen = feed(BIN, [(13, 95.0), (22, 95.0), (23, 95.0)], cond=cond)
    assert seen == [Seen(Outcome.OPENED, minutes(13), minutes(23))]


def test_value_wobbling_around_the_threshold_opens_at_most_once() -> None:
    wobble = [(m, 91.0 if m % 2 == 0 else 89.0) for m in range(0, 61)]  # an hour, every minute
    cond, seen = feed(BIN, wobble)
    opened = [s for s in seen if s.outcome is Outcome.OPENED]
    assert len(opened) <= 1
    assert [s for s in seen if s.outcome is Outcome.CLEARED] == []
    # a pending condition must hold for its whole duration: every 89 ends it, so the
    # wobble never stays above 90 % for ten minutes and opens nothing
    assert opened == []
    assert cond.phase is not ConditionPhase.ACTIVE


def test_wobbling_while_active_does_not_clear() -> None:
    readings = [(m, 95.0) for m in range(0, 11)]  # full for ten minutes: opens
    readings += [(m, 91.0 if m % 2 == 0 else 50.0) for m in range(11, 60)]  # inside the band
    cond, seen = feed(BIN, readings)
    assert [s.outcome for s in seen] == [Outcome.OPENED]
    assert cond.phase is ConditionPhase.ACTIVE


def test_wobbling_after_a_clear_opens_once_per_activation() -> None:
    readings = [(m, 95.0 if m < 12 else 60.0 + m % 2 * 31) for m in range(0, 30)]
    readings += [(30, 10.0)]
    readings += [(m, 95.0 if m < 44 else 60.0 + m % 2 * 31) for m in range(32, 60)]
    _, seen = feed(BIN, readings)
    assert [s.outcome for s in seen] == [Outcome.OPENED, Outcome.CLEARED, Outcome.OPENED]
    assert [s.at for s in seen] == [T0, minutes(30), minutes(32)]


def test_single_spike_then_inside_the_band_does_not_open() -> None:
    cond, seen = feed(BIN, [(0, 95.0)] + [(m, 50.0) for m in range(1, 16)])
    assert seen == []
    assert cond.phase is not ConditionPhase.ACTIVE


# --- tick -------------------------------------------------------------------------------


def test_tick_opens_a_pending_condition_without_new_readings() -> None:
    cond, _ = feed(BIN, [(0, 95.0)])
    assert tick(BIN, cond, minutes(9.99)) == Step(cond)
    step = tick(BIN, cond, minutes(10))
    assert step.outcome is Outcome.OPENED and step.at == T0
    assert step.condition.phase is ConditionPhase.ACTIVE
    assert step.condition.last_time == T0  # tick is not a reading
    assert tick(BIN, step.condition, minutes(60)) == Step(step.condition)  # opens once


@pytest.mark.parametrize("cond", [IDLE, Condition(ConditionPhase.ACTIVE, since=T0, last_time=T0)])
def test_tick_leaves_idle_and_active_alone(cond: Condition) -> None:
    assert tick(BIN, cond, minutes(600)) == Step(cond)


def test_reading_after_a_tick_opened_does_not_open_again() -> None:
    cond, _ = feed(BIN, [(0, 95.0)])
    cond = tick(BIN, cond, minutes(11)).condition
    _, seen = feed(BIN, [(12, 96.0), (13, 97.0)], cond=cond)
    assert seen == []


# --- redelivery -------------------------------------------------------------------------


def test_old_and_repeated_readings_are_ignored() -> None:
    cond, seen = feed(LEAK, [(5, 1.0)])
    assert [s.outcome for s in seen] == [Outcome.OPENED]
    for m, value in [(5, 0.0), (4, 0.0), (0, 0.0)]:  # the same time, then older
        step = observe(LEAK, cond, minutes(m), value)
        assert step == Step(cond)
    cond, seen = feed(LEAK, [(6, 0.0)], cond=cond)
    assert [s.outcome for s in seen] == [Outcome.CLEARED]


def test_redelivered_breach_does_not_restart_pending() -> None:
    cond, _ = feed(BIN, [(0, 95.0), (3, 20.0)])
    step = observe(BIN, cond, minutes(1), 95.0)  # redelivered, older than 3
    assert step == Step(cond)
    assert step.condition.phase is ConditionPhase.IDLE


# --- night_only -------------------------------------------------------------------------


def test_lamp_off_by_day_never_opens() -> None:
    cond, seen = feed(LAMP, [(m, 0.0) for m in range(0, 600, 5)], night=False)
    assert seen == []
    assert cond.phase is ConditionPhase.IDLE


def test_lamp_out_at_night_opens_after_fifteen_minutes() -> None:
    cond, seen = feed(LAMP, [(m, 0.02) for m in range(0, 16)], night=True)
    assert seen == [Seen(Outcome.OPENED, T0, minutes(15))]
    assert cond.phase is ConditionPhase.ACTIVE


def test_day_reading_ends_a_pending_lamp_condition() -> None:
    cond, _ = feed(LAMP, [(0, 0.0)], night=True)
    assert cond.phase is ConditionPhase.PENDING
    cond, _ = feed(LAMP, [(5, 0.0)], night=False, cond=cond)
    assert cond.phase is ConditionPhase.IDLE
    cond, seen = feed(LAMP, [(16, 0.0), (30, 0.0), (31, 0.0)], night=True, cond=cond)
    assert seen == [Seen(Outcome.OPENED, minutes(16), minutes(31))]


def test_active_lamp_is_only_cleared_by_a_night_reading() -> None:
    cond, _ = feed(LAMP, [(0, 0.0), (15, 0.0)], night=True)
    assert cond.phase is ConditionPhase.ACTIVE
    cond, seen = feed(LAMP, [(60, 0.5), (120, 0.0)], night=False, cond=cond)
    assert seen == [] and cond.phase is ConditionPhase.ACTIVE
    cond, seen = feed(LAMP, [(600, 0.3)], night=True, cond=cond)
    assert seen == [Seen(Outcome.CLEARED, minutes(600), minutes(600))]


def test_night_flag_is_ignored_by_rules_that_are_not_night_only() -> None:
    _, seen = feed(LEAK, [(0, 1.0), (1, 0.0)], night=False)
    assert [s.outcome for s in seen] == [Outcome.OPENED, Outcome.CLEARED]


# --- properties -------------------------------------------------------------------------


def _values(rule: SensorRule) -> st.SearchStrategy[float]:
    edges = {rule.threshold, rule.clear_at}
    near = [e + d for e in edges for d in (-0.01, 0.0, 0.01)]
    lo, hi = min(edges), max(edges)
    span = max(hi - lo, 1.0)
    return st.sampled_from(near) | st.floats(lo - span, hi + span)


@st.composite
def histories(draw: st.DrawFn) -> tuple[SensorRule, list[tuple[float, float | None, bool]]]:
    """A rule and (seconds since the last step, value or None for a tick, night) steps."""
    # rules with a hysteresis band (bin, lamp) twice as often: they have the subtle cases
    rule = draw(st.sampled_from(list(RULES.values())) | st.sampled_from([BIN, LAMP]))
    step = st.tuples(st.integers(1, 900), st.none() | _values(rule), st.booleans())
    return rule, draw(st.lists(step, max_size=60))


@settings(max_examples=300, deadline=None)
@given(histories())
def test_opened_and_cleared_alternate_and_opened_is_dated_at_the_crossing(
        history: tuple[SensorRule, list[tuple[float, float | None, bool]]]) -> None:
    # "Episode": a pending period runs from the first reading over the threshold until a
    # reading that is not over it (or a day reading for night_only rules).
    rule, steps = history
    cond, now = IDLE, T0
    outcomes: list[Seen] = []
    # readings that counted (not ignored by night_only) since the last CLEARED
    episode: list[tuple[datetime, float]] = []
    last_step_time: datetime | None = None
    for gap, value, night in steps:
        now += timedelta(seconds=gap)
        counts = night or not rule.night_only
        if value is None:
            step = tick(rule, cond, now)
        else:
            step = observe(rule, cond, now, value, night=night)
            if counts:
                episode.append((now, value))
            elif cond.phase is not ConditionPhase.ACTIVE:
                episode.append((now, float("nan")))  # a day reading ends a pending period
        if step.outcome is Outcome.OPENED:
            # dated at the first crossing since the value was last not over the threshold
            quiet = [i for i, (_, v) in enumerate(episode)
                     if math.isnan(v) or not rule.breached(v)]
            start = quiet[-1] + 1 if quiet else 0
            crossings = [t for t, v in episode[start:] if rule.breached(v)]
            assert crossings, "OPENED without a reading over the threshold"
            assert step.at == crossings[0]
            assert now - step.at >= rule.duration
            # and as soon as it could: no earlier reading or tick was already late enough
            if last_step_time is not None and last_step_time > step.at:
                assert last_step_time - step.at < rule.duration
        if step.outcome is Outcome.CLEARED:
            assert step.at == now
            assert value is not None and rule.cleared(value)
            episode = []
        if step.outcome is not None:
            assert step.at is not None
            outcomes.append(Seen(step.outcome, step.at, now))
        last_step_time = now
        cond = step.condition
        assert (cond.phase is ConditionPhase.ACTIVE) == (
            bool(outcomes) and outcomes[-1].outcome is Outcome.OPENED)
    expected = [Outcome.OPENED, Outcome.CLEARED] * len(outcomes)
    assert [s.outcome for s in outcomes] == expected[:len(outcomes)]


@settings(max_examples=200, deadline=None)
@given(histories(), st.lists(st.integers(0, 59), max_size=20))
def test_redelivered_readings_change_nothing(
        history: tuple[SensorRule, list[tuple[float, float | None, bool]]],
        replays: list[int]) -> None:
    rule, steps = history
    readings = []
    now = T0
    for gap, value, night in steps:
        now += timedelta(seconds=gap)
        if value is not None:
            readings.append((now, value, night))
    # each replay re-sends an earlier reading right after the one it points at
    noisy = []
    for i, reading in enumerate(readings):
        noisy.append(reading)
        noisy.extend(readings[j] for j in replays if j <= i)

    def run(seq: list[tuple[datetime, float, bool]]) -> list[tuple[Outcome, datetime]]:
        cond, out = IDLE, []
        for at, value, night in seq:
            step = observe(rule, cond, at, value, night=night)
            cond = step.condition
            if step.outcome is not None:
                assert step.at is not None
                out.append((step.outcome, step.at))
        return out

    assert run(noisy) == run(readings)
