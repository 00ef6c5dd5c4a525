"""The rooms of the house and what each may import, read from the AST of every module.

The rule, as the code keeps it:

- The base every service stands on is `tickets` (the pure domain), `contract` (the wire
  format), `config` (settings and the estate) and `store` (all the SQL), plus three
  single modules: `mqtt` (the MQTT link), `logs` and `runtime` (what every entry point
  shares). Within the base, `tickets` and `contract` import nothing of services, `config`
  only those two, `store` only those three.
- The services (`board`, `bulletin`, `ingest`, `vision`, `devices`, `jobs`) import the
  base and never each other, except for these edges, each for a reason:
  `board` → `bulletin` (it serves the published bulletin and the draft's review), and
  `jobs` → `bulletin` (it drafts and seals the weekly bulletin on schedule).
  The board does not import the jobs: whoever starts a board worker hands it the jobs to
  run (services.board.app.JobsStarter).
- Composition roots wire the rooms together: `cli` (every `sunlight` command) may import
  anything, `stack` (`sunlight up`'s embedded servers and demo) may import `board` (it
  runs the board in a thread).
- `edge` runs on a gateway without the services: it imports only `services.contract` and
  `services.mqtt`. Of services, only `cli` and `stack` import `edge`.
- SQL is written only in `services/store` (and in the edge's own SQLite queue,
  edge/outbox.py, which may not import the store): a string constant elsewhere that
  looks like SQL fails the test.

A new room must be added to MAY_IMPORT below, with what it may import.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.unit.test_domain_purity import imported_modules

ROOT = Path(__file__).parents[2]
SERVICES = ROOT / "services"
EDGE = ROOT / "edge"

BASE = frozenset({"tickets", "contract", "config", "store", "mqtt", "logs", "runtime"})
ROOMS = frozenset({"board", "bulletin", "ingest", "vision", "devices", "jobs", "stack",
                   "cli"})
MAY_IMPORT: dict[str, frozenset[str]] = {
    "tickets": frozenset(),
    "contract": frozenset(),
    "config": frozenset({"tickets", "contract"}),
    "store": frozenset({"tickets", "contract", "config"}),
    "mqtt": frozenset(),
    "logs": frozenset(),
    "runtime": frozenset({"store"}),
    "board": BASE | {"bulletin"},
    "bulletin": BASE,
    "ingest": BASE,
    "vision": BASE,
    "devices": BASE,
    "jobs": BASE | {"bulletin"},
    "stack": BASE | {"board"},
    "cli": BASE | ROOMS,
}
EDGE_MAY_IMPORT = frozenset({"services.contract", "services.mqtt"})
MAY_IMPORT_EDGE = frozenset({"cli", "stack"})
# where SQL may be written: the store, and the gateway's own SQLite queue
SQL_HOMES = (SERVICES / "store", EDGE / "outbox.py")
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE)\b")


def room_of(path: Path) -> str:
    """services/board/app.py -> board; services/mqtt.py -> mqtt."""
    return path.relative_to(SERVICES).parts[0].removesuffix(".py")


def service_sources() -> list[Path]:
    return sorted(p for p in SERVICES.rglob("*.py") if p != SERVICES / "__init__.py")


def wrong_imports(room: str, source: str) -> list[str]:
    """The imports of a module of `room` that the rule does not allow."""
    allowed = MAY_IMPORT[room] | {room}
    problems = []
    for line, name in imported_modules(ast.parse(source)):
        parts = name.split(".")
        other_room = parts[0] == "services" and len(parts) > 1 and parts[1] not in allowed
        edge = parts[0] == "edge" and room not in MAY_IMPORT_EDGE
        if other_room or edge:
            problems.append(f"line {line}: {room} imports {name}")
    return problems


def wrong_edge_imports(source: str) -> list[str]:
    return [f"line {line}: the edge imports {name}"
            for line, name in imported_modules(ast.parse(source))
            if name.split(".")[0] == "services"
            and not any(name == m or name.startswith(f"{m}.") for m in EDGE_MAY_IMPORT)]


def sql_in(source: str) -> list[str]:
    """String constants (f-strings' parts too) that look like SQL."""
    return [f"line {node.lineno}: {' '.join(node.value.split())[:60]}"
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and SQL.search(node.value)]


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_every_room_is_placed() -> None:
    assert {room_of(p) for p in service_sources()} == set(MAY_IMPORT)


@pytest.mark.parametrize("path", service_sources(), ids=_id)
def test_services_import_only_what_their_room_may(path: Path) -> None:
    assert wrong_imports(room_of(path), path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", sorted(EDGE.rglob("*.py")), ids=_id)
def test_the_edge_imports_only_the_contract_and_the_mqtt_link(path: Path) -> None:
    assert wrong_edge_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "path",
    [p for p in [*service_sources(), *sorted(EDGE.rglob("*.py"))]
     if not any(p == home or home in p.parents for home in SQL_HOMES)],
    ids=_id)
def test_only_the_store_writes_sql(path: Path) -> None:
    assert sql_in(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(("room", "source"), [
    ("board", "from services.jobs.scheduler import start_scheduler"),
    ("board", "def f():\n    from services.ingest.processor import Processor\n"),
    ("ingest", "import services.vision.service"),
    ("bulletin", "from services.board.audit import by_operator"),
    ("jobs", "from services.board.app import create_app"),
    ("store", "from services.bulletin.publish import publish"),
    ("tickets", "from services.store import TicketStore"),
    ("config", "from services.store.db import open_pool"),
    ("devices", "from edge.config import EdgeConfig"),
    ("stack", "from services.ingest.service import IngestService"),
])
def test_the_checker_catches_a_forbidden_import(room: str, source: str) -> None:
    assert wrong_imports(room, source)


@pytest.mark.parametrize(("room", "source"), [
    ("board", "from services.bulletin.html import render"),
    ("jobs", "from services.bulletin.schedule import publish_due"),
    ("ingest", "from services.store import TicketStore\nfrom services.mqtt import connect"),
    ("cli", "from services.vision.service import VisionService\nfrom edge.agent import Agent"),
    ("board", "from services.board.app import create_app"),
])
def test_the_checker_allows_what_the_rule_allows(room: str, source: str) -> None:
    assert wrong_imports(room, source) == []


@pytest.mark.parametrize(("source", "wrong"), [
    ("from services.contract import topic", False),
    ("from services.mqtt import BrokerAddress", False),
    ("from services.config import Settings", True),
    ("import services.store.db", True),
    ("from services.contractual import x", True),
])
def test_the_checker_holds_the_edge_to_its_two_imports(source: str, wrong: bool) -> None:
    assert bool(wrong_edge_imports(source)) is wrong


@pytest.mark.parametrize(("source", "found"), [
    ('q = "SELECT id FROM tickets WHERE site = %s"', True),
    ('conn.execute("INSERT INTO people (id) VALUES (%s)")', True),
    ('q = f"UPDATE tickets SET state = {s!r}"', True),
    ('q = "DELETE FROM sessions WHERE expires_at < now()"', True),
    ('q = "CREATE TABLE t (id int)"', True),
    ('label = "select a building"', False),
    ('note = "the tickets to update"', False),
])
def test_the_checker_finds_sql(source: str, found: bool) -> None:
    assert bool(sql_in(source)) is found
