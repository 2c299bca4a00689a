"""A sandboxed trainer end to end: LocalRuntime + bubblewrap + EgressProxy + a real moto S3.

The platform is a stand-in for its three trainer endpoints (uvicorn on 127.0.0.1), pre-
signing with SigV4 as the platform does. The well-behaved trainer is the real
examples/scripted_trainer.py on the real SDK: everything it does goes through its socket.
A hostile one, on the same channel, is refused each time.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from functions.local.egress import EgressProxy
from functions.local.egress_policy import EgressPolicy
from functions.local.runtime import LocalRuntime
from functions.local.sandbox import bwrap_wrap, default_read_only, probe
from functions.ports import LaunchSpec, RuntimeJob, RuntimeStatus
from tests.support.servers import serve

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "job-token"


@dataclass
class StandIn:
    s3: Any
    bucket: str
    events: list[tuple[str, str]] = field(default_factory=list)  # (subject, type)

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
            body = json.loads(await request.body())
            for event in body if isinstance(body, list) else [body]:  # the SDK batches what queues up
                self.events.append((event["subject"], event["type"].removeprefix("io.trainyard.job.")))
            return Response(status_code=202)

        @app.get("/v1/jobs/{job_id}/datasets/{name}")
        async def dataset(job_id: str, name: str) -> dict[str, str]:
            return {"url": self._presign("get_object", f"datasets/{name}")}

        @app.post("/v1/jobs/{job_id}/artifacts")
        async def artifact(job_id: str, body: dict[str, str]) -> dict[str, str]:
            key = f"jobs/{job_id}/{body['name']}"
            return {"key": key, "url": self._presign("put_object", key)}

        return app

    def _presign(self, method: str, key: str) -> str:
        return str(self.s3.generate_presigned_url(method, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=300))


@pytest.fixture(scope="module")
def sandbox_problem() -> str | None:
    return probe(bwrap_wrap(read_only=default_read_only()))


@pytest.fixture
def stand_in(moto_endpoint: str, sandbox_problem: str | None) -> StandIn:
    if sandbox_problem:
        pytest.skip(f"bubblewrap cannot sandbox here: {sandbox_problem}")
    s3 = boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1", config=Config(signature_version="s3v4")
    )  # as functions.bootstrap signs
    bucket = f"sandbox-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="datasets/reviews", Body=b"text,label\nhi,greet\n" * 5000)
    return StandIn(s3=s3, bucket=bucket)


@dataclass
class Sandboxed:
    runtime: LocalRuntime
    platform_url: str
    moto: str
    state: Path
    proxy: EgressProxy | None = None

    def egress(self) -> EgressProxy:
        """A proxy as the local platform starts one (the caller starts and stops it)."""
        policy = EgressPolicy(
            platform_url=self.platform_url, s3_endpoint=self.moto, credentials={"testing": "testing"}
        )  # the aws_env fixture's keys
        return EgressProxy(policy)

    def runner(self, egress: EgressProxy) -> LocalRuntime:
        wrap = bwrap_wrap(read_only=default_read_only(), hidden=[self.state])
        return LocalRuntime(self.state / "runner", wrap=wrap, egress=egress, kill_grace_s=0.5)


@pytest.fixture
def sandboxed(stand_in: StandIn, moto_endpoint: str, tmp_path: Path) -> Iterator[Sandboxed]:
    state = tmp_path / "platform"
    (state / "runner").mkdir(parents=True)
    (state / "secret").write_text("token-signing-secret")
    with serve(stand_in.app()) as url:
        box = Sandboxed(LocalRuntime(state / "runner"), url, moto_endpoint, state)
        with box.egress() as egress:
            box.runtime, box.proxy = box.runner(egress), egress
            yield box
            for job in box.runtime.list():
                box.runtime.delete(job.job_id)


def launch(box: Sandboxed, job_id: str, argv: list[str], *, wait: bool = True) -> RuntimeJob | None:
    env = {
        "TRAINYARD_JOB_ID": job_id,
        "TRAINYARD_TOKEN": TOKEN,
        "TRAINYARD_PLATFORM_URL": box.platform_url,
        "TRAINYARD_ATTEMPT": "1",
    }
    box.runtime.launch(
        LaunchSpec(
            job_id=job_id,
            tenant="acme",
            project_id="p-1",
            task_id="t-1",
            attempt=1,
            image="",
            command=[sys.executable, *argv],
            args=[],
            env=env,
            cpu=1.0,
            memory_mb=512,
            gpu=0,
            ttl_s=120.0,
        )
    )
    return box.runtime.wait(job_id, timeout_s=60) if wait else None


def test_a_well_behaved_trainer_completes_through_its_channel(sandboxed: Sandboxed, stand_in: StandIn) -> None:
    script = str(ROOT / "examples" / "scripted_trainer.py")

    job = launch(sandboxed, "j-good", [script, "--epochs", "2", "--sleep", "0", "--dataset", "reviews"])

    assert job == RuntimeJob("j-good", RuntimeStatus.EXITED, 0, ""), sandboxed.runtime.logs("j-good")
    assert stand_in.events == [
        ("j-good", kind) for kind in ("running", "metadata", "epoch", "checkpoint", "epoch", "checkpoint", "succeeded")
    ]
    work = sandboxed.state / "runner" / "j-good" / "work"
    assert (work / "datasets" / "reviews").read_bytes() == b"text,label\nhi,greet\n" * 5000
    keys = sorted(o["Key"] for o in stand_in.s3.list_objects_v2(Bucket=stand_in.bucket)["Contents"])
    assert keys == ["datasets/reviews", *(f"jobs/j-good/checkpoints/epoch-000{n}/weights.bin" for n in (1, 2))]


HOSTILE = r"""
import json, socket, sys
import httpx

