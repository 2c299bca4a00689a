"""A job token (local mode, HS256) acts for its own job only, only while that job is live
and its TTL lasts; every refusal is on the audit trail. The FastAPI app over fakes, with
the token clock on the harness's clock."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from functions.domain.audit import AuditRecord, Decision
from sdk.auth import tokens
from sdk.auth.tokens import Role
from tests.support.harness import SECRET, harness
from tests.support.two_jobs import TwoJobs, two_jobs


class Jobs(TwoJobs):
    def post_event(self, token: str, subject: str) -> tuple[int, str]:
        event = {
            "specversion": "1.0",
            "id": uuid.uuid4().hex,
            "type": "io.trainyard.job.running",
            "source": "trainer",
            "subject": subject,
            "data": {},
        }
        r = self.client.post(
            "/v1/events",
            content=json.dumps(event),
            headers={"Authorization": f"Bearer {token}", "content-type": "application/cloudevents+json"},
        )
        return r.status_code, r.text

    def call(self, method: str, path: str, token: str, **kw: object) -> tuple[int, str]:
        r = self.client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kw)  # type: ignore[arg-type]
        return r.status_code, r.text

    def denials(self, tenant: str, actor: str) -> list[AuditRecord]:
        records = self.h.store.audit_records(tenant, actor=actor, limit=1000)
        return sorted((r for r in records if r.decision is Decision.DENIED), key=lambda r: r.action)


@pytest.fixture
def jobs() -> Iterator[Jobs]:
    h = harness()
    project = h.project(datasets=("d",))
    h.grant(project)
    h.deps.datasets.put(f"acme/{project.project_id}/d", b"rows")
    with two_jobs(h, project, datasets=["d"]) as (client, a, b):
        yield Jobs(h, client, a, b)


def test_a_job_token_reports_and_fetches_for_its_own_job(jobs: Jobs) -> None:
    token = jobs.token(jobs.a)
    assert jobs.post_event(token, jobs.a)[0] == 202
    assert jobs.call("GET", f"/v1/jobs/{jobs.a}/datasets/d", token)[0] == 200
    assert jobs.call("POST", f"/v1/jobs/{jobs.a}/artifacts", token, json={"name": "w.bin"})[0] == 200


def test_another_jobs_events_and_data_are_refused_and_audited(jobs: Jobs) -> None:
    token = jobs.token(jobs.a)
    assert jobs.post_event(token, jobs.b)[0] == 403
    assert jobs.call("GET", f"/v1/jobs/{jobs.b}/datasets/d", token)[0] == 404
    assert jobs.call("POST", f"/v1/jobs/{jobs.b}/artifacts", token, json={"name": "w.bin"})[0] == 404
    assert [(r.action, r.resource) for r in jobs.denials("acme", f"job:{jobs.a}")] == [
        ("GET /v1/jobs/{job_id}/datasets/{name}", f"job/{jobs.b}"),
        ("POST /v1/events", "route/POST /v1/events"),
        ("POST /v1/jobs/{job_id}/artifacts", f"job/{jobs.b}"),
    ]


def test_a_token_of_another_tenant_naming_this_job_finds_nothing_and_is_audited(jobs: Jobs) -> None:
    evil = jobs.h.deps.config.job_tokens().job_token(
        tenant="evil", job_id=jobs.a, expires_at=int(jobs.h.clock.now().timestamp()) + 600
    )
    assert jobs.post_event(evil, jobs.a)[0] == 404
    assert jobs.call("GET", f"/v1/jobs/{jobs.a}/datasets/d", evil)[0] == 404
    denied = jobs.denials("evil", f"job:{jobs.a}")
    assert [(r.resource, r.tenant) for r in denied] == [(f"job/{jobs.a}", "evil")] * 2
    assert not jobs.h.store.audit_records("acme", actor=f"job:{jobs.a}")  # acme's trail saw nothing of it


def test_a_finished_jobs_token_stops_working_and_is_audited(jobs: Jobs) -> None:
    boss = tokens.user_token(tenant="acme", sub="ds@acme", secret=SECRET, roles=(Role.DATA_SCIENTIST,))
    assert jobs.call("POST", f"/v1/jobs/{jobs.b}/cancel", boss)[0] == 200
    token = jobs.token(jobs.b)
    status, text = jobs.post_event(token, jobs.b)
    assert status == 403 and "stopped working when it ended" in text
    assert jobs.call("GET", f"/v1/jobs/{jobs.b}/datasets/d", token)[0] == 403
    denied = jobs.denials("acme", f"job:{jobs.b}")
    assert [r.resource for r in denied] == [f"job/{jobs.b}"] * 2
    assert all(f"job {jobs.b} is CANCELLED" in r.reason for r in denied)


def test_a_job_token_past_its_ttl_is_refused_and_audited_while_the_job_still_runs(jobs: Jobs) -> None:
    token = jobs.token(jobs.a)
    exp = tokens.HS256Verifier(SECRET, clock=lambda: 0.0).verify(token).exp
    jobs.h.clock.advance(exp - jobs.h.clock.now().timestamp() + tokens.DEFAULT_LEEWAY_S)
    status, text = jobs.post_event(token, jobs.a)
    assert status == 401 and "expired at" in text
    [record] = jobs.denials("acme", f"job:{jobs.a}")
    assert (record.action, record.resource) == ("POST /v1/events", "route/POST /v1/events")
    assert jobs.h.store.get_job("acme", jobs.a).state.is_active
