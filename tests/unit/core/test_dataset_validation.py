"""Dataset versions and one-time validation tasks in the core (in-memory fakes, fake clock)."""

from __future__ import annotations

import hashlib

import pytest

from functions.core import access, datasets, launching, reporting
from functions.domain.approvals import GrantAction
from functions.domain.model import Job, JobState, Project
from sdk.contracts import events as ev
from sdk.contracts.errors import Forbidden, NotFound, PermanentError, ValidationError
from sdk.contracts.validation import ValidationReport
from sdk.validation import intent_csv
from tests.support.harness import Harness, harness, person

GOOD = b"text,label\n" + b"".join(f"hello {i},greet\nbye {i},leave\n".encode() for i in range(6))
BAD = b"text,label\nhello,greet\n,leave\nhello,leave\n"
ANA = person("ana@acme")


@pytest.fixture
def h() -> Harness:
    return harness(slots=4, tenant_cap=4)


def upload(h: Harness, p: Project, data: bytes, name: str = "intents") -> int:
    grant = access.user_dataset_url(h.deps, tenant=p.tenant, project_id=p.project_id, name=name, op="upload", actor=ANA)
    version = int(str(grant["version"]))
    key = h.store.get_dataset_version(p.tenant, p.project_id, name, version).key
    h.deps.datasets.put(key, data)
    return version


def report_of(job: Job, version: int, data: bytes, *, dataset: str = "intents") -> ValidationReport:
    return intent_csv.validate(data, dataset=dataset, version=version)


def run_validation(h: Harness, p: Project, version: int | None, data: bytes) -> Job:
    """Create, launch and finish a validation task the way its job would."""
    spec = {"kind": "validation", "datasets": ["intents"], "name": "check", "command": []}
    if version is not None:
        spec["dataset_versions"] = {"intents": version}
    task, job = h.task(p, ANA, **spec)
    [launched] = launching.admit_pool(h.deps, "default")
    pinned = task.spec.dataset_versions["intents"]
    url = access.trainer_dataset_url(h.deps, tenant=p.tenant, job_id=job.job_id, name="intents")
    assert url["version"] == pinned
    apply(h, launched, ev.JobRunning())
    return apply(h, launched, ev.JobSucceeded(report=report_of(launched, pinned, data)))


def apply(h: Harness, job: Job, payload: ev._Payload, event_id: str | None = None) -> Job:
    kind = {
        ev.JobRunning: ev.EventType.JOB_RUNNING,
        ev.JobSucceeded: ev.EventType.JOB_SUCCEEDED,
    }[type(payload)]
    h.clock.advance(1)
    saved = reporting.report(
        h.deps, tenant=job.tenant, job_id=job.job_id, event_type=kind, event_id=event_id or kind, payload=payload
    )
    assert saved is not None
    return saved


def test_each_upload_is_a_new_version_and_old_ones_stay_readable(h: Harness) -> None:
    p = h.project()
    h.grant(p, action=GrantAction.READ)
    assert [upload(h, p, b"v1"), upload(h, p, b"v2")] == [1, 2]
    keys = {v.version: v.key for v in h.store.dataset_versions("acme", p.project_id, "intents")}
    assert keys[1] != keys[2]
    for version, body in ((1, b"v1"), (2, b"v2"), (None, b"v2")):
        url = access.user_dataset_url(
            h.deps, tenant="acme", project_id=p.project_id, name="intents", op="download", actor=ANA, version=version
        )
        assert h.deps.datasets.get(keys[int(str(url["version"]))]) == body
    with pytest.raises(NotFound):
        access.user_dataset_url(
            h.deps, tenant="acme", project_id=p.project_id, name="intents", op="download", actor=ANA, version=3
        )


def test_a_task_pins_the_latest_version_when_created(h: Harness) -> None:
    p = h.project()
    h.grant(p)
    upload(h, p, b"v1")
    task, job = h.task(p, ANA, datasets=["intents"])
    upload(h, p, b"v2")  # arrives after the task: the task still reads what it was created with
    assert task.spec.dataset_versions == {"intents": 1}
    launching.admit_pool(h.deps, "default")
    url = access.trainer_dataset_url(h.deps, tenant="acme", job_id=job.job_id, name="intents")
    assert url["version"] == 1


