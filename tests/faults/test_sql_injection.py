"""SQL injection attempts in every field of every operation of the board (SPEC §7: bad
input of any kind gets a clear error and loses nothing already accepted).

The fields come from the app's own OpenAPI document, so a field or an operation added
later is attacked too: path and query parameters, JSON bodies, multipart form fields,
the sign-in, Open311 and the bulletin's routes. Each operation is sent with valid values
everywhere but one field, which carries a payload, by the role that may call it, on a
ticket brought to the state where the action is allowed (so a write can succeed and be
read back). For every request:

- no 5xx, and every 4xx is an RFC 9457 problem; no request takes long (pg_sleep never runs);
- a write that succeeds stored the text verbatim (read back from the API and the table),
  and every free-text field (2000 characters) does accept the storable payloads;
- a read filtered by a payload finds nothing, a sign-in with one never succeeds;
- afterwards every table is still there, no count went down, the only new tickets and
  accounts are the ones the test made, and another estate's rows are byte for byte intact.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from PIL import Image
from psycopg_pool import ConnectionPool

from services.board.app import create_app
from services.board.problems import PROBLEM_JSON
from services.config import BoardOptions, EstateConfig, Settings, load_config
from services.store import NewTicket
from services.tickets import Action, Actor, Channel, Command, Priority, Role, Source
from tests.integration.board.conftest import ESTATE_FILE, PASSWORD, Account, add_account
from tests.support.board_clients import BoardClients

pytestmark = pytest.mark.integration

SLOW_S = 2.5  # a payload that reached the database as SQL would sleep 3 s
NUL, LONE_SURROGATE = "\x00", "\ud800"
LONG_OK = ("' OR '1'='1" * 200)[:2000]  # as long as a free-text field takes
PAYLOADS: tuple[str, ...] = (
    "' OR '1'='1",
    "'; DROP TABLE tickets; --",
    '"; DROP TABLE people CASCADE; --',
    "Robert'); UPDATE accounts SET role = 'manager'; --",
    "' UNION SELECT password_hash, login, role, NULL FROM accounts --",
    "'||(SELECT string_agg(password_hash, ',') FROM accounts)||'",
    "1' AND (SELECT 1 FROM pg_sleep(3)) IS NULL; SELECT pg_sleep(3); --",
    "$$; DROP TABLE tickets; $$",
    "\\'; DROP TABLE tickets; --",
    "%' OR category LIKE '%",
    "’ OR ‘1’=‘1",  # typographic quotes
    "＇ OR ＇1＇＝＇1; DROP TABLE tickets; --",  # fullwidth apostrophes
    f"a{NUL}' OR '1'='1",
    f"{LONE_SURROGATE}' OR 1=1 --",
    LONG_OK,
    "'" * 100_000,
)
# where no text is expected (numbers, ids, dates, enumerations): fewer, as they all fail
SHORT_PAYLOADS = ("' OR '1'='1", "1 OR 1=1", "'; DROP TABLE tickets; --", f"1{NUL}",
                  "1; SELECT pg_sleep(3)")


def storable(payload: str, max_length: int) -> bool:
    """Whether a text field of this length must accept the payload: PostgreSQL text holds
    no NUL, UTF-8 no lone surrogate."""
    return NUL not in payload and LONE_SURROGATE not in payload and len(payload) <= max_length


# --- the operations and their fields, from the OpenAPI document ---------------------------


@dataclass(frozen=True)
class FieldSpec:
    where: str  # path, query, json, form
    name: str
    schema: dict[str, Any]
    required: bool

    @property
    def is_text(self) -> bool:
        return _accepts_text(self.schema)

    @property
    def max_length(self) -> int:
        found = [s.get("maxLength", 0) for s in _variants(self.schema)]
        return max(found, default=0)

    @property
    def free_text(self) -> bool:
        """A field for people's words (a note, a reason, a description): it must store them."""
        return self.where in ("json", "form") and self.is_text and self.max_length >= 1000 \
            and not any("pattern" in s for s in _variants(self.schema))


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    tag: str
    fields: tuple[FieldSpec, ...]
    files: tuple[FieldSpec, ...]  # multipart file parts
    body: str | None  # json, form or None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def action(self) -> str:
        """The last literal segment of a ticket action's path (`comment`, `send-back` …)."""
        return self.path.rstrip("/").rsplit("/", 1)[-1]


