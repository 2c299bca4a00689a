"""Open Inference Protocol (V2) over gRPC on the sidecar: `inference.GRPCInferenceService`
(proto/inference/grpc_predict_v2.proto, vendored from KServe), a grpc.aio server in the
sidecar's own event loop, beside its REST app. Decode, call the DataPlane, encode.

The bearer token travels as `authorization` metadata. Errors map through one table
(`CODE_TABLE`, the gRPC twin of predictor.sidecar.edge.STATUS_TABLE): UNAUTHENTICATED,
PERMISSION_DENIED, NOT_FOUND (unknown or another tenant's model), INVALID_ARGUMENT (the
message names the field), UNAVAILABLE with a `retry-after` trailer (seconds) while a cold load
runs, INTERNAL when the platform or an archive is broken. ServerLive, ServerReady and
ServerMetadata need no token, like /v2/health/*; the repository extension is not served.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from predictor.generated import grpc_predict_v2_pb2 as pb
from predictor.generated import grpc_predict_v2_pb2_grpc as pb_grpc
from predictor.sidecar.components import Components
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
    TensorMetadata,
    decode_bytes_tensor,
    encode_bytes_tensor,
    requested_outputs,
)
from sdk.contracts.errors import (
    Forbidden,
    NotFound,
    PermanentError,
    Problem,
    TemporaryError,
    TrainyardError,
    Unauthenticated,
    ValidationError,
)

CODE_TABLE: tuple[tuple[type[TrainyardError], grpc.StatusCode], ...] = (
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (Forbidden, grpc.StatusCode.PERMISSION_DENIED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (ValidationError, grpc.StatusCode.INVALID_ARGUMENT),
    (TemporaryError, grpc.StatusCode.UNAVAILABLE),  # with a retry-after trailer
    (PermanentError, grpc.StatusCode.INTERNAL),
)


def code_for(exc: TrainyardError) -> grpc.StatusCode:
    for kind, code in CODE_TABLE:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.UNKNOWN


def _authorization(context: grpc.aio.ServicerContext[object, object]) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value.decode() if isinstance(value, bytes) else str(value)
    return None


async def _abort(context: grpc.aio.ServicerContext[object, object], exc: TrainyardError) -> None:
    message = str(exc)
    if isinstance(exc, ValidationError):
        message = "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
    if isinstance(exc, TemporaryError):
        context.set_trailing_metadata((("retry-after", str(max(1, math.ceil(exc.delay_s)))),))
    await context.abort(code_for(exc), message)


def decode_inputs(request: pb.ModelInferRequest) -> list[InferInput]:
    """Inputs from `contents.bytes_contents` or, as Triton clients send them, `raw_input_contents`."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise ValidationError(
            [Problem("raw_input_contents", f"has {len(raw)} entries for {len(request.inputs)} inputs")]
        )
    inputs = []
    for i, tensor in enumerate(request.inputs):
        if raw:
            elements = (
                decode_bytes_tensor(raw[i], field=f"raw_input_contents[{i}]") if tensor.datatype == "BYTES" else []
            )
        else:
            elements = list(tensor.contents.bytes_contents)
        inputs.append(InferInput(tensor.name, tensor.datatype, tuple(tensor.shape), elements))
    return inputs


def encode_result(result: InferResult, *, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
    """Outputs as raw_output_contents (what Triton's clients read first), in the order asked."""
    names = requested_outputs([o.name for o in request.outputs])
    response = pb.ModelInferResponse(model_name=result.model_name, id=request.id)
    for name in names:
        if name == PROBABILITIES:
            response.outputs.add(name=name, datatype="FP32", shape=result.shape)
            response.raw_output_contents.append(result.fp32())
        else:
            response.outputs.add(name=LABELS, datatype="BYTES", shape=[len(result.labels)])
            response.raw_output_contents.append(encode_bytes_tensor([label.encode() for label in result.labels]))
    return response


def _metadata(meta: ModelMetadata) -> pb.ModelMetadataResponse:
    def tensors(ts: Sequence[TensorMetadata]) -> list[pb.ModelMetadataResponse.TensorMetadata]:
        return [
            pb.ModelMetadataResponse.TensorMetadata(name=t.name, datatype=t.datatype, shape=list(t.shape)) for t in ts
        ]

    return pb.ModelMetadataResponse(
        name=meta.name, platform=meta.platform, inputs=tensors(meta.inputs), outputs=tensors(meta.outputs)
    )


Context = grpc.aio.ServicerContext[object, object]


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, c: Components) -> None:
        self._c = c
        self._plane = DataPlane(c)

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=await self._plane.live())

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=await self._plane.ready())

    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Context) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=SERVER_VERSION, extensions=list(EXTENSIONS))

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Context) -> pb.ModelReadyResponse:
        try:
            return pb.ModelReadyResponse(ready=await self._plane.model_ready(_authorization(context), request.name))
        except TrainyardError as exc:
            await self._refuse(context, exc)
            raise AssertionError("unreachable: abort raises") from exc

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Context) -> pb.ModelMetadataResponse:
        try:
            return _metadata(await self._plane.model_metadata(_authorization(context), request.name))
        except TrainyardError as exc:
            await self._refuse(context, exc)
            raise AssertionError("unreachable: abort raises") from exc

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        try:
            authorization = _authorization(context)
            self._plane.authenticate(authorization)
            inputs = decode_inputs(request)
            requested_outputs([o.name for o in request.outputs])  # 400 before any work
            result = await self._plane.infer(authorization, request.model_name, inputs)
            return encode_result(result, request=request)
        except TrainyardError as exc:
            await self._refuse(context, exc)
            raise AssertionError("unreachable: abort raises") from exc

    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Context
    ) -> pb.RepositoryModelLoadResponse:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "models load on their first request; the repository extension is not served"
        )
        raise AssertionError("unreachable: abort raises")

    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Context
    ) -> pb.RepositoryModelUnloadResponse:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "models are evicted by the memory budget; the repository extension is not served",
        )
        raise AssertionError("unreachable: abort raises")

    async def _refuse(self, context: Context, exc: TrainyardError) -> None:
        self._c.metrics.refused("oip-grpc", _HTTP_EQUIVALENT.get(code_for(exc), 500))
        await _abort(context, exc)


_HTTP_EQUIVALENT = {
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.INTERNAL: 502,
}


@dataclass
class OipGrpcServer:
    server: grpc.aio.Server
    port: int

    async def stop(self, grace_s: float = 2.0) -> None:
        await self.server.stop(grace_s)


async def start_oip_grpc(c: Components) -> OipGrpcServer:
    """Serve inference.GRPCInferenceService on settings.host:grpc_port, in this event loop."""
    server = grpc.aio.server(
        options=[("grpc.max_receive_message_length", c.settings.max_body_bytes), ("grpc.so_reuseport", 0)]
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(c), server)
    port = server.add_insecure_port(f"{c.settings.host}:{c.settings.grpc_port}")
    await server.start()
    return OipGrpcServer(server=server, port=port)
