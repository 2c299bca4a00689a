"""Projects: a purpose, an owning tenant, the datasets it may touch, a TTL."""

from __future__ import annotations

import uuid
from datetime import timedelta

from functions.core.deps import Deps
from functions.domain.model import Project
from sdk.contracts.errors import Conflict, Problem, ValidationError
from sdk.contracts.specs import ProjectPatch, ProjectSpec


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def create(deps: Deps, *, tenant: str, spec: ProjectSpec) -> Project:
    now = deps.clock.now()
    project = Project(
        project_id=new_id("p"),
        tenant=tenant,
        name=spec.name,
        purpose=spec.purpose,
        datasets=tuple(dict.fromkeys(spec.datasets)),
        created_at=now,
        expires_at=now + timedelta(days=spec.ttl_days),
    )
    deps.projects.create_project(project)
    return project


def update(deps: Deps, *, tenant: str, project_id: str, patch: ProjectPatch) -> Project:
    project = deps.projects.get_project(tenant, project_id)
    if not project.active:
        raise Conflict(f"project {project_id} is deactivated")
    changes: dict[str, object] = {}
    if patch.purpose is not None:
        changes["purpose"] = patch.purpose
    if patch.datasets is not None:
        changes["datasets"] = tuple(dict.fromkeys(patch.datasets))
    if patch.ttl_days is not None:
        changes["expires_at"] = project.created_at + timedelta(days=patch.ttl_days)
    updated = project.model_copy(update=changes)
    deps.projects.update_project(updated)
    return updated


def deactivate(deps: Deps, *, tenant: str, project_id: str) -> Project:
    project = deps.projects.get_project(tenant, project_id)
    updated = project.model_copy(update={"active": False})
    deps.projects.update_project(updated)
    return updated


def require_live(deps: Deps, project: Project) -> None:
    if not project.active:
        raise Conflict(f"project {project.project_id} is deactivated")
    if not project.is_live(deps.clock.now()):
        raise Conflict(f"project {project.project_id} expired at {project.expires_at.isoformat()}")


def require_dataset(project: Project, name: str, *, field: str = "name") -> None:
    if name not in project.datasets:
        raise ValidationError(
            [Problem(field, f"dataset {name!r} is not one of the project's datasets {list(project.datasets)}")]
        )