def _variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]


def _accepts_text(schema: dict[str, Any]) -> bool:
    return any(s.get("type") == "string" and "enum" not in s and "format" not in s
               and "contentMediaType" not in s for s in _variants(schema))


def _is_file(schema: dict[str, Any]) -> bool:
    for s in _variants(schema):
        item = s.get("items", s)
        if item.get("contentMediaType") or item.get("format") == "binary":
            return True
    return False


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _resolve(spec, spec["components"]["schemas"][name])
    if "anyOf" in schema:
        return {**schema, "anyOf": [_resolve(spec, s) for s in schema["anyOf"]]}
    if "items" in schema:
        return {**schema, "items": _resolve(spec, schema["items"])}
    return schema


def operations(spec: dict[str, Any]) -> list[Operation]:
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            fields = [FieldSpec(p["in"], p["name"], _resolve(spec, p.get("schema", {})),
                                p.get("required", False))
                      for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            files: list[FieldSpec] = []
            content = op.get("requestBody", {}).get("content", {})
            body = None
            for media_type, where in (("application/json", "json"),
                                      ("multipart/form-data", "form"),
                                      ("application/x-www-form-urlencoded", "form")):
                if media_type not in content:
                    continue
                body = where
                schema = _resolve(spec, content[media_type]["schema"])
                required = set(schema.get("required", []))
                for name, prop in schema.get("properties", {}).items():
                    spec_ = FieldSpec(where, name, _resolve(spec, prop), name in required)
                    (files if _is_file(spec_.schema) else fields).append(spec_)
            found.append(Operation(method.upper(), path, (op.get("tags") or ["?"])[0],
                                   tuple(fields), tuple(files), body))
    return found


# --- the estate, its people and tickets in every state -----------------------------------

REPORT_PLACE = {"category": "lighting", "building": "b3", "area": "stairwell"}
# who calls each part of the API (by its OpenAPI tag); the manager passes every staff rule
CALLER = {"resident": "resident", "staff": "manager", "manager": "manager", "open311": "resident",
          "auth": "resident", "media": "manager", "meta": None, "bulletin": None}
# the state a ticket must be in for the action at the end of its path
NEEDS = {"confirm": "pending", "reject": "reported", "accept": "reported", "verify": "accepted",
         "dispatch": "verified", "reassign": "dispatched", "start": "dispatched",
         "resolve": "in_progress", "mark-unresolvable": "accepted", "request-info": "reported",
         "comment": "reported", "close": "resolved", "send-back": "resolved",
         "duplicate-of": "reported", "info": "awaiting", "rating": "resolved",
         "reopen": "resolved"}
STEPS = {  # how a resident's report reaches each state, one command after the other
    "reported": (), "accepted": (Action.ACCEPT,), "verified": (Action.ACCEPT, Action.VERIFY),
    "dispatched": (Action.ACCEPT, Action.VERIFY, Action.DISPATCH),
    "in_progress": (Action.ACCEPT, Action.VERIFY, Action.DISPATCH, Action.START),
    "resolved": (Action.ACCEPT, Action.VERIFY, Action.DISPATCH, Action.START, Action.RESOLVE),
    "awaiting": (Action.REQUEST_INFO,),
}


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "white").save(out, "JPEG")
    return out.getvalue()


