"""Who may call what: the one table of HTTP route -> roles, checked before any handler runs.

A token's roles are per tenant (sdk.auth.tokens.Role); a token without roles may do
nothing. A trainer's job token has only `job`. Finer rules live in the core and apply to any
caller: a tenant only ever sees its own resources, nobody approves their own request, a
download needs a `read` grant, a trainer's dataset needs a `train` grant (a validator's: `validate`).

- data-scientist: projects, tasks, jobs, models and dataset transfers of its tenant;
  requests grants; sees the grants it asked for or that name it, and its own audit records.
- approver: reads projects; uploads datasets (the data's custodian) and reads their versions;
  sees, approves, denies and revokes the tenant's grants; its own audit records.
- admin: sees, approves, denies and revokes the tenant's grants and reads its whole audit
  trail; an admin of the platform-admin tenant does so for every tenant (naming it).
- service: resolves models (the predictor).
- job: its own job's datasets, artifacts and events.
"""

from __future__ import annotations

from sdk.auth.tokens import Role

DS = Role.DATA_SCIENTIST
APPROVER = Role.APPROVER
ADMIN = Role.ADMIN
SERVICE = Role.SERVICE
JOB = Role.JOB

PEOPLE = frozenset({DS, APPROVER, ADMIN})
DECIDERS = frozenset({APPROVER, ADMIN})

ROLE_TABLE: dict[tuple[str, str], frozenset[Role]] = {
    # projects, tasks, datasets
    ("POST", "/v1/projects"): frozenset({DS}),
    ("GET", "/v1/projects"): frozenset({DS, APPROVER}),
    ("GET", "/v1/projects/{project_id}"): frozenset({DS, APPROVER}),
    ("PATCH", "/v1/projects/{project_id}"): frozenset({DS}),
    ("DELETE", "/v1/projects/{project_id}"): frozenset({DS}),
    ("POST", "/v1/projects/{project_id}/tasks"): frozenset({DS}),
    ("GET", "/v1/projects/{project_id}/tasks"): frozenset({DS}),
    ("GET", "/v1/projects/{project_id}/comparison"): frozenset({DS}),
    ("POST", "/v1/projects/{project_id}/datasets"): frozenset({DS, APPROVER}),
    ("GET", "/v1/projects/{project_id}/datasets/{name}"): frozenset({DS, APPROVER}),
    ("POST", "/v1/projects/{project_id}/datasets/{name}/validate"): frozenset({DS}),
    # tasks and jobs
    ("GET", "/v1/tasks/{task_id}"): frozenset({DS}),
    ("PATCH", "/v1/tasks/{task_id}"): frozenset({DS}),
    ("POST", "/v1/tasks/{task_id}/archive"): frozenset({DS}),
    ("POST", "/v1/tasks/{task_id}/unarchive"): frozenset({DS}),
    ("POST", "/v1/tasks/{task_id}/rerun"): frozenset({DS}),
    ("GET", "/v1/tasks/{task_id}/diff/{other_id}"): frozenset({DS}),
    ("GET", "/v1/tasks/{task_id}/jobs"): frozenset({DS}),
    ("GET", "/v1/jobs/{job_id}"): frozenset({DS}),
    ("POST", "/v1/jobs/{job_id}/cancel"): frozenset({DS}),
    ("GET", "/v1/jobs/{job_id}/epochs"): frozenset({DS}),
    ("GET", "/v1/jobs/{job_id}/checkpoints"): frozenset({DS}),
    ("GET", "/v1/jobs/{job_id}/checkpoints/download"): frozenset({DS}),
    ("GET", "/v1/jobs/{job_id}/logs"): frozenset({DS}),
    ("GET", "/v1/jobs/{job_id}/provenance"): frozenset({DS}),
    ("POST", "/v1/jobs/{job_id}/checkpoints/{epoch}/predict"): frozenset({DS}),  # publishes: as POST /v1/models
    # trainers
    ("GET", "/v1/jobs/{job_id}/datasets/{name}"): frozenset({JOB}),
    ("POST", "/v1/jobs/{job_id}/artifacts"): frozenset({JOB}),
    ("POST", "/v1/events"): frozenset({JOB, DS}),  # trainer reports; task.requested from people
    # models
    ("POST", "/v1/models"): frozenset({DS}),
    ("GET", "/v1/models"): frozenset({DS}),
    ("GET", "/v1/models/{model_id}"): frozenset({DS}),
    ("DELETE", "/v1/models/{model_id}"): frozenset({DS}),
    ("GET", "/v1/models/{model_id}/resolve"): frozenset({DS, SERVICE}),
    # grants
    ("POST", "/v1/approvals"): frozenset({DS}),
    ("GET", "/v1/approvals"): PEOPLE,
    ("GET", "/v1/approvals/{approval_id}"): PEOPLE,
    ("POST", "/v1/approvals/{approval_id}/approve"): DECIDERS,
    ("POST", "/v1/approvals/{approval_id}/deny"): DECIDERS,
    ("POST", "/v1/approvals/{approval_id}/revoke"): DECIDERS,
    # audit trail
    ("GET", "/v1/audit"): PEOPLE,
}


def roles_for(method: str, path: str) -> frozenset[Role]:
    """The roles that may call the route (its path template); none for a route not listed."""
    return ROLE_TABLE.get((method.upper(), path), frozenset())
