"""The published bulletin in real headless Chromium: the phone page (DOM and screenshot)
and the A4 print layout (PDF with its text read back), plus every public format checked
for personal data."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from psycopg_pool import ConnectionPool

from services.bulletin.publish import last_due_week, publish
from services.config import EstateConfig, Settings, load_config
from services.stack.board import RunningBoard, start_board
from services.stack.demo_history import seed_week
from services.tickets.chain import verify_chain
from tests.support import browser

pytestmark = pytest.mark.integration
BASE = load_config("deploy/estate.example.yaml")
PERSONAL = {"name": "欧阳秘密", "phone": "13700001234", "unit": "5-0902"}


@pytest.fixture(scope="module")
def published(pool: ConnectionPool, database_url: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[tuple[RunningBoard, str, dict]]:
    site = BASE.site.model_copy(update={"id": f"pages-{uuid.uuid4().hex[:8]}"})
    estate: EstateConfig = BASE.model_copy(update={"site": site})
    now = datetime.now(UTC)
    week = last_due_week(estate, now)
    with pool.connection() as conn:  # the demo resident, with personal data to leak
        conn.execute("INSERT INTO people (id, role, display_name, phone, unit) VALUES"
                     " ('demo-resident', 'resident', %s, %s, %s) ON CONFLICT (id) DO UPDATE"
                     " SET display_name = EXCLUDED.display_name, phone = EXCLUDED.phone,"
                     " unit = EXCLUDED.unit",
                     (PERSONAL["name"], PERSONAL["phone"], PERSONAL["unit"]))
    seed_week(pool, estate, week)
    document = publish(pool, estate, week, now=now).document
    settings = Settings(data_dir=tmp_path_factory.mktemp("board"))
    board = start_board(settings, estate, database_url)
    try:
        yield board, week, document
    finally:
        board.stop()


def test_every_public_format_is_free_of_personal_data(published) -> None:
    board, week, document = published
    bodies = [httpx.get(f"{board.url}/bulletin/{week}{suffix}", timeout=10).text
              for suffix in ("", "?lang=en", "/print", "/print?lang=en", "/text",
                             "/text?lang=en", "/data.json")]
    bodies.append(httpx.get(f"{board.url}/bulletin/chain.json", timeout=10).text)
    for body in bodies:
        for value in (*PERSONAL.values(), "demo-resident"):
            assert value not in body
    chain = httpx.get(f"{board.url}/bulletin/chain.json", timeout=10).json()
    assert verify_chain(chain, week=week, anchor=document["hash"]) == []
    assert httpx.get(f"{board.url}/bulletin/2020-W99", timeout=10).status_code == 422
    missing = httpx.get(f"{board.url}/bulletin/2020-W10", timeout=10)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_the_phone_page_renders_in_chromium(published, tmp_path: Path) -> None:
    board, week, document = published
    url = f"{board.url}/bulletin/{week}"
    page = browser.dom(url, tmp_path / "profile")
    numbers = [t["number"] for t in document["content"]["tickets"]]
    assert "阳光花园" in page and week in page and document["hash"] in page
    assert all(f'id="t{n}"' in page for n in numbers)
    assert "摄像头发现" in page and "居民报告" in page and "传感器发现" in page
    assert "lamp-b1-s3" in page and "建议更换" in page  # the hot spot
    assert page.count("<svg") >= 2  # the two charts
    english = browser.dom(url + "?lang=en", tmp_path / "profile")
    assert "Weekly exposure bulletin" in english and "found by machines" in english
    shot = browser.screenshot(url, tmp_path / "page.png", tmp_path / "profile")
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[1] == 390
    assert float(np.std(image)) > 20  # drawn, not blank


def test_the_print_layout_prints_to_a4_with_a_qr_code(published, tmp_path: Path) -> None:
    board, week, document = published
    url = f"{board.url}/bulletin/{week}/print"
    text = browser.pdf_text(url, tmp_path / "print.pdf", tmp_path / "profile")
    assert week in text and "每周曝光台" in text and "扫码查看在线版" in text
    assert document["hash"][:32] in text.replace("\n", "").replace(" ", "")
    page = browser.dom(url, tmp_path / "profile")
    assert page.count("<svg") >= 3  # the QR code and the two charts
    shot = browser.screenshot(url, tmp_path / "print.png", tmp_path / "profile",
                              size=(794, 1123))  # A4 at 96 dpi
    qr = cv2.QRCodeDetector().detectAndDecode(cv2.imread(str(shot)))[0]
    assert qr == f"{BASE.site.public_url.rstrip('/')}/bulletin/{week}"
    (tmp_path / "document.json").write_text(json.dumps(document, ensure_ascii=False))