@dataclass
class Estate:
    """The board of one estate under attack, with a neighbouring estate in the same
    database whose rows must come through untouched."""

    app: Any
    estate: EstateConfig
    pool: ConnectionPool
    people: dict[str, Account]
    invitation: str = ""  # a code for building 3 with uses to spare, for joining
    neighbour_ticket: int = 0
    neighbour_person: str = ""
    made_tickets: set[int] = field(default_factory=set)
    made_people: set[str] = field(default_factory=set)
    spare: dict[str, list[int]] = field(default_factory=dict)
    clients: dict[str | None, Any] = field(default_factory=dict)
    counter: int = 0
    running: BoardClients = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.running = BoardClients(self.app)  # the lifespan runs; close() ends it

    def close(self) -> None:
        self.running.close()

    @property
    def site(self) -> str:
        return self.estate.site.id

    def client(self, who: str | None) -> Any:
        """A client signed in as `who` (None: anonymous); a 500 comes back as an answer."""
        if who not in self.clients:
            headers = {"Authorization": f"Bearer {self.people[who].token}"} if who else {}
            self.clients[who] = self.running.client(headers=headers,
                                                    raise_server_exceptions=False)
        return self.clients[who]

    def actor(self, who: str) -> Actor:
        account = self.people[who]
        return Actor(account.id, account.role, account.name)

    def unique(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}x{uuid.uuid4().hex[:6]}"

    # tickets in the state an action needs, made through the store's one write path

    def _open(self, *, machine: bool) -> int:
        now = datetime.now(UTC)
        source, channel, who = ((Source.CAMERA, Channel.DEVICE, None) if machine
                                else (Source.RESIDENT, Channel.WEB, "resident"))
        actor = Actor("vision", Role.SYSTEM, "vision") if who is None else self.actor(who)
        ticket = self.app.state.board.tickets.open(NewTicket(
            site=self.site, category="lighting", priority=Priority.NORMAL, source=source,
            channel=channel, description="楼道灯不亮", building="b3", area="stairwell",
            opened_at=now, sla=self.estate.sla_target("lighting", Priority.NORMAL),
            actor=actor, reporter_id=self.people["resident"].id if who else None,
            finding_key=self.unique("camera/") if machine else None,
        ), link_duplicates=False).ticket
        self.made_tickets.add(ticket.id)
        return int(ticket.id)

    def _step(self, ticket_id: int, action: Action) -> None:
        fields: dict[Action, dict[str, Any]] = {
            Action.DISPATCH: {"department": "engineering", "assignee": "GC-003"},
            Action.RESOLVE: {"note": "已更换灯泡", "photos": (f"media/{uuid.uuid4()}",)},
            Action.REQUEST_INFO: {"note": "请补充照片"},
        }
        extra = fields.get(action, {})
        self.app.state.board.tickets.change(
            ticket_id, Command(action, self.actor("manager"), datetime.now(UTC), **extra))

    def ticket_in(self, state: str) -> int:
        """A ticket in `state`: a spare one left as it was by a refused request, or new."""
        if self.spare.get(state):
            return self.spare[state].pop()
        ticket_id = self._open(machine=state == "pending")
        for action in STEPS.get(state, ()):
            self._step(ticket_id, action)
        return ticket_id

    def state_of(self, ticket_id: int) -> str:
        with self.pool.connection() as conn:
            state, awaiting = conn.execute(
                "SELECT state, awaiting_reporter_since IS NOT NULL FROM tickets WHERE id = %s",
                (ticket_id,)).fetchone() or ("gone", False)
        if awaiting:
            return "awaiting"
        return "pending" if state == "pending_confirmation" else str(state)

    def give_back(self, ticket_id: int, state: str) -> None:
        """Keep a ticket for the next case if the request left it where it was."""
        if self.state_of(ticket_id) == state:
            self.spare.setdefault(state, []).append(ticket_id)

    # what the database holds

    def texts_of_ticket(self, ticket_id: int) -> set[str]:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT description, reason, result_notes, rating_comment"
                               " FROM tickets WHERE id = %s", (ticket_id,)).fetchone() or ()
            notes = conn.execute(  # a note beside a reason is kept in `data`
                "SELECT note FROM ticket_history WHERE ticket_id = %(t)s UNION ALL"
                " SELECT d.value FROM ticket_history h, jsonb_each_text(h.data) d"
                " WHERE h.ticket_id = %(t)s", {"t": ticket_id}).fetchall()
            reports = conn.execute("SELECT description FROM ticket_reports WHERE ticket_id = %s",
                                   (ticket_id,)).fetchall()
        return {*row, *(n for (n,) in notes), *(d for (d,) in reports)}

    def texts_of_person(self, person_id: str) -> set[str]:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT display_name, phone, unit FROM people WHERE id = %s",
                               (person_id,)).fetchone()
        return {v for v in row or () if v is not None}

    def secrets_of(self, person_id: str) -> set[str]:
        with self.pool.connection() as conn:
            row = conn.execute("SELECT login, password_hash FROM accounts WHERE person_id = %s",
                               (person_id,)).fetchone()
        return set(row or ())

    def census(self) -> dict[str, Any]:
        """Every table with its row count; this estate's tickets and people; the
        neighbour's rows as one checksum."""
        with self.pool.connection() as conn:
            tables = [t for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema ="
                " 'public' AND table_type = 'BASE TABLE' ORDER BY table_name").fetchall()]
            counts = {t: conn.execute(f'SELECT count(*) FROM "{t}"'.encode()).fetchall()[0][0]
                      for t in tables}
            tickets = {i for (i,) in conn.execute("SELECT id FROM tickets WHERE site = %s",
                                                  (self.site,)).fetchall()}
            people = {p for (p,) in conn.execute("SELECT id FROM people").fetchall()}
            neighbour = conn.execute(
                "SELECT md5(t::text) || (SELECT md5(string_agg(h::text, '|' ORDER BY seq))"
                " FROM ticket_history h WHERE h.ticket_id = t.id)"
                " || (SELECT md5(p::text) FROM people p WHERE p.id = %s)"
                " || (SELECT md5(a::text) FROM accounts a WHERE a.person_id = %s)"
                " FROM tickets t WHERE t.id = %s",
                (self.neighbour_person, self.neighbour_person, self.neighbour_ticket),
            ).fetchall()[0][0]
        return {"counts": counts, "tickets": tickets, "people": people, "neighbour": neighbour}


