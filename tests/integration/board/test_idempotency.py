"""A report sent with an Idempotency-Key is filed once however often it is sent: a retry
gets the same ticket back, marked as replayed; a key reused for another report is refused.

The residents here are the module's own: the per-hour report limit counts a person's
reports on every site, and the shared residents' limit belongs to the tests that test it."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from services.config import EstateConfig
from services.tickets import Role

from .conftest import Account, Accounts, Site, add_account, jpeg, make_site

FIELDS = {"category": "lighting", "building": "b3", "area": "stairwell"}


@pytest.fixture(scope="module")
def residents(pool: ConnectionPool, estate: EstateConfig) -> dict[str, Account]:
    return {name: add_account(pool, estate, name, Role.RESIDENT, display=name,
                              phone=f"1370000000{i}", building="b3", unit=f"3-010{i}")
            for i, name in enumerate(("keyed_a", "keyed_b"))}


def send(site: Site, who: str | Account, key: str | None, description: str,
         photos: list[bytes] | None = None) -> Any:
    headers = {"Idempotency-Key": key} if key is not None else {}
    files = [("media", (f"p{i}.jpg", p, "image/jpeg")) for i, p in enumerate(photos or [])]
    return site.as_(who).post("/api/reports", data=FIELDS | {"description": description},
                              files=files or None, headers=headers)


def filings(pool: ConnectionPool, description: str) -> list[int]:
    with pool.connection() as conn:
        rows = conn.execute("SELECT ticket_id FROM ticket_reports WHERE description = %s",
                            (description,)).fetchall()
    return [int(r[0]) for r in rows]


def media_count(pool: ConnectionPool, ticket_id: int) -> int:
    with pool.connection() as conn:
        row = conn.execute("SELECT count(*) FROM media WHERE ticket_id = %s",
                           (ticket_id,)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_retry_with_the_key_gets_the_same_ticket_and_files_nothing(
        site: Site, pool: ConnectionPool, residents: dict[str, Account]) -> None:
    key, description = str(uuid.uuid4()), f"灯不亮 {uuid.uuid4().hex[:6]}"
    photos = [jpeg(color="red"), jpeg(color="blue")]
    first = send(site, residents["keyed_a"], key, description, photos)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = send(site, residents["keyed_a"], key, description, photos)
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["linked"] == first.json()["linked"]
    assert filings(pool, description) == [first.json()["id"]]
    assert media_count(pool, first.json()["id"]) == 2  # the retry's photos were not kept
    files = sorted(p.name for p in (site.data_dir / "media").rglob("*") if p.is_file())
    assert len(files) == 2, files


def test_without_a_key_a_second_send_is_a_second_report(
        site: Site, pool: ConnectionPool, residents: dict[str, Account]) -> None:
    description = f"灯不亮 {uuid.uuid4().hex[:6]}"
    ids = [send(site, residents["keyed_a"], None, description).json()["id"] for _ in range(2)]
    assert filings(pool, description) == ids  # the second was linked to the first's ticket


def test_a_key_reused_for_another_report_is_refused(
        site: Site, pool: ConnectionPool, residents: dict[str, Account]) -> None:
    key = str(uuid.uuid4())
    first = send(site, residents["keyed_a"], key, f"灯不亮 {uuid.uuid4().hex[:6]}")
    assert first.status_code == 201
    other = f"另一个问题 {uuid.uuid4().hex[:6]}"
    refused = send(site, residents["keyed_a"], key, other)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    [error] = refused.json()["errors"]
    assert error["in"] == "header" and error["field"] == "Idempotency-Key"
    assert filings(pool, other) == []
    # the same photo bytes are part of the request: another photo is another report
    assert send(site, residents["keyed_a"], key, first.json()["ticket"]["description"],
                [jpeg()]).status_code == 422


def test_keys_are_per_person(site: Site, pool: ConnectionPool,
                             residents: dict[str, Account]) -> None:
    key, description = str(uuid.uuid4()), f"灯不亮 {uuid.uuid4().hex[:6]}"
    a = send(site, residents["keyed_a"], key, description)
    b = send(site, residents["keyed_b"], key, description)
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers
    assert len(filings(pool, description)) == 2


def test_retries_at_the_same_time_file_once(site: Site, pool: ConnectionPool,
                                           residents: dict[str, Account]) -> None:
    key, description = str(uuid.uuid4()), f"灯不亮 {uuid.uuid4().hex[:6]}"
    answers: list[Any] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        answers.append(send(site, residents["keyed_a"], key, description, [jpeg()]))

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 3
    [ticket_id] = filings(pool, description)
    assert media_count(pool, ticket_id) == 1


def test_a_retry_is_not_held_to_the_report_limit(pool: ConnectionPool, estate: EstateConfig,
                                                 accounts: Accounts, tmp_path: Path) -> None:
    with make_site(pool, estate, accounts, tmp_path, reports_per_hour=1) as site:
        newcomer = add_account(pool, estate, "newcomer", Role.RESIDENT, display="王五",
                               phone="13700000003", building="b3", unit="3-0303")
        key, description = str(uuid.uuid4()), f"灯不亮 {uuid.uuid4().hex[:6]}"
        first = send(site, newcomer, key, description)
        assert first.status_code == 201, first.text
        again = send(site, newcomer, key, description)
        assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
        assert send(site, newcomer, str(uuid.uuid4()), description).status_code == 429


def test_the_key_is_documented_and_checked(site: Site,
                                          residents: dict[str, Account]) -> None:
    operation = site.anon.get("/openapi.json").json()["paths"]["/api/reports"]["post"]
    [header] = [p for p in operation["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key" and not header.get("required", False)
    assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
    refused = send(site, residents["keyed_a"], "not a key: it has spaces", "灯不亮")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["in"] == "header"


def test_open311_takes_the_key_too(site: Site, pool: ConnectionPool,
                                   residents: dict[str, Account]) -> None:
    key, description = str(uuid.uuid4()), f"楼道灯坏了 {uuid.uuid4().hex[:6]}"
    client = site.as_(residents["keyed_b"])
    form = {"service_code": "lighting", "address_id": "b3/stairwell",
            "description": description}
    answers = [client.post("/open311/v2/requests.json", data=form,
                           headers={"Idempotency-Key": key}) for _ in range(2)]
    assert [a.status_code for a in answers] == [201, 201], answers[0].text
    ids = {a.json()[0]["service_request_id"] for a in answers}
    assert len(ids) == 1 and filings(pool, description) == [int(ids.pop())]
    assert "Idempotent-Replayed" not in answers[0].headers
    assert answers[1].headers["Idempotent-Replayed"] == "true"
