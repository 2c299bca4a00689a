"""Loaded models: an extracted archive directory turned into something that predicts.

Intent models share the process-wide embedding table and tokenizer; only their head
(a few tens of KB) is per model. `nbytes` is what the in-memory LRU budgets: the bytes
of the model's own parameters and buffers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from predictor.inference.errors import ModelInvalid
from predictor.inference.postprocess import rank
from predictor.ranking import Ranked
from sdk.contracts.errors import Problem, ValidationError
from sdk.models import archive
from sdk.models.embeddings import EmbeddingTable
from sdk.models.intent import DEFAULT_MAX_TOKENS, IntentHead, load_state, pool_ids
from sdk.models.png import PngError, decode_gray
from sdk.models.vision import VisionClassifier, to_input

M = TypeVar("M", bound=nn.Module)


class LoadedModel(Protocol):
    kind: str
    labels: tuple[str, ...]
    nbytes: int

    def predict(self, payload: bytes) -> Ranked: ...


def module_bytes(module: nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass
class IntentModel:
    labels: tuple[str, ...]
    head: IntentHead
    table: EmbeddingTable
    max_tokens: int
    nbytes: int
    kind: str = "intent"

    def predict(self, payload: bytes) -> Ranked:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError([Problem("document", f"is not UTF-8: {exc}")]) from exc
        ids = self.table.tokenizer.encode(text, max_tokens=self.max_tokens)
        pooled = torch.from_numpy(pool_ids(self.table.vectors, ids))
        logits = self.head(pooled).numpy()  # no autograd to switch off: the head's tensors need no grad
        return rank(self.labels, logits)

    def predict_batch(self, payloads: Sequence[bytes]) -> list[Ranked | ValidationError]:
        """One forward pass for all documents; a document that cannot be read gets its own error."""
        rows: list[npt.NDArray[np.float32]] = []
        answers: list[Ranked | ValidationError | None] = []
        for payload in payloads:
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                answers.append(ValidationError([Problem("document", f"is not UTF-8: {exc}")]))
                continue
            rows.append(pool_ids(self.table.vectors, self.table.tokenizer.encode(text, max_tokens=self.max_tokens)))
            answers.append(None)
        logits = self.head(torch.from_numpy(np.stack(rows))).numpy() if rows else np.empty((0, len(self.labels)))
        ranked = iter(rank(self.labels, row) for row in logits)
        return [next(ranked) if a is None else a for a in answers]


@dataclass
class VisionModel:
    labels: tuple[str, ...]
    module: VisionClassifier
    image_size: int
    max_pixels: int
    nbytes: int
    kind: str = "vision"

    def predict(self, payload: bytes) -> Ranked:
        try:
            image = decode_gray(payload, max_pixels=self.max_pixels)
        except PngError as exc:
            raise ValidationError([Problem("sample", str(exc))]) from exc
        with torch.inference_mode():
            logits = self.module(to_input(image, self.image_size))[0].numpy()
        return rank(self.labels, logits)


class ModelLoader:
    """Builds LoadedModels from extracted archive directories (blocking: run it off the loop)."""

    def __init__(self, table: EmbeddingTable, *, max_pixels: int = 1 << 20) -> None:
        self._table = table
        self._max_pixels = max_pixels

    def load(self, directory: Path) -> LoadedModel:
        try:
            manifest = archive.read_extracted_manifest(directory)
            state = load_state((directory / archive.WEIGHTS).read_bytes())
        except FileNotFoundError:
            raise
        except (OSError, ValueError, RuntimeError, ValidationError) as exc:
            raise ModelInvalid(f"{directory.name}: {exc}") from exc
        if manifest.kind == "intent":
            return self._intent(manifest, state)
        return self._vision(manifest, state)

    def _intent(self, manifest: archive.Manifest, state: dict[str, torch.Tensor]) -> IntentModel:
        config = manifest.config
        wanted = self._table.info.identity()
        if config.get("embedding") != wanted:
            raise ModelInvalid(f"trained on embedding table {config.get('embedding')!r}, this server has {wanted!r}")
        try:
            head = IntentHead.from_state(state, config=config, n_labels=len(manifest.labels))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelInvalid(f"weights do not fit the model config: {exc}") from exc
        return IntentModel(
            labels=manifest.labels,
            head=head,
            table=self._table,
            max_tokens=int(config.get("max_tokens", DEFAULT_MAX_TOKENS)),
            nbytes=head.nbytes,
        )

    def _vision(self, manifest: archive.Manifest, state: dict[str, torch.Tensor]) -> VisionModel:
        config = manifest.config
        module = _build(lambda: VisionClassifier.from_config(config, n_labels=len(manifest.labels)), state)
        return VisionModel(
            labels=manifest.labels,
            module=module,
            image_size=int(config["image_size"]),
            max_pixels=self._max_pixels,
            nbytes=module_bytes(module),
        )


def _build(make: Callable[[], M], state: dict[str, torch.Tensor]) -> M:
    try:
        module = make()
        module.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelInvalid(f"weights do not fit the model config: {exc}") from exc
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)  # no autograd bookkeeping on the serving path
    return module
