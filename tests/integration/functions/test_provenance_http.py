"""What ran and trying a checkpoint, over real HTTP: the API on moto (DynamoDB + S3), the
HttpPredictor adapter against a stand-in sidecar that checks the caller's token came along;
and the attacker's side: another tenant's ids, a trainer's own token."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from functions import bootstrap
from functions.api.app import create_app
from functions.core import launching, reporting
from functions.core.deps import Deps
from functions.local.platform import ensure_storage
from functions.predicting import HttpPredictor
from functions.publishing import RecordingPublisher
from functions.runtimes.recording import RecordingRuntime
from sdk.auth import tokens
from sdk.contracts import events as ev
from sdk.models.archive import pack_checkpoint
from tests.support.moto_settings import moto_settings
from tests.support.servers import serve

pytestmark = pytest.mark.integration
SECRET = "integration-secret-0123456789abcdef-xyz"


@dataclasses.dataclass
class Platform:
    base: str
    deps: Deps
    sidecar_calls: list[tuple[str, dict[str, Any]]]


def sidecar(calls: list[tuple[str, dict[str, Any]]]) -> Starlette:
    """The predictor's REST face: it answers only with the caller's own token."""

    async def intent(request: Request) -> JSONResponse:
        body = await request.json()
        tenant = tenant_of(request.headers.get("authorization", ""))
        calls.append((tenant, body))
        if tenant != "acme":
            return JSONResponse({"object": "error", "status": 401, "message": "bad token"}, status_code=401)
        ranked = [{"label": "Password Help", "probability": 0.9}, {"label": "Billing", "probability": 0.1}]
        return JSONResponse({"probabilities": ranked, "object": "predictresponse"})

    return Starlette(routes=[Route("/v2/language/intent", intent, methods=["POST"])])


def tenant_of(authorization: str) -> str:
    try:
        return tokens.HS256Verifier(SECRET).verify(authorization.removeprefix("Bearer ")).tenant
    except Exception:
        return ""


@pytest.fixture
def platform(moto_endpoint: str) -> Iterator[Platform]:
    calls: list[tuple[str, dict[str, Any]]] = []
    with serve(sidecar(calls)) as predictor_url:
        settings = moto_settings(
            moto_endpoint,
            name="it",
            token_secret=SECRET,
            platform_url="http://trainer-facing.test",
            predictor_url=predictor_url,
        )
        deps = bootstrap.build(settings, runtime=RecordingRuntime())
        deps = dataclasses.replace(deps, events=RecordingPublisher())
        ensure_storage(deps, settings)
        assert isinstance(deps.predictor, HttpPredictor)
        with serve(create_app(deps), health="/healthz") as base:
            yield Platform(base, deps, calls)
        deps.predictor.close()  # its pooled connections to the sidecar


def user(tenant: str = "acme") -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens.user_token(tenant=tenant, sub="u", secret=SECRET)}


def trainer(job_id: str) -> dict[str, str]:
    token = tokens.job_token(tenant="acme", job_id=job_id, secret=SECRET, expires_at=int(time.time()) + 600)
    return {"Authorization": f"Bearer {token}"}


def trained(p: Platform) -> tuple[str, str]:
    """A running job of tenant acme with a checkpoint at epoch 1: (task id, job id)."""
    proj = httpx.post(f"{p.base}/v1/projects", headers=user(), json={"name": "p", "purpose": "it"}).json()
    made = httpx.post(
        f"{p.base}/v1/projects/{proj['project_id']}/tasks",
        headers=user(),
        json={"name": "t", "command": ["python", "x.py"], "hyperparameters": {"lr": 0.1}},
    ).json()
    job_id = made["job"]["job_id"]
    launching.admit_pool(p.deps, "default")
    blob = pack_checkpoint(weights=b"w", labels=["Billing", "Password Help"], kind="intent", config={"hidden": 8})
    key = f"acme/{proj['project_id']}/{job_id}/ckpt-1"
    p.deps.artifacts.put(key, blob)
    for event_id, payload in [
        ("run", ev.JobRunning()),
        ("ck", ev.CheckpointReport(epoch=1, key=key, metrics={}, sha256=hashlib.sha256(blob).hexdigest())),
    ]:
        reporting.report(p.deps, tenant="acme", job_id=job_id, event_type="x", event_id=event_id, payload=payload)
    return made["task"]["task_id"], job_id


def test_the_job_and_its_provenance_show_what_the_platform_recorded(platform: Platform) -> None:
    task_id, job_id = trained(platform)
    job = httpx.get(f"{platform.base}/v1/jobs/{job_id}", headers=user()).json()
    assert job["provenance"]["command"] == ["python", "x.py"]
    doc = httpx.get(f"{platform.base}/v1/jobs/{job_id}/provenance", headers=user()).json()
    assert (doc["task_id"], doc["hyperparameters"], doc["command"]) == (task_id, {"lr": 0.1}, ["python", "x.py"])
    assert doc["platform_version"] and doc["sdk_version"] and doc["spec_sha256"]


def test_trying_a_checkpoint_is_one_call_and_reuses_the_model(platform: Platform) -> None:
    _, job_id = trained(platform)
    url = f"{platform.base}/v1/jobs/{job_id}/checkpoints/1/predict"
    first = httpx.post(url, headers=user(), json={"document": "my password stopped working"}, timeout=30)
    assert first.status_code == 200, first.text
    assert first.json()["prediction"]["probabilities"][0]["label"] == "Password Help"
    again = httpx.post(url, headers=user(), json={"document": "hello"}, timeout=30).json()
    assert again["model"]["modelId"] == first.json()["model"]["modelId"]
    models = httpx.get(f"{platform.base}/v1/models", headers=user()).json()["items"]
    assert [m["modelId"] for m in models] == [first.json()["model"]["modelId"]]
    assert [c[0] for c in platform.sidecar_calls] == ["acme", "acme"]  # the caller's own token went along
    assert platform.sidecar_calls[0][1] == {"modelId": models[0]["modelId"], "document": "my password stopped working"}


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("7/predict", {"document": "x"}, 404, "@7"),
        ("-1/predict", {"document": "x"}, 400, "epoch"),
        ("1/predict", {"document": "x", "sampleBase64Content": base64.b64encode(b"i").decode()}, 400, "document"),
        ("1/predict", {}, 400, "document"),
        ("1/predict", {"sampleBase64Content": "not base64!"}, 400, "sampleBase64Content"),
    ],
)
def test_bad_tries_are_refused_naming_what_is_wrong(
    platform: Platform, path: str, body: dict[str, str], status: int, words: str
) -> None:
    _, job_id = trained(platform)
    got = httpx.post(f"{platform.base}/v1/jobs/{job_id}/checkpoints/{path}", headers=user(), json=body)
    assert got.status_code == status, got.text
    assert words in got.text
    assert platform.sidecar_calls == []


def test_another_tenant_gets_404_on_rerun_provenance_and_try(platform: Platform) -> None:
    task_id, job_id = trained(platform)
    evil = user("evil")
    assert httpx.post(f"{platform.base}/v1/tasks/{task_id}/rerun", headers=evil, json={}).status_code == 404
    assert httpx.get(f"{platform.base}/v1/jobs/{job_id}/provenance", headers=evil).status_code == 404
    tried = httpx.post(f"{platform.base}/v1/jobs/{job_id}/checkpoints/1/predict", headers=evil, json={"document": "x"})
    assert tried.status_code == 404
    assert (
        platform.sidecar_calls == [] and httpx.get(f"{platform.base}/v1/models", headers=user()).json()["items"] == []
    )


def test_a_trainer_can_neither_read_nor_try_with_its_own_job_token(platform: Platform) -> None:
    _, job_id = trained(platform)
    own = trainer(job_id)
    assert httpx.get(f"{platform.base}/v1/jobs/{job_id}/provenance", headers=own).status_code == 403
    tried = httpx.post(f"{platform.base}/v1/jobs/{job_id}/checkpoints/1/predict", headers=own, json={"document": "x"})
    assert tried.status_code == 403
    rerun = httpx.post(f"{platform.base}/v1/tasks/{job_id.rsplit('.', 1)[0]}/rerun", headers=own, json={})
    assert rerun.status_code == 403
