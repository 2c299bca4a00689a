"""What a job ran, recorded by the platform (launch, sweep, dataset grants), re-runs pinned to
it, comparisons that name the one field two runs differ in, and trying a checkpoint in one
call; on fakes."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from functions.core import access, launching, models, reads, reporting, runs, sweeping, tasks
from functions.core.access import dataset_key
from functions.domain.model import JobState
from functions.domain.runs import image_digest, pinned_image
from functions.predicting import RecordingPredictor
from sdk.contracts import events as ev
from sdk.contracts.errors import Conflict, NotFound, ValidationError
from sdk.contracts.specs import FailureKind
from tests.support.harness import Harness, harness, person
from tests.unit.core.test_models import trained_job

ME = person("ds@acme")
DIGEST = "sha256:" + "ab" * 32
IMAGE_ID = f"registry.example/acme/trainer@{DIGEST}"


@pytest.fixture
def h() -> Harness:
    return harness()


def running(h: Harness, job_id: str) -> None:
    running_ = ev.JobRunning(sdk_version="1.2.3")
    reporting.report(h.deps, tenant="acme", job_id=job_id, event_type="r", event_id="run", payload=running_)


def test_image_digest_parsing_and_pinning() -> None:
    assert image_digest(IMAGE_ID) == DIGEST
    assert image_digest(f"docker-pullable://trainer@{DIGEST}") == DIGEST
    assert image_digest("trainer:latest") is None
    assert (
        pinned_image("registry.example:5000/acme/trainer:1.2", DIGEST) == f"registry.example:5000/acme/trainer@{DIGEST}"
    )
    assert pinned_image(f"trainer@sha256:{'0' * 64}", DIGEST) == f"trainer@{DIGEST}"


def test_launch_records_the_command_and_code_hash(h: Harness, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    _, job = h.task(h.project(), code_dir=str(tmp_path), hyperparameters={"lr": 0.1})
    launching.admit_pool(h.deps, "default")
    record = h.job(job).provenance
    assert record.command == ["python", "train.py"] and record.code_dir == str(tmp_path)
    assert record.code is not None and record.code.sha256 and record.code.files == 1


def test_the_sweep_records_the_pods_image_digest_once(h: Harness) -> None:
    _, job = h.task(h.project(), image="registry.example/acme/trainer:1.2")
    launching.admit_pool(h.deps, "default")
    assert h.job(job).provenance.image == "registry.example/acme/trainer:1.2"
    assert sweeping.sweep(h.deps).images_recorded == []  # no pod has reported an image yet
    h.runtime.set_image(job.job_id, IMAGE_ID)
    assert sweeping.sweep(h.deps).images_recorded == [job.job_id]
    assert h.job(job).provenance.image_digest == DIGEST and h.runtime.noted_images == {job.job_id: IMAGE_ID}
    version = h.job(job).version
    assert sweeping.sweep(h.deps).images_recorded == [] and h.job(job).version == version  # not read again


def test_a_dataset_grant_records_the_objects_sha256(h: Harness) -> None:
    p = h.project()
    h.deps.datasets.put(dataset_key("acme", p.project_id, "intents"), b"text,label\nhi,Greeting\n")
    h.grant(p)
    _, job = h.task(p, ME, datasets=["intents"])
    launching.admit_pool(h.deps, "default")
    grant = access.trainer_dataset_url(h.deps, tenant="acme", job_id=job.job_id, name="intents")
    want = hashlib.sha256(b"text,label\nhi,Greeting\n").hexdigest()
    assert grant["sha256"] == want
    recorded = h.job(job).provenance.datasets["intents"]
    assert (recorded.sha256, recorded.size_bytes, recorded.key) == (
        want,
        23,
        dataset_key("acme", p.project_id, "intents"),
    )
    version = h.job(job).version
    access.trainer_dataset_url(h.deps, tenant="acme", job_id=job.job_id, name="intents")
    assert h.job(job).version == version  # asked again: the same object, nothing new to record


def test_a_trainer_cannot_forge_its_record_only_report_its_seed(h: Harness, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("x")
    task, job = h.task(h.project(), code_dir=str(tmp_path))
    launching.admit_pool(h.deps, "default")
    running(h, job.job_id)
    before = h.job(job).provenance
    forged = ev.MetadataReport(extra={"seed": 7, "code_sha256": "0" * 64, "image_id": IMAGE_ID, "provenance": "x"})
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="m", event_id="m", payload=forged)
    after = h.job(job)
    assert after.provenance == before  # metadata is data, never the record
    doc = runs.document(h.store.get_task("acme", task.task_id), after)
    assert doc["seed"] == 7 and doc["seed_source"] == "reported by the trainer"
    assert doc["trainer_sdk_version"] == "1.2.3" and doc["sdk_version"]  # its word, and the platform's
    assert doc["code"]["sha256"] == before.code.sha256 if before.code else False
    assert doc["image_digest"] is None


def test_rerun_pins_the_image_digest_that_ran(h: Harness) -> None:
    task, job = h.task(h.project(), image="registry.example/acme/trainer:1.2", hyperparameters={"lr": 0.1})
    launching.admit_pool(h.deps, "default")
    h.runtime.set_image(job.job_id, IMAGE_ID)
    sweeping.sweep(h.deps)
    again, _ = tasks.rerun(h.deps, tenant="acme", task_id=task.task_id, actor=ME, hyperparameters={"lr": 0.3})
    assert again.spec.image == f"registry.example/acme/trainer@{DIGEST}"
    assert again.pin is not None and again.pin.image_digest == DIGEST and again.pin.job_id == job.job_id
    diff = tasks.compare_specs(h.deps, tenant="acme", task_id=task.task_id, other_id=again.task_id)
    assert diff["only"] == "hyperparameters.lr"  # a tag and its digest are the same image


def test_rerun_refuses_changed_code_naming_the_folder_or_records_the_change(h: Harness, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("v1")
    task, job = h.task(h.project(), code_dir=str(tmp_path))
    launching.admit_pool(h.deps, "default")
    first = h.job(job).provenance.code
    assert first is not None and first.sha256
    (tmp_path / "train.py").write_text("v2")
    refused, rjob = tasks.rerun(h.deps, tenant="acme", task_id=task.task_id, actor=ME)
    assert refused.pin is not None and refused.pin.code_sha256 == first.sha256
    launching.admit_pool(h.deps, "default")
    failed = h.job(rjob)
    assert failed.state is JobState.FAILED and failed.failure_kind is FailureKind.START_FAILED
    assert f"code_dir {tmp_path} changed since the run this task re-runs" in failed.reason
    assert rjob.job_id not in h.runtime.launched  # nothing started
    allowed, ajob = tasks.rerun(h.deps, tenant="acme", task_id=task.task_id, actor=ME, allow_code_change=True)
    h.finish_events()
    launching.admit_pool(h.deps, "default")
    started = h.job(ajob)
    assert started.state is JobState.LAUNCHING
    doc = runs.document(allowed, started)
    assert doc["code_changed"] is True and doc["pin"]["code_sha256"] == first.sha256
    again, _ = tasks.rerun(h.deps, tenant="acme", task_id=refused.task_id, actor=ME)  # re-run the refused re-run
    assert again.pin == refused.pin  # still pinned to what first ran


def test_rerun_of_unchanged_code_starts_and_compares_equal(h: Harness, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("v1")
    task, _ = h.task(h.project(), code_dir=str(tmp_path))
    launching.admit_pool(h.deps, "default")
    again, ajob = tasks.rerun(h.deps, tenant="acme", task_id=task.task_id, actor=ME)
    launching.admit_pool(h.deps, "default")
    assert h.job(ajob).state is JobState.LAUNCHING
    diff = tasks.compare_specs(h.deps, tenant="acme", task_id=task.task_id, other_id=again.task_id)
    assert diff["same"] is True and diff["only"] is None


def test_comparison_marks_runs_that_differ_in_one_named_parameter(h: Harness) -> None:
    p = h.project()
    a, _ = h.task(p, hyperparameters={"lr": 0.1, "epochs": 3})
    b, _ = h.task(p, hyperparameters={"lr": 0.3, "epochs": 3})
    c, _ = h.task(p, hyperparameters={"lr": 0.3, "epochs": 5}, command=["python", "other.py"])
    rows = {r["task_id"]: r for r in reads.comparison(h.deps, tenant="acme", project_id=p.project_id)["tasks"]}
    assert rows[a.task_id]["differs_only_in"] == {b.task_id: "hyperparameters.lr"}
    assert rows[b.task_id]["differs_only_in"] == {a.task_id: "hyperparameters.lr"}
    assert rows[c.task_id]["differs_only_in"] == {}  # command and epochs: two fields


def try_deps(h: Harness) -> RecordingPredictor:
    predictor = RecordingPredictor()
    h.deps = dataclasses.replace(h.deps, predictor=predictor)
    return predictor


def test_trying_a_checkpoint_publishes_once_and_asks_with_the_callers_token(h: Harness) -> None:
    job_id = trained_job(h)
    predictor = try_deps(h)
    model, answer = models.try_checkpoint(h.deps, tenant="acme", job_id=job_id, epoch=2, token="tok", document="hi")
    assert model.epoch == 2 and answer["probabilities"][0] == {"label": "a", "probability": 0.75}  # type: ignore[index]
    again, _ = models.try_checkpoint(h.deps, tenant="acme", job_id=job_id, epoch=2, token="tok", document="yo")
    assert again.model_id == model.model_id and len(h.store.list_models("acme")) == 1  # reused
    assert [c[:3] for c in predictor.calls] == [("tok", model.model_id, "hi"), ("tok", model.model_id, "yo")]


def test_trying_needs_a_real_epoch_the_right_input_and_the_tenants_job(h: Harness) -> None:
    job_id = trained_job(h)
    try_deps(h)
    with pytest.raises(NotFound, match=f"{job_id}@9"):
        models.try_checkpoint(h.deps, tenant="acme", job_id=job_id, epoch=9, token="t", document="hi")
    with pytest.raises(NotFound):  # another tenant's job is not found
        models.try_checkpoint(h.deps, tenant="evil", job_id=job_id, epoch=1, token="t", document="hi")
    with pytest.raises(ValidationError, match="document"):  # an intent model takes a document
        models.try_checkpoint(h.deps, tenant="acme", job_id=job_id, epoch=1, token="t", image=b"\x89PNG")
    assert h.store.list_models("evil") == []


def test_trying_without_a_prediction_service_says_so(h: Harness) -> None:
    job_id = trained_job(h)
    with pytest.raises(Conflict, match="TRAINYARD_PREDICTOR_URL"):
        models.try_checkpoint(h.deps, tenant="acme", job_id=job_id, epoch=1, token="t", document="hi")