@pytest.fixture(scope="module")
def cheap_password_hashes() -> Iterator[None]:
    """argon2id with its cost turned down for this module: the sign-in and account
    operations are attacked hundreds of times, and at the real cost (about 0.3 s a hash)
    that alone would take minutes. The same functions and database run; only the hash is
    cheaper, for accounts made here."""
    from argon2 import PasswordHasher

    from services.board import passwords

    saved = passwords._hasher, passwords._DUMMY_HASH
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords._DUMMY_HASH = passwords._hasher.hash(uuid.uuid4().hex)
    try:
        yield
    finally:
        passwords._hasher, passwords._DUMMY_HASH = saved


@pytest.fixture(scope="module")
def board(pool: ConnectionPool, tmp_path_factory: pytest.TempPathFactory,
          cheap_password_hashes: None) -> Iterator[Estate]:
    base = load_config(ESTATE_FILE)

    def estate_of(site: str) -> EstateConfig:
        return base.model_copy(update={"site": base.site.model_copy(update={"id": site})})

    estate = estate_of(f"sqli-{uuid.uuid4().hex[:8]}")
    neighbour = estate_of(f"sqli-next-{uuid.uuid4().hex[:8]}")
    people = {
        "resident": add_account(pool, estate, "sqli-resident", Role.RESIDENT, building="b3",
                                unit="3-0101", phone="13800000011", display="住户甲"),
        "manager": add_account(pool, estate, "sqli-manager", Role.MANAGER),
        "manager-next": add_account(pool, neighbour, "sqli-next-manager", Role.MANAGER),
        "resident-next": add_account(pool, neighbour, "sqli-next-resident", Role.RESIDENT,
                                     building="b1", unit="1-0101", phone="13900000012",
                                     display="邻居"),
    }
    options = BoardOptions(reports_per_hour=100_000, login_failures=100_000)
    data_dir = tmp_path_factory.mktemp("sqli")
    app = create_app(Settings(data_dir=data_dir), estate, pool, options=options)
    next_app = create_app(Settings(data_dir=data_dir / "next"), neighbour, pool,
                          options=options)
    board = Estate(app, estate, pool, people)
    try:
        next_board = Estate(next_app, neighbour, pool, people)
        try:
            board.neighbour_ticket = _neighbour_ticket(next_board)
        finally:
            next_board.close()
        board.neighbour_person = people["resident-next"].id
        invited = board.client("manager").post("/api/invitations",
                                               json={"building": "b3", "uses": 1000})
        assert invited.status_code == 201, invited.text
        board.invitation = invited.json()["code"]
        yield board
    finally:
        board.close()


