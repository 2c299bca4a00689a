"""The user client: typed methods over the platform's HTTP API.

Example::

    from sdk.client import Client
    from sdk.contracts.specs import ProjectSpec, TaskSpec

    with Client("http://127.0.0.1:8080", token) as c:
        project = c.create_project(ProjectSpec(name="intents", purpose="demo", datasets=["reviews"]))
        c.upload_dataset(project.project_id, "reviews", Path("reviews.jsonl"))
        created = c.create_task(project.project_id, TaskSpec(name="t1", command=["python", "train.py"]))
        print(c.get_job(created.job.job_id).state)
        model = c.publish_model(created.job.job_id, metric="accuracy")  # once the job has checkpoints

Predictions go to the predictor service, not this API: see `sdk.predict.Predictor`.

Responses are small pydantic views that keep unknown fields (so `model_dump()` is the
server's JSON); errors are `sdk.contracts.errors` types (404 NotFound, 409 Conflict, 401
Unauthenticated, 403 Forbidden, 400/422 ValidationError with every problem).
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from sdk import http
from sdk.auth.tls import TLSFiles
from sdk.contracts.errors import PermanentError, Problem, ValidationError
from sdk.contracts.specs import ProjectPatch, ProjectSpec, TaskPatch, TaskSpec
from sdk.governance import (
    ApprovalView,
    AuditRecordView,
    GrantActionName,
    GrantStateFilter,
    grant_request_body,
    query,
)
from sdk.views import (  # the views are part of the client's API: re-exported
    TERMINAL_STATES,
    CheckpointGrant,
    CheckpointTry,
    CheckpointView,
    Comparison,
    DatasetGrant,
    DatasetValidationView,
    DatasetVersionView,
    DatasetView,
    EpochView,
    FindingView,
    JobView,
    LogPage,
    ModelView,
    ProjectView,
    Provenance,
    Scalar,
    SpecDifference,
    TaskComparison,
    TaskCreated,
    TaskDiff,
    TaskView,
    V,
)

__all__ = [
    "TERMINAL_STATES",
    "CheckpointGrant",
    "CheckpointTry",
    "CheckpointView",
    "Client",
    "Comparison",
    "DatasetGrant",
    "DatasetValidationView",
    "DatasetVersionView",
    "DatasetView",
    "EpochView",
    "FindingView",
    "JobView",
    "LogPage",
    "ModelView",
    "ProjectView",
    "Provenance",
    "Scalar",
    "SpecDifference",
    "TaskComparison",
    "TaskCreated",
    "TaskDiff",
    "TaskView",
    "publish_body",
]


def publish_body(
    job_id: str, *, epoch: int | None, metric: str | None, mode: Literal["max", "min"] | None, name: str | None
) -> dict[str, Any]:
    """The POST /v1/models body; a contradictory choice is refused before any request."""
    problems = []
    if epoch is not None and metric is not None:
        problems.append(Problem(field="epoch", message="give either epoch or metric, not both"))
    if mode is not None and metric is None:
        problems.append(Problem(field="mode", message="only applies with a metric"))
    if problems:
        raise ValidationError(problems)
    chosen = {"epoch": epoch, "metric": metric, "mode": mode, "name": name}
    return {"jobId": job_id, **{k: v for k, v in chosen.items() if v is not None}}


class Client:
    """A user's (or service's) connection to the platform API."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        transport: httpx.BaseTransport | None = None,
        backoff: http.Backoff | None = None,
        sleep: http.Sleep | None = None,
        tls: TLSFiles | None = None,
    ) -> None:
        """`tls`: client certificate and CA for a platform that requires mutual TLS (e.g.
        `TLSFiles.from_env(os.environ)`, or `TLSFiles.in_dir(Path(".trainyard/tls"), "dev@demo")`).

        Example::

            Client("https://127.0.0.1:8080", token, tls=TLSFiles.in_dir(Path(".trainyard/tls"), "dev@demo"))
        """
        # One transport for the API and pre-signed URLs, so a MockTransport can serve both.
        self._api = http.platform_client(base_url.rstrip("/"), token, transport=transport, tls=tls)
        self._blobs = http.blob_client(transport=transport)
        self._backoff = backoff if backoff is not None else http.Backoff(attempts=4)
        self._sleep = sleep if sleep is not None else time.sleep

    @classmethod
    def from_env(cls, base_url: str, token: str, *, environ: Mapping[str, str] | None = None, **options: Any) -> Client:
        """A client whose mutual-TLS files come from TRAINYARD_TLS_CERT, TRAINYARD_TLS_KEY and
        TRAINYARD_TLS_CA (none set: no client certificate, httpx's usual verification).
        `options` go to the constructor.

        Example::

            client = Client.from_env("https://127.0.0.1:8080", token)
        """
        return cls(base_url, token, tls=TLSFiles.from_env(os.environ if environ is None else environ), **options)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._api.close()
        self._blobs.close()

    # -- projects --------------------------------------------------------------------------

    def create_project(self, spec: ProjectSpec) -> ProjectView:
        return self._one(ProjectView, "POST", "/v1/projects", body=spec)

    def list_projects(self) -> list[ProjectView]:
        return self._items(ProjectView, "/v1/projects")

    def get_project(self, project_id: str) -> ProjectView:
        return self._one(ProjectView, "GET", f"/v1/projects/{project_id}")

    def update_project(self, project_id: str, patch: ProjectPatch) -> ProjectView:
        return self._one(ProjectView, "PATCH", f"/v1/projects/{project_id}", body=patch)

    def delete_project(self, project_id: str) -> ProjectView:
        """Deactivate a project (its record stays, for audit); returns it."""
        return self._one(ProjectView, "DELETE", f"/v1/projects/{project_id}")

    # -- tasks and jobs --------------------------------------------------------------------

    def create_task(self, project_id: str, spec: TaskSpec) -> TaskCreated:
        """Create a task; the platform queues its first job at once."""
        return self._one(TaskCreated, "POST", f"/v1/projects/{project_id}/tasks", body=spec)

    def list_tasks(self, project_id: str) -> list[TaskView]:
        return self._items(TaskView, f"/v1/projects/{project_id}/tasks")

    def get_task(self, task_id: str) -> TaskView:
        return self._one(TaskView, "GET", f"/v1/tasks/{task_id}")

    def update_task(self, task_id: str, patch: TaskPatch) -> TaskView:
        """Change a task's name, description, tags, retention, or priority while queued::

        c.update_task(task_id, TaskPatch(tags=["baseline"], retention=RetentionPolicy(keep_latest=2)))
        """
        return self._one(TaskView, "PATCH", f"/v1/tasks/{task_id}", body=patch)

    def archive_task(self, task_id: str, *, archived: bool = True) -> TaskView:
        """Archive (or with archived=False restore) a finished task: it leaves the default comparison."""
        return self._one(TaskView, "POST", f"/v1/tasks/{task_id}/{'archive' if archived else 'unarchive'}")

    def rerun_task(
        self,
        task_id: str,
        *,
        hyperparameters: dict[str, Scalar] | None = None,
        name: str | None = None,
        allow_code_change: bool = False,
    ) -> TaskCreated:
        """Run a task again with the same image/command, data and limits, optionally overriding
        some hyperparameters; the new task records which one it re-runs::

            again = c.rerun_task(task_id, hyperparameters={"lr": 0.01})
            c.diff_tasks(task_id, again.task.task_id).differences  # [field hyperparameters.lr ...]
        """
        body: dict[str, Any] = {"hyperparameters": hyperparameters or {}, "allow_code_change": allow_code_change}
        if name is not None:
            body["name"] = name
        return self._one(TaskCreated, "POST", f"/v1/tasks/{task_id}/rerun", body=body)

    def diff_tasks(self, task_id: str, other_id: str) -> TaskDiff:
        return self._one(TaskDiff, "GET", f"/v1/tasks/{task_id}/diff/{other_id}")

    def list_jobs(self, task_id: str) -> list[JobView]:
        return self._items(JobView, f"/v1/tasks/{task_id}/jobs")

    def get_job(self, job_id: str) -> JobView:
        return self._one(JobView, "GET", f"/v1/jobs/{job_id}")

    def job_provenance(self, job_id: str) -> Provenance:
        """What a job ran, as the platform recorded it::

        p = c.job_provenance("t-1.1")
        p.code.sha256, p.image_digest, {n: d.sha256 for n, d in p.datasets.items()}
        """
        return self._one(Provenance, "GET", f"/v1/jobs/{job_id}/provenance")

    def cancel_job(self, job_id: str) -> JobView:
        return self._one(JobView, "POST", f"/v1/jobs/{job_id}/cancel")

    def epochs(self, job_id: str) -> list[EpochView]:
        return self._items(EpochView, f"/v1/jobs/{job_id}/epochs")

    def checkpoints(self, job_id: str) -> list[CheckpointView]:
        return self._items(CheckpointView, f"/v1/jobs/{job_id}/checkpoints")

    def download_checkpoint(
        self, job_id: str, dest_dir: Path, *, epoch: int | None = None, progress: http.Progress | None = None
    ) -> Path:
        """Download a checkpoint of the job (the latest by default) into `dest_dir`, checked
        against the sha256 the trainer reported; return the file's path.

        Example::

            path = client.download_checkpoint("t-1.1", Path("ckpt"), epoch=3)
        """
        params = {} if epoch is None else {"epoch": str(epoch)}
        grant = self._one(CheckpointGrant, "GET", f"/v1/jobs/{job_id}/checkpoints/download", params=params)
        name = grant.name if grant.name not in ("", ".", "..") and "/" not in grant.name else f"epoch-{grant.epoch}"
        dest = dest_dir / name
        http.get_file(self._blobs, grant.url, dest, backoff=self._backoff, sleep=self._sleep, progress=progress)
        if grant.sha256:
            with dest.open("rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            if digest != grant.sha256:
                dest.unlink()
                raise PermanentError(
                    f"checkpoint {grant.key}: sha256 {digest} differs from the reported "
                    f"{grant.sha256}; the download was removed"
                )
        return dest

    def logs(self, job_id: str) -> str:
        """The end of the job's log (the last MiB), with a first line saying what came before
        when it is not the whole log. `log_pages` gives all of it."""
        return self._request("GET", f"/v1/jobs/{job_id}/logs").text

    def log_page(self, job_id: str, *, offset: int, limit: int = 1024 * 1024) -> LogPage:
        """Bytes [offset, offset + limit) of the job's whole log, and where the next page starts."""
        response = self._request("GET", f"/v1/jobs/{job_id}/logs", params={"offset": str(offset), "limit": str(limit)})
        following = response.headers.get("x-log-next-offset")
        return LogPage(
            text=response.text,
            offset=int(response.headers.get("x-log-offset", offset)),
            size=int(response.headers.get("x-log-size", 0)),
            next_offset=int(following) if following else None,
        )

    def log_pages(self, job_id: str, *, limit: int = 1024 * 1024) -> Iterator[LogPage]:
        """The job's whole log, page by page, from its first byte.

        Example::

            for page in client.log_pages("t-1.1"):
                sys.stdout.write(page.text)
        """
        offset: int | None = 0
        while offset is not None:
            page = self.log_page(job_id, offset=offset, limit=limit)
            yield page
            offset = page.next_offset

    def comparison(self, project_id: str, *, archived: bool = False, page_size: int = 100) -> Comparison:
        """Every task of a project side by side, fetched page by page (a few store reads
        per page on the platform, whatever the number of tasks):

            cmp = client.comparison("p-123")
            print(cmp.metrics, [(t.name, t.best) for t in cmp.tasks])
        """
        path = f"/v1/projects/{project_id}/comparison"
        params = {"limit": str(page_size), **({"archived": "true"} if archived else {})}
        first = self._one(Comparison, "GET", path, params=params)
        tasks, metrics, after = list(first.tasks), set(first.metrics), first.next
        while after is not None:
            page = self._one(Comparison, "GET", path, params={**params, "after": after})
            tasks += page.tasks
            metrics.update(page.metrics)
            after = page.next
        return first.model_copy(update={"tasks": tasks, "metrics": sorted(metrics), "next": None})

    # -- models ----------------------------------------------------------------------------

    def publish_model(
        self,
        job_id: str,
        *,
        epoch: int | None = None,
        metric: str | None = None,
        mode: Literal["max", "min"] | None = None,
        name: str | None = None,
    ) -> ModelView:
        """Publish a job's checkpoint as a model: the one of `epoch`, the best by `metric`
        (`mode` max or min; the server guesses from the name if omitted), else the latest.

        Publishing the same checkpoint again returns the model published before::

            model = client.publish_model("j-1", metric="accuracy", mode="max", name="intents-v1")
        """
        body = publish_body(job_id, epoch=epoch, metric=metric, mode=mode, name=name)
        return self._one(ModelView, "POST", "/v1/models", body=body)

    def try_checkpoint(
        self, job_id: str, epoch: int, *, document: str | None = None, image: bytes | None = None
    ) -> CheckpointTry:
        """Predict with one checkpoint in one call (published on demand; the same model next time)::

        t = c.try_checkpoint("t-1.1", 3, document="my password stopped working")
        t.model.model_id, t.prediction["probabilities"][0]
        """
        body: dict[str, Any] = (
            {"document": document}
            if image is None
            else {"sampleBase64Content": base64.b64encode(image).decode("ascii")}
        )
        return self._one(CheckpointTry, "POST", f"/v1/jobs/{job_id}/checkpoints/{epoch}/predict", body=body)

    def list_models(self) -> list[ModelView]:
        return self._items(ModelView, "/v1/models")

    def get_model(self, model_id: str) -> ModelView:
        return self._one(ModelView, "GET", f"/v1/models/{model_id}")

    def delete_model(self, model_id: str) -> ModelView:
        """Deactivate a model: predictions stop resolving it; its record and archive stay."""
        return self._one(ModelView, "DELETE", f"/v1/models/{model_id}")

    # -- datasets --------------------------------------------------------------------------

    def upload_dataset(self, project_id: str, name: str, path: Path, *, progress: http.Progress | None = None) -> int:
        """Upload a file as the next version of project dataset `name` (straight to S3); return bytes sent."""
        return self.upload_dataset_version(project_id, name, path, progress=progress)[1]

    def upload_dataset_version(
        self, project_id: str, name: str, path: Path, *, progress: http.Progress | None = None
    ) -> tuple[int, int]:
        """Upload a file as the next version of project dataset `name`; return (version, bytes sent)::

        version, sent = client.upload_dataset_version("p-1", "intents", Path("intents.csv"))
        """
        grant = self._grant(project_id, name, "upload")
        sent = http.put_file(
            self._blobs, grant.url, path, backoff=self._backoff, sleep=self._sleep, progress=progress,
            headers=grant.headers,
        )  # fmt: skip
        return grant.version or 0, sent

    def download_dataset(
        self,
        project_id: str,
        name: str,
        dest: Path,
        *,
        progress: http.Progress | None = None,
        version: int | None = None,
    ) -> Path:
        """Download project dataset `name` (the latest version, or `version`) to `dest` (atomically); return `dest`."""
        grant = self._grant(project_id, name, "download", version=version)
        return http.get_file(self._blobs, grant.url, dest, backoff=self._backoff, sleep=self._sleep, progress=progress)

    def dataset(self, project_id: str, name: str) -> DatasetView:
        """A dataset's versions and the last validation of each::

        shown = client.dataset("p-1", "intents")
        print(shown.latest, shown.latest_validated)
        """
        return self._one(DatasetView, "GET", f"/v1/projects/{project_id}/datasets/{name}")

    def validate_dataset(self, project_id: str, name: str, *, version: int | None = None) -> TaskCreated:
        """Start a one-time validation of a dataset version (default: the latest); it needs an
        active `validate` grant. Its report lands on the version (see `dataset`)::

        created = client.validate_dataset("p-1", "intents", version=2)
        """
        body: dict[str, object] = {} if version is None else {"version": version}
        return self._one(TaskCreated, "POST", f"/v1/projects/{project_id}/datasets/{name}/validate", body=body)

    def _grant(self, project_id: str, name: str, op: str, *, version: int | None = None) -> DatasetGrant:
        body: dict[str, object] = {"name": name, "op": op}
        if version is not None:
            body["version"] = version
        return self._one(DatasetGrant, "POST", f"/v1/projects/{project_id}/datasets", body=body)

    # -- data grants and the audit trail ---------------------------------------------------

    def request_approval(
        self,
        datasets: list[str],
        *,
        action: GrantActionName,
        purpose: str,
        days: int,
        project: str | None = None,
        principal: str | None = None,
        versions: dict[str, int] | None = None,
    ) -> ApprovalView:
        """Ask for a grant of `action` on `datasets` to a project or a principal, for `days`
        (`versions`: only that version of some of the datasets)::

        grant = client.request_approval(["reviews"], action="train", project="p-1", purpose="intents", days=30)
        """
        body = grant_request_body(
            datasets, action=action, purpose=purpose, days=days, project=project, principal=principal, versions=versions
        )
        return self._one(ApprovalView, "POST", "/v1/approvals", body=body)

    def approve(self, approval_id: str, *, reason: str = "") -> ApprovalView:
        """Approve a request of your tenant (approvers and admins; never your own request)."""
        return self._decide(approval_id, "approve", reason=reason)

    def deny(self, approval_id: str, *, reason: str = "") -> ApprovalView:
        return self._decide(approval_id, "deny", reason=reason)

    def revoke(self, approval_id: str, *, reason: str = "", tenant: str | None = None) -> ApprovalView:
        """Revoke a grant: its running jobs stop at the next sweep, no URL is issued under it.
        `tenant`: another tenant's grant (admins of the platform-admin tenant)."""
        return self._decide(approval_id, "revoke", reason=reason, tenant=tenant)

    def list_approvals(
        self,
        *,
        state: GrantStateFilter | None = None,
        dataset: str | None = None,
        principal: str | None = None,
        project: str | None = None,
        tenant: str | None = None,
    ) -> list[ApprovalView]:
        params = query(state=state, dataset=dataset, principal=principal, project=project, tenant=tenant)
        return self._items(ApprovalView, "/v1/approvals", params=params)

    def get_approval(self, approval_id: str, *, tenant: str | None = None) -> ApprovalView:
        """One grant with its full history."""
        return self._one(ApprovalView, "GET", f"/v1/approvals/{approval_id}", params=query(tenant=tenant))

    def audit(
        self,
        *,
        resource: str | None = None,
        actor: str | None = None,
        since: datetime | None = None,
        tenant: str | None = None,
        limit: int = 100,
    ) -> list[AuditRecordView]:
        """Audit records, newest first: your tenant's if you are an admin, else your own actions'."""
        params = query(resource=resource, actor=actor, since=since, tenant=tenant, limit=limit)
        return self._items(AuditRecordView, "/v1/audit", params=params)

    def _decide(self, approval_id: str, verb: str, *, reason: str, tenant: str | None = None) -> ApprovalView:
        body: dict[str, Any] = {"reason": reason} if tenant is None else {"reason": reason, "tenant": tenant}
        return self._one(ApprovalView, "POST", f"/v1/approvals/{approval_id}/{verb}", body=body)

    # -- wire ------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        payload = body.model_dump(mode="json", exclude_unset=True) if isinstance(body, BaseModel) else body
        request = self._api.build_request(method, path, json=payload, params=params or None)
        # Only reads are retried: a POST whose response was lost might have been applied.
        retry = method == "GET"
        return http.send(self._api, request, backoff=self._backoff, sleep=self._sleep, retry=retry)

    def _one(
        self,
        view: type[V],
        method: str,
        path: str,
        *,
        body: BaseModel | dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> V:
        return view.model_validate(self._request(method, path, body=body, params=params).json())

    def _items(self, view: type[V], path: str, *, params: dict[str, str] | None = None) -> list[V]:
        items = self._request("GET", path, params=params).json().get("items", [])
        return [view.model_validate(item) for item in items]
