"""Projects and tasks: each tenant sees only its own, newest or oldest first; updates are
versioned; creating twice is a conflict, a task and its first job are created together, once."""

from __future__ import annotations

import pytest

from functions.domain.model import JobState
from sdk.contracts.errors import AlreadyProcessed, Conflict, NotFound
from tests.store_contract.helpers import Store, job, project, task


class ProjectsAndTasksContract:
    # tenant scoping

    def test_project_of_another_tenant_is_not_found(self, store: Store) -> None:
        store.create_project(project("p1", tenant="acme"))
        assert store.get_project("acme", "p1").name == "p1"
        with pytest.raises(NotFound):
            store.get_project("globex", "p1")
        with pytest.raises(NotFound):
            store.get_project("acme", "nope")

    def test_list_projects_is_own_tenant_newest_first(self, store: Store) -> None:
        for pid, tenant, created in (("a", "acme", 1), ("b", "globex", 2), ("c", "acme", 3)):
            store.create_project(project(pid, tenant=tenant, created=created))
        assert [p.project_id for p in store.list_projects("acme")] == ["c", "a"]
        assert store.list_projects("nobody") == []

    def test_update_project_of_another_tenant_is_not_found(self, store: Store) -> None:
        store.create_project(project("p1"))
        store.update_project(project("p1").model_copy(update={"purpose": "new"}))
        assert store.get_project("acme", "p1").purpose == "new"
        with pytest.raises(NotFound):
            store.update_project(project("p1", tenant="globex"))
        with pytest.raises(NotFound):
            store.update_project(project("p2"))
        assert store.get_project("acme", "p1").purpose == "new"

    def test_tasks_are_tenant_scoped_oldest_first(self, store: Store) -> None:
        store.create_task(task("t2", created=2), job("t2.1", tid="t2"))
        store.create_task(task("t1", created=1), job("t1.1", tid="t1"))
        store.create_task(task("tx", tenant="globex", created=0), job("tx.1", tid="tx", tenant="globex"))
        assert [t.task_id for t in store.list_tasks("acme", "p1")] == ["t1", "t2"]
        assert store.get_task("acme", "t1").spec.name == "t1"
        with pytest.raises(NotFound):
            store.get_task("acme", "tx")
        assert store.get_job("acme", "t1.1").state is JobState.QUEUED

    def test_update_task_is_versioned_and_tenant_scoped(self, store: Store) -> None:
        store.create_task(task("t1"), job("t1.1"))
        first = store.get_task("acme", "t1")
        saved = store.update_task(
            first.model_copy(update={"description": "d", "archived": True}), expected_version=first.version
        )
        assert saved.version == first.version + 1
        again = store.get_task("acme", "t1")
        assert (again.description, again.archived, again.version) == ("d", True, saved.version)
        with pytest.raises(Conflict):  # a writer that read before the update lost the race
            store.update_task(first.model_copy(update={"description": "late"}), expected_version=first.version)
        with pytest.raises(NotFound):  # another tenant cannot touch it, and learns nothing
            store.update_task(again.model_copy(update={"tenant": "globex"}), expected_version=again.version)
        with pytest.raises(NotFound):
            store.update_task(task("nope"), expected_version=0)
        assert store.get_task("acme", "t1").description == "d"

    # conflicts

    def test_creating_twice_is_a_conflict(self, store: Store) -> None:
        store.create_project(project("p1"))
        with pytest.raises(Conflict):
            store.create_project(project("p1", tenant="globex"))
        store.create_job(job("j1"))
        with pytest.raises(Conflict):
            store.create_job(job("j1", priority=5))
        assert store.get_job("acme", "j1").priority == 0

    def test_create_task_is_atomic(self, store: Store) -> None:
        store.create_job(job("t1.1"))
        with pytest.raises(Conflict):
            store.create_task(task("t1"), job("t1.1"))
        with pytest.raises(NotFound):
            store.get_task("acme", "t1")

    def test_create_task_replayed_is_already_processed(self, store: Store) -> None:
        store.create_task(task("t1"), job("t1.1"), dedup="tasks#e1")
        with pytest.raises(AlreadyProcessed):
            store.create_task(task("t9"), job("t9.1", tid="t9"), dedup="tasks#e1")
        with pytest.raises(NotFound):
            store.get_task("acme", "t9")
