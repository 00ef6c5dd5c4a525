"""The simulated sensors: deterministic, realistic shapes, incidents the rules will see."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from edge.drivers import (
    DEFAULT_INCIDENT_RATES,
    SensorDriver,
    SimModel,
    SimulatorSpec,
    make_driver,
    parse_driver_spec,
)
from edge.drivers.simulator import METRICS, SimulatorDriver

TZ = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 3, 2, tzinfo=TZ)  # local midnight
MINUTE = timedelta(minutes=1)


def driver(model: SimModel, *, seed: int = 1, rate: float | None = None) -> SimulatorDriver:
    spec = SimulatorSpec(kind="simulator", model=model, seed=seed, incident_rate_per_day=rate)
    made = make_driver(spec)
    assert isinstance(made, SimulatorDriver)
    return made


def series(d: SimulatorDriver, *, days: float = 1, start: datetime = MONDAY,
           step: timedelta = MINUTE) -> list[tuple[datetime, float]]:
    out = []
    t, end = start, start + timedelta(days=days)
    while t < end:
        out.append((t, d.read(t)[d.metric]))
        t += step
    return out


def held(values: list[tuple[datetime, float]], breached: Callable[[datetime, float], bool],
         duration: timedelta) -> bool:
    """Whether some run of consecutive readings stays breached for `duration` (rule semantics)."""
    since: datetime | None = None
    for t, v in values:
        if not breached(t, v):
            since = None
            continue
        since = since or t
        if t - since >= duration:
            return True
    return False


def is_night(t: datetime) -> bool:
    local = t.astimezone(TZ)
    return local.hour >= 19 or local.hour < 6


# the estate's sensor rules (deploy/estate.example.yaml), per model
INCIDENT: dict[SimModel, tuple[Callable[[datetime, float], bool], timedelta]] = {
    SimModel.WATER_LEAK: (lambda t, v: v > 0.5, timedelta(0)),
    SimModel.SMOKE: (lambda t, v: v > 0.5, timedelta(0)),
    SimModel.ELEVATOR: (lambda t, v: v > 0.5, timedelta(0)),
    SimModel.DOOR_CONTACT: (lambda t, v: v > 0.5, timedelta(minutes=5)),
    SimModel.BIN_LEVEL: (lambda t, v: v > 90, timedelta(minutes=10)),
    SimModel.LAMP_CURRENT: (lambda t, v: is_night(t) and v < 0.1, timedelta(minutes=15)),
    SimModel.TEMPERATURE: (lambda t, v: v > 60, timedelta(minutes=5)),
    SimModel.AIR_QUALITY: (lambda t, v: v > 50, timedelta(minutes=10)),
}

BOUNDS: dict[SimModel, tuple[float, float]] = {
    SimModel.WATER_LEAK: (0, 1),
    SimModel.SMOKE: (0, 1),
    SimModel.ELEVATOR: (0, 1),
    SimModel.DOOR_CONTACT: (0, 1),
    SimModel.BIN_LEVEL: (0, 100),
    SimModel.LAMP_CURRENT: (0, 1),
    SimModel.TEMPERATURE: (-40, 125),
    SimModel.AIR_QUALITY: (0, 1000),
}
BINARY = {SimModel.WATER_LEAK, SimModel.SMOKE, SimModel.ELEVATOR, SimModel.DOOR_CONTACT}


# --- interface and spec ----------------------------------------------------------------


DRIVERS_YAML = """
- kind: simulator
  model: bin_level
  seed: 3
- kind: simulator
  model: temperature
  incident_rate_per_day: 200   # demo: an overheating within minutes
  timezone: Asia/Shanghai
- kind: modbus_tcp
  host: 192.168.10.21
  unit: 1
  registers:
    - {metric: temperature_c, address: 0, type: int16, scale: 0.1}
    - {metric: leak, address: 3, type: discrete}