def test_a_validation_task_runs_once_and_its_report_stays_with_its_version(h: Harness) -> None:
    p = h.project()
    h.grant(p, action=GrantAction.VALIDATE)
    upload(h, p, BAD)
    upload(h, p, GOOD)
    failed = run_validation(h, p, 1, BAD)
    passed = run_validation(h, p, None, GOOD)  # default: the latest version
    assert failed.state is JobState.SUCCEEDED and passed.state is JobState.SUCCEEDED
    task = h.store.get_task("acme", failed.task_id)
    assert task.spec.retry.max_retries == 0 and task.spec.kind == "validation"
    assert h.runtime.launched[failed.job_id].command == list(h.deps.config.validator_command)
    v1, v2 = h.store.dataset_versions("acme", p.project_id, "intents")
    assert v1.status == "failed" and v2.status == "passed"
    assert v1.validation is not None and v1.validation.job_id == failed.job_id
    assert {f.code for f in v1.validation.report.findings} >= {"empty_text", "conflicting_labels"}
    shown = datasets.show(h.deps, ANA, project_id=p.project_id, name="intents")
    assert shown["latest_validated"] == 2 and shown["latest"] == 2
    assert shown["last_validation"]["version"] == 2  # type: ignore[index]


def test_validation_needs_the_validate_grant_not_train(h: Harness) -> None:
    p = h.project()
    h.grant(p)  # a train grant
    upload(h, p, GOOD)
    with pytest.raises(Forbidden, match="validate grant"):
        h.task(p, ANA, kind="validation", datasets=["intents"], command=[])
    h.grant(p, action=GrantAction.VALIDATE)
    h.task(p, ANA, kind="validation", datasets=["intents"], command=[])
    with pytest.raises(Forbidden, match="train grant"):  # nor does a validate grant let training read the data
        _train_with_only_validate(h)


def _train_with_only_validate(h: Harness) -> None:
    other = h.project(datasets=("reviews",))
    h.grant(other, action=GrantAction.VALIDATE)
    upload(h, other, GOOD, name="reviews")
    h.task(other, ANA, datasets=["reviews"])


def test_a_validation_job_cannot_report_on_another_version(h: Harness) -> None:
    p = h.project()
    h.grant(p, action=GrantAction.VALIDATE)
    upload(h, p, BAD)
    upload(h, p, GOOD)
    _, job = h.task(p, ANA, kind="validation", datasets=["intents"], dataset_versions={"intents": 1}, command=[])
    [launched] = launching.admit_pool(h.deps, "default")
    apply(h, launched, ev.JobRunning())
    forged = intent_csv.validate(GOOD, dataset="intents", version=2)
    with pytest.raises((ValidationError, PermanentError), match="cannot report on intents v2"):
        apply(h, launched, ev.JobSucceeded(report=forged))
    assert all(v.validation is None for v in h.store.dataset_versions("acme", p.project_id, "intents"))
    assert h.store.get_job("acme", job.job_id).state is JobState.RUNNING


def test_a_training_job_cannot_write_a_validation(h: Harness) -> None:
    p = h.project()
    h.grant(p)
    upload(h, p, BAD)
    h.task(p, ANA, datasets=["intents"])
    [launched] = launching.admit_pool(h.deps, "default")
    apply(h, launched, ev.JobRunning())
    with pytest.raises(ValidationError, match="only a validation task"):
        apply(h, launched, ev.JobSucceeded(report=intent_csv.validate(GOOD, dataset="intents", version=1)))
    assert h.store.get_dataset_version("acme", p.project_id, "intents", 1).validation is None


def test_require_validated_refuses_unvalidated_and_failed_versions_naming_the_field(h: Harness) -> None:
    p = h.project()
    h.grant(p)
    h.grant(p, action=GrantAction.VALIDATE)
    upload(h, p, BAD)
    with pytest.raises(ValidationError) as unvalidated:
        h.task(p, ANA, datasets=["intents"], require_validated=True)
    assert unvalidated.value.problems[0].field == "dataset_versions.intents"
    run_validation(h, p, 1, BAD)
    with pytest.raises(ValidationError, match="version 1 is failed") as failed:
        h.task(p, ANA, datasets=["intents"], require_validated=True, dataset_versions={"intents": 1})
    assert failed.value.problems[0].field == "dataset_versions.intents"
    upload(h, p, GOOD)
    run_validation(h, p, 2, GOOD)
    task, _ = h.task(p, ANA, datasets=["intents"], require_validated=True)
    assert task.spec.dataset_versions == {"intents": 2}
    with pytest.raises(ValidationError, match="no version 7"):
        h.task(p, ANA, datasets=["intents"], dataset_versions={"intents": 7})


