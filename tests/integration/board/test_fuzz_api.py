"""Schemathesis against the board's own OpenAPI schema: generated requests to every
operation, as a staff member, as a resident and anonymously, against a board served on a
real port, must never get a server error, and status codes and content types must be the
ones the schema promises. Runs the `schemathesis` command itself (a dev dependency)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from psycopg_pool import ConnectionPool

from services.config import EstateConfig, Settings
from services.stack.board import RunningBoard, start_board
from services.tickets import Role

from .conftest import Account, add_account

pytestmark = pytest.mark.integration
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance"


@pytest.fixture(scope="module")
def served(pool: ConnectionPool, estate: EstateConfig, database_url: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBoard]:
    # its own site: what the fuzzer files stays out of other tests' way
    local = estate.model_copy(update={"site": estate.site.model_copy(
        update={"id": f"fuzz-{uuid.uuid4().hex[:8]}"})})
    board = start_board(Settings(data_dir=tmp_path_factory.mktemp("fuzz")), local,
                        database_url)
    try:
        yield board
    finally:
        board.stop()


@pytest.fixture(scope="module")
def own_accounts(pool: ConnectionPool, estate: EstateConfig) -> dict[str, Account]:
    """Accounts of its own: the fuzzer signs out (revoking the session it is given), which
    must not sign out the accounts the other board tests share."""
    return {"staff": add_account(pool, estate, "fuzz-staff", Role.STAFF, staff_id="AB-005"),
            "resident": add_account(pool, estate, "fuzz-resident", Role.RESIDENT,
                                    building="b2", unit="2-0101")}


@pytest.mark.parametrize("who", ["staff", "resident", None],
                         ids=["staff", "resident", "anonymous"])
def test_generated_requests_never_fail_the_board(served: RunningBoard,
                                                 own_accounts: dict[str, Account],
                                                 who: str | None, tmp_path: Path) -> None:
    binary = shutil.which("schemathesis", path=str(Path(__file__).parents[3] / ".venv/bin"))
    binary = binary or shutil.which("schemathesis")
    assert binary, "schemathesis is a dev dependency: make install"
    command = [binary, "run", f"{served.url}/openapi.json", "--checks", CHECKS,
               "--max-examples", "15", "--seed", "7", "--request-timeout", "20",
               "--suppress-health-check", "all", "--phases", "examples,coverage,fuzzing"]
    if who is not None:
        auth = f"Bearer {own_accounts[who].token}"
        me = httpx.get(f"{served.url}/api/auth/me", headers={"Authorization": auth}, timeout=10)
        assert me.status_code == 200, me.text  # the fuzzing runs signed in
        command += ["--header", f"Authorization: {auth}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
