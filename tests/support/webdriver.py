"""Real headless Chromium through chromedriver (Selenium), sized like a phone.

The browser is the system's Chromium (tools/ensure_services.py installs it with its
driver); the profile is a temporary folder; screenshots cover the whole page.
"""

from __future__ import annotations

import io
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.browser import chromium

CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-dev-shm-usage", "--hide-scrollbars"]
PHONE = (390, 844)  # CSS pixels of a common phone, at device pixel ratio 1


def _binary() -> str:
    # Debian's /usr/bin/chromium is a shell wrapper that spends seconds before it starts
    # the browser; chromedriver may start the browser itself
    direct = Path("/usr/lib/chromium/chromium")
    return str(direct) if direct.is_file() else chromium()


@contextmanager
def phone(profile: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={PHONE[0]},{PHONE[1]}"):
        options.add_argument(flag)
    options.binary_location = _binary()
    driver_path = CHROMEDRIVER if Path(CHROMEDRIVER).is_file() else shutil.which("chromedriver")
    assert driver_path, "chromedriver is not installed (make test installs it)"
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        # headless windows have a minimum width; the page is laid out as on the phone
        _viewport(driver, PHONE[1])
        yield driver
    finally:
        driver.quit()


def _replaced(exc: WebDriverException) -> bool:
    """Chromedriver sometimes reports an element of a page being replaced as this generic
    error instead of a stale element (seen with Chromium 156 on a loaded machine)."""
    return isinstance(exc, StaleElementReferenceException) or \
        "does not belong to the document" in str(exc)


def gone(old: WebElement) -> Callable[[WebDriver], bool]:
    """A wait condition: `old`'s page has been replaced."""
    def check(_: WebDriver) -> bool:
        try:
            old.is_enabled()
        except WebDriverException as exc:
            if _replaced(exc):
                return True
            raise
        return False
    return check


def settled(find: Callable[[], WebElement], tries: int = 20) -> WebElement:
    """`find()`, again a moment later while the page it looks in is being replaced."""
    for _ in range(tries - 1):
        try:
            return find()
        except WebDriverException as exc:
            if not _replaced(exc):
                raise
            time.sleep(0.25)
    return find()


def submit(driver: WebDriver, button: WebElement, timeout: float = 15) -> None:
    """Click a form's button and wait for the page that answers it."""
    old = settled(lambda: driver.find_element("tag name", "html"))
    button.click()
    WebDriverWait(driver, timeout).until(gone(old))
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def images_loaded(driver: WebDriver, selector: str = "img") -> int:
    """How many images match, after checking that every one of them was served and decoded."""
    found = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(i => i.complete && i.naturalWidth > 0)", selector)
    assert all(found), f"an image of {selector!r} did not load"
    return len(found)


def _viewport(driver: WebDriver, height: int) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": PHONE[0], "height": height, "deviceScaleFactor": 1, "mobile": True})


def screenshot(driver: WebDriver, path: Path) -> Image.Image:
    """The whole page as a PNG at `path`; asserts it is drawn and fits the phone's width.

    The phone's viewport is stretched to the page's height for the shot, then put back.
    (Chromium's captureBeyondViewport instead left chromedriver with a stale document now
    and then: "Node with given id does not belong to the document" on the next click.)"""
    width, height = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    assert width <= PHONE[0], f"the page is {width} px wide: it scrolls sideways on a phone"
    _viewport(driver, max(height, PHONE[1]))
    try:
        data = driver.get_screenshot_as_png()
    finally:
        _viewport(driver, PHONE[1])
    path.write_bytes(data)
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.width == PHONE[0]
    assert float(np.asarray(image).std()) > 20, f"{path.name} looks blank"
    return image
