"""Everything the sidecar runs on, built once inside the event loop and closed at shutdown."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from predictor.sidecar.auth import Authenticator, TokenDecisions
from predictor.sidecar.batching import MicroBatcher
from predictor.sidecar.diskcache import DiskCache, HttpFetcher
from predictor.sidecar.inference_client import InferenceAnswer, InferenceClient, open_channel
from predictor.sidecar.metrics import Metrics
from predictor.sidecar.resolver import CachedResolver, PlatformResolver
from predictor.sidecar.service import PredictionService
from predictor.sidecar.settings import SidecarSettings
from sdk.auth import signing, tls, tokens
from sdk.models import archive


@dataclass
class Components:
    settings: SidecarSettings
    metrics: Metrics
    authenticator: Authenticator
    platform: PlatformResolver
    resolver: CachedResolver
    disk: DiskCache
    inference: InferenceClient
    service: PredictionService
    batcher: MicroBatcher | None
    channel: grpc.aio.Channel
    platform_http: httpx.AsyncClient
    blob_http: httpx.AsyncClient
    metrics_token: str | None = None  # set: /metrics needs `Authorization: Bearer <it>`

    async def inference_ready(self, timeout_s: float = 0.5) -> bool:
        stub = health_pb2_grpc.HealthStub(self.channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
        except grpc.aio.AioRpcError:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def build_components(settings: SidecarSettings, *, metrics: Metrics) -> Components:
    platform_files = settings.platform_tls()
    verify: ssl.SSLContext | bool = tls.client_context(platform_files) if platform_files is not None else True
    platform_http = httpx.AsyncClient(
        base_url=settings.platform_url, timeout=settings.platform_timeout_s, verify=verify
    )
    blob_http = httpx.AsyncClient(timeout=settings.download_timeout_s)
    platform = PlatformResolver(platform_http)
    resolver = CachedResolver(
        platform,
        ttl_s=settings.resolve_ttl_s,
        negative_ttl_s=settings.resolve_negative_ttl_s,
        max_entries=settings.resolve_cache_entries,
    )
    limits = archive.Limits(max_weights_bytes=settings.max_weights_bytes)
    disk = DiskCache(
        settings.cache_dir,
        budget_bytes=settings.disk_budget_bytes,
        fetcher=HttpFetcher(blob_http),
        limits=limits,
        max_archive_bytes=settings.max_archive_bytes,
    )
    disk.open()
    channel = open_channel(
        settings.inference_target, files=settings.inference_tls(), server_name=settings.inference_tls_server_name
    )
    inference = InferenceClient(channel)
    batcher = batcher_for(inference, max_batch=settings.micro_batch_max) if settings.micro_batch_max > 1 else None
    decisions = TokenDecisions(
        ttl_s=settings.resolve_ttl_s,
        negative_ttl_s=settings.resolve_negative_ttl_s,
        max_entries=settings.token_cache_entries,
    )
    service = PredictionService(
        resolver=resolver,
        disk=disk,
        inference=inference,
        metrics=metrics,
        deadline_s=settings.request_deadline_s,
        retry_after_s=settings.retry_after_s,
        decisions=decisions,
        batcher=batcher,
    )
    authenticator = Authenticator(
        token_verifier(settings), max_entries=settings.token_cache_entries, leeway_s=tokens.DEFAULT_LEEWAY_S
    )
    return Components(
        settings=settings,
        metrics=metrics,
        authenticator=authenticator,
        platform=platform,
        resolver=resolver,
        disk=disk,
        inference=inference,
        service=service,
        batcher=batcher,
        channel=channel,
        platform_http=platform_http,
        blob_http=blob_http,
    )


def token_verifier(settings: SidecarSettings) -> tokens.TokenVerifier:
    """The platform's rules: HS256 with the shared secret locally, the IdP's JWKS in production."""
    secret = settings.token_secret.get_secret_value() if settings.token_secret is not None else None
    return signing.verifier_for(
        secret=secret,
        jwks_url=settings.jwks_url,
        jwks_file=settings.jwks_file,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
        leeway_s=tokens.DEFAULT_LEEWAY_S,
    )


def batcher_for(inference: InferenceClient, *, max_batch: int) -> MicroBatcher:
    async def single(model_id: str, payload: bytes, directory: str, timeout: float) -> InferenceAnswer:
        return await inference.predict(
            kind="intent", model_id=model_id, payload=payload, directory=directory, timeout=timeout
        )

    async def batch(
        model_id: str, payloads: list[bytes], directory: str, timeout: float
    ) -> list[InferenceAnswer | Exception]:
        return await inference.predict_batch(model_id=model_id, payloads=payloads, directory=directory, timeout=timeout)

    return MicroBatcher(single=single, batch=batch, max_batch=max_batch)


def metrics_token(settings: SidecarSettings) -> str | None:
    """The bearer token /metrics requires (read once at start-up), or None: open, without
    tenant or model labels."""
    if settings.metrics_token_file is None:
        return None
    token = settings.metrics_token_file.read_text().strip()
    if len(token) < 16:
        raise ValueError(f"{settings.metrics_token_file}: a metrics token must be at least 16 characters")
    return token


async def close_components(c: Components) -> None:
    await c.channel.close(None)
    await c.platform_http.aclose()
    await c.blob_http.aclose()