def _neighbour_ticket(neighbour: Estate) -> int:
    """A report in the neighbouring estate, by its own resident, with some history."""
    created = neighbour.client("resident-next").post(
        "/api/reports", data={"category": "lighting", "building": "b1", "area": "lobby",
                              "description": "邻居小区：大堂灯不亮"})
    assert created.status_code == 201, created.text
    ticket_id = int(created.json()["id"])
    accepted = neighbour.client("manager-next").post(f"/api/tickets/{ticket_id}/accept",
                                                     json={"note": "已受理"})
    assert accepted.status_code == 200, accepted.text
    return ticket_id


# --- building and sending one request ----------------------------------------------------

# valid values for the fields that are not under attack (by "where:name", then "name")
VALID: dict[str, Any] = {
    "category": "lighting", "building": "b3", "area": "stairwell", "description": "楼道灯不亮",
    "note": "处理说明", "reason": "原因说明", "comment": "满意", "channel": "phone",
    "priority": "normal", "department": "engineering", "assignee": "GC-003",
    "service_code": "lighting", "address_id": "b3/stairwell", "password": PASSWORD,
    "json:name": "王五", "phone": "13800000013", "unit": "3-0202", "role": "auditor",
    "uses": 1, "valid_days": 30, "rating": 5, "week": "2026-W01", "slug": "upload",
    "path:name": "cam-1/finding/m1.jpg", "lang": "en", "status": "open", "limit": 10,
}
UTF8 = "utf-8"


def _encode(value: str) -> bytes:
    return value.encode(UTF8, "surrogatepass")  # a lone surrogate goes out as its bytes


def _fallback(spec: FieldSpec) -> Any:
    schema = _variants(spec.schema)[0] if _variants(spec.schema) else {}
    if "enum" in schema:
        return schema["enum"][0]
    return {"integer": 1, "boolean": True, "array": []}.get(schema.get("type", ""), "x")


def valid_value(board: Estate, op: Operation, spec: FieldSpec, ticket_id: int | None) -> Any:
    made: dict[str, Callable[[], Any]] = {
        "ticket_id": lambda: ticket_id or board.ticket_in("reported"),
        "request_id": lambda: ticket_id or board.ticket_in("reported"),
        "primary_id": lambda: board.ticket_in("reported"),
        "media_id": lambda: str(uuid.uuid4()),
        "code": lambda: board.invitation,
        # signing in: a real account, so the password is what is checked
        "login": lambda: board.people["resident"].login if op.path.endswith("/login")
        else board.unique("sqli"),
    }
    if spec.name in made:
        return made[spec.name]()
    known = [VALID[k] for k in (f"{spec.where}:{spec.name}", spec.name) if k in VALID]
    if known:
        return known[0]
    # required and unknown: something of its type; optional and unknown: left out
    return _fallback(spec) if spec.required or spec.where == "path" else None


def _multipart(fields: dict[str, Any], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in fields.items():
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                .encode()) + _encode(str(value)) + b"\r\n"
    for name, content in files:
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}";'
                f' filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n').encode()
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


@dataclass
class Sent:
    status: int
    body: Any
    content_type: str
    seconds: float
    ticket_id: int | None


URL_MAX = 10_000  # clients and servers cap URLs (httpx at 64 KB): longer goes in bodies


