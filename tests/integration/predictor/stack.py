"""Real servers for the prediction path on 127.0.0.1: a fake platform (HTTP, resolving models
to moto S3 pre-signed URLs), the gRPC inference server and the sidecar (uvicorn), each in a
thread of the test process so tests can also count what happened inside them."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn
from mypy_boto3_s3 import S3Client
from starlette.applications import Starlette

from predictor.inference.core import InferenceCore
from predictor.inference.server import RunningServer, build_core, start
from predictor.inference.settings import InferenceSettings
from predictor.sidecar.app import create_app
from predictor.sidecar.components import Components
from predictor.sidecar.main import server_config
from predictor.sidecar.settings import SidecarSettings
from sdk.auth import tokens
from sdk.contracts.errors import Unauthenticated
from sdk.models import archive
from tests.conftest import free_port

SECRET = "predictor-integration-secret-0123456789"


@dataclass
class Published:
    model_id: str
    tenant: str
    sha256: str
    size: int
    kind: str
    labels: list[str]
    key: str
    delay_s: float = 0.0  # > 0: served by the platform itself, slowly (cold-path deadline tests)


@dataclass
class FakePlatform:
    """GET /v1/models/{id}/resolve, verifying the forwarded token like the real platform."""

    s3: S3Client
    bucket: str
    models: dict[str, Published] = field(default_factory=dict)
    resolves: Counter[str] = field(default_factory=Counter)
    blobs: dict[str, bytes] = field(default_factory=dict)
    refused_subs: set[str] = field(default_factory=set)
    url: str = ""

    def publish(self, tenant: str, checkpoint: bytes, *, delay_s: float = 0.0, epoch: int = 1) -> Published:
        model_id = f"m-{uuid.uuid4().hex[:10]}"
        blob, _ = archive.archive_from_checkpoint(checkpoint, created_from={"job_id": model_id, "epoch": epoch})
        return self.publish_raw(tenant, blob, model_id=model_id, delay_s=delay_s)

    def publish_raw(
        self, tenant: str, blob: bytes, *, model_id: str | None = None, delay_s: float = 0.0, kind: str | None = None
    ) -> Published:
        model_id = model_id or f"m-{uuid.uuid4().hex[:10]}"
        try:
            manifest = archive.read_archive_manifest(blob)
            kind, labels = kind or manifest.kind, list(manifest.labels)
        except archive.UnsafeArchive:
            kind, labels = kind or "intent", []
        key = f"models/{tenant}/{model_id}.tar.gz"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=blob)
        self.blobs[model_id] = blob
        published = Published(model_id, tenant, archive.sha256_hex(blob), len(blob), kind, labels, key, delay_s)
        self.models[model_id] = published
        return published

    def resolve(self, model_id: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.resolves[model_id] += 1
        try:
            claims = tokens.verify((authorization or "").removeprefix("Bearer "), secret=SECRET)
        except Unauthenticated:
            return 401, {"message": "unauthenticated"}
        if (
            claims.is_job
            or not {tokens.Role.DATA_SCIENTIST, tokens.Role.SERVICE} & set(claims.roles)
            or claims.sub in self.refused_subs
        ):  # functions/api/policy.py, plus principals it refuses
            return 403, {"message": f"{claims.sub} may not resolve models"}
        model = self.models.get(model_id)
        if model is None or model.tenant != claims.tenant:
            return 404, {"message": f"model {model_id} not found"}
        if model.delay_s:
            url = f"{self.url}/slow/{model_id}"
        else:
            url = self.s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": model.key}, ExpiresIn=300
            )
        return 200, {
            "modelId": model_id,
            "tenant": model.tenant,
            "sha256": model.sha256,
            "sizeBytes": model.size,
            "kind": model.kind,
            "labels": model.labels,
            "url": url,
            "expiresIn": 300,
        }


@contextmanager
def serve_platform(platform: FakePlatform) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if len(parts) == 4 and parts[:2] == ["v1", "models"] and parts[3] == "resolve":
                status, body = platform.resolve(parts[2], self.headers.get("Authorization"))
                self._send(status, json.dumps(body).encode(), "application/json")
            elif len(parts) == 2 and parts[0] == "slow" and parts[1] in platform.models:
                time.sleep(platform.models[parts[1]].delay_s)
                self._send(200, platform.blobs[parts[1]], "application/gzip")
            else:
                self._send(404, b"{}", "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    platform.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield platform.url
    finally:
        server.shutdown()
        server.server_close()


class InferenceThread:
    """The real gRPC inference server (thread-pool based), started in this process."""

    def __init__(self, settings: InferenceSettings) -> None:
        self.settings = settings
        self.core: InferenceCore = build_core(settings)
        self.port = 0
        self._running: RunningServer | None = None

    def __enter__(self) -> InferenceThread:
        self._running = start(self.settings, core=self.core)
        self.port = self._running.port
        return self

    def __exit__(self, *exc: object) -> None:
        if self._running is not None:
            self._running.stop(0)


@contextmanager
def serve_sidecar(settings: SidecarSettings) -> Iterator[tuple[str, Starlette]]:
    app = create_app(settings)
    server = uvicorn.Server(server_config(app, settings, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("sidecar did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{settings.port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Stack:
    url: str
    platform: FakePlatform
    inference: InferenceThread
    app: Starlette
    cache_dir: Path
    metrics_token: str
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def oip_grpc_target(self) -> str:
        return f"127.0.0.1:{self.app.state.oip_grpc_port}"

    @property
    def sidecar(self) -> Components:
        components: Components = self.app.state.components
        return components

    def token(self, tenant: str, *, ttl_s: int = 3600) -> str:
        """The tenant's data scientist's token: one per tenant, as a client keeps its token."""
        if tenant not in self._tokens:
            self._tokens[tenant] = tokens.user_token(tenant=tenant, sub=f"user@{tenant}", secret=SECRET, ttl_s=ttl_s)
        return self._tokens[tenant]

    def headers(self, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(tenant)}"}


@contextmanager
def running_stack(
    *,
    platform: FakePlatform,
    root: Path,
    embeddings_dir: Path,
    memory_budget_bytes: int = 64 << 20,
    disk_budget_bytes: int = 1 << 30,
    deadline_s: float = 2.0,
    header_timeout_s: float = 10.0,
    body_timeout_s: float = 30.0,
) -> Iterator[Stack]:
    cache_dir = root / "cache"
    metrics_token = uuid.uuid4().hex
    (root / "metrics-token").write_text(metrics_token + "\n")
    inference_settings = InferenceSettings(
        port=0, model_root=cache_dir / "models", embeddings_dir=embeddings_dir, memory_budget_bytes=memory_budget_bytes
    )
    with InferenceThread(inference_settings) as inference:
        sidecar_settings = SidecarSettings(
            port=free_port(), token_secret=SECRET, platform_url=platform.url,
            inference_target=f"127.0.0.1:{inference.port}", cache_dir=cache_dir,
            disk_budget_bytes=disk_budget_bytes, request_deadline_s=deadline_s, grpc_port=0,
            metrics_token_file=root / "metrics-token", header_timeout_s=header_timeout_s,
            body_timeout_s=body_timeout_s,
        )  # fmt: skip
        with serve_sidecar(sidecar_settings) as (url, app):
            yield Stack(
                url=url,
                platform=platform,
                inference=inference,
                app=app,
                cache_dir=cache_dir,
                metrics_token=metrics_token,
            )