def test_another_tenants_dataset_is_not_found(h: Harness) -> None:
    p = h.project()
    h.grant(p, action=GrantAction.VALIDATE)
    upload(h, p, GOOD)
    intruder = person("eve@globex", tenant="globex")
    with pytest.raises(NotFound):
        datasets.show(h.deps, intruder, project_id=p.project_id, name="intents")
    assert h.store.dataset_versions("globex", p.project_id, "intents") == []


def test_a_dataset_uploaded_before_versions_is_read_as_version_1(h: Harness) -> None:
    p = h.project()
    h.grant(p)
    h.deps.datasets.put(access.dataset_key("acme", p.project_id, "intents"), b"old")
    assert upload(h, p, b"new") == 2
    v1 = h.store.get_dataset_version("acme", p.project_id, "intents", 1)
    assert h.deps.datasets.get(v1.key) == b"old"


def test_a_grant_limited_to_one_version_covers_only_that_version(h: Harness) -> None:
    p = h.project()
    h.grant(p, action=GrantAction.READ, versions={"intents": 1})
    h.grant(p, versions={"intents": 2})  # train on v2 only
    upload(h, p, b"v1")
    upload(h, p, b"v2")

    def download(version: int | None) -> object:
        return access.user_dataset_url(
            h.deps, tenant="acme", project_id=p.project_id, name="intents", op="download", actor=ANA, version=version
        )["version"]

    assert download(1) == 1  # the old version stays readable while a grant covers it
    with pytest.raises(Forbidden, match=r"at version\(s\) \{'intents': 2\}"):
        download(None)  # the latest is v2: not covered by the v1-only read grant
    task, _ = h.task(p, ANA, datasets=["intents"])
    assert task.spec.dataset_versions == {"intents": 2}
    with pytest.raises(Forbidden):
        h.task(p, ANA, datasets=["intents"], dataset_versions={"intents": 1})


def test_a_version_limit_must_name_a_dataset_of_the_grant(h: Harness) -> None:
    p = h.project()
    with pytest.raises(ValidationError, match="versions"):
        h.request(p, versions={"reviews": 1})


def test_an_upload_url_never_used_does_not_become_the_latest(h: Harness) -> None:
    p = h.project()
    h.grant(p)
    upload(h, p, b"v1")
    access.user_dataset_url(h.deps, tenant="acme", project_id=p.project_id, name="intents", op="upload", actor=ANA)
    task, _ = h.task(p, ANA, datasets=["intents"])  # v2 was asked for but nothing was PUT
    assert task.spec.dataset_versions == {"intents": 1}


def test_unpinned_a_task_reads_the_newest_version_its_grants_cover(h: Harness) -> None:
    p = h.project()
    h.grant(p, versions={"intents": 1})  # the approver let training see v1 only
    upload(h, p, b"v1")
    upload(h, p, b"v2")
    task, job = h.task(p, ANA, datasets=["intents"])
    assert task.spec.dataset_versions == {"intents": 1}
    launching.admit_pool(h.deps, "default")
    assert access.trainer_dataset_url(h.deps, tenant="acme", job_id=job.job_id, name="intents")["version"] == 1


def test_show_gives_each_uploaded_versions_size_and_sha256_hashed_once(h: Harness) -> None:
    p = h.project()
    upload(h, p, GOOD)
    access.user_dataset_url(h.deps, tenant="acme", project_id=p.project_id, name="intents", op="upload", actor=ANA)
    shown = datasets.show(h.deps, ANA, project_id=p.project_id, name="intents")
    v1, v2 = shown["versions"]  # type: ignore[misc]
    assert (v1["size_bytes"], v1["sha256"]) == (len(GOOD), hashlib.sha256(GOOD).hexdigest())
    assert (v2["size_bytes"], v2["sha256"]) == (None, None)  # its upload URL was never used
