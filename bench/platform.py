"""A stand-in platform for the benchmark: model archives in moto S3, resolved to pre-signed
URLs over HTTP exactly as the sidecar expects (GET /v1/models/{id}/resolve)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from bench.procs import SECRET, free_port
from sdk.auth import tokens
from sdk.contracts.errors import Unauthenticated
from sdk.models import archive


@dataclass
class BenchPlatform:
    s3: Any
    bucket: str
    models: dict[str, tuple[str, str, int, str]] = field(default_factory=dict)  # id -> tenant, sha, size, key
    resolves: int = 0
    url: str = ""

    def publish(self, tenant: str, blob: bytes) -> str:
        model_id = f"m-{uuid.uuid4().hex[:10]}"
        key = f"models/{tenant}/{model_id}.tar.gz"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=blob)
        self.models[model_id] = (tenant, archive.sha256_hex(blob), len(blob), key)
        return model_id

    def resolve(self, model_id: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.resolves += 1
        try:
            claims = tokens.verify((authorization or "").removeprefix("Bearer "), secret=SECRET)
        except Unauthenticated:
            return 401, {}
        entry = self.models.get(model_id)
        if entry is None or entry[0] != claims.tenant:
            return 404, {}
        tenant, sha, size, key = entry
        url = self.s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=900)
        return 200, {
            "modelId": model_id,
            "tenant": tenant,
            "sha256": sha,
            "sizeBytes": size,
            "kind": "intent",
            "labels": [],
            "url": url,
            "expiresIn": 900,
        }


@contextmanager
def running_platform() -> Iterator[BenchPlatform]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{moto._port}"
    s3 = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
    )
    platform = BenchPlatform(s3=s3, bucket="bench-models")
    s3.create_bucket(Bucket=platform.bucket)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            body: dict[str, Any] = {}
            status = 404
            if len(parts) == 4 and parts[:2] == ["v1", "models"] and parts[3] == "resolve":
                status, body = platform.resolve(parts[2], self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    platform.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield platform
    finally:
        server.shutdown()
        server.server_close()
        moto.stop()
