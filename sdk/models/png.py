"""A minimal PNG codec for the vision samples (no imaging library in the containers).

Encodes 8-bit greyscale; decodes 8-bit, non-interlaced greyscale, grey+alpha, RGB and
RGBA (colour is averaged to grey, alpha dropped). Dimensions are bounded before any
pixel data is inflated, and inflation itself is bounded, so a tiny file cannot claim
gigabytes.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import numpy.typing as npt

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 4: 2, 2: 3, 6: 4}  # colour type -> samples per pixel


class PngError(ValueError):
    """Not a PNG this codec reads, or one over the size limit."""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_gray(image: npt.NDArray[np.uint8]) -> bytes:
    """PNG bytes of a 2-D uint8 image (filter 0 on every row)."""
    height, width = image.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = np.concatenate([np.zeros((height, 1), np.uint8), image.astype(np.uint8)], axis=1)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes())) + _chunk(b"IEND", b"")


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG (bad signature)")
    out: list[tuple[bytes, bytes]] = []
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise PngError("truncated chunk")
        out.append((kind, body))
        pos += 12 + length
        if kind == b"IEND":
            break
    return out


def decode_gray(data: bytes, *, max_pixels: int = 1 << 20) -> npt.NDArray[np.uint8]:
    """A 2-D uint8 greyscale image from PNG bytes; raise PngError when unreadable."""
    chunks = _chunks(data)
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise PngError("missing IHDR")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or colour not in _CHANNELS or interlace != 0:
        raise PngError("only 8-bit, non-interlaced grey/grey+alpha/RGB/RGBA PNGs are read")
    if width == 0 or height == 0 or width * height > max_pixels:
        raise PngError(f"image is {width}x{height}; at most {max_pixels} pixels")
    channels = _CHANNELS[colour]
    stride = width * channels
    expected = height * (stride + 1)
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"), expected)
    except zlib.error as exc:
        raise PngError(f"corrupt image data: {exc}") from exc
    if len(raw) != expected:
        raise PngError("image data is shorter than its header says")
    pixels = _unfilter(raw, height=height, stride=stride, bpp=channels)
    image = pixels.reshape(height, width, channels)
    grey = image[..., :3].mean(axis=2) if channels >= 3 else image[..., 0]
    return np.asarray(grey, dtype=np.uint8)


def _unfilter(raw: bytes, *, height: int, stride: int, bpp: int) -> npt.NDArray[np.uint8]:
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.int32)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind, line = int(rows[y, 0]), rows[y, 1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 2:
            cur = (line + prev) & 0xFF
        elif kind in (1, 3, 4):
            cur = _unfilter_sequential(kind, line, prev, bpp)
        else:
            raise PngError(f"unknown filter type {kind}")
        out[y] = cur
        prev = cur
    return out.astype(np.uint8).ravel()


def _unfilter_sequential(
    kind: int, line: npt.NDArray[np.int32], prev: npt.NDArray[np.int32], bpp: int
) -> npt.NDArray[np.int32]:
    # Sub, Average and Paeth depend on the byte just decoded: a plain loop (small images).
    cur = np.zeros_like(line)
    for i in range(len(line)):
        left = int(cur[i - bpp]) if i >= bpp else 0
        up = int(prev[i])
        if kind == 1:
            pred = left
        elif kind == 3:
            pred = (left + up) // 2
        else:
            up_left = int(prev[i - bpp]) if i >= bpp else 0
            p = left + up - up_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
            pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
        cur[i] = (int(line[i]) + pred) & 0xFF
    return cur
