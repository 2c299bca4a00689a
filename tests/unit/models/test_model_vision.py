from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch

from sdk.models import archive
from sdk.models.png import SIGNATURE, PngError, _chunk, decode_gray, encode_gray
from sdk.models.vision import SHAPES, VisionClassifier, shapes, to_input, vision_checkpoint, vision_config


def test_shapes_are_deterministic_and_labelled() -> None:
    a, ta = shapes(20, seed=3)
    b, tb = shapes(20, seed=3)
    assert a.shape == (20, 32, 32) and a.dtype == np.uint8
    assert np.array_equal(a, b) and np.array_equal(ta, tb)
    assert set(ta.tolist()) <= set(range(len(SHAPES)))


def test_png_round_trip() -> None:
    images, _ = shapes(1, seed=1)
    assert np.array_equal(decode_gray(encode_gray(images[0])), images[0])


def png(width: int, height: int, colour: int, rows: list[bytes]) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"".join(rows))) + _chunk(b"IEND", b"")


def test_png_filters_and_rgb_are_decoded() -> None:
    # 2x3 RGB: row 0 Sub-filtered, row 1 Up, row 2 Paeth; every pixel ends up (10, 20, 30).
    raw = bytes([10, 20, 30])
    rows = [b"\x01" + raw + bytes(3), b"\x02" + bytes(6), b"\x04" + bytes(6)]
    image = decode_gray(png(2, 3, 2, rows))
    assert image.tolist() == [[20, 20]] * 3


def test_png_average_filter() -> None:
    rows = [b"\x00" + bytes([100, 50]), b"\x03" + bytes([0, 0])]
    # Average: first byte (0 + up 100)//2 = 50; second (left 50 + up 50)//2 = 50.
    assert decode_gray(png(2, 2, 0, rows)).tolist() == [[100, 50], [50, 50]]


def test_png_size_limits_come_before_inflating() -> None:
    huge = SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 0, 0, 0, 0))
    with pytest.raises(PngError, match="at most"):
        decode_gray(huge)
    with pytest.raises(PngError, match="signature"):
        decode_gray(b"GIF89a")


def test_to_input_resamples_any_size() -> None:
    x = to_input(np.full((64, 48), 255, np.uint8), 32)
    assert x.shape == (1, 1, 32, 32)
    assert float(x.max()) == 1.0


def test_classifier_and_checkpoint() -> None:
    model = VisionClassifier(n_labels=len(SHAPES))
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 4)
    members = archive.read_members(vision_checkpoint(model, config=vision_config()))
    manifest = archive.Manifest.parse(members[archive.MANIFEST])
    assert manifest.kind == "vision"
    assert manifest.labels == SHAPES
