"""Uploads are judged by their content, never by their name or declared type.

A photo must decode with Pillow as JPEG, PNG or WebP; it is then rebuilt from its pixels
(orientation applied), so no EXIF (GPS above all), XMP, comment or other metadata can
survive. A video must be an MP4/QuickTime file with a movie header, short enough, and is
stripped of its metadata boxes (services.board.video). Sizes are capped while reading.

Decompression bombs are refused from what a file declares, before any pixel is decoded:
more than 50 megapixels, or a large image from too few bytes to hold a real photo (a few
KB that would unpack to hundreds of MB), or an animation (thousands of frames behind one
photo's name). Every refusal is a Problem (4xx), never an exception of Pillow's.
"""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from typing import Literal

from fastapi import UploadFile
from PIL import (
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    WebPImagePlugin,
)

from services.board.problems import FieldError, Problem
from services.board.video import VideoError, clean_video, is_iso_media
from services.config import BoardOptions

__all__ = ["MAX_PHOTOS", "Checked", "check_uploads", "clean_photo"]

MAX_PHOTOS = 9
MAX_PIXELS = 50_000_000  # a 50-megapixel photo; larger is a decompression bomb, not a phone
# Past a phone's usual 12 megapixels, a photo must weigh at least a byte per this many
# pixels. Real photos weigh far more (a blank 12-megapixel JPEG: 64 pixels a byte; a flat
# PNG screenshot: about 300); a zlib bomb packs thousands of pixels into each byte.
_LARGE_PIXELS = 16_000_000
_MAX_PIXELS_PER_BYTE = 1_000
_JPEG_QUALITY = 90


@dataclass(frozen=True)
class Checked:
    kind: Literal["photo", "video"]
    content_type: str
    extension: str
    data: bytes

    @property
    def sha256(self) -> bytes:
        return hashlib.sha256(self.data).digest()


def _refuse(field: str, detail: str, status: int = 415) -> Problem:
    return Problem(status, "upload", f"{field}: {detail}", errors=[FieldError(field, detail)])


