"""The functions as a cluster runs them (functions-framework ASGI apps) and the API,
over real HTTP, on real DynamoDB/S3 (moto server), in both CloudEvent modes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from functions import bootstrap
from functions.api.app import create_app
from functions.domain.model import JobState
from functions.local.platform import ensure_storage, function_apps
from functions.publishing import RecordingPublisher, binary_request
from functions.runtimes.recording import RecordingRuntime
from sdk.auth import tokens
from sdk.contracts import events as ev
from sdk.contracts.events import EventType
from tests.support.moto_settings import moto_settings
from tests.support.servers import serve

pytestmark = pytest.mark.integration
SECRET = "integration-secret-0123456789abcdef-xyz"


@pytest.fixture
def platform(moto_endpoint: str) -> Iterator[tuple[str, bootstrap.Deps, RecordingRuntime]]:
    settings = moto_settings(
        moto_endpoint,
        name="it",
        token_secret=SECRET,
        platform_url="http://trainer-facing.test",
    )
    runtime = RecordingRuntime()
    deps = bootstrap.build(settings, runtime=runtime)
    deps = deps.__class__(**{**vars(deps), "events": RecordingPublisher()})
    ensure_storage(deps, settings)
    routes = [Mount(f"/fn/{n}", app=a) for n, a in function_apps(deps).items()]  # type: ignore[arg-type]
    app = Starlette(routes=[*routes, Mount("/", app=create_app(deps))])
    with serve(app, health="/healthz") as base:
        yield base, deps, runtime


def user(tenant: str = "acme") -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens.user_token(tenant=tenant, sub="u", secret=SECRET)}


def make_task(base: str) -> dict[str, object]:
    p = httpx.post(f"{base}/v1/projects", headers=user(), json={"name": "p", "purpose": "it", "datasets": ["d"]})
    assert p.status_code == 201, p.text
    t = httpx.post(
        f"{base}/v1/projects/{p.json()['project_id']}/tasks",
        headers=user(),
        json={"name": "t", "command": ["python", "x.py"]},
    )
    assert t.status_code == 201, t.text
    return t.json()["job"]


def binary(base: str, fn: str, type_: str, data: dict[str, object], **ext: str) -> httpx.Response:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": ext.pop("id", uuid.uuid4().hex),
        "ce-type": type_,
        "ce-source": "test",
        "content-type": "application/json",
        **{f"ce-{k}": v for k, v in ext.items()},
    }
    return httpx.post(f"{base}/fn/{fn}/", headers=headers, content=json.dumps(data))


def structured(base: str, fn: str, type_: str, data: dict[str, object], **ext: str) -> httpx.Response:
    body = {
        "specversion": "1.0",
        "id": ext.pop("id", uuid.uuid4().hex),
        "type": type_,
        "source": "test",
        "datacontenttype": "application/json",
        "data": data,
        **ext,
    }
    return httpx.post(
        f"{base}/fn/{fn}/", headers={"content-type": "application/cloudevents+json"}, content=json.dumps(body)
    )


@pytest.mark.parametrize("post", [binary, structured], ids=["binary", "structured"])
def test_launch_and_reports_over_http(platform: tuple[str, bootstrap.Deps, RecordingRuntime], post) -> None:
    base, _, runtime = platform
    job = make_task(base)
    jid = str(job["job_id"])
    assert post(base, "launch", EventType.JOB_CREATED, {"tenant": "acme", "job_id": jid}).status_code == 200
    assert jid in runtime.launched
    ext = {"subject": jid, "trainyardtenant": "acme"}
    assert post(base, "report", EventType.JOB_RUNNING, {}, **ext).status_code == 200
    r = post(base, "report", EventType.JOB_EPOCH, {"epoch": 1, "metrics": {"loss": 0.5}}, id="ep-1", **ext)
    assert r.status_code == 200
    again = post(base, "report", EventType.JOB_EPOCH, {"epoch": 1, "metrics": {"loss": 9.0}}, id="ep-1", **ext)
    assert again.status_code == 200  # replay acknowledged, nothing changed
    epochs = httpx.get(f"{base}/v1/jobs/{jid}/epochs", headers=user()).json()["items"]
    assert [e["metrics"] for e in epochs] == [{"loss": 0.5}]
    assert post(base, "report", EventType.JOB_SUCCEEDED, {"metrics": {}}, **ext).status_code == 200
    assert (
        post(
            base, "cleanup", EventType.JOB_FINISHED, {"tenant": "acme", "job_id": jid, "state": "SUCCEEDED"}
        ).status_code
        == 200
    )
    got = httpx.get(f"{base}/v1/jobs/{jid}", headers=user()).json()
    assert got["state"] == JobState.SUCCEEDED and got["cleaned_up"] is True


def test_malformed_cloudevents_are_400_and_store_nothing(platform) -> None:
    base, deps, _ = platform
    job = make_task(base)
    jid = str(job["job_id"])
    bad = httpx.post(f"{base}/fn/report/", headers={"content-type": "application/json"}, content=b"{}")
    assert bad.status_code == 400
    wrong = binary(base, "report", EventType.JOB_EPOCH, {"epoch": "one"}, subject=jid, trainyardtenant="acme")
    assert wrong.status_code == 400
    assert deps.jobs.epochs("acme", jid) == []
    stored = deps.jobs.get_job("acme", jid)
    assert (stored.state, stored.version) == ("QUEUED", 0)  # as created: nothing applied


def test_api_errors_name_the_field_and_hide_other_tenants(platform) -> None:
    base, _, _ = platform
    r = httpx.post(f"{base}/v1/projects", headers=user(), json={"name": "", "purpose": "x", "bogus": 1})
    assert r.status_code == 400
    fields = {p["field"] for p in r.json()["error"]["problems"]}
    assert {"name", "bogus"} <= fields
    job = make_task(base)
    for path in (
        f"/v1/jobs/{job['job_id']}",
        f"/v1/tasks/{job['task_id']}",
        f"/v1/projects/{job['project_id']}",
        f"/v1/jobs/{job['job_id']}/epochs",
        f"/v1/projects/{job['project_id']}/comparison",
    ):
        assert httpx.get(base + path, headers=user("evil")).status_code == 404, path
    assert httpx.post(f"{base}/v1/jobs/{job['job_id']}/cancel", headers=user("evil")).status_code == 404
    assert httpx.get(f"{base}/v1/projects").status_code == 401
    assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "trainyard"


def test_task_requested_event_is_idempotent(platform) -> None:
    base, deps, _ = platform
    p = httpx.post(f"{base}/v1/projects", headers=user(), json={"name": "p", "purpose": "it"}).json()
    data = {"tenant": "acme", "project_id": p["project_id"], "task": {"name": "ext", "command": ["true"]}}
    for _ in range(2):
        assert binary(base, "create", EventType.TASK_REQUESTED, data, id="req-1").status_code == 200
    tasks = httpx.get(f"{base}/v1/projects/{p['project_id']}/tasks", headers=user()).json()["items"]
    assert len(tasks) == 1
    created = deps.events.of_type(EventType.JOB_CREATED)  # type: ignore[attr-defined]
    assert len({e.id for e in created}) == 1


def test_a_trainers_batched_reports_through_the_real_ingress_and_report_function(platform) -> None:
    """The SDK Trainer, over real HTTP, against the API's ingress; the forwarded batch event
    delivered to the report function over HTTP; applied in order on DynamoDB (moto)."""
    from sdk.trainer import Trainer

    base, deps, runtime = platform
    job = make_task(base)
    jid = str(job["job_id"])
    assert binary(base, "launch", EventType.JOB_CREATED, {"tenant": "acme", "job_id": jid}).status_code == 200
    trainer = Trainer.connect(base, runtime.launched[jid].env["TRAINYARD_TOKEN"], jid, sleep=lambda _: None)
    trainer.running()
    for n in range(1, 121):
        trainer.epoch(n, {"loss": 1 / n})
    trainer.succeed({"loss": 0.0})
    trainer.close()
    sent = deps.events.drain()  # type: ignore[attr-defined]
    batches = [e for e in sent if e.type == EventType.JOB_REPORTS]
    assert batches, "120 epochs faster than a round trip went in batches"
    for out in sent:
        if out.type in (EventType.JOB_REPORTS, *ev.TRAINER_EVENTS):
            headers, body = binary_request(out)
            assert httpx.post(f"{base}/fn/report/", headers=headers, content=body).status_code == 200
    epochs = httpx.get(f"{base}/v1/jobs/{jid}/epochs", headers=user()).json()["items"]
    assert [e["epoch"] for e in epochs] == list(range(1, 121))
    got = httpx.get(f"{base}/v1/jobs/{jid}", headers=user()).json()
    assert got["state"] == JobState.SUCCEEDED
    other = make_task(base)
    evil = [
        {"specversion": "1.0", "id": "x1", "type": EventType.JOB_EPOCH, "source": "t", "subject": jid,
         "data": {"epoch": 1}},
        {"specversion": "1.0", "id": "x2", "type": EventType.JOB_EPOCH, "source": "t", "subject": other["job_id"],
         "data": {"epoch": 1}},
    ]  # fmt: skip
    token = runtime.launched[jid].env["TRAINYARD_TOKEN"]
    deps.events.drain()  # type: ignore[attr-defined]
    r = httpx.post(
        f"{base}/v1/events",
        content=json.dumps(evil),
        headers={"Authorization": f"Bearer {token}", "content-type": ev.BATCH_CONTENT_TYPE},
    )
    assert r.status_code == 403  # another job's id: the whole batch refused, before anything else
    refused = [e for e in deps.events.drain() if e.type == EventType.JOB_REPORTS]  # type: ignore[attr-defined]
    assert refused == []
