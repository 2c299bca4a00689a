"""Issue 9, the event plane: whoever reaches a function (a trainer pod through the cluster's
gateway, a local process) and names a victim's tenant in an event is refused, unless the
platform signed the event with its key. The functions as a cluster runs them, over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from functions import bootstrap, eventauth
from functions.api.app import create_app
from functions.local.platform import ensure_storage, function_apps
from functions.ports import OutEvent
from functions.publishing import RecordingPublisher, signed_request
from functions.runtimes.recording import RecordingRuntime
from sdk.auth import tokens
from sdk.contracts.events import EventType
from tests.support.moto_settings import moto_settings
from tests.support.servers import serve

pytestmark = pytest.mark.integration
SECRET = "integration-secret-0123456789abcdef-xyz"
KEY = "platform-event-key-0123456789abcdef-xyz"


@pytest.fixture
def platform(moto_endpoint: str) -> Iterator[tuple[str, bootstrap.Deps]]:
    settings = moto_settings(
        moto_endpoint,
        name="sig",
        token_secret=SECRET,
        event_key=KEY,
    )
    deps = bootstrap.build(settings, runtime=RecordingRuntime())
    deps = deps.__class__(**{**vars(deps), "events": RecordingPublisher()})
    ensure_storage(deps, settings)
    routes = [Mount(f"/fn/{n}", app=a) for n, a in function_apps(deps).items()]  # type: ignore[arg-type]
    with serve(Starlette(routes=[*routes, Mount("/", app=create_app(deps))]), health="/healthz") as base:
        yield base, deps


def user(tenant: str = "acme") -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens.user_token(tenant=tenant, sub="u", secret=SECRET)}


def victim_job(base: str) -> str:
    p = httpx.post(f"{base}/v1/projects", headers=user(), json={"name": "p", "purpose": "it"})
    t = httpx.post(
        f"{base}/v1/projects/{p.json()['project_id']}/tasks",
        headers=user(),
        json={"name": "t", "command": ["python", "x.py"]},
    )
    return str(t.json()["job"]["job_id"])


def post(
    base: str,
    fn: str,
    kind: str,
    data: dict[str, object],
    *,
    subject: str = "",
    tenant: str | None = None,
    key: str | None = None,
    then: dict[str, str] | None = None,
) -> httpx.Response:
    """A binary CloudEvent to a function; signed with `key` if given, `then` headers changed after."""
    event = OutEvent(
        type=kind,
        source="attacker",
        subject=subject,
        data=data,
        id=uuid.uuid4().hex,
        extensions={eventauth.TENANT_EXTENSION: tenant} if tenant else {},
    )
    headers, body = signed_request(event, key.encode() if key else None)
    headers.update(then or {})
    return httpx.post(f"{base}/fn/{fn}/", headers=headers, content=body)


def test_a_forged_report_naming_another_tenant_is_refused(platform: tuple[str, bootstrap.Deps]) -> None:
    base, deps = platform
    job = victim_job(base)
    launched = post(base, "launch", EventType.JOB_CREATED, {"tenant": "acme", "job_id": job}, key=KEY)
    assert launched.status_code == 200
    running = {"subject": job, "tenant": "acme"}

    assert post(base, "report", EventType.JOB_RUNNING, {}, **running).status_code == 401  # unsigned
    assert (
        post(
            base, "report", EventType.JOB_RUNNING, {}, **running, key="an-attackers-own-key-0123456789abcdef"
        ).status_code
        == 401
    )
    assert (
        post(
            base,
            "report",
            EventType.JOB_RUNNING,
            {},
            subject=job,
            tenant="evil",
            key=KEY,
            then={"ce-trainyardtenant": "acme"},
        ).status_code
        == 401
    )  # signed for itself, then retargeted
    assert (
        post(
            base,
            "report",
            EventType.JOB_EPOCH,
            {"epoch": 1, "metrics": {"loss": 0.5}},
            **running,
            key=KEY,
            then={"ce-id": "replayed-under-a-new-id"},
        ).status_code
        == 401
    )
    assert deps.jobs.get_job("acme", job).state == "LAUNCHING"  # nothing applied

    assert post(base, "report", EventType.JOB_RUNNING, {}, **running, key=KEY).status_code == 200
    assert deps.jobs.get_job("acme", job).state == "RUNNING"


def test_a_planted_task_or_finished_job_is_refused(platform: tuple[str, bootstrap.Deps]) -> None:
    base, deps = platform
    job = victim_job(base)
    project = deps.jobs.get_job("acme", job).project_id
    plant = {"tenant": "acme", "project_id": project, "task": {"name": "planted", "command": ["sh", "-c", "id"]}}
    assert post(base, "create", EventType.TASK_REQUESTED, plant).status_code == 401
    assert [t.spec.name for t in deps.tasks.list_tasks("acme", project)] == ["t"]
    finished = {"tenant": "acme", "job_id": job, "state": "SUCCEEDED"}
    assert post(base, "cleanup", EventType.JOB_FINISHED, finished).status_code == 401


def test_the_sweeps_ping_names_no_tenant_and_needs_no_signature(platform: tuple[str, bootstrap.Deps]) -> None:
    base, _ = platform
    assert post(base, "sweep", EventType.PING, {}).status_code == 200


def test_a_report_id_taken_by_another_tenants_trainer_does_not_drop_a_real_report(
    platform: tuple[str, bootstrap.Deps],
) -> None:
    """Issue 9, point 5: trainers choose their event ids; another tenant's trainer that posts
    an id first must not make the victim's real report a 'replay'."""
    base, deps = platform
    victim = victim_job(base)
    p = httpx.post(f"{base}/v1/projects", headers=user("evil"), json={"name": "p", "purpose": "it"})
    t = httpx.post(
        f"{base}/v1/projects/{p.json()['project_id']}/tasks",
        headers=user("evil"),
        json={"name": "t", "command": ["python", "x.py"]},
    )
    attacker = str(t.json()["job"]["job_id"])
    for tenant, job in (("acme", victim), ("evil", attacker)):
        assert (
            post(base, "launch", EventType.JOB_CREATED, {"tenant": tenant, "job_id": job}, key=KEY).status_code == 200
        )

    def running(tenant: str, job: str) -> httpx.Response:  # as the ingress forwards a trainer's event
        event = OutEvent(
            type=EventType.JOB_RUNNING,
            source="trainer",
            subject=job,
            data={},
            id="running-of-the-victim",
            extensions={eventauth.TENANT_EXTENSION: tenant},
        )
        headers, body = signed_request(event, KEY.encode())
        return httpx.post(f"{base}/fn/report/", headers=headers, content=body)

    assert running("evil", attacker).status_code == 200  # the attacker's trainer takes the id first
    assert deps.jobs.get_job("evil", attacker).state == "RUNNING"
    assert running("acme", victim).status_code == 200
    applied = deps.jobs.get_job("acme", victim)
    assert applied.state == "RUNNING"  # applied, not dropped as a replay
    assert running("acme", victim).status_code == 200  # a true replay is still acknowledged ...
    assert deps.jobs.get_job("acme", victim).version == applied.version  # ... and changes nothing
