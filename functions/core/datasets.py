"""Dataset versions: uploads make versions, tasks pin them, validations are kept with them.

- An upload of a dataset name creates version N+1 under its own key and hands out one
  short-lived PUT URL for it; earlier versions are never overwritten and stay readable
  (download, training) for as long as a grant covers the dataset.
- A task's datasets are resolved to versions when it is created (`resolve_pins`): its pin,
  else the latest version (with `require_validated`: the latest that passed validation).
- A validation task (`validate`) runs the platform's validator on one version; its report
  comes back with the job's success and is kept with that version (`record_validation`).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable

from functions.core import audit, projects
from functions.core.deps import Deps
from functions.domain import datasets as domain
from functions.domain.audit import Actor
from functions.domain.datasets import DatasetVersion, Validation
from functions.domain.model import Job, Task
from functions.ports import BlobDigest
from sdk.contracts import blob_keys
from sdk.contracts.errors import Conflict, NotFound, Problem, ValidationError
from sdk.contracts.specs import Limits, RetryPolicy, TaskSpec
from sdk.contracts.validation import ValidationReport

log = logging.getLogger(__name__)
MAX_RACES = 5
VALIDATION_FORMAT = "intent-csv"
# A validation is one short pass over one file: bounded, never retried (a failure to run is
# reported as such; running it again on the same bytes gives the same answer).
VALIDATION_LIMITS = Limits(launch_s=300, epoch_s=600, ttl_s=900)


def versions(deps: Deps, *, tenant: str, project_id: str, name: str) -> list[DatasetVersion]:
    """Every version of the dataset, oldest first. A dataset uploaded before versions existed
    (one object under the bare name) becomes version 1 the first time it is asked for."""
    found = deps.dataset_versions.dataset_versions(tenant, project_id, name)
    if found:
        return found
    legacy = blob_keys.dataset(tenant, project_id, name)
    if not deps.datasets.exists(legacy):
        return []
    first = DatasetVersion(
        tenant=tenant,
        project_id=project_id,
        name=name,
        version=1,
        key=legacy,
        created_at=deps.clock.now(),
        created_by="platform:uploaded-before-versions",
    )
    with contextlib.suppress(Conflict):  # another request adopted it first
        deps.dataset_versions.create_dataset_version(first)
    return deps.dataset_versions.dataset_versions(tenant, project_id, name)


def new_version(deps: Deps, who: Actor, *, project_id: str, name: str) -> DatasetVersion:
    """The next version of the dataset (its number taken atomically: a concurrent upload
    gets the one after)."""
    for _ in range(MAX_RACES):
        existing = versions(deps, tenant=who.tenant, project_id=project_id, name=name)
        number = max((v.version for v in existing), default=0) + 1
        version = DatasetVersion(
            tenant=who.tenant,
            project_id=project_id,
            name=name,
            version=number,
            key=blob_keys.dataset_version(who.tenant, project_id, name, number, uuid.uuid4().hex[:8]),
            created_at=deps.clock.now(),
            created_by=who.sub,
        )
        try:
            deps.dataset_versions.create_dataset_version(version)
        except Conflict:
            continue
        return version
    raise Conflict(f"dataset {name!r}: too many concurrent uploads")


def get_version(deps: Deps, *, tenant: str, project_id: str, name: str, version: int | None) -> DatasetVersion:
    """That version (None: the latest uploaded); NotFound naming what exists."""
    found = versions(deps, tenant=tenant, project_id=project_id, name=name)
    if not found:
        raise NotFound("dataset", f"{name} (nothing uploaded yet)")
    if version is None:
        return _latest_uploaded(deps, found) or found[-1]
    for v in found:
        if v.version == version:
            return v
    raise NotFound("dataset version", f"{name} v{version} (versions: {[v.version for v in found]})")


def show(deps: Deps, who: Actor, *, project_id: str, name: str) -> dict[str, object]:
    """A dataset's versions and the last validation of each (a project of another tenant: NotFound)."""
    project = deps.projects.get_project(who.tenant, project_id)
    projects.require_dataset(project, name)
    found = versions(deps, tenant=who.tenant, project_id=project_id, name=name)
    checked = [v for v in found if v.validation is not None]
    last = max(checked, key=_finished_at, default=None)
    validated = domain.latest(found, validated=True)
    views = {v.version: view_of(v, deps) for v in found}  # one digest (a HEAD) per version
    return {
        "project_id": project_id,
        "name": name,
        "latest": found[-1].version if found else None,
        "latest_validated": validated.version if validated else None,
        "last_validation": views[last.version] if last is not None else None,
        "versions": list(views.values()),
    }