def send(board: Estate, op: Operation, attacked: FieldSpec, payload: Any) -> Sent:
    if attacked.where in ("path", "query"):
        payload = payload[:URL_MAX]
    ticket_id = None
    if "{ticket_id}" in op.path or "{request_id}" in op.path:
        ticket_id = board.ticket_in(NEEDS.get(op.action, "reported"))
    values: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "json": {}, "form": {}}
    for spec in op.fields:
        value = payload if spec is attacked else valid_value(board, op, spec, ticket_id)
        if value is not None:
            values[spec.where][spec.name] = value
    url = op.path
    for name, value in values["path"].items():
        url = url.replace("{" + name + "}", quote(_encode(str(value)), safe=""))
    query = "&".join(f"{quote(name)}={quote(_encode(str(v)), safe='')}"
                     for name, value in values["query"].items()
                     for v in (value if isinstance(value, list) else [value]))
    if query:
        url += "?" + query
    headers: dict[str, str] = {}
    content = None
    if op.body == "json":
        content = json.dumps(values["json"], ensure_ascii=True).encode()
        headers["Content-Type"] = "application/json"
    elif op.body == "form":
        files = [(f.name, _jpeg()) for f in op.files if f.required]
        content, headers["Content-Type"] = _multipart(values["form"], files)
    client = board.client(CALLER.get(op.tag, "manager"))
    start = time.perf_counter()
    response = client.request(op.method, url, content=content, headers=headers)
    seconds = time.perf_counter() - start
    content_type = response.headers.get("content-type", "")
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if ticket_id is not None:
        board.give_back(ticket_id, NEEDS.get(op.action, "reported"))
    return Sent(response.status_code, body, content_type, seconds, ticket_id)


