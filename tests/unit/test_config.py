"""The estate configuration: the example loads, and every mistake names its file and line."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.config import (
    ConfigError,
    DeviceKind,
    EstateConfig,
    Location,
    Settings,
    ZoneKind,
    format_duration,
    load_config,
    load_settings,
    parse_config,
    parse_duration,
    read_yaml,
)
from services.tickets.model import Priority, SlaTarget

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "estate.example.yaml"

# A small valid estate; the error tests change one line of it at a time.
MINIMAL = """\
site:
  id: test-estate
  name: 测试小区
buildings:
  - id: b1
    name: 1号楼
    areas:
      - {id: lobby, name: 大堂}
areas:
  - {id: gate, name: 南门}
departments:
  - id: cleaning
    name: 保洁部
    head: BJ-001
    staff:
      - {id: BJ-001, name: 周秀英}
categories:
  - code: litter
    name: 垃圾/杂物
    name_en: Litter
    department: cleaning
    sla:
      normal: {respond: 4h, resolve: 24h}
devices:
  - id: bin-1
    kind: bin_level
    location: {area: gate}
cameras:
  - id: cam-1
    location: {building: b1, area: lobby}
    zones:
      - id: floor
        kind: floor
        polygon: [[0.1, 0.5], [0.9, 0.5], [0.9, 0.9]]
sensor_rules:
  - id: bin-full
    devices: [bin-1]
    metric: fill_pct
    condition: above
    threshold: 90
    clear_at: 30
    duration: 10m
    category: litter
    priority: normal
"""


def line_of(text: str, needle: str) -> int:
    """1-based number of the only line containing needle."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "estate.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value


# --- the shipped example -------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> EstateConfig:
    return load_config(EXAMPLE)


def test_example_loads(example: EstateConfig) -> None:
    assert example.site.id == "yangguang-garden"
    assert example.site.timezone == "Asia/Shanghai"
    assert [b.name for b in example.buildings] == [f"{n}号楼" for n in range(1, 7)]
    assert {d.id for d in example.departments} == {"kefu", "engineering", "cleaning", "security"}
    assert all(3 <= len(d.staff) <= 5 for d in example.departments)
    assert {c.code for c in example.categories} == {
        "repair_emergency",
        "repair_routine",
        "fire_exit",
        "litter",
        "cleaning",
        "lighting",
        "elevator",
        "water_leak",
        "security",
        "noise",
        "greenery",
        "other",
    }
    assert 25 <= len(example.devices) <= 35
    assert {d.kind for d in example.devices} == set(DeviceKind) - {DeviceKind.CAMERA}
    assert len(example.cameras) == 2
    zone_kinds = {z.kind for c in example.cameras for z in c.zones}
    assert zone_kinds == set(ZoneKind)


def test_example_sla_defaults_from_spec(example: EstateConfig) -> None:
    targets = example.sla_targets()
    hours = timedelta(hours=1)
    assert targets[("repair_emergency", Priority.EMERGENCY)] == SlaTarget(1 * hours, 24 * hours)
    assert targets[("fire_exit", Priority.HIGH)] == SlaTarget(timedelta(minutes=30), 4 * hours)
    assert targets[("cleaning", Priority.NORMAL)] == SlaTarget(4 * hours, 24 * hours)
    assert targets[("litter", Priority.NORMAL)] == SlaTarget(4 * hours, 24 * hours)
    assert targets[("repair_routine", Priority.NORMAL)] == SlaTarget(24 * hours, timedelta(days=7))
    # Every category's default priority has a target.
    for category in example.categories:
        assert (category.code, category.default_priority) in targets


