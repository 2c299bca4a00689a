"""The Open Inference Protocol (V2) data plane of the sidecar, shared by its REST and gRPC
edges (predictor.sidecar.oip_rest, predictor.sidecar.oip_grpc), which only decode and encode.

A trainyard model seen through the protocol (`GET /v2/models/{modelId}`):

    inputs:  document  BYTES [-1]       intent: UTF-8 texts, one per row (vision: `sample`, PNG bytes)
    outputs: probabilities  FP32 [-1, L]   one row per input, columns in the model's label order
             labels         BYTES [L]      the model's labels, in that order

Every call goes through the same checks as POST /v2/language/intent — the bearer token, the
caller's role, the per-token platform decision, the tenant's own models only (another
tenant's is "not found"), 503 + Retry-After while a cold load runs — and the same model
copy in the same inference server: the protocol is another edge, not another predictor.
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

from predictor.sidecar.components import Components
from predictor.sidecar.edge import check_document
from predictor.sidecar.resolver import Resolution
from sdk.auth.tokens import Claims
from sdk.contracts.errors import PermanentError, Problem, ValidationError

SERVER_NAME = "trainyard"
SERVER_VERSION = "0.1.0"
EXTENSIONS = ("binary_tensor_data",)
PLATFORM = "trainyard"
INPUT_NAME = {"intent": "document", "vision": "sample"}
PROBABILITIES = "probabilities"
LABELS = "labels"
OUTPUTS = (PROBABILITIES, LABELS)
MAX_BATCH = 64  # rows of one infer call; each row is one forward in the inference server


@dataclass(frozen=True)
class TensorMetadata:
    name: str
    datatype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    platform: str
    inputs: tuple[TensorMetadata, ...]
    outputs: tuple[TensorMetadata, ...]


@dataclass(frozen=True)
class InferInput:
    """One decoded input tensor: its BYTES elements, flattened in row-major order."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    elements: Sequence[bytes]


@dataclass(frozen=True)
class InferResult:
    model_name: str
    labels: tuple[str, ...]
    probabilities: list[list[float]]  # rows x len(labels), columns in label order

    @property
    def shape(self) -> list[int]:
        return [len(self.probabilities), len(self.labels)]

    def fp32(self) -> bytes:
        """The probabilities as the protocol's raw FP32 tensor: little-endian, row-major."""
        flat = [p for row in self.probabilities for p in row]
        return struct.pack(f"<{len(flat)}f", *flat)

    def flat(self) -> list[float]:
        """The probabilities as float32 values, row-major (what a JSON FP32 tensor carries)."""
        flat = [p for row in self.probabilities for p in row]
        return list(struct.unpack(f"<{len(flat)}f", self.fp32()))


def metadata_of(name: str, resolution: Resolution) -> ModelMetadata:
    n = len(resolution.labels)
    return ModelMetadata(
        name=name, platform=PLATFORM,
        inputs=(TensorMetadata(INPUT_NAME[resolution.kind], "BYTES", (-1,)),),
        outputs=(TensorMetadata(PROBABILITIES, "FP32", (-1, n)), TensorMetadata(LABELS, "BYTES", (n,))),
    )  # fmt: skip