def _finished_at(v: DatasetVersion) -> str:
    return v.validation.finished_at.isoformat() if v.validation else ""


def _digest(deps: Deps, v: DatasetVersion) -> BlobDigest | None:
    """The version's content sha256 and size; None while its bytes are not uploaded (an
    upload URL handed out but not used yet). Hashed from the bytes once, then kept with the
    object (see BlobStore.digest): later reads cost one HEAD."""
    try:
        return deps.datasets.digest(v.key)
    except NotFound:
        return None


def view_of(v: DatasetVersion, deps: Deps) -> dict[str, object]:
    validation = v.validation
    digest = _digest(deps, v)
    return {
        "version": v.version,
        "created_at": v.created_at.isoformat(),
        "created_by": v.created_by,
        "size_bytes": digest.size_bytes if digest else None,
        "sha256": digest.sha256 if digest else None,
        "status": v.status,
        "validation": None
        if validation is None
        else {
            "job_id": validation.job_id,
            "task_id": validation.task_id,
            "finished_at": validation.finished_at.isoformat(),
            **validation.report.model_dump(mode="json"),
        },
    }


Covered = Callable[[str, int], bool]  # does an active grant let the task read this dataset version?


def resolve_pins(
    deps: Deps, *, tenant: str, project_id: str, spec: TaskSpec, covered: Covered | None = None
) -> TaskSpec:
    """The spec with each dataset it reads pinned to a version (see the module doc); a pin that
    names no version, or (with require_validated) a version that has not passed, is a 4xx
    naming `dataset_versions.<name>`. Unpinned, the newest version the task's grants cover is
    preferred (`covered`: a grant may be limited to one version). A dataset with no version yet
    stays unpinned (it reads the latest when the job fetches it), unless validated data is required."""
    pins = dict(spec.dataset_versions)
    problems: list[Problem] = []
    for name in spec.datasets:
        field = f"dataset_versions.{name}"
        found = versions(deps, tenant=tenant, project_id=project_id, name=name)
        chosen = _chosen(deps, found, pins.get(name), validated=spec.require_validated, covered=covered)
        problem = _refusal(name, found, pins.get(name), chosen, validated=spec.require_validated)
        if problem:
            problems.append(Problem(field, problem))
        elif chosen is not None:
            pins[name] = chosen.version
    if problems:
        raise ValidationError(problems)
    return spec.model_copy(update={"dataset_versions": pins})


def _chosen(
    deps: Deps, found: list[DatasetVersion], pin: int | None, *, validated: bool, covered: Covered | None
) -> DatasetVersion | None:
    if pin is not None:
        return next((v for v in found if v.version == pin), None)
    if validated:  # a validated version was read: it is uploaded
        eligible = [v for v in reversed(found) if v.validated]
    else:
        eligible = [v for v in reversed(found) if deps.datasets.exists(v.key)]  # usually one HEAD
    if covered is not None:
        granted = next((v for v in eligible if covered(v.name, v.version)), None)
        if granted is not None:
            return granted
    return eligible[0] if eligible else None  # none covered: the grant check names the version


def _latest_uploaded(deps: Deps, found: list[DatasetVersion]) -> DatasetVersion | None:
    """The newest version whose bytes are in the bucket: an upload URL handed out but never used
    (or still in flight) does not become what new tasks read (nor what a download reads)."""
    return next((v for v in reversed(found) if deps.datasets.exists(v.key)), None)