def _pixels_only(img: Image.Image, keep_alpha: bool) -> Image.Image:
    """A new image holding only the pixels: nothing of the original's info dict comes along.

    Pasted into a fresh image rather than copied through bytes: one copy of the pixels at
    a time beside the decoded image, which matters at 50 megapixels (200 MB each)."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    mode = "RGBA" if keep_alpha and has_alpha else ("L" if img.mode == "L" else "RGB")
    source = img if img.mode == mode else img.convert(mode)
    clean = Image.new(mode, source.size)
    clean.paste(source, (0, 0))
    return clean


def _decoder(data: bytes) -> type[ImageFile.ImageFile] | None:
    """The Pillow decoder for these magic bytes: JPEG, PNG or WebP only, nothing else."""
    if data.startswith(b"\xff\xd8\xff"):
        return JpegImagePlugin.JpegImageFile
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PngImagePlugin.PngImageFile
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WebPImagePlugin.WebPImageFile
    return None


def _webp_canvas(data: bytes) -> tuple[int, int] | None:
    """A WebP's canvas size from its first chunk's header (libwebp allocates the whole
    canvas as soon as its decoder is made, so this is checked before); None if unreadable."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        return (int.from_bytes(data[24:27], "little") + 1,
                int.from_bytes(data[27:30], "little") + 1)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return (int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _unreadable(field: str) -> Problem:
    return _refuse(field, "this file is not a readable JPEG, PNG or WebP image")


def _refuse_bomb(width: int, height: int, size: int, field: str) -> None:
    """422 when the declared dimensions are more than a photo, or more than its bytes hold."""
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise _refuse(field, f"{width}x{height} pixels is too many (at most"
                      f" {MAX_PIXELS // 1_000_000} megapixels)", 422)
    if pixels > _LARGE_PIXELS and pixels > size * _MAX_PIXELS_PER_BYTE:
        raise _refuse(field, f"{width}x{height} pixels from only {size} bytes is a"
                      " decompression bomb, not a photo", 422)


def _open(decoder: type[ImageFile.ImageFile], data: bytes, field: str) -> ImageFile.ImageFile:
    """The image with only its headers read, refused if it declares a bomb or an animation."""
    if decoder is WebPImagePlugin.WebPImageFile:
        canvas = _webp_canvas(data)
        if canvas is None:
            raise _unreadable(field)
        _refuse_bomb(*canvas, len(data), field)
    try:
        img = decoder(io.BytesIO(data))
    except Image.DecompressionBombError:  # Pillow's own limit, should a header pass ours
        raise _refuse(field, "too many pixels for a photo", 422) from None
    try:
        _refuse_bomb(*img.size, len(data), field)
        if getattr(img, "n_frames", 1) > 1:  # animated WebP or PNG (APNG)
            raise _refuse(field, "an animated image is not a photo; send a photo or a"
                          " short video")
    except Problem:
        img.close()
        raise
    return img


def clean_photo(data: bytes, field: str = "photo") -> Checked:
    """Decode, check and re-encode a photo; a Problem (415/422) when it is not one.

    The decoder is picked from the magic bytes and called directly rather than through
    Image.open: that tries every format Pillow knows, and libraries may patch it (Ultralytics
    does, to install a HEIF plugin at run time when a file is not recognised).
    """
    decoder = _decoder(data)
    if decoder is None:
        raise _refuse(field, "this file is not a JPEG, PNG or WebP image")
    try:
        with _open(decoder, data, field) as img:
            img.load()  # decodes everything: a truncated or corrupt file fails here
            ImageOps.exif_transpose(img, in_place=True)  # keep what the camera meant …
            png = decoder is PngImagePlugin.PngImageFile
            clean = _pixels_only(img, keep_alpha=png)  # … and drop the metadata
    except (OSError, SyntaxError, ValueError, IndexError, TypeError, EOFError, struct.error):
        raise _unreadable(field) from None
    except Image.DecompressionBombError:
        raise _refuse(field, "too many pixels for a photo", 422) from None
    out = io.BytesIO()
    if png:
        clean.save(out, "PNG", optimize=True)
        return Checked("photo", "image/png", "png", out.getvalue())
    clean.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return Checked("photo", "image/jpeg", "jpg", out.getvalue())


def _read_capped(upload: UploadFile, cap: int, field: str) -> bytes:
    upload.file.seek(0)
    data = upload.file.read(cap + 1)
    if len(data) > cap:
        raise _refuse(field, f"larger than {cap // 2**20} MB", 413)
    return data


def check_uploads(uploads: list[UploadFile], options: BoardOptions, *, field: str = "media",
                  photos_only: bool = False) -> list[Checked]:
    """Up to nine photos or one short video, each checked and cleaned; empty parts skipped."""
    # a browser sends one empty part for a file input left empty
    present = [u for u in uploads if u.filename or (u.size or 0) > 0]
    if len(present) > MAX_PHOTOS:
        raise Problem.field(422, "upload", field,
                            f"at most {MAX_PHOTOS} photos, got {len(present)}")
    photo_cap = options.photo_max_mb * 2**20
    video_cap = options.video_max_mb * 2**20
    checked: list[Checked] = []
    for index, upload in enumerate(present):
        name = f"{field}[{index}]"
        data = _read_capped(upload, max(photo_cap, video_cap), name)
        if not data:
            raise _refuse(name, "the file is empty", 422)
        if is_iso_media(data[:12]):
            if photos_only:
                raise _refuse(name, "only photos are accepted here")
            try:
                cleaned, info = clean_video(data, options.video_max_seconds)
            except VideoError as exc:
                raise _refuse(name, str(exc)) from None
            if len(cleaned) > video_cap:
                raise _refuse(name, f"larger than {options.video_max_mb} MB", 413)
            checked.append(Checked("video", info.content_type, info.extension, cleaned))
        else:
            if len(data) > photo_cap:
                raise _refuse(name, f"larger than {options.photo_max_mb} MB", 413)
            if _decoder(data) is None:  # say what would have been taken, here
                raise _refuse(name, "this file is not a JPEG, PNG or WebP photo" + (
                    "" if photos_only else ", nor an MP4 or QuickTime video"))
            checked.append(clean_photo(data, name))
    if any(c.kind == "video" for c in checked) and len(checked) > 1:
        raise Problem.field(422, "upload", field, "send up to nine photos or one video, not both")
    return checked