def test_example_sensor_rules(example: EstateConfig) -> None:
    rules = {r.id: r for r in example.sensor_rules}
    assert rules["fire-door-held-open"].duration == timedelta(minutes=5)
    bin_full = rules["bin-full"]
    assert (bin_full.threshold, bin_full.clear_at) == (90, 30)
    assert bin_full.breached(91) and not bin_full.breached(90)
    assert not bin_full.cleared(50) and bin_full.cleared(30)
    lamp = rules["lamp-out"]
    assert lamp.night_only and lamp.breached(0.05) and lamp.cleared(0.3)
    offline = rules["device-offline"]
    assert offline.duration == timedelta(minutes=10)
    assert set(example.rule_devices(offline)) == example.device_ids
    assert offline in example.rules_for("cam-b3-stairwell")


def test_one_place_label_for_board_and_bulletin(example: EstateConfig) -> None:
    """The board and the bulletin build a place's label with the same function; the
    bulletin keeps the space (and "/" between an unknown place's ids) it has always
    published."""
    from services.board.views import location_label
    from services.bulletin.document import place_names

    assert location_label(example, "b3", "east-lobby") == "3号楼 · 东侧大堂"
    assert place_names(example, "b3", "east-lobby") == ("3号楼 东侧大堂", "Building 3 East lobby")
    assert place_names(example, None, "south-gate") == ("南门", example.place_text(
        None, "south-gate", "en"))
    # a place since removed from the config shows its ids
    assert location_label(example, "b99", "roof") == "b99 · roof"
    assert place_names(example, "b99", "roof") == ("b99/roof", "b99/roof")
    assert example.place_text(None, "gone") == "gone"


def test_example_lookups(example: EstateConfig) -> None:
    label = example.location_label(Location(building="b3", area="east-lobby"))
    assert label == "3号楼 · 东侧大堂"
    assert example.location_label(Location(building="b3", area="east-lobby"), "en") == (
        "Building 3 · East lobby"
    )
    assert example.location_label(Location(area="south-gate")) == "南门"
    assert example.staff_by_id("GC-007").name == "孙志刚"
    assert example.department_of("GC-007").id == "engineering"
    assert example.category("fire_exit").department == "security"
    assert example.device_kind("cam-waste-station") is DeviceKind.CAMERA
    assert example.device_kind("smoke-b1") is DeviceKind.SMOKE
    with pytest.raises(KeyError):
        example.category("nope")
    with pytest.raises(KeyError):
        example.staff_by_id("XX-999")


def test_example_night_window(example: EstateConfig) -> None:
    shanghai = example.site.tz
    assert example.site.is_night(dt.datetime(2024, 6, 1, 22, 0, tzinfo=shanghai))
    assert example.site.is_night(dt.datetime(2024, 6, 1, 5, 59, tzinfo=shanghai))
    assert not example.site.is_night(dt.datetime(2024, 6, 1, 12, 0, tzinfo=shanghai))
    # 12:00 UTC is 20:00 in Shanghai.
    assert example.site.is_night(dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC))


def test_example_dumps_durations_as_text(example: EstateConfig) -> None:
    dumped = example.model_dump(mode="json")
    assert dumped["categories"][0]["sla"]["emergency"] == {"respond": "1h", "resolve": "1d"}
    assert dumped["site"]["bulletin"] == {
        "weekday": "mon", "time": "08:00", "language": "zh-CN",
        "review": {"seal_weekday": "tue", "seal_time": "12:00", "committee": []}}