# --- judging what came back ---------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _rows(body: Any) -> list[Any] | None:
    """The rows a list answer holds (a page's items, Open311's list), or None."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return list(body["items"])
    return None


# the fields of a person that are kept as given (the others: ids checked against the
# estate, a role, or nothing at all, like an auditor's staff number)
PERSON_FIELDS = frozenset({"name", "unit", "phone"})


def _ticket_of(body: Any, sent: Sent) -> int | None:
    if sent.ticket_id is not None:
        return sent.ticket_id
    if isinstance(body, dict) and isinstance(body.get("id"), int) and "ticket" in body:
        return int(body["id"])  # a new report or offline report
    if isinstance(body, list) and body and "service_request_id" in body[0]:
        return int(body[0]["service_request_id"])  # Open311
    return None


def _note_new_ticket(board: Estate, body: Any) -> None:
    if isinstance(body, dict) and "ticket" in body and not body.get("linked"):
        board.made_tickets.add(int(body["id"]))
    if isinstance(body, list) and body and body[0].get("service_notice") == "received":
        board.made_tickets.add(int(body[0]["service_request_id"]))


def read_back(board: Estate, spec: FieldSpec, sent: Sent, payload: str) -> list[str]:
    """Where a successful write should hold the payload, and whether it does: the table,
    and the API (the manager reads every ticket whole; a new account reads itself). A
    password must be the one thing not kept as given."""
    problems = []
    body = sent.body
    _note_new_ticket(board, body)
    ticket_id = _ticket_of(body, sent)
    if ticket_id is not None:
        if spec.free_text:
            if payload not in board.texts_of_ticket(ticket_id):
                problems.append("not stored verbatim in the ticket's rows")
            shown = board.client("manager").get(f"/api/tickets/{ticket_id}").json()
            if payload not in set(_strings(shown)):
                problems.append("not read back verbatim from GET /api/tickets/{id}")
        return problems
    person = body.get("user", body).get("id") if isinstance(body, dict) else None
    if not isinstance(person, str):
        return ["succeeded, but the test cannot tell where it was stored: teach read_back"]
    board.made_people.add(person)
    kept = board.texts_of_person(person) | board.secrets_of(person)
    if spec.name == "password":
        if payload in kept:
            problems.append("a password was stored as given")
    elif spec.name in PERSON_FIELDS:
        if payload not in kept:
            problems.append("not stored verbatim in the person's row")
        token = body.get("token")
        if token:
            me = board.client(None).get("/api/auth/me",
                                        headers={"Authorization": f"Bearer {token}"}).json()
            if payload not in set(_strings(me)):
                problems.append("not read back verbatim from GET /api/auth/me")
    return problems


def judge(board: Estate, op: Operation, spec: FieldSpec, payload: str, sent: Sent) \
        -> list[str]:
    problems = []
    if sent.status >= 500:
        problems.append(f"answered {sent.status}: {str(sent.body)[:160]}")
    elif sent.status >= 400 and (
            sent.content_type != PROBLEM_JSON or not isinstance(sent.body, dict)
            or not {"type", "title", "status", "detail"} <= set(sent.body)):
        problems.append(f"{sent.status} is not a problem+json: {str(sent.body)[:120]}")
    if sent.seconds > SLOW_S:
        problems.append(f"took {sent.seconds:.1f} s (did SQL run?)")
    if 200 <= sent.status < 300:
        if op.path == "/api/auth/login":
            problems.append("signed in with an injection payload")
        elif op.method == "GET":
            rows = _rows(sent.body)
            if rows is None or rows:
                problems.append(f"a read filtered by the payload found {str(rows)[:120]}")
        else:
            problems += read_back(board, spec, sent, payload)
    elif spec.free_text and storable(payload, spec.max_length) and op.method != "GET":
        problems.append(f"a free-text field refused a storable text ({sent.status}:"
                        f" {str(sent.body)[:160]})")
    return problems


def attack(board: Estate, ops: list[Operation]) -> list[str]:
    failures = []
    for op in ops:
        for spec in op.fields:
            payloads = PAYLOADS if spec.is_text else SHORT_PAYLOADS
            if spec.where == "form":  # a lone surrogate exists in JSON only: a form's bytes
                payloads = tuple(p for p in payloads if LONE_SURROGATE not in p)  # are UTF-8
            for payload in payloads:
                sent = send(board, op, spec, payload)
                for problem in judge(board, op, spec, payload, sent):
                    failures.append(f"{op.label} {spec.where}:{spec.name}"
                                    f" <- {payload[:40]!r}: {problem}")
    return failures


# --- the tests ---------------------------------------------------------------------------


@pytest.fixture
def census(board: Estate) -> Iterator[None]:
    """Before and after each test: no table gone, no count down, only the test's own
    tickets and people new, the neighbouring estate's rows unchanged."""
    before = board.census()
    made_tickets, made_people = set(board.made_tickets), set(board.made_people)
    yield
    after = board.census()
    assert set(after["counts"]) == set(before["counts"]), "a table was dropped or added"
    shrunk = {t: (before["counts"][t], n) for t, n in after["counts"].items()
              if n < before["counts"][t]}
    assert not shrunk, f"rows were deleted: {shrunk}"
    assert after["tickets"] - before["tickets"] == board.made_tickets - made_tickets
    assert after["people"] - before["people"] == board.made_people - made_people
    assert before["tickets"] <= after["tickets"] and before["people"] <= after["people"]
    assert after["neighbour"] == before["neighbour"], "the other estate's rows changed"


def _ops(board: Estate) -> list[Operation]:
    return [op for op in operations(board.app.openapi()) if op.fields]


GROUPS: dict[str, Callable[[Operation], bool]] = {
    "reads": lambda op: op.method == "GET",
    "sign-in-and-accounts": lambda op: op.method != "GET" and op.tag in ("auth", "manager"),
    "reports-and-open311": lambda op: op.method != "GET" and op.tag in ("resident", "open311"),
    "staff-actions": lambda op: op.method != "GET" and op.tag == "staff",
    "any-other-writes": lambda op: op.method != "GET" and op.tag not in (
        "auth", "manager", "resident", "open311", "staff"),
}


@pytest.mark.parametrize("group", list(GROUPS))
@pytest.mark.usefixtures("census")
def test_injection_payloads_in_every_field(board: Estate, group: str) -> None:
    ops = [op for op in _ops(board) if GROUPS[group](op)]
    failures = attack(board, ops)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:60])


