"""Attacker tests for `GET /v1/jobs/{id}/checkpoints/download` over HTTP: it asks for what
reading the job asks for (a data scientist of the job's tenant, ROLE_TABLE), another
tenant's job is a 404 that says nothing more than an unknown one, and a token without the
role, a trainer's job token or no token at all gets nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from functions.api.app import create_app
from functions.api.policy import ROLE_TABLE
from functions.core import launching, reporting
from sdk.auth.tokens import Role
from sdk.contracts import events as ev
from tests.support.harness import Harness, bearer, job_bearer

ROUTE = "/v1/jobs/{job_id}/checkpoints/download"


@pytest.fixture
def client(h: Harness) -> Iterator[TestClient]:  # no default token: each request says who asks
    with TestClient(create_app(h.deps)) as c:
        yield c


def job_with_a_checkpoint(h: Harness) -> str:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="x", event_id="run", payload=ev.JobRunning())
    key = f"acme/{job.project_id}/{job.job_id}/checkpoints/epoch-0001/weights.pt"
    h.deps.artifacts.put(key, b"weights")
    report = ev.CheckpointReport(epoch=1, key=key, metrics={"loss": 0.5}, size_bytes=7, sha256="ab" * 32)
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="x", event_id="c1", payload=report)
    return job.job_id


def test_the_route_asks_what_reading_the_job_asks() -> None:
    assert ROLE_TABLE[("GET", ROUTE)] == ROLE_TABLE[("GET", "/v1/jobs/{job_id}")] == frozenset({Role.DATA_SCIENTIST})


def test_the_owner_tenant_gets_it(h: Harness, client: TestClient) -> None:
    job_id = job_with_a_checkpoint(h)
    resp = client.get(f"/v1/jobs/{job_id}/checkpoints/download", headers=bearer(Role.DATA_SCIENTIST, sub="ana@acme"))
    assert resp.status_code == 200 and resp.json()["sha256"] == "ab" * 32 and resp.json()["url"]


def test_another_tenant_gets_the_same_404_as_for_a_job_that_does_not_exist(h: Harness, client: TestClient) -> None:
    job_id = job_with_a_checkpoint(h)
    eve = bearer(Role.DATA_SCIENTIST, tenant="evil", sub="eve@evil")
    theirs = client.get(f"/v1/jobs/{job_id}/checkpoints/download", headers=eve)
    unknown = client.get("/v1/jobs/j-nope.1/checkpoints/download", headers=eve)
    assert theirs.status_code == unknown.status_code == 404
    assert "url" not in theirs.text and "ab" * 32 not in theirs.text
    assert theirs.json()["error"]["message"].replace(job_id, "ID") == unknown.json()["error"]["message"].replace(
        "j-nope.1", "ID"
    )


@pytest.mark.parametrize("role", [Role.APPROVER, Role.ADMIN, Role.SERVICE])
def test_other_roles_of_the_same_tenant_are_refused(h: Harness, client: TestClient, role: Role) -> None:
    job_id = job_with_a_checkpoint(h)
    resp = client.get(f"/v1/jobs/{job_id}/checkpoints/download", headers=bearer(role))
    assert resp.status_code == 403 and "url" not in resp.text


def test_a_trainers_job_token_and_no_token_get_nothing(h: Harness, client: TestClient) -> None:
    job_id = job_with_a_checkpoint(h)
    as_trainer = client.get(f"/v1/jobs/{job_id}/checkpoints/download", headers=job_bearer(job_id))
    anonymous = client.get(f"/v1/jobs/{job_id}/checkpoints/download")
    assert as_trainer.status_code == 403 and anonymous.status_code == 401
    assert "url" not in as_trainer.text + anonymous.text
