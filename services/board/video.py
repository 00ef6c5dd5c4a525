"""Short videos (MP4/QuickTime): checked by their box structure, stripped of metadata.

A phone's video carries where it was shot in metadata boxes (`udta/©xyz`, `meta` keys such
as com.apple.quicktime.location.ISO6709). Those boxes are overwritten in place as `free`
boxes of the same size: every offset in the file stays valid, so no remuxing is needed,
and the location bytes are gone, not merely hidden.

A video is never decoded here, but it is played on staff's phones: a track that declares
more than 8K pixels (in its track header or its sample description) is refused, as a
decompression bomb for whoever opens it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["VideoError", "VideoInfo", "clean_video", "is_iso_media"]

# boxes that hold metadata, wherever they sit among the boxes walked below
_METADATA = frozenset({b"udta", b"meta", b"uuid", b"XMP_"})
# walked into to find metadata and each track's dimensions
_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl"})
_QUICKTIME_BRAND = b"qt  "
_FTYP = b"ftyp"
MAX_SIDE = 8192  # 8K (DCI), the most a phone records
MAX_VIDEO_PIXELS = 8192 * 4320


class VideoError(ValueError):
    pass


@dataclass(frozen=True)
class VideoInfo:
    content_type: str
    extension: str
    seconds: float


def is_iso_media(head: bytes) -> bool:
    """Whether the bytes start like an MP4/QuickTime file (an `ftyp` box first)."""
    return len(head) >= 12 and head[4:8] == _FTYP


def _boxes(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, box start, payload start, box end) of each box in [start, end)."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise VideoError("the file ends inside a box header")
        size = int.from_bytes(data[pos:pos + 4], "big")
        kind = bytes(data[pos + 4:pos + 8])
        header = 8
        if size == 1:  # 64-bit size follows the type
            if end - pos < 16:
                raise VideoError("the file ends inside a box header")
            size, header = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
        elif size == 0:  # the box runs to the end
            size = end - pos
        if size < header or pos + size > end:
            raise VideoError(f"box {kind!r} claims {size} bytes, more than the file holds")
        yield kind, pos, pos + header, pos + size
        pos += size


def _duration(data: bytes | bytearray, payload: int, end: int) -> float:
    version = data[payload]
    if version == 1:
        fields = payload + 4 + 16
        timescale = int.from_bytes(data[fields:fields + 4], "big")
        duration = int.from_bytes(data[fields + 4:fields + 12], "big")
    else:
        fields = payload + 4 + 8
        timescale = int.from_bytes(data[fields:fields + 4], "big")
        duration = int.from_bytes(data[fields + 4:fields + 8], "big")
    if fields + 8 > end or timescale == 0:
        raise VideoError("the movie header is malformed")
    return duration / timescale


def _blank(data: bytearray, start: int, payload: int, end: int) -> None:
    """Turn a box into a `free` box of the same size with its payload zeroed."""
    data[start + 4:start + 8] = b"free"
    data[payload:end] = bytes(end - payload)


def _check_frame(width: int, height: int) -> None:
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_VIDEO_PIXELS:
        raise VideoError(f"a {width}x{height} video is larger than 8K ({MAX_SIDE}x4320)")


def _track_size(data: bytes | bytearray, payload: int, end: int) -> None:
    """The track header ends with the width and height, 16.16 fixed point."""
    if end - payload < 84:
        raise VideoError("a track header is malformed")
    width = int.from_bytes(data[end - 8:end - 4], "big") >> 16
    height = int.from_bytes(data[end - 4:end], "big") >> 16
    _check_frame(width, height)


def _sample_sizes(data: bytes | bytearray, payload: int, end: int) -> None:
    """Each visual sample description's width and height (ISO 14496-12 §12.1.3), for a
    track whose handler is `vide`: after the entry count, each entry is a box whose fixed
    fields put them 24 bytes into its payload."""
    for _kind, _box, entry, entry_end in _boxes(data, payload + 8, end):
        if entry_end - entry < 28:
            raise VideoError("a video sample description is malformed")
        _check_frame(int.from_bytes(data[entry + 24:entry + 26], "big"),
                     int.from_bytes(data[entry + 26:entry + 28], "big"))


def _handler(data: bytes | bytearray, payload: int, end: int) -> bytes:
    """The handler type of a media box (`vide`, `soun` …): after version, flags and 4 bytes."""
    if end - payload < 12:
        raise VideoError("a media handler is malformed")
    return bytes(data[payload + 8:payload + 12])


def clean_video(raw: bytes, max_seconds: float) -> tuple[bytes, VideoInfo]:
    """The video with its metadata boxes blanked, and what it is; VideoError if refused."""
    data = bytearray(raw)
    top = list(_boxes(data, 0, len(data)))
    if not top or top[0][0] != _FTYP:
        raise VideoError("not an MP4 or QuickTime video (no ftyp box first)")
    kinds = {kind for kind, *_ in top}
    if b"moov" not in kinds or b"mdat" not in kinds:
        raise VideoError("the video has no movie header or no media data")
    seconds: float | None = None
    handler = b""  # of the track being walked: its `hdlr` comes before its sample table

    def walk(start: int, end: int, depth: int) -> None:
        nonlocal seconds, handler
        for kind, box, payload, box_end in _boxes(data, start, end):
            if kind == b"mvhd" and depth == 1:
                seconds = _duration(data, payload, box_end)
            elif kind in _METADATA:
                _blank(data, box, payload, box_end)
            elif kind == b"tkhd":
                _track_size(data, payload, box_end)
            elif kind == b"hdlr" and depth == 3:
                handler = _handler(data, payload, box_end)
            elif kind == b"stsd" and handler == b"vide":
                _sample_sizes(data, payload, box_end)
            elif kind in _CONTAINERS:
                if kind == b"trak":
                    handler = b""
                walk(payload, box_end, depth + 1)

    walk(0, len(data), 0)
    if seconds is None:
        raise VideoError("the video has no movie header (mvhd)")
    if seconds > max_seconds:
        raise VideoError(f"the video lasts {seconds:.0f} s; at most {max_seconds:.0f} s")
    brand = bytes(data[top[0][2]:top[0][2] + 4])
    quicktime = brand == _QUICKTIME_BRAND
    info = VideoInfo("video/quicktime" if quicktime else "video/mp4",
                     "mov" if quicktime else "mp4", seconds)
    return bytes(data), info