def _refusal(
    name: str, found: list[DatasetVersion], pin: int | None, chosen: DatasetVersion | None, *, validated: bool
) -> str | None:
    if pin is not None and chosen is None:
        return f"dataset {name!r} has no version {pin} (versions: {[v.version for v in found]})"
    if not validated:
        return None
    if chosen is None:
        statuses = {v.version: v.status for v in found} or "nothing uploaded"
        return f"require_validated: dataset {name!r} has no version that passed validation ({statuses})"
    if not chosen.validated:
        return (
            f"require_validated: dataset {name!r} version {chosen.version} is {chosen.status}"
            f"{_errors(chosen)}; validate it (trainyard datasets validate) or pin a version that passed"
        )
    return None


def _errors(v: DatasetVersion) -> str:
    if v.validation is None:
        return ""
    return f" ({v.validation.report.checked.get('errors', 0)} error(s))"


def validation_spec(version: DatasetVersion, *, deps: Deps, name: str | None = None) -> TaskSpec:
    """The one-time task that checks `version` with the platform's validator."""
    if not deps.config.validator_command:
        raise Conflict("dataset validation is not configured on this platform (TRAINYARD_VALIDATOR_IMAGE)")
    return TaskSpec(
        name=name or f"validate-{version.name}-v{version.version}",
        kind="validation",
        datasets=[version.name],
        dataset_versions={version.name: version.version},
        hyperparameters={"dataset": version.name, "version": version.version, "format": VALIDATION_FORMAT},
        retry=RetryPolicy(max_retries=0),
        limits=VALIDATION_LIMITS,
    )


def runnable(spec: TaskSpec, deps: Deps) -> tuple[list[str], str]:
    """(command, image) an attempt of the task runs: a validation runs the platform's validator."""
    if spec.kind == "validation":
        return list(deps.config.validator_command), deps.config.validator_image
    return list(spec.command), spec.image


def unvalidated_pins(deps: Deps, task: Task) -> str:
    """For a task that requires validated data: why a version it pins no longer qualifies
    ('' when all do). Checked again at launch, as grants are."""
    if not task.spec.require_validated:
        return ""
    for name, number in sorted(task.spec.dataset_versions.items()):
        try:
            version = deps.dataset_versions.get_dataset_version(task.tenant, task.project_id, name, number)
        except NotFound:
            return f"dataset {name!r} version {number} is gone"
        if not version.validated:
            return f"dataset {name!r} version {number} is {version.status}"
    return ""


def record_validation(deps: Deps, *, job: Job, task: Task, report: ValidationReport) -> DatasetVersion:
    """Keep `report` with the dataset version `task` checked. The report must come from a
    validation task and name exactly that dataset and version: a validator cannot write a
    report for any other version (nor can a training job write one at all)."""
    target = _target(task)
    if target is None:
        raise ValidationError([Problem("data.report", "only a validation task reports a dataset validation")])
    name, number = target
    if (report.dataset, report.version) != (name, number):
        raise ValidationError(
            [
                Problem(
                    "data.report",
                    f"this job validates {name} v{number}; it cannot report on {report.dataset} v{report.version}",
                )
            ]
        )
    checked = Validation(job_id=job.job_id, task_id=task.task_id, finished_at=deps.clock.now(), report=report)
    version = deps.dataset_versions.get_dataset_version(job.tenant, job.project_id, name, number)
    updated = version.validated_by(checked)
    if updated != version:
        deps.dataset_versions.save_dataset_version(updated)
    fields = {"job_id": job.job_id, "tenant": job.tenant, "dataset": name, "version": number}
    log.info("dataset version validated", extra={**fields, "status": updated.status})
    return updated


def _target(task: Task) -> tuple[str, int] | None:
    spec = task.spec
    if spec.kind != "validation" or len(spec.datasets) != 1:
        return None
    name = spec.datasets[0]
    number = spec.dataset_versions.get(name)
    return (name, number) if number is not None else None


def audit_validation(deps: Deps, job: Job, version: DatasetVersion) -> None:
    who = Actor(sub=f"job:{job.job_id}", tenant=job.tenant)
    audit.allowed(
        deps,
        who,
        action="dataset.validated",
        resource=f"dataset/{job.project_id}/{version.name}",
        reason=f"version {version.version}: {version.status}",
    )
