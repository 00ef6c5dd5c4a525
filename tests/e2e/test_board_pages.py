"""The board's web pages walked through in real headless Chromium, phone-sized, against a
board served on a real port and the real PostgreSQL: a manager issues an invitation code,
a resident joins with it and reports with a photo, staff take the ticket through to its
resolution with a result photo, and the resident rates it; a camera finding is confirmed
from the queue. Each step asserts on the page and takes a screenshot (kept in a tmp dir)."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw
from psycopg_pool import ConnectionPool
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from services.board.accounts import NewAccount, create_account
from services.config import EstateConfig, Settings, load_config
from services.stack.board import RunningBoard, start_board
from services.store import NewTicket, TicketStore
from services.tickets import Action, Actor, Channel, Command, Role, Source
from tests.support.webdriver import images_loaded, phone, screenshot, settled, submit

pytestmark = pytest.mark.integration
BASE = load_config("deploy/estate.example.yaml")
PASSWORD = "sunlight pages 2024"
VISION = Actor("vision", Role.SYSTEM, "vision service")


@dataclass
class Walk:
    """The board, the people in it, and a phone-sized browser that screenshots each step."""

    board: RunningBoard
    estate: EstateConfig
    data_dir: Path
    screens: Path
    driver: WebDriver
    logins: dict[str, str]
    step: int = 0

    def open(self, path: str) -> None:
        self.driver.get(self.board.url + path)

    def text(self) -> str:
        return str(settled(lambda: self.driver.find_element(By.TAG_NAME, "body")).text)

    def css(self, selector: str) -> WebElement:
        return settled(lambda: self.driver.find_element(By.CSS_SELECTOR, selector))

    def shot(self, name: str, *expected: str) -> str:
        """Assert the page says each of `expected`, then screenshot it."""
        body = self.text()
        for words in expected:
            assert words in body, f"{name}: {words!r} not on the page:\n{body}"
        self.step += 1
        screenshot(self.driver, self.screens / f"{self.step:02d}-{name}.png")
        return body

    def sign_in(self, who: str) -> None:
        self.open("/login")
        self.css("#login").send_keys(self.logins[who])
        self.css("#password").send_keys(PASSWORD)
        submit(self.driver, self.css("#sign-in"))

    def sign_out(self) -> None:
        submit(self.driver, self.css("nav form button"))
        assert self.driver.current_url.endswith("/login")

    def act(self, do: str, **fields: str) -> None:
        """Fill in and send the ticket page's form for one action."""
        form = self.css(f"#do-{do}")
        for name, value in fields.items():
            field = form.find_element(By.NAME, name)
            if field.tag_name == "select":
                Select(field).select_by_value(value)
            else:
                field.send_keys(value)
        submit(self.driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))


