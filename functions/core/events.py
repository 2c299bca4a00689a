"""Events the core emits. Ids are deterministic, so re-emitting one is harmless."""

from __future__ import annotations

from typing import Protocol

from functions.core.deps import CoreConfig
from functions.domain.model import Job
from functions.ports import EventPublisher, OutEvent
from sdk.contracts import events as ev
from sdk.contracts.events import EventType


class EventPorts(Protocol):
    """The broker's publisher, and the configuration that names the events' source."""

    @property
    def events(self) -> EventPublisher: ...

    @property
    def config(self) -> CoreConfig: ...


def job_created(deps: EventPorts, job: Job) -> None:
    deps.events.publish(
        OutEvent(
            type=EventType.JOB_CREATED,
            source=deps.config.source,
            subject=job.job_id,
            data=ev.JobCreated(tenant=job.tenant, job_id=job.job_id).model_dump(mode="json"),
            id=f"{job.job_id}.created",
        )
    )


def job_finished(deps: EventPorts, job: Job) -> None:
    deps.events.publish(
        OutEvent(
            type=EventType.JOB_FINISHED,
            source=deps.config.source,
            subject=job.job_id,
            data=ev.JobFinished(tenant=job.tenant, job_id=job.job_id, state=job.state.value).model_dump(mode="json"),
            id=f"{job.job_id}.finished",
        )
    )