def test_every_field_of_the_schema_is_attacked(board: Estate) -> None:
    """The groups above leave no operation out, and the free-text fields that must store
    what people write are the ones expected (a new one joins them by itself)."""
    ops = _ops(board)
    grouped = [op for op in ops if sum(bool(g(op)) for g in GROUPS.values()) == 1]
    assert grouped == ops
    free = {(op.label, f.name) for op in ops for f in op.fields if f.free_text}
    assert {("POST /api/reports", "description"),
            ("POST /open311/v2/requests.json", "description"),
            ("POST /api/tickets/{ticket_id}/comment", "note"),
            ("POST /api/tickets/{ticket_id}/resolve", "note"),
            ("POST /api/reports/{ticket_id}/rating", "comment")} <= free
    assert any(op.path.startswith("/bulletin/{week}") for op in ops)
    assert any(f.name == "password" for op in ops for f in op.fields)


@pytest.mark.usefixtures("census")
def test_open311_and_the_ticket_list_show_only_this_estates_tickets(board: Estate) -> None:
    """However a filter is bent, a list never reaches another estate's tickets."""
    mine = board.census()["tickets"]
    for query in ("service_code=' OR '1'='1", "service_code=lighting' OR site<>'x",
                  "status=open&service_code=%25", "service_request_id=1,2,3"):
        listed = board.client("resident").get(f"/open311/v2/requests.json?{query}")
        assert listed.status_code in (200, 422), listed.text
        if listed.status_code == 200:
            ids = {int(r["service_request_id"]) for r in listed.json()}
            assert ids <= mine and board.neighbour_ticket not in ids
    every = board.client("manager").get("/api/tickets?limit=200&category=lighting").json()
    assert board.neighbour_ticket not in {t["id"] for t in every["items"]}


def _browser(board: Estate, page: str, who: str | None) -> tuple[Any, dict[str, str]]:
    """A browser on one of the pages: its cookies, this site's Origin, and the hidden
    fields of the page's form (the CSRF token among them)."""
    client = board.running.client(raise_server_exceptions=False, follow_redirects=False,
                                  headers={"Origin": "http://testserver",
                                           "Accept": "text/html,application/xhtml+xml"})
    if who is not None:
        client.cookies.set("sunlight_session", board.people[who].token)
    shown = client.get(page)
    assert shown.status_code == 200, shown.status_code
    return client, dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                                   shown.text))


@pytest.mark.usefixtures("census")
def test_the_pages_forms_take_the_same_payloads(board: Estate) -> None:
    """The web pages post forms to the same functions: a payload in the report form is
    stored verbatim, or refused as a page (NUL), and one in the sign-in form signs nobody in."""
    payloads = ("' OR '1'='1", "'; DROP TABLE tickets; --", "’ OR ‘1’=‘1", LONG_OK,
                f"a{NUL}' OR '1'='1")
    for payload in payloads:
        browser, hidden = _browser(board, "/report", "resident")
        sent = browser.post("/report", data={**hidden, "category": "lighting",
                                             "place": "b3:stairwell", "description": payload})
        if storable(payload, 2000):
            assert sent.status_code == 303, (payload[:30], sent.status_code, sent.text[:300])
            found = re.fullmatch(r"/reports/(\d+)\?done=(reported|linked)",
                                 sent.headers["location"])
            assert found, sent.headers["location"]
            if found.group(2) == "reported":
                board.made_tickets.add(int(found.group(1)))
            assert payload in board.texts_of_ticket(int(found.group(1)))
        else:
            assert sent.status_code == 422 and "text/html" in sent.headers["content-type"]
            assert "无法保存" in sent.text
        signing_in, hidden = _browser(board, "/login", None)
        login = signing_in.post("/login", data={**hidden, "login": payload,
                                                "password": payload})
        assert 400 <= login.status_code < 500 and "sunlight_session" not in login.cookies
