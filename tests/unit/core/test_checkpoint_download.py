"""Checkpoint downloads: the caller's own job's checkpoint, pre-signed, audited; nothing else."""

from __future__ import annotations

import pytest

from functions.core import access, launching, reporting
from sdk.contracts import events as ev
from sdk.contracts.errors import NotFound
from tests.support.harness import Harness, harness, person


@pytest.fixture
def h() -> Harness:
    return harness()


def _job_with_checkpoints(h: Harness, *epochs: int) -> str:
    _, job = h.task(h.project())
    launching.admit_pool(h.deps, "default")
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="x", event_id="run", payload=ev.JobRunning())
    for n in epochs:
        key = f"acme/{job.project_id}/{job.job_id}/checkpoints/epoch-{n:04d}/weights.pt"
        h.deps.artifacts.put(key, f"weights {n}".encode())
        report = ev.CheckpointReport(epoch=n, key=key, metrics={"loss": 1 / n}, size_bytes=9, sha256="ab" * 32)
        reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="x", event_id=f"c{n}", payload=report)
    return job.job_id


def test_the_latest_or_a_chosen_checkpoint_is_handed_out_with_its_sha256_and_audited(h: Harness) -> None:
    job_id = _job_with_checkpoints(h, 1, 2, 3)
    ana = person("ana@acme")

    latest = access.checkpoint_url(h.deps, ana, job_id=job_id)
    first = access.checkpoint_url(h.deps, ana, job_id=job_id, epoch=1)

    assert (latest["epoch"], latest["name"], latest["sha256"]) == (3, "weights.pt", "ab" * 32)
    assert first["epoch"] == 1 and str(first["key"]).endswith("epoch-0001/weights.pt") and first["url"]
    trail = [(r.action, r.resource) for r in h.store.audit_records("acme")]
    assert ("checkpoint.download", f"job/{job_id}/checkpoint/3") in trail


def test_another_tenants_job_an_unknown_epoch_and_a_job_without_checkpoints_are_not_found(h: Harness) -> None:
    job_id = _job_with_checkpoints(h, 1)
    empty = _job_with_checkpoints(h)

    with pytest.raises(NotFound):
        access.checkpoint_url(h.deps, person("eve@evil", tenant="evil"), job_id=job_id)
    with pytest.raises(NotFound):
        access.checkpoint_url(h.deps, person("ana@acme"), job_id=job_id, epoch=7)
    with pytest.raises(NotFound, match="none saved"):
        access.checkpoint_url(h.deps, person("ana@acme"), job_id=empty)


def test_a_checkpoint_whose_object_is_gone_says_so(h: Harness) -> None:
    job_id = _job_with_checkpoints(h, 1)
    [checkpoint] = h.store.checkpoints("acme", job_id)
    h.deps.artifacts.delete(checkpoint.key)

    with pytest.raises(NotFound, match="retention"):
        access.checkpoint_url(h.deps, person("ana@acme"), job_id=job_id)
