"""The route -> roles table, exercised over the real FastAPI app on fakes: each role can call
exactly the routes of its row, every refusal is audited, and no route escapes the table."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from functions.api.app import create_app
from functions.api.policy import ROLE_TABLE
from functions.domain.audit import Decision
from sdk.auth.tokens import Role
from tests.support.harness import Harness, bearer, harness, job_bearer

USER_ROLES = [Role.DATA_SCIENTIST, Role.APPROVER, Role.ADMIN, Role.SERVICE]


@pytest.fixture(scope="module")
def h() -> Harness:
    return harness()


@pytest.fixture(scope="module")
def client(h: Harness) -> Iterator[TestClient]:
    with TestClient(create_app(h.deps)) as c:
        yield c


def call(client: TestClient, method: str, template: str, headers: dict[str, str]) -> tuple[int, str]:
    path = re.sub(r"\{[^}]+\}", "x-1", template)
    body = {} if method in ("POST", "PATCH") else None
    r = client.request(method, path, headers=headers, json=body)
    message = (
        r.json().get("error", {}).get("message", "")
        if r.headers.get("content-type", "").startswith("application/json") and isinstance(r.json(), dict)
        else ""
    )
    return r.status_code, message


def refused_by_table(status: int, message: str) -> bool:
    return status == 403 and re.search(r" may not [A-Z]+ /v1/\S*; it takes ", message) is not None


def test_the_table_lists_every_api_route_and_nothing_else(h: Harness) -> None:
    paths = create_app(h.deps).openapi()["paths"]
    routes = {(method.upper(), path) for path, ops in paths.items() for method in ops}
    public = {("GET", "/healthz"), ("GET", "/v1/.well-known/jwks.json")}  # health, and job tokens' public keys
    assert routes - public == set(ROLE_TABLE)
    assert public <= routes


@pytest.mark.parametrize(("method", "template"), sorted(ROLE_TABLE))
def test_each_role_can_call_exactly_the_routes_of_its_row(client: TestClient, method: str, template: str) -> None:
    allowed = ROLE_TABLE[(method, template)]
    seen = {}
    for role in USER_ROLES:
        seen[role] = refused_by_table(*call(client, method, template, bearer(role)))
    seen[Role.JOB] = refused_by_table(*call(client, method, template, job_bearer("x-1")))
    assert {role for role, refused in seen.items() if not refused} == set(allowed)
    assert refused_by_table(*call(client, method, template, bearer()))  # no role, no rights


def test_a_job_role_in_a_user_token_counts_for_nothing(client: TestClient) -> None:
    assert refused_by_table(*call(client, "GET", "/v1/jobs/{job_id}/datasets/{name}", bearer(Role.JOB)))


def test_refusals_are_audited_with_the_route_and_the_request_id(client: TestClient, h: Harness) -> None:
    headers = {**bearer(Role.SERVICE, sub="svc@acme"), "x-request-id": "req-42"}
    assert client.get("/v1/projects", headers=headers).status_code == 403
    [record] = h.store.audit_records("acme", actor="svc@acme")
    assert (record.action, record.resource, record.decision, record.request_id) == (
        "GET /v1/projects",
        "route/GET /v1/projects",
        Decision.DENIED,
        "req-42",
    )
    assert "service may not GET /v1/projects" in record.reason


def test_another_tenants_resource_is_not_found_and_the_attempt_audited(client: TestClient, h: Harness) -> None:
    project = client.post(
        "/v1/projects", headers=bearer(Role.DATA_SCIENTIST), json={"name": "p", "purpose": "x"}
    ).json()["project_id"]
    evil = bearer(Role.DATA_SCIENTIST, tenant="evil", sub="eve@evil")
    assert client.get(f"/v1/projects/{project}", headers=evil).status_code == 404
    [record] = h.store.audit_records("evil", actor="eve@evil")
    assert (record.resource, record.decision) == (f"project/{project}", Decision.DENIED)
    assert record.action == "GET /v1/projects/{project_id}"


# The rows as the README documents them, written out apart from the table they check.
PROJECT_WORK = {
    ("POST", "/v1/projects"),
    ("GET", "/v1/projects"),
    ("GET", "/v1/projects/{project_id}"),
    ("PATCH", "/v1/projects/{project_id}"),
    ("DELETE", "/v1/projects/{project_id}"),
    ("POST", "/v1/projects/{project_id}/tasks"),
    ("GET", "/v1/projects/{project_id}/tasks"),
    ("GET", "/v1/projects/{project_id}/comparison"),
    ("POST", "/v1/projects/{project_id}/datasets"),
    ("GET", "/v1/projects/{project_id}/datasets/{name}"),
    ("POST", "/v1/projects/{project_id}/datasets/{name}/validate"),
    ("GET", "/v1/tasks/{task_id}"),
    ("GET", "/v1/tasks/{task_id}/jobs"),
    ("GET", "/v1/jobs/{job_id}"),
    ("PATCH", "/v1/tasks/{task_id}"),
    ("POST", "/v1/tasks/{task_id}/archive"),
    ("POST", "/v1/tasks/{task_id}/unarchive"),
    ("POST", "/v1/tasks/{task_id}/rerun"),
    ("GET", "/v1/tasks/{task_id}/diff/{other_id}"),
    ("POST", "/v1/jobs/{job_id}/cancel"),
    ("GET", "/v1/jobs/{job_id}/epochs"),
    ("GET", "/v1/jobs/{job_id}/checkpoints"),
    ("GET", "/v1/jobs/{job_id}/checkpoints/download"),
    ("GET", "/v1/jobs/{job_id}/logs"),
    ("GET", "/v1/jobs/{job_id}/provenance"),
    ("POST", "/v1/jobs/{job_id}/checkpoints/{epoch}/predict"),
    ("POST", "/v1/models"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model_id}"),
    ("DELETE", "/v1/models/{model_id}"),
    ("GET", "/v1/models/{model_id}/resolve"),
    ("POST", "/v1/events"),
}
SEE_GRANTS = {("GET", "/v1/approvals"), ("GET", "/v1/approvals/{approval_id}"), ("GET", "/v1/audit")}
DECIDE = {("POST", f"/v1/approvals/{{approval_id}}/{verb}") for verb in ("approve", "deny", "revoke")}
ROWS = {
    Role.DATA_SCIENTIST: PROJECT_WORK | SEE_GRANTS | {("POST", "/v1/approvals")},
    Role.APPROVER: SEE_GRANTS
    | DECIDE
    | {
        ("GET", "/v1/projects"),
        ("GET", "/v1/projects/{project_id}"),
        ("POST", "/v1/projects/{project_id}/datasets"),
        ("GET", "/v1/projects/{project_id}/datasets/{name}"),
    },
    Role.ADMIN: SEE_GRANTS | DECIDE,
    Role.SERVICE: {("GET", "/v1/models/{model_id}/resolve")},
    Role.JOB: {
        ("GET", "/v1/jobs/{job_id}/datasets/{name}"),
        ("POST", "/v1/jobs/{job_id}/artifacts"),
        ("POST", "/v1/events"),
    },
}


@pytest.mark.parametrize("role", list(ROWS))
def test_the_table_says_what_each_role_row_documents(role: Role) -> None:
    assert {route for route, roles in ROLE_TABLE.items() if role in roles} == ROWS[role]
