"""The core wired to honest in-memory fakes, with a hand-moved clock."""

from __future__ import annotations

import time
from dataclasses import dataclass

from functions import bootstrap
from functions.core import approvals, cleanup, projects, tasks
from functions.core.deps import CoreConfig, Deps
from functions.domain.admission import Capacity, PoolPolicy
from functions.domain.approvals import Approval, GrantAction
from functions.domain.audit import Actor
from functions.domain.model import Job, Project, Task
from functions.publishing import RecordingPublisher
from functions.runtimes.recording import RecordingRuntime
from functions.store.memory import InMemoryStore
from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.contracts.events import EventType
from sdk.contracts.specs import ProjectSpec, TaskSpec
from tests.support.builders import FakeClock

SECRET = "unit-test-secret-0123456789abcdef-xyz"


def bearer(*roles: Role, tenant: str = "acme", sub: str = "u@acme") -> dict[str, str]:
    """The Authorization header of a person with `roles`, signed with SECRET."""
    return {"Authorization": "Bearer " + tokens.user_token(tenant=tenant, sub=sub, secret=SECRET, roles=roles)}


def job_bearer(job_id: str, *, tenant: str = "acme") -> dict[str, str]:
    """The Authorization header of `job_id`'s trainer (a job token, valid for a minute)."""
    token = tokens.job_token(tenant=tenant, job_id=job_id, secret=SECRET, expires_at=int(time.time()) + 60)
    return {"Authorization": f"Bearer {token}"}


def person(sub: str, *roles: Role, tenant: str = "acme") -> Actor:
    return Actor(sub=sub, tenant=tenant, roles=frozenset(roles or (Role.DATA_SCIENTIST,)))


@dataclass
class Harness:
    deps: Deps
    store: InMemoryStore
    runtime: RecordingRuntime
    events: RecordingPublisher
    clock: FakeClock

    def project(self, tenant: str = "acme", datasets: tuple[str, ...] = ("intents",)) -> Project:
        spec = ProjectSpec(name="proj", purpose="testing", datasets=list(datasets))
        return projects.create(self.deps, tenant=tenant, spec=spec)

    def task(self, project: Project, actor: Actor | None = None, **spec: object) -> tuple[Task, Job]:
        body: dict[str, object] = {"name": "trial", "command": ["python", "train.py"]}
        body.update(spec)
        self.clock.advance(0.001)  # creation order must be observable, as it is in reality
        return tasks.create(
            self.deps,
            tenant=project.tenant,
            project_id=project.project_id,
            spec=TaskSpec.model_validate(body),
            actor=actor,
        )

    def request(
        self,
        project: Project,
        datasets: tuple[str, ...] | None = None,
        *,
        action: GrantAction = GrantAction.TRAIN,
        principal: str | None = None,
        days: int = 30,
        by: Actor | None = None,
        versions: dict[str, int] | None = None,
    ) -> Approval:
        """A grant asked for by a data scientist: to the project, or to `principal`."""
        asker = by or person("ds@acme", tenant=project.tenant)
        return approvals.request(
            self.deps,
            asker,
            datasets=datasets or project.datasets,
            action=action,
            purpose="tests",
            days=days,
            principal=principal,
            project_id=project.project_id,
            versions=versions,
        )

    def grant(self, project: Project, datasets: tuple[str, ...] | None = None, **kw: object) -> Approval:
        """A grant requested and approved (by an approver of the project's tenant)."""
        asked = self.request(project, datasets, **kw)  # type: ignore[arg-type]
        return self.decide(asked, "approve")

    def decide(self, grant: Approval, verb: approvals.Verb, reason: str = "") -> Approval:
        boss = person("boss@" + grant.tenant, Role.APPROVER, tenant=grant.tenant)
        self.clock.advance(0.001)  # a decision follows its request, as the trail must show
        return approvals.decide(self.deps, boss, grant.approval_id, verb=verb, reason=reason)

    def job(self, job: Job) -> Job:
        return self.store.get_job(job.tenant, job.job_id)

    def finish_events(self) -> None:
        """Deliver the job.finished events the core emitted, as the broker would."""
        for e in self.events.drain():
            if e.type == EventType.JOB_FINISHED:
                cleanup.cleanup(self.deps, tenant=str(e.data["tenant"]), job_id=str(e.data["job_id"]))


def harness(*, slots: int = 2, tenant_cap: int = 2) -> Harness:
    store = InMemoryStore()
    runtime = RecordingRuntime()
    events = RecordingPublisher()
    clock = FakeClock()
    budget = Capacity(slots=slots, cpu_milli=slots * 1000, memory_mb=slots * 1024)
    policy = PoolPolicy(budget=budget, tenant_cap=tenant_cap)
    config = CoreConfig(
        token_secret=SECRET,
        platform_url="http://platform.test",
        pools={"default": policy},
        reconcile_grace_s=10,
        exit_grace_s=2,
    )
    deps = bootstrap.in_memory(config, store=store, clock=clock, runtime=runtime, events=events)
    return Harness(deps=deps, store=store, runtime=runtime, events=events, clock=clock)
