"""Real headless Chromium from the command line: the DOM after rendering, a screenshot,
and a printed PDF (read back with pdftotext)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--run-all-compositor-stages-before-draw"]


def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "Chromium is not installed (make test installs it: tools/ensure_services.py)"
    return binary


def _run(args: list[str], profile: Path) -> str:
    done = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dom(url: str, profile: Path) -> str:
    return _run(["--dump-dom", url], profile)


def screenshot(url: str, path: Path, profile: Path, size: tuple[int, int] = (390, 2000)) -> Path:
    _run([f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url], profile)
    assert path.is_file() and path.stat().st_size > 0
    return path


def pdf_text(url: str, path: Path, profile: Path) -> str:
    _run([f"--print-to-pdf={path}", "--no-pdf-header-footer", url], profile)
    assert path.is_file() and path.read_bytes()[:5] == b"%PDF-"
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, timeout=60, check=True).stdout
