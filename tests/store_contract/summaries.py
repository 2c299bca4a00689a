"""The comparison's read model: one summary a task (its latest attempt's), and pages of a
project's tasks, oldest first, to the end."""

from __future__ import annotations

import pytest

from functions.domain.model import TaskSummary
from sdk.contracts.errors import ValidationError
from tests.store_contract.helpers import Store, epoch, job, project, task


class SummariesContract:
    def test_a_new_attempt_speaks_for_its_task_and_epochs_update_it(self, store: Store) -> None:
        store.create_project(project("p1"))
        store.create_task(task("t1"), job("t1.1", tid="t1"))
        assert store.task_summaries("acme", ["t1", "nope"]) == {"t1": TaskSummary.of(job("t1.1", tid="t1"))}
        j = store.get_job("acme", "t1.1")
        e = epoch("t1.1", 1, loss=0.5)
        summary = TaskSummary.of(j).with_epoch(e)
        store.save_job(j, expected_version=j.version, epochs=(e,), summary=summary)
        assert store.task_summaries("acme", ["t1"])["t1"].series == {"loss": [(1, 0.5)]}
        assert store.task_summaries("globex", ["t1"]) == {}  # another tenant's
        store.create_job(job("t1.2", tid="t1", attempt=2))  # a retry starts afresh
        assert store.task_summaries("acme", ["t1"])["t1"] == TaskSummary.of(job("t1.2", tid="t1", attempt=2))

    def test_task_pages_go_oldest_first_to_the_end(self, store: Store) -> None:
        store.create_project(project("p1"))
        for i in range(7):
            store.create_task(task(f"t{i}", created=i), job(f"t{i}.1", tid=f"t{i}"))
        store.create_task(task("x", tenant="globex", pid="p1", created=3), job("x.1", tid="x", tenant="globex"))
        seen, after = [], None
        for _ in range(5):
            page, after = store.task_page("acme", "p1", after=after, limit=3)
            seen += [t.task_id for t in page]
            if after is None:
                break
        assert seen == [f"t{i}" for i in range(7)] and after is None
        with pytest.raises(ValidationError):
            store.task_page("acme", "p1", after="garbage")

    def test_a_task_created_after_a_page_was_read_shows_on_the_next_read(self, store: Store) -> None:
        store.create_project(project("p1"))
        store.create_task(task("t0", created=0), job("t0.1", tid="t0"))
        store.create_task(task("t2", created=2), job("t2.1", tid="t2"))
        assert [t.task_id for t in store.task_page("acme", "p1")[0]] == ["t0", "t2"]
        store.create_task(task("t1", created=1), job("t1.1", tid="t1"))
        page, after = store.task_page("acme", "p1", limit=2)
        assert [t.task_id for t in page] == ["t0", "t1"]
        assert [t.task_id for t in store.task_page("acme", "p1", after=after)[0]] == ["t2"]