"""


def test_specs_from_yaml_and_defaults() -> None:
    specs = [parse_driver_spec(item) for item in yaml.safe_load(DRIVERS_YAML)]
    bins, temperature, modbus = specs
    assert isinstance(bins, SimulatorSpec)
    assert isinstance(temperature, SimulatorSpec)
    assert bins.timezone == "Asia/Shanghai"
    assert bins.rate_per_day == DEFAULT_INCIDENT_RATES[SimModel.BIN_LEVEL]
    assert temperature.rate_per_day == 200
    assert modbus.kind == "modbus_tcp"
    assert set(DEFAULT_INCIDENT_RATES) == set(SimModel) == set(METRICS)
    d = make_driver(bins)
    assert isinstance(d, SensorDriver)
    readings = d.read(datetime.now(UTC))
    assert list(readings) == ["fill_pct"]
    d.close()


@pytest.mark.parametrize("bad", [
    {"kind": "simulator", "model": "camera"},
    {"kind": "simulator", "model": "smoke", "timezone": "Mars/Olympus"},
    {"kind": "simulator", "model": "smoke", "incident_rate_per_day": -1},
    {"kind": "simulator", "model": "smoke", "colour": "red"},
    {"kind": "teleport", "model": "smoke"},
])
def test_bad_specs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        parse_driver_spec(bad)


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        driver(SimModel.SMOKE).read(datetime(2026, 3, 2, 12, 0))


# --- determinism -----------------------------------------------------------------------


@pytest.mark.parametrize("model", list(SimModel))
def test_deterministic_given_seed_whatever_the_order_of_reads(model: SimModel) -> None:
    times = [MONDAY + timedelta(minutes=7 * i) for i in range(400)]
    first = [driver(model, seed=42, rate=20).read(t) for t in times]
    again = driver(model, seed=42, rate=20)
    assert [again.read(t) for t in times] == first
    backwards = driver(model, seed=42, rate=20)
    assert [backwards.read(t) for t in reversed(times)][::-1] == first
    # reads far apart (simulated months) do not disturb what comes after
    jumpy = driver(model, seed=42, rate=20)
    jumpy.read(MONDAY + timedelta(days=400))
    jumpy.read(MONDAY - timedelta(days=3000))
    assert [jumpy.read(t) for t in times] == first


def test_other_seeds_differ_and_a_missing_seed_is_drawn_and_reported() -> None:
    times = [MONDAY + timedelta(minutes=5 * i) for i in range(300)]
    a = [driver(SimModel.TEMPERATURE, seed=1).read(t) for t in times]
    b = [driver(SimModel.TEMPERATURE, seed=2).read(t) for t in times]
    assert a != b
    unseeded = make_driver(parse_driver_spec({"kind": "simulator", "model": "temperature"}))
    assert isinstance(unseeded, SimulatorDriver)
    replay = driver(SimModel.TEMPERATURE, seed=unseeded.seed)
    assert [unseeded.read(t) for t in times] == [replay.read(t) for t in times]


def test_same_instant_in_another_zone_reads_the_same() -> None:
    d = driver(SimModel.AIR_QUALITY)
    t = MONDAY + timedelta(hours=8, minutes=3)
    assert d.read(t) == d.read(t.astimezone(UTC))


# --- shapes ----------------------------------------------------------------------------


def test_daily_temperature_is_coolest_at_dawn_and_warmest_mid_afternoon() -> None:
    values = series(driver(SimModel.TEMPERATURE, rate=0), days=7)
    by_hour: dict[int, list[float]] = {}
    for t, v in values:
        by_hour.setdefault(t.astimezone(TZ).hour, []).append(v)
    mean = {h: sum(vs) / len(vs) for h, vs in by_hour.items()}
    assert min(mean, key=mean.__getitem__) in {4, 5, 6}
    assert max(mean, key=mean.__getitem__) in {14, 15, 16}
    assert mean[15] - mean[5] > 6
    assert all(10 < v < 40 for _, v in values)


def test_bins_fill_during_the_day_and_are_emptied_at_each_round() -> None:
    d = driver(SimModel.BIN_LEVEL, rate=0)
    day = MONDAY + timedelta(days=1)

    def at(hh: int, mm: int) -> float:
        return d.read(day + timedelta(hours=hh, minutes=mm))["fill_pct"]

    for (h0, m0), (h1, m1) in (((7, 30), (12, 59)), ((13, 0), (19, 29)), ((19, 30), (31, 29))):
        start, end = at(h0, m0), at(h1, m1)
        assert start < 10, "just emptied"
        assert 35 < end < 90, "filled up, but not over the limit"
        hourly = [at(h, m0) for h in range(h0 + 1, h1)]
        assert all(b > a - 2 for a, b in itertools.pairwise(hourly)), hourly
    # meals fill faster than mid-morning
    assert at(12, 59) - at(11, 0) > 1.8 * (at(10, 59) - at(9, 0))


def test_lamps_draw_current_at_night_only() -> None:
    values = series(driver(SimModel.LAMP_CURRENT, rate=0), days=3)
    night = [v for t, v in values if is_night(t)]
    day = [v for t, v in values if 7 <= t.astimezone(TZ).hour < 18]
    assert all(0.38 < v < 0.52 for v in night)
    assert all(v == 0 for v in day)


def test_garage_co_has_a_rush_hour_bump() -> None:
    values = series(driver(SimModel.AIR_QUALITY, rate=0), days=5)  # Monday to Friday

    def mean(hour: int) -> float:
        vs = [v for t, v in values if t.astimezone(TZ).hour == hour]
        return sum(vs) / len(vs)

    assert mean(8) > mean(3) + 8
    assert mean(18) > mean(13) + 8


def test_fire_doors_open_briefly_as_people_pass() -> None:
    values = series(driver(SimModel.DOOR_CONTACT, rate=0), days=2, step=timedelta(seconds=5))
    opened = sum(1 for _, v in values if v)
    assert 0 < opened < len(values) * 0.1
    rush = sum(1 for t, v in values if v and t.astimezone(TZ).hour in (7, 8, 17, 18))
    small_hours = sum(1 for t, v in values if v and t.astimezone(TZ).hour in (1, 2, 3, 4))
    assert rush > 5 * max(small_hours, 1)


# --- incidents -------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(SimModel))
def test_a_high_rate_shows_each_models_incident_within_a_simulated_day(model: SimModel) -> None:
    breached, duration = INCIDENT[model]
    values = series(driver(model, seed=5, rate=200), days=1)
    assert held(values, breached, duration)


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("model", list(SimModel))
def test_no_incident_without_incidents(model: SimModel, seed: int) -> None:
    breached, duration = INCIDENT[model]
    values = series(driver(model, seed=seed, rate=0), days=7)
    assert not held(values, breached, duration)


def test_a_missed_round_leaves_the_bin_over_90_for_more_than_10_minutes() -> None:
    d = driver(SimModel.BIN_LEVEL, seed=8, rate=1.0)
    values = series(d, days=30)
    episodes, longest, run = [], 0, 0
    for _, v in values:
        run = run + 1 if v > 90 else 0
        longest = max(longest, run)
        if v < 30 and longest:
            episodes.append(longest)
            longest = 0
    assert len(episodes) >= 5
    assert min(episodes) > 10


def test_incidents_start_at_about_the_configured_rate() -> None:
    values = series(driver(SimModel.WATER_LEAK, seed=9, rate=2.0), days=30)
    starts = sum(1 for (_, a), (_, b) in itertools.pairwise(values) if b > a)
    assert 35 <= starts <= 80  # Poisson(≈55–60): the rate, less the time spent leaking


def test_overheating_lasts_10_to_20_minutes_above_60() -> None:
    values = series(driver(SimModel.TEMPERATURE, seed=3, rate=20), days=3)
    runs, run = [], 0
    for _, v in values:
        if v > 60:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    runs = [r for r in runs if r > 2]  # the noise at the crossing aside
    assert runs
    assert all(8 <= r <= 22 for r in runs), runs


@pytest.mark.parametrize("rate", [None, 200.0])
@pytest.mark.parametrize("model", list(SimModel))
def test_values_stay_within_physical_bounds(model: SimModel, rate: float | None) -> None:
    lo, hi = BOUNDS[model]
    for _, v in series(driver(model, seed=11, rate=rate), days=4, step=timedelta(minutes=3)):
        assert lo <= v <= hi
        if model in BINARY:
            assert v in (0.0, 1.0)


# --- accelerated time ------------------------------------------------------------------


@pytest.mark.parametrize("model", list(SimModel))
def test_a_week_read_every_simulated_minute_takes_under_2_seconds(model: SimModel) -> None:
    d = driver(model, seed=4, rate=5)
    times = [MONDAY + i * MINUTE for i in range(7 * 24 * 60)]
    began = time.perf_counter()
    for t in times:
        d.read(t)
    assert time.perf_counter() - began < 2.0