def decode_bytes_tensor(raw: bytes, *, field: str) -> list[bytes]:
    """The protocol's binary BYTES layout: each element a 4-byte little-endian length, then its bytes."""
    out: list[bytes] = []
    at = 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise ValidationError([Problem(field, f"ends inside an element's 4-byte length (at byte {at})")])
        (size,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + size > len(raw):
            raise ValidationError(
                [Problem(field, f"element {len(out)} claims {size} bytes; only {len(raw) - at} are left")]
            )
        out.append(raw[at : at + size])
        at += size
    return out


def encode_bytes_tensor(elements: Sequence[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


def rows_of(inputs: Sequence[InferInput], resolution: Resolution, *, c: Components) -> list[bytes]:
    """The payloads to predict, one per row; a 400 naming the field for anything else."""
    wanted = INPUT_NAME[resolution.kind]
    if len(inputs) != 1:
        raise ValidationError([Problem("inputs", f"expected exactly one input, {wanted!r}; got {len(inputs)}")])
    tensor = inputs[0]
    problems: list[Problem] = []
    if tensor.name != wanted:
        problems.append(Problem("inputs[0].name", f"is {tensor.name!r}; this {resolution.kind} model takes {wanted!r}"))
    if tensor.datatype != "BYTES":
        problems.append(Problem("inputs[0].datatype", f"is {tensor.datatype!r}; {wanted!r} is BYTES"))
    count = math.prod(tensor.shape) if tensor.shape else 0
    if any(d < 0 for d in tensor.shape) or count != len(tensor.elements):
        problems.append(
            Problem("inputs[0].shape", f"{list(tensor.shape)} does not match the {len(tensor.elements)} elements sent")
        )
    if len(tensor.elements) == 0:
        problems.append(Problem("inputs[0].data", "is empty: send at least one element"))
    if len(tensor.elements) > MAX_BATCH:
        problems.append(Problem("inputs[0].data", f"has {len(tensor.elements)} elements; the limit is {MAX_BATCH}"))
    if problems:
        raise ValidationError(problems)
    if resolution.kind == "vision":
        return [_sample(e, i, limit=c.settings.max_sample_bytes) for i, e in enumerate(tensor.elements)]
    return [_document(e, i, limit=c.settings.max_document_chars) for i, e in enumerate(tensor.elements)]


def _document(element: bytes, i: int, *, limit: int) -> bytes:
    field = f"inputs[0].data[{i}]"
    try:
        text = element.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError([Problem(field, f"is not UTF-8: {exc}")]) from exc
    return check_document(text, limit=limit, field=field)


def _sample(element: bytes, i: int, *, limit: int) -> bytes:
    if not element:
        raise ValidationError([Problem(f"inputs[0].data[{i}]", "is empty: send a PNG image")])
    if len(element) > limit:
        raise ValidationError([Problem(f"inputs[0].data[{i}]", f"is {len(element)} bytes; the limit is {limit}")])
    return element


def requested_outputs(names: Sequence[str]) -> tuple[str, ...]:
    """The outputs to return (all when none is named); a 400 for a name the model lacks."""
    unknown = [n for n in names if n not in OUTPUTS]
    if unknown:
        raise ValidationError(
            [
                Problem(
                    "outputs", f"unknown output(s) {', '.join(map(repr, unknown))}; this model has {', '.join(OUTPUTS)}"
                )
            ]
        )
    return tuple(dict.fromkeys(names)) or OUTPUTS


class DataPlane:
    """Authenticate, resolve, predict; the edges map its TrainyardErrors to statuses."""

    def __init__(self, c: Components) -> None:
        self._c = c

    def authenticate(self, authorization: str | None) -> Claims:
        return self._c.authenticator.authenticate(authorization)

    async def live(self) -> bool:
        return True

    async def ready(self) -> bool:
        return await self._c.inference_ready()

    async def model_metadata(self, authorization: str | None, name: str) -> ModelMetadata:
        resolution = await self._describe(authorization, name)
        return metadata_of(name, resolution)

    async def model_ready(self, authorization: str | None, name: str) -> bool:
        """Ready: the caller may use it and it resolves; it is loaded on its first request."""
        await self._describe(authorization, name)
        return True

    async def infer(self, authorization: str | None, name: str, inputs: Sequence[InferInput]) -> InferResult:
        claims = self.authenticate(authorization)
        token_ttl_s = claims.exp - time.time()
        resolution = await self._c.service.describe(
            tenant=claims.tenant, authorization=str(authorization), model_id=name, token_ttl_s=token_ttl_s
        )
        rows = rows_of(inputs, resolution, c=self._c)
        answers = await asyncio.gather(
            *(
                self._c.service.predict(
                    kind=resolution.kind,
                    tenant=claims.tenant,
                    authorization=str(authorization),
                    model_id=name,
                    payload=row,
                    token_ttl_s=token_ttl_s,
                    route="oip",
                )
                for row in rows
            )
        )
        labels = resolution.labels or tuple(sorted(label for label, _ in answers[0][0]))
        column = {label: i for i, label in enumerate(labels)}
        probabilities = [[0.0] * len(labels) for _ in rows]
        for r, (ranked, series) in enumerate(answers):
            if {label for label, _ in ranked} != column.keys():
                raise PermanentError(f"model {name!r} answered labels that differ from its published ones")
            for label, p in ranked:
                probabilities[r][column[label]] = p
            series.ok.inc()
        return InferResult(model_name=name, labels=labels, probabilities=probabilities)

    async def _describe(self, authorization: str | None, name: str) -> Resolution:
        claims = self.authenticate(authorization)
        return await self._c.service.describe(
            tenant=claims.tenant, authorization=str(authorization), model_id=name, token_ttl_s=claims.exp - time.time()
        )
