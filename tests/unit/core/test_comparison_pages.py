"""The comparison of trials: a constant number of store round trips per page, whatever
the number of tasks and epochs, paged to the end, with the same rows as the long way."""

from __future__ import annotations

from typing import Any

import pytest

from functions.core import launching, reads, reporting
from sdk.contracts import events as ev
from sdk.contracts.errors import ValidationError
from tests.support.harness import Harness, harness


class Calls:
    """Counts every store method call (one call = one round trip, or one batch)."""

    def __init__(self, store: Any) -> None:
        self._store, self.n = store, 0

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._store, name)
        if not callable(found):
            return found

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.n += 1
            return found(*args, **kwargs)

        return counted


def trials(h: Harness, n: int, epochs: int) -> str:
    project = h.project()
    for i in range(n):
        _, job = h.task(project, name=f"trial-{i}", hyperparameters={"lr": i / 100})
        launching.admit_pool(h.deps, "default")
        reporting.report(
            h.deps, tenant="acme", job_id=job.job_id, event_type="r", event_id=f"r{i}", payload=ev.JobRunning()
        )
        for e in range(1, epochs + 1):
            reporting.report(
                h.deps,
                tenant="acme",
                job_id=job.job_id,
                event_type="e",
                event_id=f"e{i}.{e}",
                payload=ev.EpochReport(epoch=e, metrics={"loss": 1 / (e + i), "acc": e / 100}),
            )
        reporting.report(
            h.deps, tenant="acme", job_id=job.job_id, event_type="s", event_id=f"s{i}", payload=ev.JobSucceeded()
        )
        h.finish_events()
    return project.project_id


def test_each_page_costs_the_same_few_round_trips_and_pages_reach_the_end() -> None:
    h = harness(slots=1, tenant_cap=1)
    pid = trials(h, 12, epochs=20)
    calls = Calls(h.store)
    object.__setattr__(h.deps, "jobs", calls)
    object.__setattr__(h.deps, "tasks", calls)
    object.__setattr__(h.deps, "projects", calls)
    rows, after, per_page = [], None, []
    while True:
        calls.n = 0
        page = reads.comparison(h.deps, tenant="acme", project_id=pid, after=after, limit=5)
        per_page.append(calls.n)
        rows += page["tasks"]
        after = page["next"]
        if after is None:
            break
    assert per_page == [4, 4, 4]  # project, task page, summaries, jobs: not 2 per task
    assert [r["name"] for r in rows] == [f"trial-{i}" for i in range(12)]
    first = rows[0]
    assert (first["state"], first["attempts"], first["best"]["loss"], first["last"]["acc"]) == (
        "SUCCEEDED",
        1,
        1 / 20,
        0.2,
    )
    assert [list(p) for p in first["series"]["loss"][:2]] == [[1, 1.0], [2, 0.5]]
    assert page["metrics"] == ["acc", "loss"]


def test_a_retried_task_shows_its_latest_attempt_and_bad_paging_is_a_400() -> None:
    h = harness()
    project = h.project()
    _, job = h.task(project, retry={"max_retries": 1, "backoff_s": 0})
    launching.admit_pool(h.deps, "default")
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="r", event_id="r", payload=ev.JobRunning())
    reporting.report(
        h.deps,
        tenant="acme",
        job_id=job.job_id,
        event_type="e",
        event_id="e",
        payload=ev.EpochReport(epoch=1, metrics={"loss": 9.0}),
    )
    reporting.report(
        h.deps, tenant="acme", job_id=job.job_id, event_type="f", event_id="f", payload=ev.JobFailed(reason="boom")
    )
    h.finish_events()
    [row] = reads.comparison(h.deps, tenant="acme", project_id=project.project_id)["tasks"]
    assert (row["state"], row["attempts"], row["series"]) == ("LAUNCHING", 2, {})  # the retry, launched
    with pytest.raises(ValidationError):
        reads.comparison(h.deps, tenant="acme", project_id=project.project_id, limit=0)
    with pytest.raises(ValidationError):
        reads.comparison(h.deps, tenant="acme", project_id=project.project_id, after="x")
