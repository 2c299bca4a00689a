"""Two launched jobs of one project and the API over them, for tests of what a trainer's token may do."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace

from fastapi.testclient import TestClient

from functions.api.app import create_app
from functions.core import launching
from functions.domain.model import Project
from sdk.auth.tokens import HS256Verifier
from tests.support.harness import SECRET, Harness


@dataclass
class TwoJobs:
    h: Harness
    client: TestClient
    a: str
    b: str

    def token(self, job_id: str) -> str:
        """The job token the platform gave `job_id`'s trainer."""
        return self.h.runtime.launched[job_id].env["TRAINYARD_TOKEN"]


@contextlib.contextmanager
def two_jobs(h: Harness, project: Project, **spec: object) -> Iterator[tuple[TestClient, str, str]]:
    """Two tasks of `project` (with `spec`), both launched, and the API (its tokens judged on
    the harness's clock, as jobs are): yields the client and the two job ids."""
    _, a = h.task(project, **spec)
    _, b = h.task(project, **spec)
    assert len(launching.admit_pool(h.deps, "default")) == 2
    config = replace(h.deps.config, verifier=HS256Verifier(SECRET, clock=lambda: h.clock.now().timestamp()))
    with TestClient(create_app(replace(h.deps, config=config))) as client:
        yield client, a.job_id, b.job_id
