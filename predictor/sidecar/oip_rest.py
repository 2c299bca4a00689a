"""Open Inference Protocol (V2) REST routes of the sidecar: decode, call the DataPlane, encode.

    GET  /v2                          server metadata
    GET  /v2/health/live | /ready     liveness | readiness (the inference server is SERVING)
    GET  /v2/models/{name}            model metadata        (bearer token)
    GET  /v2/models/{name}/ready      model readiness       (bearer token)
    POST /v2/models/{name}/infer      inference             (bearer token)

Errors use the statuses of POST /v2/language/intent (predictor.sidecar.edge.STATUS_TABLE: 401,
403, 404 for an unknown or another tenant's model, 400 naming the field, 503 + Retry-After)
with the protocol's body, {"error": message} (and "problems" for a 400). The binary tensor
data extension is spoken both ways: a request whose JSON header is followed by binary
tensors (`Inference-Header-Content-Length`), and binary outputs on request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from predictor.sidecar.components import Components
from predictor.sidecar.edge import error_headers, read_body, status_for
from predictor.sidecar.oip import (
    EXTENSIONS,
    LABELS,
    PROBABILITIES,
    SERVER_NAME,
    SERVER_VERSION,
    DataPlane,
    InferInput,
    InferResult,
    ModelMetadata,
    decode_bytes_tensor,
    encode_bytes_tensor,
    requested_outputs,
)
from sdk.contracts.errors import Problem, TrainyardError, ValidationError

JSON = "application/json"
HEADER_LENGTH = "inference-header-content-length"


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def error_response(exc: TrainyardError) -> Response:
    status = status_for(exc)
    body: dict[str, object] = {"error": str(exc)}
    if isinstance(exc, ValidationError):
        body["problems"] = [{"field": p.field, "message": p.message} for p in exc.problems]
    return json_response(body, status, error_headers(exc))


Endpoint = Callable[[Request, DataPlane], Awaitable[Response]]


def guarded(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        c: Components = request.app.state.components
        try:
            return await endpoint(request, DataPlane(c))
        except TrainyardError as exc:
            response = error_response(exc)
            c.metrics.refused("oip", response.status_code)
            return response

    return handle


async def server_metadata(request: Request, plane: DataPlane) -> Response:
    return json_response({"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": list(EXTENSIONS)})


async def live(request: Request, plane: DataPlane) -> Response:
    return json_response({"live": await plane.live()})


async def ready(request: Request, plane: DataPlane) -> Response:
    is_ready = await plane.ready()
    return json_response({"ready": is_ready}, 200 if is_ready else 503)


def metadata_body(meta: ModelMetadata) -> dict[str, Any]:
    def tensors(ts: tuple[Any, ...]) -> list[dict[str, Any]]:
        return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in ts]

    return {
        "name": meta.name,
        "versions": [],
        "platform": meta.platform,
        "inputs": tensors(meta.inputs),
        "outputs": tensors(meta.outputs),
    }


async def model_metadata(request: Request, plane: DataPlane) -> Response:
    meta = await plane.model_metadata(request.headers.get("authorization"), request.path_params["name"])
    return json_response(metadata_body(meta))


async def model_ready(request: Request, plane: DataPlane) -> Response:
    name = request.path_params["name"]
    return json_response({"name": name, "ready": await plane.model_ready(request.headers.get("authorization"), name)})


async def infer(request: Request, plane: DataPlane) -> Response:
    authorization = request.headers.get("authorization")
    plane.authenticate(authorization)  # 401/403 before the body is read
    c: Components = request.app.state.components
    raw = await read_body(request, c.settings.max_body_bytes)
    body, inputs = parse_infer(raw, request.headers.get(HEADER_LENGTH))
    outputs, binary = output_choices(body)
    result = await plane.infer(authorization, request.path_params["name"], inputs)
    return infer_response(result, request_id=body.get("id"), outputs=outputs, binary=binary)


def parse_infer(raw: bytes, header_length: str | None) -> tuple[dict[str, Any], list[InferInput]]:
    """The JSON header and the inputs, binary tensors (the extension) cut from what follows it."""
    json_part, binary = raw, b""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(raw):
            raise ValidationError([Problem(HEADER_LENGTH, f"is {header_length!r}; the body has {len(raw)} bytes")])
        json_part, binary = raw[: int(header_length)], raw[int(header_length) :]
    try:
        body = orjson.loads(json_part)
    except orjson.JSONDecodeError as exc:
        raise ValidationError([Problem("body", f"is not JSON: {exc}")]) from exc
    if not isinstance(body, dict):
        raise ValidationError([Problem("body", "must be a JSON object")])
    items = body.get("inputs")
    if not isinstance(items, list):
        raise ValidationError([Problem("inputs", "must be a list of input tensors")])
    inputs, at = [], 0
    for i, item in enumerate(items):
        tensor, at = _input(item, i, binary, at)
        inputs.append(tensor)
    if at != len(binary):
        raise ValidationError([Problem("body", f"{len(binary) - at} bytes of binary data belong to no input")])
    return body, inputs


def _input(item: object, i: int, binary: bytes, at: int) -> tuple[InferInput, int]:
    where = f"inputs[{i}]"
    if not isinstance(item, dict):
        raise ValidationError([Problem(where, "must be an object")])
    name, datatype, shape = item.get("name"), item.get("datatype"), item.get("shape")
    problems = [
        Problem(f"{where}.{k}", "must be a string")
        for k, v in (("name", name), ("datatype", datatype))
        if not isinstance(v, str)
    ]
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        problems.append(Problem(f"{where}.shape", "must be a list of integers"))
    parameters = item.get("parameters") or {}
    if not isinstance(parameters, dict):
        problems.append(Problem(f"{where}.parameters", "must be an object"))
    if problems or not isinstance(shape, list):
        raise ValidationError(problems)
    size = parameters.get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or at + size > len(binary):
            raise ValidationError(
                [
                    Problem(
                        f"{where}.parameters.binary_data_size",
                        f"is {size!r}; {len(binary) - at} bytes of binary data are left",
                    )
                ]
            )
        elements = decode_bytes_tensor(binary[at : at + size], field=f"{where}.data") if datatype == "BYTES" else []
        return InferInput(str(name), str(datatype), tuple(shape), elements), at + size
    return InferInput(str(name), str(datatype), tuple(shape), _json_elements(item.get("data"), where)), at


def _json_elements(data: object, where: str) -> list[bytes]:
    """BYTES elements given as JSON: strings, in nested lists or flat."""
    flat: list[bytes] = []
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(reversed(value))
        elif isinstance(value, str):
            flat.append(value.encode())
        else:
            raise ValidationError([Problem(f"{where}.data", "must hold strings (a BYTES tensor in JSON)")])
    return flat


def output_choices(body: dict[str, Any]) -> tuple[tuple[str, ...], frozenset[str]]:
    """The outputs asked for (all when none is), and those to send as binary data."""
    parameters = body.get("parameters") or {}
    binary_default = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    asked = body.get("outputs") or []
    if not isinstance(asked, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in asked):
        raise ValidationError([Problem("outputs", "must be a list of objects with a name")])
    names = requested_outputs([o["name"] for o in asked])
    binary = {o["name"] for o in asked if (o.get("parameters") or {}).get("binary_data", binary_default) is True}
    if not asked and binary_default:
        binary = set(names)
    return names, frozenset(binary)


def infer_response(
    result: InferResult, *, request_id: object, outputs: tuple[str, ...], binary: frozenset[str]
) -> Response:
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name in outputs:
        if name == PROBABILITIES:
            entry: dict[str, Any] = {"name": name, "datatype": "FP32", "shape": result.shape}
            raw = result.fp32()
            data: list[Any] = result.flat()
        else:
            entry = {"name": LABELS, "datatype": "BYTES", "shape": [len(result.labels)]}
            raw = encode_bytes_tensor([label.encode() for label in result.labels])
            data = list(result.labels)
        if name in binary:
            entry["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            entry["data"] = data
        entries.append(entry)
    body: dict[str, Any] = {"model_name": result.model_name, "model_version": "", "outputs": entries}
    if isinstance(request_id, str) and request_id:
        body["id"] = request_id
    header = orjson.dumps(body)
    if not blobs:
        return Response(header, media_type=JSON)
    return Response(
        header + b"".join(blobs),
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )


def routes() -> list[Route]:
    return [
        Route("/v2", guarded(server_metadata), methods=["GET"]),
        Route("/v2/health/live", guarded(live), methods=["GET"]),
        Route("/v2/health/ready", guarded(ready), methods=["GET"]),
        Route("/v2/models/{name}", guarded(model_metadata), methods=["GET"]),
        Route("/v2/models/{name}/ready", guarded(model_ready), methods=["GET"]),
        Route("/v2/models/{name}/infer", guarded(infer), methods=["POST"]),
    ]
