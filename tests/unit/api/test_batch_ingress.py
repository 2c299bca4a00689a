"""Batched reports through the public ingress (`application/cloudevents-batch+json`): all
validated before any is forwarded, forwarded as one event in order, and the attacks: another
job's id, a user's token, oversized batches, a checkpoint pointing at someone else's files."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from functions import handlers
from functions.core import reporting
from functions.domain.model import JobState
from functions.publishing import to_cloudevent
from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.contracts import events as ev
from sdk.contracts.events import EventType
from tests.support.harness import SECRET, harness
from tests.support.two_jobs import TwoJobs, two_jobs

BATCH = {"content-type": ev.BATCH_CONTENT_TYPE}


class Ingress(TwoJobs):
    def post(self, events: Any, *, job: str | None = None, token: str | None = None) -> Any:
        raw = events if isinstance(events, bytes) else json.dumps(events).encode()
        auth = {"Authorization": f"Bearer {token or self.token(job or self.a)}"}
        return self.client.post("/v1/events", content=raw, headers={**BATCH, **auth})

    def published(self) -> list[Any]:
        return self.h.events.of_type(EventType.JOB_REPORTS)


def event(kind: EventType, subject: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"specversion": "1.0", "id": uuid.uuid4().hex, "type": str(kind), "source": "trainer", "subject": subject}
    return {**body, "datacontenttype": "application/json", "data": data, **extra}


def epochs(subject: str, first: int, last: int) -> list[dict[str, Any]]:
    return [
        event(EventType.JOB_EPOCH, subject, {"epoch": n, "metrics": {"loss": 1 / n}}) for n in range(first, last + 1)
    ]


@pytest.fixture
def ingress() -> Iterator[Ingress]:
    h = harness()
    with two_jobs(h, h.project()) as (client, a, b):
        yield Ingress(h, client, a, b)


def test_a_batch_is_forwarded_as_one_event_in_order_and_applied_by_the_report_function(ingress: Ingress) -> None:
    a = ingress.a
    batch = [event(EventType.JOB_RUNNING, a, {}), *epochs(a, 1, 40), event(EventType.JOB_SUCCEEDED, a, {})]
    r = ingress.post(batch)
    assert r.status_code == 202, r.text
    assert r.json()["count"] == 42
    [out] = ingress.published()
    assert out.subject == a and out.extensions[ev.TENANT_EXTENSION] == "acme"
    assert [e["id"] for e in out.data["events"]] == [e["id"] for e in batch]
    assert ingress.h.store.report_marks([a])[a].outcome_at is not None  # the outcome is on record
    handlers.report(ingress.h.deps, to_cloudevent(out))
    assert ingress.h.store.get_job("acme", a).state is JobState.SUCCEEDED
    assert [e.epoch for e in ingress.h.store.epochs("acme", a)] == list(range(1, 41))


def test_the_same_batch_sent_again_is_the_same_batch(ingress: Ingress) -> None:
    batch = [event(EventType.JOB_RUNNING, ingress.a, {}), *epochs(ingress.a, 1, 3)]
    assert ingress.post(batch).status_code == 202
    assert ingress.post(batch).status_code == 202  # the SDK's retry after a lost answer
    first, second = ingress.published()
    assert first.id == second.id  # so the report function applies it once


def test_a_bad_report_is_a_400_naming_its_index_and_field_and_nothing_is_sent(ingress: Ingress) -> None:
    a = ingress.a
    batch = [event(EventType.JOB_RUNNING, a, {}), *epochs(a, 1, 2)]
    batch.append(event(EventType.JOB_EPOCH, a, {"epoch": -1}))
    batch.append({k: v for k, v in event(EventType.JOB_EPOCH, a, {"epoch": 9}).items() if k != "id"})
    r = ingress.post(batch)
    assert r.status_code == 400
    fields = [p["field"] for p in r.json()["error"]["problems"]]
    assert fields == ["events[3].data.epoch", "events[4].id"]
    assert ingress.published() == []
    assert ingress.h.store.epochs("acme", a) == []


def test_a_batch_mixing_another_jobs_id_is_refused_as_a_whole(ingress: Ingress) -> None:
    batch = [*epochs(ingress.a, 1, 3), *epochs(ingress.b, 4, 4), *epochs(ingress.a, 5, 6)]
    r = ingress.post(batch)
    assert r.status_code == 403
    assert ingress.published() == []
    assert ingress.h.store.report_marks([ingress.a, ingress.b]) == {}


def test_oversized_batches_are_413_and_send_nothing(ingress: Ingress) -> None:
    too_many = ingress.post(epochs(ingress.a, 1, ev.MAX_BATCH_EVENTS + 1))
    assert too_many.status_code == 413 and f"at most {ev.MAX_BATCH_EVENTS}" in too_many.text
    big = event(EventType.JOB_FAILED, ingress.a, {"reason": "x", "logs": "y" * 60_000})
    too_big = ingress.post([{**big, "id": f"f{i}"} for i in range(20)])
    assert too_big.status_code == 413
    assert ingress.published() == []


def test_malformed_batches_are_400(ingress: Ingress) -> None:
    assert ingress.post(b"not json").status_code == 400
    assert ingress.post([]).status_code == 400
    assert ingress.post({"events": []}).status_code == 400
    r = ingress.post(["x", {"specversion": "1.0", "id": "i", "type": str(EventType.JOB_RUNNING)}])
    assert [p["field"] for p in r.json()["error"]["problems"]] == ["events[0].event", "events[1].cloudevent"]
    twice = event(EventType.JOB_RUNNING, ingress.a, {})
    r = ingress.post([twice, twice])
    assert r.status_code == 400 and r.json()["error"]["problems"][0]["field"] == "events[1].id"
    nested = event(EventType.JOB_REPORTS, ingress.a, {"events": []})
    assert ingress.post([nested]).status_code == 400  # a trainer posts reports, not batches of batches
    assert ingress.published() == []


def test_a_checkpoint_pointing_at_another_jobs_files_refuses_the_batch(ingress: Ingress) -> None:
    job_b = ingress.h.store.get_job("acme", ingress.b)
    theirs = reporting.artifact_prefix(job_b) + "w.pt"
    batch = [*epochs(ingress.a, 1, 2), event(EventType.JOB_CHECKPOINT, ingress.a, {"epoch": 2, "key": theirs})]
    r = ingress.post(batch)
    assert r.status_code == 400 and r.json()["error"]["problems"][0]["field"] == "events[2].data.key"
    assert ingress.published() == []


def test_people_cannot_post_batches(ingress: Ingress) -> None:
    person = tokens.user_token(tenant="acme", sub="ds@acme", secret=SECRET, roles=(Role.DATA_SCIENTIST,))
    task = event(EventType.TASK_REQUESTED, "", {"project_id": "p", "task": {}})
    assert ingress.post([task], token=person).status_code == 403
    assert ingress.published() == []


def test_a_finished_jobs_batch_is_refused(ingress: Ingress) -> None:
    token = ingress.token(ingress.a)
    ingress.post([event(EventType.JOB_RUNNING, ingress.a, {})])
    handlers.report(ingress.h.deps, to_cloudevent(ingress.published()[0]))
    ingress.post([event(EventType.JOB_SUCCEEDED, ingress.a, {})])
    handlers.report(ingress.h.deps, to_cloudevent(ingress.published()[1]))
    r = ingress.post(epochs(ingress.a, 1, 1), token=token)
    assert r.status_code in (403, 409)
    assert len(ingress.published()) == 2
