"""The small image classifier of the vision predictor, and the synthetic data it learns.

The dataset is generated, not downloaded: 32x32 greyscale images of one shape (circle,
square, triangle, cross) at a random place, size and brightness over noise. A two-layer
CNN (~5k parameters) separates them in a few seconds on a CPU (about 98% held-out
accuracy from 1,000 images and 12 epochs; set `torch.set_num_threads(1)` first, small
convolutions only lose time to thread hand-offs).

Example::

    images, targets = shapes(600, seed=1)
    model, accuracy = train_shapes(images, targets)
    blob = vision_checkpoint(model, config=vision_config())
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from sdk.models.archive import pack_checkpoint
from sdk.models.intent import state_bytes

KIND = "vision"
SHAPES = ("circle", "square", "triangle", "cross")
Rasterizer = Callable[[npt.NDArray[np.float64], npt.NDArray[np.float64], float], npt.NDArray[np.bool_]]


def vision_config(*, image_size: int = 32, widths: tuple[int, int] = (8, 16)) -> dict[str, Any]:
    return {"image_size": image_size, "channels": 1, "widths": list(widths)}


def _circle(dx: npt.NDArray[np.float64], dy: npt.NDArray[np.float64], r: float) -> npt.NDArray[np.bool_]:
    return np.asarray(dx**2 + dy**2 <= r**2)


def _square(dx: npt.NDArray[np.float64], dy: npt.NDArray[np.float64], r: float) -> npt.NDArray[np.bool_]:
    return np.asarray((np.abs(dx) <= 0.8 * r) & (np.abs(dy) <= 0.8 * r))


def _triangle(dx: npt.NDArray[np.float64], dy: npt.NDArray[np.float64], r: float) -> npt.NDArray[np.bool_]:
    return np.asarray((dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2))


def _cross(dx: npt.NDArray[np.float64], dy: npt.NDArray[np.float64], r: float) -> npt.NDArray[np.bool_]:
    bar = r / 3
    return np.asarray(((np.abs(dx) <= bar) & (np.abs(dy) <= r)) | ((np.abs(dy) <= bar) & (np.abs(dx) <= r)))


_RASTER: dict[str, Rasterizer] = {"circle": _circle, "square": _square, "triangle": _triangle, "cross": _cross}


def shapes(n: int, *, size: int = 32, seed: int = 0) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """`n` images [n, size, size] uint8 and their label indexes into SHAPES."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.empty((n, size, size), dtype=np.uint8)
    targets = rng.integers(0, len(SHAPES), size=n)
    for i, target in enumerate(targets):
        r = rng.uniform(size * 0.2, size * 0.35)
        cx, cy = rng.uniform(r, size - r, size=2)
        mask = _RASTER[SHAPES[target]](xx - cx, yy - cy, r)
        canvas = rng.uniform(0, 60, size=(size, size))
        canvas[mask] = rng.uniform(150, 255)
        images[i] = canvas.astype(np.uint8)
    return images, targets.astype(np.int64)


def to_input(image: npt.NDArray[np.uint8], image_size: int) -> torch.Tensor:
    """[1, 1, S, S] float input from a greyscale image of any size (nearest resampling)."""
    height, width = image.shape
    if (height, width) != (image_size, image_size):
        rows = (np.arange(image_size) * height // image_size).clip(0, height - 1)
        cols = (np.arange(image_size) * width // image_size).clip(0, width - 1)
        image = image[rows][:, cols]
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32) / 255.0).reshape(1, 1, image_size, image_size)


class VisionClassifier(nn.Module):
    """conv3x3 -> ReLU -> maxpool, twice, then a linear layer."""

    def __init__(self, *, n_labels: int, image_size: int = 32, channels: int = 1, widths: tuple[int, int] = (8, 16)):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, widths[0], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(widths[0], widths[1], 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )  # fmt: skip
        self.head = nn.Linear(widths[1] * (image_size // 4) ** 2, n_labels)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, n_labels: int) -> VisionClassifier:
        widths = tuple(int(w) for w in config["widths"])
        return cls(
            n_labels=n_labels,
            image_size=int(config["image_size"]),
            channels=int(config["channels"]),
            widths=(widths[0], widths[1]),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.head(self.features(images).flatten(1))
        return result


def train_shapes(
    images: npt.NDArray[np.uint8], targets: npt.NDArray[np.int64], *, epochs: int = 12, lr: float = 3e-3, seed: int = 0
) -> tuple[VisionClassifier, float]:
    """Train on 80% of the data; return the model and its accuracy on the other 20%."""
    torch.manual_seed(seed)
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(targets)
    cut = int(len(x) * 0.8)
    model = VisionClassifier(n_labels=len(SHAPES), image_size=images.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(cut).split(32):  # type: ignore[no-untyped-call]
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    model.eval()
    with torch.inference_mode():
        accuracy = float((model(x[cut:]).argmax(1) == y[cut:]).float().mean())
    return model, accuracy


def vision_checkpoint(model: VisionClassifier, *, config: Mapping[str, Any]) -> bytes:
    return pack_checkpoint(weights=state_bytes(model), labels=list(SHAPES), kind=KIND, config=dict(config))
