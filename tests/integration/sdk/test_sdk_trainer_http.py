"""The trainer over real HTTP: a uvicorn server (a tiny FastAPI stand-in for the platform's
trainer endpoints, written here) on 127.0.0.1 and on a UNIX socket, and a real moto S3 for
the pre-signed transfers. The platform side parses events with the cloudevents library.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import uvicorn
from cloudevents.http import from_dict, from_http
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sdk.contracts.events import BATCH_CONTENT_TYPE, PAYLOADS, TRAINER_EVENTS, EventType
from sdk.trainer import Trainer
from tests.conftest import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
JOB = "j-int-1"
TOKEN = "job-token-abc"


@dataclass
class PlatformStandIn:
    """Just enough of the platform's trainer API to prove the SDK's wire behaviour."""

    s3: Any
    bucket: str
    events: list[dict[str, Any]] = field(default_factory=list)
    seen_ids: list[str] = field(default_factory=list)
    fail_next: int = 0  # answer this many event posts with 503 first

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def auth(request: Request, call_next: Any) -> Response:
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"error": {"code": "unauthenticated", "message": "bad token"}}, status_code=401)
            response: Response = await call_next(request)
            return response

        @app.post("/v1/events", status_code=202)
        async def events(request: Request) -> Response:
            body = await request.body()
            if request.headers["content-type"] == BATCH_CONTENT_TYPE:  # the SDK's batches: in order
                batch = [from_dict(item) for item in json.loads(body)]
            else:
                batch = [from_http(dict(request.headers), body)]
            self.seen_ids += [event["id"] for event in batch]
            if self.fail_next > 0:
                self.fail_next -= 1
                return JSONResponse({"error": {"code": "unavailable", "message": "try again"}}, status_code=503)
            for event in batch:
                kind = EventType(event["type"])
                if kind not in TRAINER_EVENTS or event["subject"] != JOB:
                    return JSONResponse({"error": {"code": "forbidden", "message": "not yours"}}, status_code=403)
            for event in batch:
                kind = EventType(event["type"])
                data = PAYLOADS[kind].model_validate(event.data).model_dump(mode="json")
                if event["id"] not in {e["id"] for e in self.events}:  # at-least-once: dedupe on id
                    self.events.append({"id": event["id"], "type": kind.value, "data": data})
            return Response(status_code=202)

        @app.post("/v1/jobs/{job_id}/artifacts")
        async def artifact(job_id: str, body: dict[str, str]) -> dict[str, str]:
            key = f"jobs/{job_id}/{body['name']}"
            url = self.s3.generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=600
            )
            return {"key": key, "url": url, "method": "PUT"}

        @app.get("/v1/jobs/{job_id}/datasets/{name}")
        async def dataset(job_id: str, name: str) -> dict[str, str]:
            params = {"Bucket": self.bucket, "Key": f"datasets/{name}"}
            url = self.s3.generate_presigned_url("get_object", Params=params, ExpiresIn=600)
            return {"url": url, "method": "GET"}

        return app


@contextmanager
def _serve(app: FastAPI, **where: Any) -> Iterator[uvicorn.Server]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **where))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield server
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def stand_in(moto_endpoint: str) -> PlatformStandIn:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"sdk-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    return PlatformStandIn(s3=s3, bucket=bucket)


@pytest.fixture
def tcp_url(stand_in: PlatformStandIn) -> Iterator[str]:
    port = free_port()
    with _serve(stand_in.app(), host="127.0.0.1", port=port):
        yield f"http://127.0.0.1:{port}"


def _env(url: str, workdir: Path, **extra: str) -> dict[str, str]:
    return {"TRAINYARD_JOB_ID": JOB, "TRAINYARD_TOKEN": TOKEN, "TRAINYARD_PLATFORM_URL": url,
            "TRAINYARD_ATTEMPT": "1", "TRAINYARD_WORKDIR": str(workdir), **extra}  # fmt: skip


def test_a_trainer_session_over_real_http_and_s3(stand_in: PlatformStandIn, tcp_url: str, tmp_path: Path) -> None:
    stand_in.s3.put_object(Bucket=stand_in.bucket, Key="datasets/reviews", Body=b"text,label\nhi,greet\n")
    stand_in.fail_next = 1  # the first post meets a 503 and is retried with the same id
    trainer = Trainer.from_env(_env(tcp_url, tmp_path), capture_logs=False, sleep=lambda _: None)

    trainer.running()
    data = trainer.dataset("reviews")
    trainer.metadata(learning_rate=0.01, total_epochs=1, rows=2)
    trainer.epoch(1, {"loss": 0.5})
    weights = tmp_path / "weights.bin"
    weights.write_bytes(os.urandom(300_000))
    key = trainer.checkpoint(1, weights, {"loss": 0.5})
    trainer.succeed({"loss": 0.5})
    trainer.close()

    assert data.read_bytes() == b"text,label\nhi,greet\n"
    assert stand_in.seen_ids[0] == stand_in.seen_ids[1]
    assert [e["type"].removeprefix("io.trainyard.job.") for e in stand_in.events] == [
        "running", "metadata", "epoch", "checkpoint", "succeeded",
    ]  # fmt: skip
    stored = stand_in.s3.get_object(Bucket=stand_in.bucket, Key=key)["Body"].read()
    assert stored == weights.read_bytes()
    checkpoint = stand_in.events[3]["data"]
    assert checkpoint["sha256"] == hashlib.sha256(stored).hexdigest()
    assert checkpoint["size_bytes"] == 300_000


def test_the_trainer_reaches_the_platform_through_a_unix_socket(stand_in: PlatformStandIn, tmp_path: Path) -> None:
    sock = str(tmp_path / "platform.sock")
    with _serve(stand_in.app(), uds=sock):
        env = _env("http://platform", tmp_path, TRAINYARD_PLATFORM_UDS=sock)
        trainer = Trainer.from_env(env, capture_logs=False)
        trainer.running()
        trainer.epoch(1, {"loss": 1.0})
        trainer.close()
    assert [e["type"] for e in stand_in.events] == ["io.trainyard.job.running", "io.trainyard.job.epoch"]


def test_the_scripted_trainer_as_a_process(stand_in: PlatformStandIn, tcp_url: str, tmp_path: Path) -> None:
    env = {**os.environ, **_env(tcp_url, tmp_path)}
    script = str(ROOT / "examples" / "scripted_trainer.py")
    done = subprocess.run([sys.executable, script, "--epochs", "2", "--sleep", "0"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [e["type"].removeprefix("io.trainyard.job.") for e in stand_in.events] == [
        "running", "metadata", "epoch", "checkpoint", "epoch", "checkpoint", "succeeded",
    ]  # fmt: skip
    keys = [o["Key"] for o in stand_in.s3.list_objects_v2(Bucket=stand_in.bucket)["Contents"]]
    assert sorted(keys) == [f"jobs/{JOB}/checkpoints/epoch-000{n}/weights.bin" for n in (1, 2)]


def test_a_failing_first_attempt_reports_its_log_tail(stand_in: PlatformStandIn, tcp_url: str, tmp_path: Path) -> None:
    env = {**os.environ, **_env(tcp_url, tmp_path)}
    script = str(ROOT / "examples" / "scripted_trainer.py")
    done = subprocess.run([sys.executable, script, "--fail-first-attempt"], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 1
    failed = stand_in.events[-1]
    assert failed["type"] == "io.trainyard.job.failed"
    assert "attempt 1 fails on purpose" in failed["data"]["logs"]  # captured from the process's stdout
