"""Roles, grants and the audit trail over real HTTP, on real DynamoDB/S3 (moto server)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from functions import bootstrap
from functions.api.app import create_app
from functions.core import cleanup, launching, reporting, sweeping
from functions.core.deps import Deps
from functions.local.platform import ensure_storage
from functions.publishing import RecordingPublisher
from functions.runtimes.recording import RecordingRuntime
from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.contracts import events as ev
from sdk.contracts.events import EventType
from tests.support.moto_settings import moto_settings
from tests.support.servers import serve

pytestmark = pytest.mark.integration
SECRET = "governance-secret-0123456789abcdef-xyz"


@dataclass
class Platform:
    url: str
    deps: Deps
    runtime: RecordingRuntime

    def call(self, method: str, path: str, who: dict[str, str], **kw: object) -> httpx.Response:
        return httpx.request(method, self.url + path, headers=who, timeout=10, **kw)  # type: ignore[arg-type]


@pytest.fixture
def platform(moto_endpoint: str) -> Iterator[Platform]:
    settings = moto_settings(
        moto_endpoint,
        name="gv",
        token_secret=SECRET,
        admin_tenant="ops",
    )
    runtime = RecordingRuntime()
    built = bootstrap.build(settings, runtime=runtime)
    deps = built.__class__(**{**vars(built), "events": RecordingPublisher()})
    ensure_storage(deps, settings)
    with serve(create_app(deps), health="/healthz") as base:
        yield Platform(base, deps, runtime)


def token(sub: str, *roles: Role, tenant: str = "acme") -> dict[str, str]:
    return {"Authorization": "Bearer " + tokens.user_token(tenant=tenant, sub=sub, secret=SECRET, roles=roles)}


ANA = token("ana", Role.DATA_SCIENTIST, Role.APPROVER)  # may approve, but never her own request
BOSS = token("boss", Role.APPROVER)
ADMIN = token("root", Role.ADMIN)
SERVICE = token("predictor", Role.SERVICE)
EVE = token("eve", Role.DATA_SCIENTIST, Role.APPROVER, Role.ADMIN, tenant="evil")
OPS = token("ops-admin", Role.ADMIN, tenant="ops")


def project(p: Platform) -> str:
    r = p.call("POST", "/v1/projects", ANA, json={"name": "p", "purpose": "governance", "datasets": ["d"]})
    assert r.status_code == 201, r.text
    return str(r.json()["project_id"])


def request_grant(p: Platform, pid: str, action: str = "train") -> str:
    r = p.call(
        "POST",
        "/v1/approvals",
        ANA,
        json={"datasets": ["d"], "action": action, "project": pid, "purpose": "intent model", "days": 30},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["state"], r.json()["grantee"]) == ("requested", f"project:{pid}")
    return str(r.json()["approval_id"])


TASK = {"name": "t", "command": ["python", "x.py"], "datasets": ["d"]}


def test_a_grant_is_requested_approved_used_and_revoked(platform: Platform) -> None:
    p = platform
    pid = project(p)
    assert p.call("POST", f"/v1/projects/{pid}/tasks", ANA, json=TASK).status_code == 403
    aid = request_grant(p, pid)
    own = p.call("POST", f"/v1/approvals/{aid}/approve", ANA, json={"reason": "mine"})
    assert own.status_code == 403 and "own request" in own.text
    assert p.call("POST", f"/v1/approvals/{aid}/approve", SERVICE).status_code == 403
    ok = p.call("POST", f"/v1/approvals/{aid}/approve", BOSS, json={"reason": "purpose fits"})
    assert ok.status_code == 200 and ok.json()["state"] == "approved"
    created = p.call("POST", f"/v1/projects/{pid}/tasks", ANA, json=TASK)
    assert created.status_code == 201, created.text
    assert p.call("POST", f"/v1/projects/{pid}/datasets", BOSS, json={"name": "d", "op": "upload"}).status_code == 200
    download = p.call("POST", f"/v1/projects/{pid}/datasets", ANA, json={"name": "d", "op": "download"})
    assert download.status_code == 403 and "no active read grant" in download.text
    assert p.call("POST", f"/v1/approvals/{aid}/revoke", BOSS, json={"reason": "done"}).json()["state"] == "revoked"
    assert p.call("POST", f"/v1/projects/{pid}/tasks", ANA, json=TASK).status_code == 403
    shown = p.call("GET", f"/v1/approvals/{aid}", ADMIN).json()
    assert [(c["actor"], c["to_state"]) for c in shown["history"]] == [
        ("ana", "requested"),
        ("boss", "approved"),
        ("boss", "revoked"),
    ]
    listed = p.call("GET", "/v1/approvals", BOSS, params={"state": "revoked", "dataset": "d"}).json()["items"]
    assert [a["approval_id"] for a in listed] == [aid]
    assert p.call("GET", "/v1/approvals", BOSS, params={"state": "active"}).json()["items"] == []
    trail = p.call("GET", "/v1/audit", ADMIN, params={"resource": f"approval/{aid}"}).json()["items"]
    assert [(r["actor"], r["action"], r["decision"]) for r in reversed(trail)] == [
        ("ana", "approval.request", "allowed"),
        ("ana", "approval.approve", "denied"),
        ("predictor", "POST /v1/approvals/{approval_id}/approve", "denied"),
        ("boss", "approval.approve", "allowed"),
        ("boss", "approval.revoke", "allowed"),
    ]


def test_wrong_roles_get_403_other_tenants_404_and_both_are_audited(platform: Platform) -> None:
    p = platform
    pid = project(p)
    aid = request_grant(p, pid)
    assert p.call("GET", "/v1/projects", SERVICE).status_code == 403
    assert p.call("GET", "/v1/audit", SERVICE).status_code == 403
    assert (
        p.call(
            "POST",
            "/v1/approvals",
            BOSS,
            json={"datasets": ["d"], "action": "read", "principal": "boss", "purpose": "x", "days": 1},
        ).status_code
        == 403
    )
    for method, path in (
        ("GET", f"/v1/projects/{pid}"),
        ("GET", f"/v1/approvals/{aid}"),
        ("POST", f"/v1/approvals/{aid}/revoke"),
    ):
        assert p.call(method, path, EVE).status_code == 404, path
    mine = p.call("GET", "/v1/audit", token("predictor", Role.DATA_SCIENTIST)).json()["items"]
    assert {r["actor"] for r in mine} == {"predictor"} and len(mine) == 2  # its own refusals only
    acme = p.call("GET", "/v1/audit", ADMIN, params={"actor": "boss"}).json()["items"]
    assert [(r["resource"], r["decision"]) for r in acme] == [("route/POST /v1/approvals", "denied")]
    assert p.call("GET", "/v1/audit", ADMIN, params={"tenant": "evil"}).status_code == 404
    evil = p.call("GET", "/v1/audit", OPS, params={"tenant": "evil"}).json()["items"]
    assert sorted(r["resource"] for r in evil) == sorted([f"project/{pid}", f"approval/{aid}", f"approval/{aid}"])
    assert all(r["decision"] == "denied" and r["actor"] == "eve" for r in evil)
    assert p.call("GET", "/v1/approvals", OPS, params={"tenant": "acme"}).json()["items"][0]["approval_id"] == aid
    decided = p.call("POST", f"/v1/approvals/{aid}/approve", OPS, json={"tenant": "acme"})
    assert decided.status_code == 404  # platform admins revoke anywhere, but decide only at home
    assert p.call("POST", f"/v1/approvals/{aid}/revoke", OPS, json={"tenant": "acme"}).status_code == 409


def test_revocation_stops_a_running_job_at_once(platform: Platform) -> None:
    p = platform
    pid = project(p)
    aid = request_grant(p, pid)
    p.call("POST", f"/v1/approvals/{aid}/approve", BOSS)
    job = p.call("POST", f"/v1/projects/{pid}/tasks", ANA, json=TASK).json()["job"]
    [launched] = launching.admit_pool(p.deps, "default")
    assert launched.grants == (aid,)
    reporting.report(
        p.deps,
        tenant="acme",
        job_id=job["job_id"],
        event_type=EventType.JOB_RUNNING,
        event_id="r1",
        payload=ev.JobRunning(),
    )
    p.call("POST", f"/v1/approvals/{aid}/revoke", ADMIN, json={"reason": "consent withdrawn"})
    assert p.call("GET", f"/v1/jobs/{job['job_id']}", ANA).json()["state"] == "CANCELLED"  # no sweep needed
    assert [e.data["job_id"] for e in p.deps.events.of_type(EventType.JOB_FINISHED)] == [job["job_id"]]  # type: ignore[attr-defined]
    assert sweeping.sweep(p.deps).access_revoked == []
    cleanup.cleanup(p.deps, tenant="acme", job_id=job["job_id"])
    got = p.call("GET", f"/v1/jobs/{job['job_id']}", ANA).json()
    assert (got["state"], got["failure_kind"], got["cleaned_up"]) == ("CANCELLED", "access_revoked", True)
    assert got["reason"] == f"access revoked: grant {aid} was revoked by root: consent withdrawn"
    assert job["job_id"] in p.runtime.stopped
    states = p.call("GET", "/v1/audit", ADMIN, params={"resource": f"job/{job['job_id']}"}).json()["items"]
    assert [r["reason"].split(":")[0] for r in reversed(states)] == [
        "new -> QUEUED",
        "QUEUED -> LAUNCHING",
        "LAUNCHING -> RUNNING",
        "RUNNING -> CANCELLED",
    ]


BODIES = {
    "/v1/projects/{project_id}": {"purpose": "mine now"},
    "/v1/projects/{project_id}/tasks": {"name": "t", "command": ["x"]},
    "/v1/projects/{project_id}/datasets": {"name": "d", "op": "upload"},
    "/v1/jobs/{job_id}/artifacts": {"name": "x.bin"},
    "/v1/tasks/{task_id}": {"name": "renamed"},
    "/v1/tasks/{task_id}/rerun": {"hyperparameters": {"lr": 0.1}},
    "/v1/jobs/{job_id}/checkpoints/{epoch}/predict": {"document": "my password stopped working"},
}


def test_every_route_on_another_tenants_resource_is_not_found_and_audited(platform: Platform) -> None:
    from functions.api.policy import ROLE_TABLE
    from functions.domain.registry import PublishedModel
    from tests.support.builders import T0

    p = platform
    pid = project(p)
    aid = request_grant(p, pid)
    p.call("POST", f"/v1/approvals/{aid}/approve", BOSS)
    job = p.call("POST", f"/v1/projects/{pid}/tasks", ANA, json=TASK).json()["job"]
    p.deps.models.create_model(
        PublishedModel(
            model_id="m-1",
            tenant="acme",
            name="m",
            kind="intent",
            labels=("a",),
            project_id=pid,
            task_id=job["task_id"],
            job_id=job["job_id"],
            epoch=1,
            metrics={},
            archive_key="k",
            sha256="0" * 64,
            size_bytes=1,
            created_at=T0,
        )
    )
    ids = {
        "project_id": pid,
        "task_id": job["task_id"],
        "other_id": job["task_id"],
        "job_id": job["job_id"],
        "model_id": "m-1",
        "approval_id": aid,
        "name": "d",
        "epoch": 1,
    }
    evil_job = {
        "Authorization": "Bearer "
        + tokens.job_token(tenant="evil", job_id=job["job_id"], secret=SECRET, expires_at=int(time.time()) + 60)
    }
    tried = []
    for (method, template), roles in sorted(ROLE_TABLE.items()):
        if "{" not in template:
            continue  # collections: scoped to the caller's tenant by construction
        path = template.format(**ids)
        who = evil_job if roles == {Role.JOB} else EVE
        r = p.call(method, path, who, json=BODIES.get(template))
        assert r.status_code == 404, (method, template, r.status_code, r.text)
        tried.append(f"{method} {template}")
    records = p.call("GET", "/v1/audit", OPS, params={"tenant": "evil", "limit": 1000}).json()["items"]
    assert sorted(r["action"] for r in records if r["decision"] == "denied") == sorted(tried)
    assert p.call("GET", f"/v1/jobs/{job['job_id']}", ANA).json()["state"] == "QUEUED"  # nothing changed


def test_a_grant_covers_one_projects_dataset_and_nobody_approves_a_grant_to_themselves(platform: Platform) -> None:
    """Issue 9, point 4, over REST: a person's grant on project A's `d` does not open project B's
    `d`; an approver cannot approve the grant a colleague asked for in the approver's name."""
    p = platform
    mine, other = project(p), project(p)  # both have a dataset named "d"
    carol = token("carol", Role.DATA_SCIENTIST)
    asked = p.call(
        "POST",
        "/v1/approvals",
        ANA,
        json={"datasets": ["d"], "action": "read", "project": mine, "principal": "carol", "purpose": "look", "days": 1},
    )
    assert asked.status_code == 201 and asked.json()["project"] == mine
    assert p.call("POST", f"/v1/approvals/{asked.json()['approval_id']}/approve", BOSS).status_code == 200
    download = {"name": "d", "op": "download"}
    assert p.call("POST", f"/v1/projects/{mine}/datasets", carol, json=download).status_code == 409  # granted; empty
    refused = p.call("POST", f"/v1/projects/{other}/datasets", carol, json=download)
    assert refused.status_code == 403 and "no active read grant" in refused.text

    for_boss = p.call(
        "POST",
        "/v1/approvals",
        ANA,
        json={"datasets": ["d"], "action": "read", "project": mine, "principal": "boss", "purpose": "x", "days": 1},
    )
    self_approval = p.call("POST", f"/v1/approvals/{for_boss.json()['approval_id']}/approve", BOSS)
    assert self_approval.status_code == 403 and "to themselves" in self_approval.text
    no_project = p.call(
        "POST",
        "/v1/approvals",
        ANA,
        json={"datasets": ["d"], "action": "read", "principal": "carol", "purpose": "x", "days": 1},
    )
    assert no_project.status_code == 400 and "project" in {x["field"] for x in no_project.json()["error"]["problems"]}
