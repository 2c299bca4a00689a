"""A fake platform + fake S3 behind one httpx MockTransport (our own seam, no HTTP mocks of libraries)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

S3_HOST = "s3.test"

# Sample server payloads, shaped like the platform's JSON.
T0 = "2025-01-01T00:00:00Z"
PROJECT = {"project_id": "p-1", "tenant": "acme", "name": "intents", "purpose": "demo", "datasets": ["reviews"],
           "created_at": T0, "expires_at": "2025-04-01T00:00:00Z", "active": True}  # fmt: skip
SPEC = {"name": "lr-3", "command": ["python", "train.py"], "hyperparameters": {"lr": 0.001}}
TASK = {"task_id": "t-1", "project_id": "p-1", "tenant": "acme", "spec": SPEC, "created_at": T0}
JOB = {"job_id": "j-1", "task_id": "t-1", "project_id": "p-1", "tenant": "acme", "attempt": 1, "state": "RUNNING",
       "created_at": T0, "metadata": {"total_epochs": 5}, "pool": "default", "version": 3}  # fmt: skip
MODEL = {"modelId": "m-1", "model_id": "m-1", "tenant": "acme", "name": "intents-v1", "kind": "intent",
         "labels": ["cancel", "track"], "project_id": "p-1", "task_id": "t-1", "job_id": "j-1", "epoch": 3,
         "metrics": {"accuracy": 0.9}, "sha256": "ab" * 32, "size_bytes": 1234, "created_at": T0,
         "active": True}  # fmt: skip
# The predictor sidecar: another host; its routes share the fake's (method, path) table.
PREDICTOR_URL = "http://predictor.test"
PREDICTION = {"probabilities": [{"label": "track", "probability": 0.25}, {"label": "cancel", "probability": 0.75}],
              "object": "predictresponse"}  # fmt: skip
Reply = httpx.Response | Callable[[httpx.Request], httpx.Response] | Exception


@dataclass
class FakePlatform:
    """Routes by (method, path); each route answers from a queue whose last reply repeats.

    Requests to S3_HOST act as a tiny object store for pre-signed PUT/GET URLs.
    """

    routes: dict[tuple[str, str], list[Reply]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    objects: dict[str, bytes] = field(default_factory=dict)

    def on(self, method: str, path: str, *replies: Reply) -> None:
        self.routes[(method, path)] = list(replies)

    def json(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.on(method, path, httpx.Response(status, json=body))

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == S3_HOST:
            return self._s3(request)
        queue = self.routes.get((request.method, request.url.path))
        if not queue:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": f"no route {request.url.path}"}})
        reply = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(reply, Exception):
            raise reply
        return reply(request) if callable(reply) else reply

    def _s3(self, request: httpx.Request) -> httpx.Response:
        key = request.url.path.lstrip("/")
        if request.method == "PUT":
            self.objects[key] = request.content
            return httpx.Response(200)
        if key in self.objects:
            return httpx.Response(200, content=self.objects[key])
        return httpx.Response(404, text="<Error><Code>NoSuchKey</Code></Error>")

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def events(self) -> list[dict[str, Any]]:
        """Every event posted, in order, whether alone or in a batch."""
        out: list[dict[str, Any]] = []
        for r in self.sent("POST", "/v1/events"):
            body = json.loads(r.content)
            out += body if isinstance(body, list) else [body]
        return out


def sidecar_error(
    status: int, message: str, *, problems: list[dict[str, str]] | None = None, retry_after: int | None = None
) -> httpx.Response:
    """An error answered the way predictor/sidecar/app.py does (flat body, Retry-After on 503)."""
    body: dict[str, Any] = {"object": "error", "status": status, "message": message}
    if problems is not None:
        body["problems"] = problems
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return httpx.Response(status, json=body, headers=headers)
