"""Uploads judged by content: photos rebuilt from pixels, videos' metadata boxes blanked."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import ExifTags, Image

from services.board.problems import Problem
from services.board.uploads import clean_photo
from services.board.video import VideoError, clean_video, is_iso_media


def box(kind: bytes, payload: bytes, *, large: bool = False) -> bytes:
    if large:  # the 64-bit size form
        return struct.pack(">I", 1) + kind + struct.pack(">Q", 16 + len(payload)) + payload
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def movie(seconds: float, *, brand: bytes = b"isom", version: int = 0,
          extra: bytes = b"") -> bytes:
    if version == 1:
        mvhd = box(b"mvhd", b"\x01\0\0\0" + bytes(16) + struct.pack(">IQ", 600,
                                                                      int(seconds * 600)))
    else:
        mvhd = box(b"mvhd", bytes(4) + bytes(8) + struct.pack(">II", 1000,
                                                               int(seconds * 1000)))
    trak = box(b"trak", box(b"tkhd", bytes(84)) + box(b"udta", box(b"\xa9xyz", b"+31+121/")))
    return (box(b"ftyp", brand + bytes(4)) + box(b"moov", mvhd + trak + extra)
            + box(b"mdat", b"frames-here", large=True))


def test_gps_and_every_other_tag_are_gone_from_a_photo() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = "张三 3-0801"
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] = (31.0, 14.0, 5.0)
    out = io.BytesIO()
    Image.new("RGB", (32, 16), "red").save(out, "JPEG", exif=exif, comment=b"call 138")
    cleaned = clean_photo(out.getvalue())
    assert cleaned.content_type == "image/jpeg" and cleaned.extension == "jpg"
    image = Image.open(io.BytesIO(cleaned.data))
    assert image.size == (32, 16) and not image.getexif()
    assert b"138" not in cleaned.data and b"3-0801" not in cleaned.data
    assert "comment" not in image.info


def test_webp_becomes_jpeg_and_gif_is_refused() -> None:
    webp = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(webp, "WEBP")
    assert clean_photo(webp.getvalue()).content_type == "image/jpeg"
    gif = io.BytesIO()
    Image.new("P", (8, 8)).save(gif, "GIF")
    with pytest.raises(Problem) as refused:
        clean_photo(gif.getvalue())
    assert refused.value.status == 415 and "not a JPEG, PNG or WebP" in refused.value.detail


def test_a_decompression_bomb_is_refused_before_it_is_decoded() -> None:
    # a valid PNG header claiming 100,000 x 100,000 pixels, with almost no data
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000,
                                                              8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))
    with pytest.raises(Problem) as refused:
        clean_photo(png)
    assert refused.value.status == 422 and "too many" in refused.value.detail


def test_text_named_like_a_photo_is_refused() -> None:
    with pytest.raises(Problem) as refused:
        clean_photo(b"GIF89a-not-really" + bytes(100), "media[3]")
    assert refused.value.errors[0]["field"] == "media[3]"
    for broken in (b"\xff\xd8\xff\xe0" + bytes(50), b"\x89PNG\r\n\x1a\n" + bytes(30),
                   b"RIFF\0\0\0\0WEBPVP8 "):
        with pytest.raises(Problem) as refused:
            clean_photo(broken)
        assert refused.value.status == 415


def test_a_patched_image_open_is_never_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ultralytics replaces Image.open with one that pip-installs a plugin on unknown files."""
    def patched(*args: object, **kwargs: object) -> None:
        raise AssertionError("Image.open was called")

    monkeypatch.setattr(Image, "open", patched)
    with pytest.raises(Problem):
        clean_photo(b"<html></html>")
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG")
    assert clean_photo(out.getvalue()).content_type == "image/png"


def test_video_metadata_is_blanked_in_place() -> None:
    raw = movie(12.5, extra=box(b"meta", b"com.apple.quicktime.location.ISO6709+31+121/"))
    assert is_iso_media(raw[:12])
    cleaned, info = clean_video(raw, max_seconds=60)
    assert info.seconds == 12.5 and info.content_type == "video/mp4" and info.extension == "mp4"
    assert len(cleaned) == len(raw)
    assert b"+31+121" not in cleaned and b"udta" not in cleaned and b"meta" not in cleaned
    assert b"frames-here" in cleaned  # the media data is untouched


def test_quicktime_and_version_1_headers() -> None:
    _cleaned, info = clean_video(movie(3, brand=b"qt  ", version=1), max_seconds=60)
    assert info.content_type == "video/quicktime" and info.seconds == 3


@pytest.mark.parametrize("raw, why", [
    (movie(61), "at most 60 s"),
    (movie(5)[:-4], "more than the file holds"),
    (box(b"ftyp", b"isom" + bytes(4)) + box(b"mdat", b"x"), "no movie header"),
    (box(b"moov", b"") + box(b"ftyp", b"isom"), "no ftyp box first"),
])
def test_broken_or_long_videos_are_refused(raw: bytes, why: str) -> None:
    with pytest.raises(VideoError, match=why):
        clean_video(raw, max_seconds=60)