def test_the_bulletin_review_deadline_comes_after_the_draft(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    committee = load_config(write(tmp_path, text.replace(
        "      committee: []", "      committee: [YWH-001]")))
    assert committee.site.bulletin.review.committee == ("YWH-001",)
    error = load_error(tmp_path, text.replace('      seal_weekday: tue', '      seal_weekday: mon')
                       .replace('      seal_time: "12:00"', '      seal_time: "07:00"'))
    assert "must not come before the draft" in str(error)


def test_example_is_frozen(example: EstateConfig) -> None:
    with pytest.raises(ValueError, match="frozen"):
        example.site.name = "x"


# --- defaults ----------------------------------------------------------------------


def test_minimal_defaults() -> None:
    config = parse_config(MINIMAL)
    assert config.site.timezone == "Asia/Shanghai"
    assert config.site.public_url == "http://localhost:8000"
    assert config.site.bulletin.weekday == "mon"
    assert config.site.bulletin.time == dt.time(8, 0)
    assert config.site.bulletin.language == "zh-CN"
    assert config.categories[0].default_priority is Priority.NORMAL


@pytest.mark.parametrize(
    ("kind", "dwell"),
    [
        ("fire_exit", timedelta(seconds=120)),
        ("floor", timedelta(minutes=10)),
        ("mask", timedelta(0)),
    ],
)
def test_zone_dwell_defaults(kind: str, dwell: timedelta) -> None:
    config = parse_config(MINIMAL.replace("kind: floor", f"kind: {kind}"))
    assert config.cameras[0].zones[0].dwell == dwell


def test_clear_at_defaults_to_threshold() -> None:
    config = parse_config(MINIMAL.replace("    clear_at: 30\n", ""))
    assert config.sensor_rules[0].clear_at == 90


def test_base60_times_stay_text() -> None:
    # YAML 1.1 would read 8:30 as the integer 510.
    config = parse_config(
        MINIMAL.replace("  name: 测试小区\n", "  name: 测试小区\n  bulletin: {time: 8:30}\n")
    )
    assert config.site.bulletin.time == dt.time(8, 30)


def test_merge_keys_may_override() -> None:
    doc = read_yaml("base: &b {a: 1, b: 2}\nchild:\n  <<: *b\n  b: 3\n", "m.yaml")
    assert doc.data["child"] == {"a": 1, "b": 3}
    assert doc.lines[("child", "b")] == 4
    assert doc.lines[("child", "a")] == 1


# --- durations -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("10m", timedelta(minutes=10)),
        ("4h", timedelta(hours=4)),
        ("7d", timedelta(days=7)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d 2h", timedelta(days=1, hours=2)),
        ("2w", timedelta(days=14)),
        ("0s", timedelta(0)),
        ("120", timedelta(seconds=120)),
        (90, timedelta(seconds=90)),
        (0, timedelta(0)),
        (timedelta(minutes=3), timedelta(minutes=3)),
    ],
)
def test_parse_duration(text: str | int | timedelta, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["x", "", "h", "1.5h", "30m1h", "1hh", "-5", "5 minutes", "1H"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_parse_duration_rejects_negative_and_bool() -> None:
    with pytest.raises(ValueError):
        parse_duration(-1)
    with pytest.raises(ValueError):
        parse_duration(True)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (30, "30s"), (5400, "1h30m"), (86400, "1d"), (604800, "7d")]
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


@given(st.integers(min_value=0, max_value=10**8))
def test_duration_round_trip(seconds: int) -> None:
    value = timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


# --- errors name the file and the line -------------------------------------------------

# (id, old text, new text, text on the line the error must name, path, message part)
MISTAKES = [
    (
        "unknown key",
        "  name: 测试小区\n",
        "  name: 测试小区\n  nmae: x\n",
        "nmae: x",
        "site",
        "unknown key 'nmae' (did you mean 'name'?)",
    ),
    (
        "bad duration",
        "respond: 4h",
        "respond: x",
        "respond: x",
        "categories[0].sla.normal.respond",
        "invalid duration 'x'",
    ),
    (
        "negative duration",
        "duration: 10m",
        "duration: -5",
        "duration: -5",
        "sensor_rules[0].duration",
        "invalid duration",
    ),
    (
        "respond longer than resolve",
        "respond: 4h",
        "respond: 48h",
        "respond: 48h",
        "categories[0].sla.normal.respond",
        "must not be longer than resolve",
    ),
    (
        "unknown priority",
        "normal: {respond",
        "urgent: {respond",
        "urgent:",
        "categories[0].sla.urgent",
        "'urgent'",
    ),
    (
        "dangling department",
        "department: cleaning",
        "department: cleanin",
        "department: cleanin",
        "categories[0].department",
        "unknown department 'cleanin' (did you mean 'cleaning'?)",
    ),
    (
        "head not in staff",
        "head: BJ-001",
        "head: BJ-002",
        "head: BJ-002",
        "departments[0].head",
        "not in this department's staff",
    ),
    (
        "bad staff number",
        "{id: BJ-001, name",
        "{id: bj1, name",
        "{id: bj1",
        "departments[0].staff[0].id",
        "not a staff number",
    ),
    (
        "dangling site area",
        "location: {area: gate}",
        "location: {area: gates}",
        "location: {area: gates}",
        "devices[0].location.area",
        "unknown site area 'gates'",
    ),
    (
        "dangling building",
        "location: {building: b1, area: lobby}",
        "location: {building: b2, area: lobby}",
        "location: {building: b2",
        "cameras[0].location.building",
        "unknown building 'b2'",
    ),
    (
        "dangling area in building",
        "location: {building: b1, area: lobby}",
        "location: {building: b1, area: gate}",
        "b1, area: gate}",
        "cameras[0].location.area",
        "unknown area in b1 'gate'",
    ),
    (
        "dangling rule category",
        "category: litter",
        "category: garbage",
        "category: garbage",
        "sensor_rules[0].category",
        "unknown category 'garbage'",
    ),
    (
        "dangling rule device",
        "devices: [bin-1]",
        "devices: [bin-2]",
        "devices: [bin-2]",
        "sensor_rules[0].devices[0]",
        "unknown device 'bin-2'",
    ),
    (
        "rule priority without SLA",
        "priority: normal",
        "priority: high",
        "priority: high",
        "sensor_rules[0].priority",
        "has no SLA for priority 'high'",
    ),
    (
        "default priority without SLA",
        "    department: cleaning\n",
        "    department: cleaning\n    default_priority: low\n",
        "default_priority: low",
        "categories[0].default_priority",
        "has no SLA for priority 'low'",
    ),
    (
        "hysteresis wrong side (above)",
        "clear_at: 30",
        "clear_at: 95",
        "clear_at: 95",
        "sensor_rules[0].clear_at",
        "must not be above threshold 90",
    ),
    (
        "hysteresis wrong side (below)",
        "condition: above",
        "condition: below",
        "clear_at: 30",
        "sensor_rules[0].clear_at",
        "must not be below threshold 90",
    ),
    (
        "polygon too short",
        "[[0.1, 0.5], [0.9, 0.5], [0.9, 0.9]]",
        "[[0.1, 0.5], [0.9, 0.5]]",
        "polygon:",
        "cameras[0].zones[0].polygon",
        "at least 3",
    ),
    (
        "polygon outside image",
        "[0.9, 0.9]]",
        "[1.5, 0.9]]",
        "polygon:",
        "cameras[0].zones[0].polygon[2][0]",
        "less than or equal to 1",
    ),
    (
        "polygon flat",
        "[0.9, 0.9]]",
        "[0.5, 0.5]]",
        "polygon:",
        "cameras[0].zones[0].polygon",
        "no area",
    ),
    (
        "polygon crossing",
        "[[0.1, 0.5], [0.9, 0.5], [0.9, 0.9]]",
        "[[0.1, 0.1], [0.9, 0.9], [0.9, 0.2], [0.1, 0.8]]",
        "polygon:",
        "cameras[0].zones[0].polygon",
        "cross",
    ),
    (
        "bad zone kind",
        "kind: floor",
        "kind: flor",
        "kind: flor",
        "cameras[0].zones[0].kind",
        "'flor'",
    ),
    ("bad slug", "id: bin-1", "id: Bin 1", "id: Bin 1", "devices[0].id", "not a valid id"),
    (
        "camera under devices",
        "kind: bin_level",
        "kind: camera",
        "kind: camera",
        "devices[0].kind",
        "listed under `cameras`",
    ),
    (
        "duplicate device id",
        "  - id: cam-1",
        "  - id: bin-1  # again",
        "# again",
        "cameras[0].id",
        "duplicate device or camera id 'bin-1' (also at devices[0].id)",
    ),
    (
        "bad timezone",
        "  name: 测试小区\n",
        "  name: 测试小区\n  timezone: Asia/Beijing\n",
        "timezone:",
        "site.timezone",
        "unknown timezone 'Asia/Beijing'",
    ),
    (
        "bad bulletin time",
        "  name: 测试小区\n",
        "  name: 测试小区\n  bulletin: {time: '25:00'}\n",
        "bulletin:",
        "site.bulletin.time",
        "'25:00' is not a time of day",
    ),
    (
        "missing key",
        "    name_en: Litter\n",
        "",
        "- code: litter",
        "categories[0]",
        "missing required key 'name_en'",
    ),
    (
        "both devices and kind",
        "    devices: [bin-1]\n",
        "    devices: [bin-1]\n    device_kind: bin_level\n",
        "device_kind: bin_level",
        "sensor_rules[0].device_kind",
        "either devices or device_kind",
    ),
]


class Mistake(NamedTuple):
    old: str
    new: str
    needle: str  # text on the line the error must name
    path: str
    message: str


@pytest.mark.parametrize("mistake", [pytest.param(Mistake(*m[1:]), id=m[0]) for m in MISTAKES])
def test_mistake_names_file_and_line(tmp_path: Path, mistake: Mistake) -> None:
    assert mistake.old in MINIMAL
    text = MINIMAL.replace(mistake.old, mistake.new, 1)
    error = load_error(tmp_path, text)
    line = line_of(text, mistake.needle)
    expected_prefix = f"{tmp_path / 'estate.yaml'}:{line}: {mistake.path}: "
    lines = str(error).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(expected_prefix), (lines[0], expected_prefix)
    assert mistake.message in lines[0]


def test_yaml_syntax_error(tmp_path: Path) -> None:
    text = MINIMAL.replace("    name: 1号楼\n", "    name: 1号楼\n   oops: [\n")
    error = load_error(tmp_path, text)
    assert str(error).startswith(f"{tmp_path / 'estate.yaml'}:")
    assert "invalid YAML" in str(error)
    assert error.problems[0].line is not None
    assert error.problems[0].line >= line_of(text, "oops: [")


def test_yaml_syntax_error_line(tmp_path: Path) -> None:
    # The unclosed list is noticed where the next key starts.
    error = load_error(tmp_path, "a: 1\nb: [1, 2\nc: 3\n")
    assert error.problems[0].line == 3
    assert "line 2" in error.problems[0].message


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    text = MINIMAL.replace("  id: test-estate", "\tid: test-estate")
    error = load_error(tmp_path, text)
    assert error.problems[0].line == line_of(text, "\tid: test-estate")
    assert "invalid YAML" in error.problems[0].message


def test_duplicate_key(tmp_path: Path) -> None:
    text = MINIMAL.replace("    head: BJ-001\n", "    head: BJ-001\n    name: 清洁部\n")
    error = load_error(tmp_path, text)
    first = line_of(text, "name: 保洁部")
    second = line_of(text, "name: 清洁部")
    assert str(error) == (
        f"{tmp_path / 'estate.yaml'}:{second}: departments[0].name: "
        f"duplicate key (first at line {first})"
    )


def test_duplicate_key_in_flow_mapping(tmp_path: Path) -> None:
    text = MINIMAL.replace("{id: gate, name: 南门}", "{id: gate, name: 南门, id: door}")
    error = load_error(tmp_path, text)
    assert error.problems[0].line == line_of(text, "id: door")
    assert error.problems[0].message.startswith("duplicate key")


def test_several_problems_one_line_each_in_file_order(tmp_path: Path) -> None:
    text = (
        MINIMAL.replace("department: cleaning", "department: nobody")
        .replace("respond: 4h", "respond: soon")
        .replace("location: {area: gate}", "location: {area: moon}")
    )
    # A field error stops cross-reference checks; fix it to see those together.
    error = load_error(tmp_path, text)
    assert [p.line for p in error.problems] == [line_of(text, "respond: soon")]
    text = text.replace("respond: soon", "respond: 4h")
    error = load_error(tmp_path, text)
    lines = str(error).splitlines()
    assert len(lines) == 2
    assert [p.line for p in error.problems] == [
        line_of(text, "department: nobody"),
        line_of(text, "area: moon"),
    ]


def test_error_names_the_path_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "estate.yaml").write_text(
        MINIMAL.replace("respond: 4h", "respond: x"), encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_config("deploy/estate.yaml")
    line = line_of(MINIMAL, "respond: 4h")
    assert str(caught.value).startswith(
        f"deploy/estate.yaml:{line}: categories[0].sla.normal.respond: invalid duration 'x'"
    )


def test_example_mistake_points_into_the_example(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "normal: {respond: 4h, resolve: 24h}\n", "normal: {respond: x, resolve: 24h}\n", 1
    )
    error = load_error(tmp_path, text)
    (problem,) = error.problems
    assert problem.line == line_of(text, "respond: x")
    assert problem.path == ("categories", 3, "sla", "normal", "respond")
    assert str(problem).endswith(
        "categories[3].sla.normal.respond: invalid duration 'x' "
        "(use e.g. 30s, 10m, 4h, 7d, 1h30m or whole seconds)"
    )


def test_empty_missing_and_non_utf8_files(tmp_path: Path) -> None:
    assert "empty" in str(load_error(tmp_path, "# nothing here\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"site:\n  name: caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems[0].line == 2


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    error = load_error(tmp_path, "- just\n- a list\n")
    assert error.problems[0].line == 1


# --- settings ------------------------------------------------------------------------

_ENV = (
    "DATABASE_URL",
    "MQTT_URL",
    "SUNLIGHT_DATA_DIR",
    "SUNLIGHT_CONFIG",
    "SUNLIGHT_SECRET_KEY",
    "SUNLIGHT_LOG_LEVEL",
)


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url is None
    assert settings.mqtt_url is None
    assert settings.data_dir == Path(".sunlight")
    assert settings.config_path == Path("deploy/estate.example.yaml")
    assert settings.secret_key is None
    assert settings.log_level == "INFO"


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/sunlight")
    monkeypatch.setenv("MQTT_URL", "mqtt://broker:1883")
    monkeypatch.setenv("SUNLIGHT_DATA_DIR", "/var/lib/sunlight")
    monkeypatch.setenv("SUNLIGHT_CONFIG", "/etc/sunlight/estate.yaml")
    monkeypatch.setenv("SUNLIGHT_SECRET_KEY", "s3cret")
    monkeypatch.setenv("SUNLIGHT_LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.database_url == "postgresql://u@db/sunlight"
    assert settings.mqtt_url == "mqtt://broker:1883"
    assert settings.data_dir == Path("/var/lib/sunlight")
    assert settings.config_path == Path("/etc/sunlight/estate.yaml")
    assert settings.secret_key == "s3cret"
    assert settings.log_level == "DEBUG"
    assert "s3cret" not in repr(settings)


def test_settings_empty_env_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "")
    assert Settings().database_url is None


def test_settings_by_field_name(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).data_dir == tmp_path


def test_settings_reject_bad_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUNLIGHT_LOG_LEVEL", "chatty")
    with pytest.raises(ValueError, match="SUNLIGHT_LOG_LEVEL"):
        Settings()
