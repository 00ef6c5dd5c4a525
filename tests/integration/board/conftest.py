"""Board fixtures: accounts of every role (made once per session), and an app per test on
the real PostgreSQL, each test on its own site id so duplicate linking never crosses tests."""

from __future__ import annotations

import io
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
from PIL import Image
from psycopg_pool import ConnectionPool

with warnings.catch_warnings():  # Starlette's note that httpx2 exists; httpx is what we have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from services.board.accounts import NewAccount, create_account, start_session
from services.board.app import create_app
from services.board.context import Board
from services.config import BoardOptions, EstateConfig, Settings, load_config
from services.tickets import Role
from tests.support.board_clients import BoardClients

ESTATE_FILE = Path(__file__).resolve().parents[3] / "deploy" / "estate.example.yaml"
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Account:
    id: str
    login: str
    token: str
    role: Role
    phone: str | None = None
    unit: str | None = None
    name: str = ""


@dataclass
class Accounts:
    by_name: dict[str, Account] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Account:
        return self.by_name[name]


# who exists in every test: name -> (role, staff number, display name, phone, building, unit)
PEOPLE: dict[str, tuple[Role, str | None, str, str | None, str | None, str | None]] = {
    "manager": (Role.MANAGER, None, "项目经理", None, None, None),
    "kefu": (Role.STAFF, "KF-002", "", None, None, None),
    "cleaner": (Role.STAFF, "BJ-002", "", None, None, None),
    "engineer": (Role.STAFF, "GC-003", "", None, None, None),
    "auditor": (Role.AUDITOR, None, "业委会审计", None, None, None),
    "resident_a": (Role.RESIDENT, None, "张三", "13800000001", "b3", "3-0801"),
    "resident_b": (Role.RESIDENT, None, "李四", "13900000002", "b3", "3-1202"),
}


@pytest.fixture(scope="session")
def estate() -> EstateConfig:
    return load_config(ESTATE_FILE)


def add_account(pool: ConnectionPool, estate: EstateConfig, name: str, role: Role, *,
                staff_id: str | None = None, display: str = "", phone: str | None = None,
                building: str | None = None, unit: str | None = None) -> Account:
    login = f"{name}-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    new = NewAccount(login, PASSWORD, role, staff_id=staff_id, name=display, phone=phone,
                     building=building, unit=unit)
    with pool.connection() as conn, conn.transaction():
        account = create_account(conn, estate, new, now)
        # each test has a site of its own, and these accounts serve them all: unbound, as
        # accounts made before estates were told apart (test_sites.py binds its own)
        conn.execute("UPDATE accounts SET site = NULL WHERE person_id = %s",
                     (account.person_id,))
    token, _ = start_session(pool, account, now, BoardOptions().session_ttl)
    return Account(account.person_id, login, token, role, phone, unit, account.display_name)


@pytest.fixture(scope="session")
def accounts(pool: ConnectionPool, estate: EstateConfig) -> Accounts:
    """One account per role (two residents), with a live session each."""
    made = Accounts()
    for name, (role, staff_id, display, phone, building, unit) in PEOPLE.items():
        made.by_name[name] = add_account(pool, estate, name, role, staff_id=staff_id,
                                         display=display, phone=phone, building=building,
                                         unit=unit)
    return made


@dataclass
class Site:
    """One board app on its own site id, and clients signed in as each account.

    Made, the app is started (its lifespan runs) and every client runs on its event loop;
    `close()`, or the end of a `with` block, stops it (see tests/support/board_clients.py)."""

    app: Any
    accounts: Accounts
    data_dir: Path
    # the client address of this site's clients: failed sign-ins are counted per address
    # across the database, so each test's clients come from an address of their own
    address: str = field(default_factory=lambda: f"10.{uuid.uuid4().int % 250}"
                         f".{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}")
    clients: BoardClients = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.clients = BoardClients(self.app)

    @property
    def board(self) -> Board:
        board: Board = self.app.state.board
        return board

    def client(self, **options: Any) -> TestClient:
        """A client of its own (`TestClient` options; `client`: its address and port, else
        this site's address) on this app's event loop."""
        options.setdefault("client", (self.address, 50000))
        return self.clients.client(**options)

    @property
    def anon(self) -> TestClient:
        return self.client()

    def as_(self, who: str | Account) -> TestClient:
        account = who if isinstance(who, Account) else self.accounts[who]
        return self.client(headers={"Authorization": f"Bearer {account.token}"})

    def close(self) -> None:
        """The app's shutdown (its lifespan's end); closing twice does nothing."""
        self.clients.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def make_site(pool: ConnectionPool, estate: EstateConfig, accounts: Accounts, data_dir: Path,
              **options: Any) -> Site:
    """A started board on a site id of its own: close it (`with make_site(...) as site:`)."""
    site_id = f"t{uuid.uuid4().hex[:10]}"
    local = estate.model_copy(update={"site": estate.site.model_copy(update={"id": site_id})})
    settings = Settings(data_dir=data_dir)
    app = create_app(settings, local, pool, options=BoardOptions(**options))
    return Site(app, accounts, data_dir)


@pytest.fixture
def site(pool: ConnectionPool, estate: EstateConfig, accounts: Accounts,
         tmp_path: Path) -> Iterator[Site]:
    with make_site(pool, estate, accounts, tmp_path, reports_per_hour=1000) as made:
        yield made


# --- test files -------------------------------------------------------------------------


def jpeg(width: int = 64, height: int = 48, color: str = "red", exif: Image.Exif | None = None) \
        -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG", exif=exif or Image.Exif())
    return out.getvalue()


def report(client: TestClient, *, category: str = "lighting", building: str | None = "b3",
           area: str = "stairwell", description: str = "楼道灯不亮",
           photos: list[bytes] | None = None) -> Any:
    data = {"category": category, "area": area, "description": description}
    if building:
        data["building"] = building
    files = [("media", (f"p{i}.jpg", content, "image/jpeg"))
             for i, content in enumerate(photos if photos is not None else [jpeg()])]
    return client.post("/api/reports", data=data, files=files or None)