cfg = json.loads(sys.argv[1])
uds = httpx.Client(transport=httpx.HTTPTransport(uds="/run/trainyard/platform.sock"), timeout=10,
                   headers={"Authorization": "Bearer job-token"})
seen = {}
own = uds.get(cfg["platform"] + "/v1/jobs/j-bad/datasets/reviews")
seen["its own dataset grant"] = own.status_code
signed = own.json()["url"]
seen["its own dataset"] = uds.get(signed).status_code
seen["another job's dataset grant"] = uds.get(cfg["platform"] + "/v1/jobs/j-good/datasets/reviews").status_code
seen["the platform's user API"] = uds.get(cfg["platform"] + "/v1/projects").status_code
seen["a tampered signature"] = uds.get(signed[:-4] + "0000").status_code
seen["another key, same signature"] = uds.get(signed.replace("datasets/reviews", "jobs/j-good/secret")).status_code
seen["an unsigned object"] = uds.get(cfg["moto"] + "/" + cfg["bucket"] + "/datasets/reviews").status_code
seen["a self-signed key"] = uds.get(signed.replace("Credential=testing", "Credential=forged")).status_code
# Even holding the platform's own S3 keys (leaked, or the old constant ones), a trainer
# reaches only the URLs the platform issued to it: valid signatures open nothing else.
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=cfg["moto"], region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing", config=Config(signature_version="s3v4"))
def own(op, **params):
    return s3.generate_presigned_url(op, Params={"Bucket": cfg["bucket"], **params}, ExpiresIn=300)
seen["self-signed: list the bucket"] = uds.get(own("list_objects_v2")).status_code
seen["self-signed: read another job's object"] = uds.get(own("get_object", Key="jobs/j-good/secret")).status_code
seen["self-signed: overwrite a dataset"] = uds.put(own("put_object", Key="datasets/reviews"),
                                                   content=b"poisoned").status_code
seen["self-signed: delete a dataset"] = uds.delete(own("delete_object", Key="datasets/reviews")).status_code
seen["its own URL for a PUT"] = uds.put(signed, content=b"poisoned").status_code
art = uds.post(cfg["platform"] + "/v1/jobs/j-bad/artifacts", json={"name": "w.bin"}).json()["url"]
seen["its own upload URL with a copy source"] = uds.put(
    art, headers={"x-amz-copy-source": cfg["bucket"] + "/jobs/j-good/secret"}).status_code
seen["moto's admin API"] = uds.post(cfg["moto"] + "/moto-api/reset").status_code
dynamo = {"X-Amz-Target": "DynamoDB_20120810.ListTables"}
seen["dynamodb on the moto port"] = uds.post(cfg["moto"] + "/", headers=dynamo, content=b"{}").status_code
seen["somewhere else"] = uds.get("http://example.com/").status_code
try:
    socket.create_connection(("127.0.0.1", int(cfg["platform"].rsplit(":", 1)[1])), timeout=2)
    seen["the platform over tcp"] = "connected"
except OSError as exc:
    seen["the platform over tcp"] = type(exc).__name__
print(json.dumps(seen))
"""


def test_a_hostile_trainer_gets_its_own_data_and_nothing_else(sandboxed: Sandboxed, stand_in: StandIn) -> None:
    cfg = {"platform": sandboxed.platform_url, "moto": sandboxed.moto, "bucket": stand_in.bucket}

    job = launch(sandboxed, "j-bad", ["-c", HOSTILE, json.dumps(cfg)])

    assert job is not None and job.exit_code == 0, sandboxed.runtime.logs("j-bad")
    seen = json.loads(sandboxed.runtime.logs("j-bad"))
    assert seen.pop("its own dataset grant") == 200 and seen.pop("its own dataset") == 200
    assert seen.pop("the platform over tcp") == "ConnectionRefusedError"
    assert seen == dict.fromkeys(seen, 403), seen
    assert stand_in.s3.get_object(Bucket=stand_in.bucket, Key="datasets/reviews")["Body"].read().startswith(b"text")


PATIENT = r"""
import pathlib, time
from sdk.trainer import Trainer

trainer = Trainer.from_env(capture_logs=False)
trainer.running()
print("ready", flush=True)
while not pathlib.Path("go").exists():  # meanwhile the platform, and its proxy, restart
    time.sleep(0.02)
trainer.epoch(1, {"loss": 0.5})
trainer.succeed({"loss": 0.5})
"""


def test_a_restarted_platform_reopens_the_channel_of_a_running_trainer(sandboxed: Sandboxed, stand_in: StandIn) -> None:
    launch(sandboxed, "j-patient", ["-c", PATIENT], wait=False)
    deadline = time.monotonic() + 30
    while b"ready" not in sandboxed.runtime.logs("j-patient"):
        assert time.monotonic() < deadline, sandboxed.runtime.logs("j-patient")
        time.sleep(0.02)

    assert sandboxed.proxy is not None
    sandboxed.proxy.close("j-patient")  # the old platform is gone: nothing answers on the socket
    with sandboxed.egress() as restarted:
        runtime = sandboxed.runner(restarted)
        assert runtime.reopen_egress() == ["j-patient"]
        (sandboxed.state / "runner" / "j-patient" / "work" / "go").touch()
        job = runtime.wait("j-patient", timeout_s=30)

    assert job == RuntimeJob("j-patient", RuntimeStatus.EXITED, 0, ""), runtime.logs("j-patient")
    assert stand_in.events == [("j-patient", kind) for kind in ("running", "epoch", "succeeded")]
