"""Publishing checkpoints as models and resolving them, on fakes."""

from __future__ import annotations

import hashlib

import pytest

from functions.core import launching, models, reporting
from sdk.contracts import events as ev
from sdk.contracts.errors import Conflict, NotFound, ValidationError
from sdk.models.archive import pack_checkpoint, read_archive_manifest
from tests.support.harness import Harness, harness


def trained_job(h: Harness, *, accuracies: tuple[float, ...] = (0.5, 0.9, 0.7)) -> str:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="r", event_id="r", payload=ev.JobRunning())
    for n, acc in enumerate(accuracies, start=1):
        blob = pack_checkpoint(
            weights=f"w{n}".encode(), labels=["Billing", "Sales"], kind="intent", config={"hidden": 8}
        )
        key = f"acme/{job.project_id}/{job.job_id}/ckpt-{n}"
        h.deps.artifacts.put(key, blob)
        payload = ev.CheckpointReport(
            epoch=n,
            key=key,
            metrics={"val_accuracy": acc, "loss": 1 - acc},
            sha256=hashlib.sha256(blob).hexdigest(),
            size_bytes=len(blob),
        )
        reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="c", event_id=f"c{n}", payload=payload)
    return job.job_id


def test_publish_best_checkpoint_by_metric_and_resolve() -> None:
    h = harness()
    job_id = trained_job(h)
    model, created = models.publish(h.deps, tenant="acme", job_id=job_id, metric="val_accuracy")
    assert created and model.epoch == 2 and model.kind == "intent" and model.labels == ("Billing", "Sales")
    archive = h.deps.artifacts.get(model.archive_key)
    assert hashlib.sha256(archive).hexdigest() == model.sha256 and len(archive) == model.size_bytes
    manifest = read_archive_manifest(archive)
    assert manifest.created_from == {"job_id": job_id, "epoch": 2}
    assert models.publish(h.deps, tenant="acme", job_id=job_id, metric="loss")[0].epoch == 2  # loss: min
    resolved = models.resolve(h.deps, tenant="acme", model_id=model.model_id)
    assert resolved.sha256 == model.sha256 and resolved.url.startswith("memory://")


def test_publishing_twice_returns_the_same_model() -> None:
    h = harness()
    job_id = trained_job(h)
    first, created = models.publish(h.deps, tenant="acme", job_id=job_id, epoch=3)
    again, created_again = models.publish(h.deps, tenant="acme", job_id=job_id, epoch=3)
    assert created and not created_again and first == again
    assert [m.model_id for m in h.store.list_models("acme")] == [first.model_id]


def test_other_tenants_and_deactivated_models_do_not_resolve() -> None:
    h = harness()
    job_id = trained_job(h)
    with pytest.raises(NotFound):
        models.publish(h.deps, tenant="evil", job_id=job_id)
    model, _ = models.publish(h.deps, tenant="acme", job_id=job_id)
    with pytest.raises(NotFound):
        models.resolve(h.deps, tenant="evil", model_id=model.model_id)
    models.deactivate(h.deps, tenant="acme", model_id=model.model_id)
    with pytest.raises(NotFound):
        models.resolve(h.deps, tenant="acme", model_id=model.model_id)


def test_missing_epoch_metric_tampered_or_foreign_checkpoints_are_refused() -> None:
    h = harness()
    job_id = trained_job(h)
    with pytest.raises(NotFound):
        models.publish(h.deps, tenant="acme", job_id=job_id, epoch=42)
    with pytest.raises(Conflict, match="metric"):
        models.publish(h.deps, tenant="acme", job_id=job_id, metric="f1")
    key = h.store.checkpoints("acme", job_id)[0].key
    h.deps.artifacts.put(key, b"tampered")
    with pytest.raises(Conflict, match="sha256"):
        models.publish(h.deps, tenant="acme", job_id=job_id, epoch=1)


def test_a_checkpoint_that_is_not_a_model_is_a_validation_error() -> None:
    h = harness()
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="r", event_id="r", payload=ev.JobRunning())
    key = f"acme/{job.project_id}/{job.job_id}/ckpt"
    h.deps.artifacts.put(key, b"not a tarball")
    reporting.report(
        h.deps,
        tenant="acme",
        job_id=job.job_id,
        event_type="c",
        event_id="c",
        payload=ev.CheckpointReport(epoch=1, key=key),
    )
    with pytest.raises(ValidationError, match="not a model"):
        models.publish(h.deps, tenant="acme", job_id=job.job_id)
