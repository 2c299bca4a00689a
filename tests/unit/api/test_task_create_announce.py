"""Creating a task answers once the task is stored; job.created follows the answer. A broker
that is down then costs a later launch (the sweep admits the queue), never a failed create
(which a client would retry into a second task)."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from functions.api.app import create_app
from functions.core import sweeping
from functions.domain.model import JobState
from functions.ports import OutEvent
from sdk.auth import tokens
from sdk.auth.tokens import HS256Verifier, Role
from sdk.contracts.errors import TemporaryError
from sdk.contracts.events import EventType
from tests.support.harness import SECRET, harness


class DownBroker:
    def __init__(self) -> None:
        self.tried = 0

    def publish(self, event: OutEvent) -> None:
        self.tried += 1
        raise TemporaryError("broker unreachable at http://internal/broker/: [Errno 104] Connection reset by peer")


def post_task(deps: object, project_id: str) -> tuple[int, dict[str, object]]:
    token = tokens.user_token(tenant="acme", sub="ds@acme", secret=SECRET, roles=(Role.DATA_SCIENTIST,))
    with TestClient(create_app(deps)) as client:  # type: ignore[arg-type]
        r = client.post(
            f"/v1/projects/{project_id}/tasks",
            headers={"Authorization": f"Bearer {token}"},
            json={"name": "t", "command": ["python", "x.py"]},
        )
    return r.status_code, r.json()


def config_of(h: object) -> object:
    deps = h.deps  # type: ignore[attr-defined]
    return replace(deps.config, verifier=HS256Verifier(SECRET, clock=lambda: h.clock.now().timestamp()))  # type: ignore[attr-defined]


def test_job_created_follows_the_answer() -> None:
    h = harness()
    project = h.project()
    status, body = post_task(replace(h.deps, config=config_of(h)), project.project_id)
    assert status == 201
    [created] = h.events.of_type(EventType.JOB_CREATED)
    assert created.subject == body["job"]["job_id"]  # type: ignore[index]


def test_a_broker_down_at_creation_delays_the_launch_to_the_next_sweep() -> None:
    h = harness()
    project = h.project()
    broker = DownBroker()
    status, body = post_task(replace(h.deps, config=config_of(h), events=broker), project.project_id)
    assert status == 201 and broker.tried == 1  # stored and answered; the announcement failed after
    job_id = str(body["job"]["job_id"])  # type: ignore[index]
    assert h.store.get_job("acme", job_id).state is JobState.QUEUED
    assert job_id in sweeping.sweep(h.deps).launched
