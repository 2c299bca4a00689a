"""Wiring of the inference server: embeddings, model store, servicers and health on one
grpc.aio server. `main()` builds settings and runs it until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

import grpc
import torch
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # stubs predate aio

from predictor.generated import intent_pb2, intent_pb2_grpc, vision_pb2, vision_pb2_grpc
from predictor.inference.core import InferenceCore
from predictor.inference.models import ModelLoader
from predictor.inference.servicer import IntentServicer, VisionServicer
from predictor.inference.settings import InferenceSettings
from predictor.inference.store import ModelStore
from sdk.models import embeddings

log = logging.getLogger(__name__)
SERVICES = (
    intent_pb2.DESCRIPTOR.services_by_name["IntentPredictorService"].full_name,
    vision_pb2.DESCRIPTOR.services_by_name["VisionPredictorService"].full_name,
)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    core: InferenceCore
    health: health_aio.HealthServicer


def build_core(settings: InferenceSettings) -> InferenceCore:
    """Load the shared table once (memory-mapped) and build the store around it."""
    if settings.materialize_embeddings:
        table = embeddings.ensure(settings.embeddings_dir)
    else:
        table = embeddings.load(settings.embeddings_dir)
    loader = ModelLoader(table, max_pixels=settings.max_image_pixels)
    store = ModelStore(root=settings.model_root, budget_bytes=settings.memory_budget_bytes, loader=loader.load)
    return InferenceCore(store)


async def start(settings: InferenceSettings, *, core: InferenceCore | None = None) -> RunningServer:
    """Start serving on settings.host:port; return the server, its bound port and its core."""
    torch.set_num_threads(settings.torch_threads)
    core = core if core is not None else build_core(settings)
    options = [("grpc.max_receive_message_length", settings.max_message_bytes),
               ("grpc.so_reuseport", 0)]
    server = grpc.aio.server(options=options)
    intent_pb2_grpc.add_IntentPredictorServiceServicer_to_server(IntentServicer(core), server)
    vision_pb2_grpc.add_VisionPredictorServiceServicer_to_server(VisionServicer(core), server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    await server.start()
    for name in ("", *SERVICES):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("inference listening on %s:%d", settings.host, port)
    return RunningServer(server=server, port=port, core=core, health=health_servicer)


async def serve(settings: InferenceSettings) -> None:
    running = await start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for name in ("", *SERVICES):  # readiness drops first, then in-flight calls get the grace period
        await running.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    await running.server.stop(settings.shutdown_grace_s)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = InferenceSettings(_cli_parse_args=argv if argv is not None else True)
    asyncio.run(serve(settings))
