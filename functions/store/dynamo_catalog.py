"""Projects and tasks in DynamoDB: tenant-scoped reads, conditional creates."""

from __future__ import annotations

from functions.domain.audit import AuditRecord
from functions.domain.model import Job, Project, Task
from functions.store import rules
from functions.store.dynamo_base import DynamoBase
from functions.store.errors import translated
from functions.store.tables import ProjectRow, TaskRow
from functions.store.tx import Write
from sdk.contracts.errors import Conflict, NotFound


class CatalogMixin(DynamoBase):
    def create_project(self, project: Project) -> None:
        write = Write()
        write.put(
            self._project_row(project),
            condition=self._t.projects.project_id.does_not_exist(),
            on_fail=Conflict(f"project {project.project_id} already exists"),
        )
        self._commit(write)

    def get_project(self, tenant: str, project_id: str) -> Project:
        missing = NotFound("project", project_id)
        with translated(missing=missing):
            row = self._t.projects.get(project_id, consistent_read=True)
        if row.tenant != tenant:
            raise missing
        return Project.model_validate_json(row.body)

    def list_projects(self, tenant: str) -> list[Project]:
        with translated():
            rows = list(self._t.projects.by_tenant.query(tenant, scan_index_forward=False))
        return [Project.model_validate_json(row.body) for row in rows]

    def update_project(self, project: Project) -> None:
        """NotFound if missing or another tenant's (the row's tenant never changes)."""
        projects = self._t.projects
        write = Write()
        write.put(
            self._project_row(project),
            condition=projects.project_id.exists() & (projects.tenant == project.tenant),
            on_fail=NotFound("project", project.project_id),
        )
        self._commit(write)

    def create_task(
        self, task: Task, first_job: Job, *, dedup: str | None = None, audit: AuditRecord | None = None
    ) -> None:
        write = Write()
        self._add_dedup(write, dedup)
        write.put(
            self._task_row(task),
            condition=self._t.tasks.task_id.does_not_exist(),
            on_fail=Conflict(f"task {task.task_id} already exists"),
        )
        self._put_new_job(write, first_job)
        self._add_audit(write, audit)
        self._commit(write)

    def get_task(self, tenant: str, task_id: str) -> Task:
        missing = NotFound("task", task_id)
        with translated(missing=missing):
            row = self._t.tasks.get(task_id, consistent_read=True)
        if row.tenant != tenant:
            raise missing
        return Task.model_validate_json(row.body)

    def list_tasks(self, tenant: str, project_id: str) -> list[Task]:
        tasks = self._t.tasks
        with translated():
            rows = list(tasks.by_project.query(project_id, filter_condition=tasks.tenant == tenant))
        return [Task.model_validate_json(row.body) for row in rows]

    def task_page(
        self, tenant: str, project_id: str, *, after: str | None = None, limit: int = 50
    ) -> tuple[list[Task], str | None]:
        tasks = self._t.tasks
        start = None
        if after is not None:
            created, task_id = rules.parse_task_cursor(after)
            start = {"task_id": {"S": task_id}, "project_id": {"S": project_id}, "created_at": {"S": created}}
        with translated():
            rows = list(
                tasks.by_project.query(
                    project_id, filter_condition=tasks.tenant == tenant, limit=limit, last_evaluated_key=start
                )
            )
        page = [Task.model_validate_json(row.body) for row in rows]
        return page, rules.task_cursor(page[-1]) if len(page) == limit else None

    def update_task(self, task: Task, *, expected_version: int, audit: AuditRecord | None = None) -> Task:
        """NotFound if missing or another tenant's; Conflict if the stored version differs."""
        self.get_task(task.tenant, task.task_id)  # a clear NotFound before the version check
        tasks = self._t.tasks
        saved = task.model_copy(update={"version": expected_version + 1})
        same = tasks.version == expected_version
        if expected_version == 0:
            same = same | tasks.version.does_not_exist()
        write = Write()
        write.put(
            self._task_row(saved),
            condition=tasks.task_id.exists() & (tasks.tenant == task.tenant) & same,
            on_fail=Conflict(f"task {task.task_id}: stored version is not {expected_version}"),
        )
        self._add_audit(write, audit)
        self._commit(write)
        return saved

    def _project_row(self, project: Project) -> ProjectRow:
        return self._t.projects(
            project.project_id,
            tenant=project.tenant,
            created_at=rules.utc_iso(project.created_at),
            body=project.model_dump_json(),
        )

    def _task_row(self, task: Task) -> TaskRow:
        return self._t.tasks(
            task.task_id,
            project_id=task.project_id,
            tenant=task.tenant,
            created_at=rules.utc_iso(task.created_at),
            body=task.model_dump_json(),
            version=task.version,
        )
