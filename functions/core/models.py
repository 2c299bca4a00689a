"""Publishing a checkpoint as a model, and resolving a model for the predictor.

A model archive is immutable: packed once from the checkpoint's bytes (checked against
the sha256 the trainer reported), stored under the tenant's prefix, and only ever read
through short-lived pre-signed URLs. Publishing the same checkpoint twice returns the
same model.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Literal

from functions.core import audit
from functions.core.deps import Deps
from functions.domain.audit import Actor, system
from functions.domain.registry import PublishedModel, choose_checkpoint
from sdk.contracts import blob_keys
from sdk.contracts.errors import Conflict, NotFound, Problem, ValidationError
from sdk.contracts.resolve import ModelResolution
from sdk.models.archive import archive_from_checkpoint, read_archive_manifest


def model_id_for(tenant: str, job_id: str, epoch: int) -> str:
    return "m-" + uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant}/{job_id}/{epoch}").hex[:12]


def publish(
    deps: Deps,
    *,
    tenant: str,
    job_id: str,
    epoch: int | None = None,
    metric: str | None = None,
    mode: Literal["max", "min"] | None = None,
    name: str | None = None,
    actor: Actor | None = None,
) -> tuple[PublishedModel, bool]:
    """Publish one checkpoint of a job of the tenant's. Returns (model, created).

    The publication is recorded in the audit trail before the model is created."""
    job = deps.jobs.get_job(tenant, job_id)
    candidates = [
        c for c in deps.jobs.checkpoints(tenant, job_id) if epoch is not None or c.epoch not in job.pruned_checkpoints
    ]  # "best"/"latest" among kept
    chosen = choose_checkpoint(candidates, job_id=job_id, epoch=epoch, metric=metric, mode=mode)
    model_id = model_id_for(tenant, job_id, chosen.epoch)
    try:
        return deps.models.get_model(tenant, model_id), False
    except NotFound:
        pass
    if chosen.epoch in job.pruned_checkpoints:
        raise Conflict(
            f"checkpoint of epoch {chosen.epoch} of job {job_id} was deleted by its task's retention "
            f"policy; publish a kept one (GET /v1/jobs/{job_id}/checkpoints)"
        )
    data = deps.artifacts.get(chosen.key)
    if chosen.sha256 and hashlib.sha256(data).hexdigest() != chosen.sha256:
        raise Conflict(f"checkpoint {chosen.key} does not match the sha256 its trainer reported")
    try:
        archive, sha = archive_from_checkpoint(data, created_from={"job_id": job_id, "epoch": chosen.epoch})
    except ValidationError as exc:
        raise ValidationError([Problem("jobId", f"checkpoint of epoch {chosen.epoch} is not a model: {exc}")]) from exc
    manifest = read_archive_manifest(archive)
    key = blob_keys.model_archive(tenant, model_id)
    deps.artifacts.put(key, archive, content_type="application/gzip")
    model = PublishedModel(
        model_id=model_id,
        tenant=tenant,
        name=name or f"{job_id}@{chosen.epoch}",
        kind=manifest.kind,
        labels=tuple(manifest.labels),
        project_id=job.project_id,
        task_id=job.task_id,
        job_id=job_id,
        epoch=chosen.epoch,
        metrics=dict(chosen.metrics),
        archive_key=key,
        sha256=sha,
        size_bytes=len(archive),
        created_at=deps.clock.now(),
    )
    audit.allowed(
        deps,
        actor or system(tenant, "api"),
        action="model.publish",
        resource=f"model/{model_id}",
        reason=f"job {job_id} epoch {chosen.epoch} sha256 {sha}",
    )
    try:
        deps.models.create_model(model)
    except Conflict:  # a concurrent publish of the same checkpoint won; same bytes, same id
        return deps.models.get_model(tenant, model_id), False
    return model, True


def try_checkpoint(
    deps: Deps,
    *,
    tenant: str,
    job_id: str,
    epoch: int,
    token: str,
    document: str | None = None,
    image: bytes | None = None,
    actor: Actor | None = None,
) -> tuple[PublishedModel, dict[str, object]]:
    """Predict with the checkpoint of `epoch` of a job of the tenant's, in one call: it is
    published on demand (the same checkpoint is always the same model, so a second try
    reuses it) and asked through the prediction service with the caller's own token, so the
    registry, its cache and the tenant rules are exactly those of a published model."""
    job = deps.jobs.get_job(tenant, job_id)  # another tenant's job: NotFound before anything else
    if epoch not in {c.epoch for c in deps.jobs.checkpoints(tenant, job_id)}:
        raise NotFound("checkpoint", f"{job.job_id}@{epoch}")
    if deps.predictor is None:
        raise Conflict("this platform has no prediction service configured (TRAINYARD_PREDICTOR_URL)")
    model, _ = publish(deps, tenant=tenant, job_id=job_id, epoch=epoch, actor=actor)
    if not model.active:
        raise Conflict(f"model {model.model_id} of this checkpoint is deactivated: it serves no predictions")
    _require_input(model.kind, document=document, image=image)
    answer = deps.predictor.predict(token=token, model_id=model.model_id, document=document, image=image)
    return model, answer


def _require_input(kind: str, *, document: str | None, image: bytes | None) -> None:
    wanted = "image" if kind == "vision" else "document"
    given = [name for name, value in (("document", document), ("image", image)) if value is not None]
    if given != [wanted]:
        raise ValidationError([Problem(wanted, f"a {kind} model takes one {wanted} (given: {given or 'nothing'})")])


def deactivate(deps: Deps, *, tenant: str, model_id: str) -> PublishedModel:
    model = deps.models.get_model(tenant, model_id)
    updated = model.model_copy(update={"active": False})
    deps.models.update_model(updated)
    return updated


def resolve(deps: Deps, *, tenant: str, model_id: str) -> ModelResolution:
    """What the predictor needs to serve a model: metadata and a short-lived URL."""
    model = deps.models.get_model(tenant, model_id)
    if not model.active:
        raise NotFound("model", model_id)
    expires = min(deps.config.url_expiry_s, 300)  # the sidecar downloads at once
    return ModelResolution(
        modelId=model.model_id,
        tenant=model.tenant,
        sha256=model.sha256,
        sizeBytes=model.size_bytes,
        kind=model.kind,
        labels=list(model.labels),
        url=deps.artifacts.presign_get(model.archive_key, expires_s=expires),
        expiresIn=expires,
    )
