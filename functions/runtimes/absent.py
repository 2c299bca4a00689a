"""The runtime of a function that must never touch one (api, create, report).

Only launch, cleanup and sweep talk to the Kubernetes API (their ServiceAccounts mount a
token and are bound to the job-runner Role); the others run without a token and without
RBAC. They get this runtime, so a code path that reaches for a runtime where the deployment
gives none fails with a message naming the function, not with a Kubernetes client error.
"""

from __future__ import annotations

from functions.domain.runs import RunRecord
from functions.ports import LaunchSpec, RuntimeJob
from sdk.contracts.errors import PermanentError


class AbsentRuntime:
    """A JobRuntime whose every call is a PermanentError naming `function`."""

    def __init__(self, function: str) -> None:
        self.function = function

    def _refuse(self, what: str) -> PermanentError:
        return PermanentError(
            f"the {self.function} function has no job runtime (it may not {what}): only "
            f"launch, cleanup and sweep talk to the cluster"
        )

    def launch(self, spec: LaunchSpec) -> RunRecord:
        raise self._refuse(f"launch {spec.job_id}")

    def stop(self, job_id: str) -> None:
        raise self._refuse(f"stop {job_id}")

    def logs(self, job_id: str, *, full: bool = False) -> bytes:
        raise self._refuse(f"read the logs of {job_id}")

    def delete(self, job_id: str) -> None:
        raise self._refuse(f"delete {job_id}")

    def list(self) -> list[RuntimeJob]:
        raise self._refuse("list jobs")

    def note_image(self, job_id: str, image_id: str) -> None:
        raise self._refuse(f"note the image of {job_id}")
