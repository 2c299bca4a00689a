"""The DynamoDB tables of trainyard: the ONLY place their keys and indexes are defined.

The row classes below are unbound schemas (no table name, host or region): nothing is
read at import. `make_tables` binds them to one configuration by subclassing, so tests
can run many isolated table sets side by side and terraform can be checked against
`functions.store.schema.describe`.

Jobs carry three SPARSE indexes: their attributes exist only while the job is in the
matching state, so each index holds just the rows the sweep or the launcher must visit.
Grants are served the same way (by state, grantee, requester, dataset, and the sparse
`expiring` index of approved grants the sweep reads); the audit trail is keyed by tenant
and time, with indexes by actor and by resource.
"""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, cast

from pynamodb.attributes import BooleanAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

# (PynamoDB's Index.__init_subclass__ is untyped, hence the ignores on the index classes.)


class ProjectsByTenant(GlobalSecondaryIndex["ProjectRow"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_tenant"
        projection = AllProjection()

    tenant = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ProjectRow(Model):
    """A project; `body` is Project.model_dump_json()."""

    project_id = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute()
    created_at = UnicodeAttribute()  # rules.utc_iso
    body = UnicodeAttribute()
    by_tenant: ClassVar[ProjectsByTenant] = ProjectsByTenant()


class TasksByProject(GlobalSecondaryIndex["TaskRow"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_project"
        projection = AllProjection()

    project_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class TaskRow(Model):
    task_id = UnicodeAttribute(hash_key=True)
    project_id = UnicodeAttribute()
    tenant = UnicodeAttribute()
    created_at = UnicodeAttribute()
    body = UnicodeAttribute()
    version = NumberAttribute(null=True)  # task updates' optimistic lock (absent: never updated)
    by_project: ClassVar[TasksByProject] = TasksByProject()


class JobsByTask(GlobalSecondaryIndex["JobRow"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_task"
        projection = AllProjection()

    task_id = UnicodeAttribute(hash_key=True)
    attempt = NumberAttribute(range_key=True)


class JobQueue(GlobalSecondaryIndex["JobRow"]):  # type: ignore[no-untyped-call]
    """Sparse: QUEUED jobs only, in launch order (admission.queue_key)."""

    class Meta:
        index_name = "queue"
        projection = AllProjection()

    queue_pool = UnicodeAttribute(hash_key=True)
    queue_key = UnicodeAttribute(range_key=True)


class JobDeadlines(GlobalSecondaryIndex["JobRow"]):  # type: ignore[no-untyped-call]
    """Sparse: LAUNCHING/RUNNING jobs only, by their next deadline (the sweep).

    Partition `<pool>#<shard>` (rules.DEADLINE_SHARDS): every report rewrites it, so one
    partition per pool would be a hot key."""

    class Meta:
        index_name = "deadlines"
        projection = AllProjection()

    active_pool = UnicodeAttribute(hash_key=True)
    deadline_at = UnicodeAttribute(range_key=True)


class JobsUnreleased(GlobalSecondaryIndex["JobRow"]):  # type: ignore[no-untyped-call]
    """Sparse: finished jobs that still hold pool capacity (cleanup pending), by when
    they may be announced again."""

    class Meta:
        index_name = "unreleased"
        projection = AllProjection()

    release_pool = UnicodeAttribute(hash_key=True)
    announce_at = UnicodeAttribute(range_key=True)


class JobRow(Model):
    """One attempt; `body` is Job.model_dump_json(), `version` the optimistic lock."""

    job_id = UnicodeAttribute(hash_key=True)
    task_id = UnicodeAttribute()
    attempt = NumberAttribute()
    tenant = UnicodeAttribute()
    version = NumberAttribute()
    capacity_held = BooleanAttribute()
    body = UnicodeAttribute()
    queue_pool = UnicodeAttribute(null=True)
    queue_key = UnicodeAttribute(null=True)
    active_pool = UnicodeAttribute(null=True)
    deadline_at = UnicodeAttribute(null=True)
    release_pool = UnicodeAttribute(null=True)
    announce_at = UnicodeAttribute(null=True)
    by_task: ClassVar[JobsByTask] = JobsByTask()
    queue: ClassVar[JobQueue] = JobQueue()
    deadlines: ClassVar[JobDeadlines] = JobDeadlines()
    unreleased: ClassVar[JobsUnreleased] = JobsUnreleased()


class EpochRow(Model):
    job_id = UnicodeAttribute(hash_key=True)
    epoch = NumberAttribute(range_key=True)
    tenant = UnicodeAttribute()
    body = UnicodeAttribute()


class CheckpointRow(Model):
    job_id = UnicodeAttribute(hash_key=True)
    epoch = NumberAttribute(range_key=True)
    tenant = UnicodeAttribute()
    body = UnicodeAttribute()


class SummaryRow(Model):
    """A task's comparison row (domain TaskSummary), written with each epoch of its latest attempt."""

    task_id = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute()
    body = UnicodeAttribute()


class ReportMarkRow(Model):
    """What the ingress accepted for a job (domain ReportMark); expires with the dedup keys."""

    job_id = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute()
    accepted_at = UnicodeAttribute()  # rules.utc_iso
    outcome_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


class CapacityRow(Model):
    """pk `pool#<name>`; sk `usage` (the pool's counters) or `tenant#<t>` (the tenant's
    counters, `running` jobs and `queued` jobs in the pool).

    One partition per pool, so usage() and pool_tenants() are a single query, never a scan.
    """

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    slots = NumberAttribute(null=True)
    cpu_milli = NumberAttribute(null=True)
    memory_mb = NumberAttribute(null=True)
    gpu = NumberAttribute(null=True)
    running = NumberAttribute(null=True)
    queued = NumberAttribute(null=True)


class ModelsByTenant(GlobalSecondaryIndex["ModelRow"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_tenant"
        projection = AllProjection()

    tenant = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class ModelRow(Model):
    """A published model; `body` is PublishedModel.model_dump_json()."""

    model_id = UnicodeAttribute(hash_key=True)
    tenant = UnicodeAttribute()
    created_at = UnicodeAttribute()
    body = UnicodeAttribute()
    by_tenant: ClassVar[ModelsByTenant] = ModelsByTenant()


class DatasetVersionRow(Model):
    """One version of a project's dataset: `dataset` = "<tenant>#<project>#<name>", by number;
    `body` is DatasetVersion.model_dump_json(). A dataset's versions are one query."""

    dataset = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    body = UnicodeAttribute()


class ApprovalsByState(GlobalSecondaryIndex["ApprovalRow"]):  # type: ignore[no-untyped-call]
    """Grant rows only: `<tenant>#<recorded state>`, by expiry (active = approved, expiring later)."""

    class Meta:
        index_name = "by_state"
        projection = AllProjection()

    tenant_state = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class ApprovalsByGrantee(GlobalSecondaryIndex["ApprovalRow"]):  # type: ignore[no-untyped-call]
    """Grant rows only: `<tenant>#<principal or project:<id>>`, by expiry."""

    class Meta:
        index_name = "by_grantee"
        projection = AllProjection()

    tenant_grantee = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class ApprovalsByRequester(GlobalSecondaryIndex["ApprovalRow"]):  # type: ignore[no-untyped-call]
    """Grant rows only: `<tenant>#<who asked>`, by expiry (a person's own requests)."""

    class Meta:
        index_name = "by_requester"
        projection = AllProjection()

    tenant_requester = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class ApprovalsByDataset(GlobalSecondaryIndex["ApprovalRow"]):  # type: ignore[no-untyped-call]
    """Dataset link rows only (one per dataset a grant names): `<tenant>#<dataset>`, by expiry."""

    class Meta:
        index_name = "by_dataset"
        projection = AllProjection()

    tenant_dataset = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class ApprovalsExpiring(GlobalSecondaryIndex["ApprovalRow"]):  # type: ignore[no-untyped-call]
    """Sparse: APPROVED grants only, of every tenant, by expiry (the sweep records expiries)."""

    class Meta:
        index_name = "expiring"
        projection = AllProjection()

    approved = UnicodeAttribute(hash_key=True)
    expires_at = UnicodeAttribute(range_key=True)


class ApprovalRow(Model):
    """A grant (`item` = "grant", `body` = Approval.model_dump_json(), `version` the lock), or
    one immutable link row per dataset it names (`item` = "dataset#<name>", no body).

    Each index attribute is written only on the item kind (and state) its index serves.
    """

    approval_id = UnicodeAttribute(hash_key=True)
    item = UnicodeAttribute(range_key=True)
    tenant = UnicodeAttribute()
    expires_at = UnicodeAttribute()  # rules.utc_iso
    version = NumberAttribute(null=True)
    body = UnicodeAttribute(null=True)
    tenant_state = UnicodeAttribute(null=True)
    tenant_grantee = UnicodeAttribute(null=True)
    tenant_requester = UnicodeAttribute(null=True)
    tenant_dataset = UnicodeAttribute(null=True)
    approved = UnicodeAttribute(null=True)
    by_state: ClassVar[ApprovalsByState] = ApprovalsByState()
    by_grantee: ClassVar[ApprovalsByGrantee] = ApprovalsByGrantee()
    by_requester: ClassVar[ApprovalsByRequester] = ApprovalsByRequester()
    by_dataset: ClassVar[ApprovalsByDataset] = ApprovalsByDataset()
    expiring: ClassVar[ApprovalsExpiring] = ApprovalsExpiring()


class AuditByActor(GlobalSecondaryIndex["AuditRow"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_actor"
        projection = AllProjection()

    tenant_actor = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)


class AuditByResource(GlobalSecondaryIndex["AuditRow"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "by_resource"
        projection = AllProjection()

    tenant_resource = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)


class AuditRow(Model):
    """An audit record (append-only); `at_id` = `<utc iso>#<audit id>` orders a tenant's trail."""

    tenant = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)
    tenant_actor = UnicodeAttribute()
    tenant_resource = UnicodeAttribute()
    body = UnicodeAttribute()
    by_actor: ClassVar[AuditByActor] = AuditByActor()
    by_resource: ClassVar[AuditByResource] = AuditByResource()


class DedupRow(Model):
    """`<consumer>#<event id>`: an event already applied; DynamoDB expires it after 7 days."""

    key = UnicodeAttribute(hash_key=True)
    expires_at = TTLAttribute()


_R = TypeVar("_R", bound=Model)


@dataclass(frozen=True)
class Tables:
    """The row classes bound to one table prefix, endpoint and region."""

    projects: type[ProjectRow]
    tasks: type[TaskRow]
    jobs: type[JobRow]
    epochs: type[EpochRow]
    checkpoints: type[CheckpointRow]
    capacity: type[CapacityRow]
    dedup: type[DedupRow]
    models_: type[ModelRow]  # (trailing _: `models()` lists every table)
    approvals: type[ApprovalRow]
    audit: type[AuditRow]
    report_marks: type[ReportMarkRow]
    summaries: type[SummaryRow]
    dataset_versions: type[DatasetVersionRow]
    host: str | None
    region: str
    connection: Connection = field(repr=False, compare=False)  # shared by every table and transaction

    def models(self) -> tuple[type[Model], ...]:
        return (
            self.projects,
            self.tasks,
            self.jobs,
            self.epochs,
            self.checkpoints,
            self.capacity,
            self.dedup,
            self.models_,
            self.approvals,
            self.audit,
            self.report_marks,
            self.summaries,
            self.dataset_versions,
        )


def _bind(row: type[_R], *, table_name: str, host: str | None, region: str) -> type[_R]:
    meta: dict[str, Any] = {
        "table_name": table_name,
        "host": host,
        "region": region,
        "billing_mode": PAY_PER_REQUEST_BILLING_MODE,
    }
    namespace = {
        "Meta": type("Meta", (), meta),
        "__module__": row.__module__,
        "__qualname__": f"{row.__qualname__}[{table_name}]",
    }
    # PynamoDB copies each index per subclass, so bound classes never share query state.
    bound = types.new_class(row.__name__, (row,), exec_body=lambda ns: ns.update(namespace))
    return cast(type[_R], bound)


def _share(model: type[Model], connection: Connection) -> None:
    """Point the model's table connection at the shared one.

    PynamoDB builds a botocore session and client per model class (~0.1 s each, most of
    a cold start with ten tables); one client serves them all, and it is thread-safe.
    """
    table = model._get_connection()  # builds the table's schema metadata; no network call
    connection.add_meta_table(table.get_meta_table())
    table.connection = connection


def make_tables(*, prefix: str, host: str | None, region: str) -> Tables:
    """Bind every table to `<prefix><name>` (e.g. prefix 'trainyard-' -> 'trainyard-jobs').

    Cheap: no network call and no client until the first request.
    """

    def bind(row: type[_R], name: str) -> type[_R]:
        return _bind(row, table_name=f"{prefix}{name}", host=host, region=region)

    tables = Tables(
        projects=bind(ProjectRow, "projects"),
        tasks=bind(TaskRow, "tasks"),
        jobs=bind(JobRow, "jobs"),
        epochs=bind(EpochRow, "epochs"),
        checkpoints=bind(CheckpointRow, "checkpoints"),
        capacity=bind(CapacityRow, "capacity"),
        dedup=bind(DedupRow, "dedup"),
        models_=bind(ModelRow, "models"),
        approvals=bind(ApprovalRow, "approvals"),
        audit=bind(AuditRow, "audit"),
        report_marks=bind(ReportMarkRow, "report_marks"),
        summaries=bind(SummaryRow, "summaries"),
        dataset_versions=bind(DatasetVersionRow, "dataset_versions"),
        host=host,
        region=region,
        connection=Connection(region=region, host=host),
    )
    for model in tables.models():
        _share(model, tables.connection)
    return tables


def create_all(tables: Tables) -> None:
    """Create the missing tables (on-demand billing, TTL on dedup) and wait until ACTIVE."""
    for model in tables.models():
        model.create_table(wait=True)


def delete_all(tables: Tables) -> None:
    """Delete every table that exists (local mode and tests)."""
    for model in tables.models():
        if model.exists():
            model.delete_table()