def photo(path: Path, colour: str, words: str) -> Path:
    """A real JPEG, as a phone camera would send one."""
    image = Image.new("RGB", (640, 480), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((220, 140, 420, 340), fill="white", outline="black", width=6)
    draw.text((240, 230), words, fill="black")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    path.write_bytes(out.getvalue())
    return path


@pytest.fixture(scope="module")
def walk(pool: ConnectionPool, database_url: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walk]:
    site = BASE.site.model_copy(update={"id": f"walk-{uuid.uuid4().hex[:8]}"})
    estate: EstateConfig = BASE.model_copy(update={"site": site})
    data_dir = tmp_path_factory.mktemp("board-data")
    logins = {}
    now = datetime.now(UTC)
    # staff numbers are person ids, one account each in the session's database: these are
    # not the ones the board's integration tests sign up (KF-002, BJ-002, GC-003, AB-002)
    people = {"manager": (Role.MANAGER, None), "kefu": (Role.STAFF, "KF-003"),
              "engineer": (Role.STAFF, "GC-007"), "neighbour": (Role.RESIDENT, None)}
    for name, (role, staff_id) in people.items():
        login = f"{name}-{uuid.uuid4().hex[:6]}"
        with pool.connection() as conn, conn.transaction():
            create_account(conn, estate, NewAccount(
                login, PASSWORD, role, staff_id=staff_id, name="项目经理" if name == "manager"
                else "", building="b1" if role is Role.RESIDENT else None), now)
        logins[name] = login
    logins["resident"] = f"resident-{uuid.uuid4().hex[:6]}"
    board = start_board(Settings(data_dir=data_dir), estate, database_url)
    screens = tmp_path_factory.mktemp("screens")
    try:
        with phone(tmp_path_factory.mktemp("profile")) as driver:
            yield Walk(board, estate, data_dir, screens, driver, logins)
    finally:
        board.stop()
        print(f"\nscreenshots: {screens}")


def test_a_report_from_invitation_to_rating(walk: Walk, tmp_path: Path) -> None:
    driver = walk.driver
    # the manager issues an invitation code for building 3
    walk.open("/manager")  # not signed in: to the sign-in page, and back afterwards
    assert "/login?next=%2Fmanager" in driver.current_url
    walk.shot("sign-in", "登录", "用邀请码注册")
    walk.css("#login").send_keys(walk.logins["manager"])
    walk.css("#password").send_keys(PASSWORD)
    submit(driver, walk.css("#sign-in"))
    assert driver.current_url.endswith("/manager")
    walk.shot("manager-overview", "总览", "未办结工单", "邀请码", "每周曝光台")
    Select(walk.css("#building")).select_by_value("b3")
    uses = walk.css("#uses")
    uses.clear()
    uses.send_keys("5")
    submit(driver, walk.css("#issue-code"))
    code = walk.css("#new-code .code").text.strip()
    assert re.fullmatch(r"[A-Z0-9-]{8,}", code), code
    walk.shot("manager-code", "新邀请码", code, "3号楼")
    walk.sign_out()

    # a resident joins with it
    walk.open("/join")
    walk.css("#code").send_keys(code)
    walk.css("#login").send_keys(walk.logins["resident"])
    walk.css("#password").send_keys(PASSWORD)
    walk.css("#name").send_keys("王阿姨")
    walk.css("#phone").send_keys("13600001111")
    walk.css("#unit").send_keys("3-0502")
    walk.shot("resident-join", "邀请码", "仅物业可见")
    submit(driver, walk.css("#join"))
    assert "/report" in driver.current_url
    walk.shot("resident-joined", "注册成功", "我要报告", "问题类别")

    # … and reports a dark stairwell with a photo
    Select(walk.css("#category")).select_by_value("lighting")
    Select(walk.css("#place")).select_by_value("b3:stairwell")
    walk.css("#description").send_keys("3号楼2层楼道灯不亮，晚上很黑")
    walk.css("#media").send_keys(str(photo(tmp_path / "dark.jpg", "#334155", "no light")))
    walk.shot("resident-report-form", "照明故障", "3号楼 · 楼道")
    submit(driver, walk.css("#send-report"))
    found = re.search(r"/reports/(\d+)\?done=reported$", driver.current_url)
    assert found, driver.current_url
    ticket_id = found.group(1)
    assert images_loaded(driver, "#ticket .photos img") == 1
    walk.shot("resident-reported", "报告已提交", f"#{ticket_id}", "待受理", "晚上很黑",
              "应办结时限")

    # it is in "my reports"
    submit(driver, driver.find_element(By.LINK_TEXT, "我的报告"))
    item = walk.css(f"#r{ticket_id}")
    assert "待受理" in item.text and "3号楼 · 楼道" in item.text
    walk.shot("resident-my-reports", "我的报告")
    walk.sign_out()

    # customer service accepts, verifies and dispatches it to a repairman
    walk.sign_in("kefu")
    walk.open("/staff/tickets")
    walk.shot("staff-tickets", "未办结", f"#{ticket_id} 照明故障")
    submit(driver, walk.css(f"#t{ticket_id} a"))
    assert images_loaded(driver, "#ticket .photos img") == 1
    walk.shot("staff-ticket", "可执行的操作", "13600001111", "3-0502", "晚上很黑")
    walk.act("accept", note="已联系工程部")
    walk.shot("staff-accepted", "✓ 受理", "已受理")
    walk.act("verify", note="现场确认灯管损坏")
    walk.act("dispatch", assignee="GC-007")
    walk.shot("staff-dispatched", "已派单", "工程部", "孙志刚")
    assert "开始处理" not in walk.css("#actions").text  # the engineering department's work
    walk.sign_out()

    # the repairman starts and resolves it with a note and a result photo
    walk.sign_in("engineer")
    walk.open(f"/staff/tickets/{ticket_id}")
    walk.act("start")
    walk.shot("engineer-started", "处理中", "处理完成")
    walk.act("resolve", note="更换了 LED 灯管，已恢复照明",
             photos=str(photo(tmp_path / "fixed.jpg", "#fde68a", "light on")))
    assert images_loaded(driver, "#ticket .photos img") == 2
    walk.shot("engineer-resolved", "已处理", "更换了 LED 灯管", "处理结果")
    walk.sign_out()

    # the resident sees it resolved and rates it 5
    walk.sign_in("resident")
    assert "已处理" in walk.css(f"#r{ticket_id}").text
    walk.shot("resident-resolved-list", "请评价")
    submit(driver, walk.css(f"#r{ticket_id} a"))
    assert images_loaded(driver, "#ticket .photos img") == 2  # the result photo is theirs
    walk.shot("resident-rate-form", "对处理结果满意吗？", "更换了 LED 灯管", "孙志刚")
    walk.css("label:has(#rating-5)").click()
    walk.css("#comment").send_keys("修得很快，谢谢！")
    submit(driver, walk.css("#send-rating"))
    body = walk.shot("resident-rated", "感谢您的评价", "已关闭", "★★★★★", "修得很快")
    assert "13600001111" not in body  # the resident's own history shows no contact data
    assert "对处理结果满意吗？" not in body  # rated once

    # the same page in English
    submit(driver, driver.find_element(By.LINK_TEXT, "English"))
    walk.shot("resident-rated-en", "Closed", "Lighting fault", "Building 3 · Stairwell",
              "History")
    submit(driver, driver.find_element(By.LINK_TEXT, "中文"))
    walk.sign_out()


def _camera_finding(walk: Walk, pool: ConnectionPool) -> int:
    """A blocked fire exit as ingest records one: the ticket, then its evidence snapshot."""
    estate, store = walk.estate, TicketStore(pool)
    category = estate.category("fire_exit")
    finding, message = uuid.uuid4().hex[:12], uuid.uuid4().hex
    started = datetime.now(UTC) - timedelta(hours=2)  # past its 30-minute response time
    opened = store.open(NewTicket(
        site=estate.site.id, category="fire_exit", priority=category.default_priority,
        source=Source.CAMERA, channel=Channel.DEVICE,
        description=f"{category.name}: cam-b3-stairwell exit (box)", building="b3",
        area="stairwell", opened_at=started,
        sla=estate.sla_target("fire_exit", category.default_priority), actor=VISION,
        asset="cam-b3-stairwell/exit", finding_key=f"camera/{finding}"))
    ticket_id = opened.ticket.id
    assert ticket_id is not None
    relative = Path("evidence") / "cam-b3-stairwell" / finding / f"{message}.jpg"
    (walk.data_dir / relative).parent.mkdir(parents=True, exist_ok=True)
    photo(walk.data_dir / relative, "#64748b", "box in exit")
    store.change(ticket_id, Command(Action.ADD_EVIDENCE, VISION, datetime.now(UTC),
                                    note="detected box (score 0.91)",
                                    photos=(relative.as_posix(),), message_id=message))
    return ticket_id


def test_a_camera_finding_is_confirmed_from_the_queue(walk: Walk, pool: ConnectionPool) \
        -> None:
    ticket_id = _camera_finding(walk, pool)
    driver = walk.driver
    walk.sign_in("kefu")
    assert driver.current_url.endswith("/staff/queue")
    item = walk.css(f"#q{ticket_id}")
    assert "消防通道" in item.text and "cam-b3-stairwell/exit" in item.text
    assert images_loaded(driver, f"#q{ticket_id} .evidence img") == 1
    evidence = walk.css(f"#q{ticket_id} .evidence img").get_attribute("src") or ""
    assert f"/api/tickets/{ticket_id}/evidence/" in evidence
    assert httpx.get(evidence, timeout=10).status_code == 401  # only for signed-in readers
    walk.shot("staff-queue", "待确认", "摄像头发现", "确认属实")
    submit(driver, walk.css(f"#q{ticket_id} button.confirm"))
    assert driver.current_url.endswith("/staff/queue?done=confirm")
    assert not driver.find_elements(By.CSS_SELECTOR, f"#q{ticket_id}")
    walk.shot("staff-queue-confirmed", "✓ 确认属实")
    walk.open(f"/staff/tickets/{ticket_id}")
    walk.shot("staff-confirmed-ticket", "待受理", "已确认属实", "detected box", "现场证据")

    # a call to the front desk about the same exit is entered as an offline report
    walk.open("/staff/offline")
    Select(walk.css("#channel")).select_by_value("phone")
    Select(walk.css("#category")).select_by_value("fire_exit")
    Select(walk.css("#place")).select_by_value("b3:stairwell")
    walk.css("#description").send_keys("住户来电：3号楼楼道安全出口被纸箱堵住")
    walk.shot("staff-offline-form", "线下登记", "电话")
    submit(driver, walk.css("#send-offline"))
    # the same problem while the camera's ticket is open: linked to it, not lost
    assert driver.current_url.endswith(f"/staff/tickets/{ticket_id}?done=offline_linked")
    walk.shot("staff-offline-linked", "线下报告已并入", "共 2 份报告", "住户来电", "电话")
    walk.sign_out()

    # the manager's overview counts it, late, with its department
    walk.sign_in("manager")
    late = walk.css(f"#late a[href='/staff/tickets/{ticket_id}']")
    assert "受理超时" in late.text and "安保部" in late.text
    walk.shot("manager-late", "未办结工单", "超时工单 (1)")
    walk.sign_out()


def test_problems_are_shown_as_pages_in_words(walk: Walk, tmp_path: Path) -> None:
    driver = walk.driver
    walk.sign_in("neighbour")
    walk.open("/staff/queue")
    assert "403" in walk.shot("resident-403", "您的账号无权这样做", "返回首页")
    walk.open("/reports/1")  # the walk-through's report is someone else's
    walk.shot("resident-404", "找不到，或您无权查看")
    walk.open("/report")
    Select(walk.css("#category")).select_by_value("cleaning")
    Select(walk.css("#place")).select_by_value("b1:lobby")
    walk.css("#description").send_keys("大堂地面有积水")
    fake = tmp_path / "not-a-photo.jpg"
    fake.write_text("this is text, whatever its name says")
    walk.css("#media").send_keys(str(fake))
    submit(driver, walk.css("#send-report"))
    # the form comes back with the reason and what was typed; nothing was filed
    walk.shot("resident-upload-refused", "上传的文件没有被接受", "not a JPEG, PNG or WebP")
    assert walk.css("#description").get_attribute("value") == "大堂地面有积水"
    assert Select(walk.css("#place")).first_selected_option.get_attribute("value") == "b1:lobby"
    walk.open("/reports")
    walk.shot("resident-no-reports", "还没有报告")
    walk.sign_out()
