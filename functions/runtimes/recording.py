"""RecordingRuntime: the honest in-memory JobRuntime for unit tests of the core.

It keeps LocalRuntime's semantics (validation, idempotent launch, stop keeps logs,
delete forgets, "runner lost" for a vanished runner) and records what it was asked,
while the test plays the trainer and the machine:

    runtime = RecordingRuntime()
    runtime.launch(spec)                    # RUNNING; runtime.launched[spec.job_id] == spec
    runtime.write_log(spec.job_id, b"epoch 1\n")
    runtime.exit(spec.job_id, 0)            # EXITED, exit_code 0
    runtime.vanish("other")                 # EXITED, exit_code None, reason "runner lost"
    runtime.launched["ghost"] = spec        # a job the platform does not know (RUNNING)
    assert "j-1" in runtime.stopped and "j-1" in runtime.deleted
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from pathlib import Path

from functions.domain.runs import RunRecord
from functions.ports import LaunchSpec, RuntimeJob, RuntimeStatus
from functions.runtimes import RUNNER_LOST, tail, validate_spec
from functions.runtimes.codehash import launch_record


class RecordingRuntime:
    """JobRuntime in memory, thread-safe.

    `launched` is what the runtime holds: job id -> the spec it was launched with (a
    test may add one directly). `stopped` and `deleted` record every stop()/delete()
    call in order, missing jobs included.
    """

    def __init__(self, *, launch_status: RuntimeStatus = RuntimeStatus.RUNNING) -> None:
        self._launch_status = launch_status  # PENDING imitates a cluster that has not scheduled it yet
        self._lock = threading.Lock()
        self._status: dict[str, RuntimeJob] = {}  # absent: still in its launch status
        self._logs: dict[str, bytearray] = {}
        self._next_launch_error: Exception | None = None
        self.launched: dict[str, LaunchSpec] = {}
        self.records: dict[str, RunRecord] = {}  # what launch() answered, per job
        self._images: dict[str, str] = {}  # job id -> the imageID the cluster resolved
        self.noted_images: dict[str, str] = {}  # job id -> the imageID note_image() was told
        self.stopped: list[str] = []
        self.deleted: list[str] = []

    # -- JobRuntime ------------------------------------------------------------------

    def launch(self, spec: LaunchSpec) -> RunRecord:
        validate_spec(spec)
        with self._lock:
            if self._next_launch_error is not None:
                error, self._next_launch_error = self._next_launch_error, None
                raise error
            if spec.job_id in self.launched:  # already started: left alone
                return self.records.get(spec.job_id) or RunRecord()
        record = launch_record(spec, Path(spec.code_dir) if spec.code_dir else None)
        if spec.image:
            record = record.model_copy(update={"command": [], "image": spec.image})
        with self._lock:
            self.launched.setdefault(spec.job_id, spec)
            return self.records.setdefault(spec.job_id, record)

    def stop(self, job_id: str) -> None:
        with self._lock:
            self.stopped.append(job_id)
            self._stop(job_id)

    def logs(self, job_id: str, *, full: bool = False) -> bytes:
        with self._lock:
            data = bytes(self._logs.get(job_id, b"")) if job_id in self.launched else b""
        return data if full else tail(data)

    def delete(self, job_id: str) -> None:
        with self._lock:
            self.deleted.append(job_id)
            self._stop(job_id)
            self.launched.pop(job_id, None)
            self.records.pop(job_id, None)
            self._status.pop(job_id, None)
            self._logs.pop(job_id, None)

    def list(self) -> list[RuntimeJob]:
        with self._lock:
            return [self._current(job_id) for job_id in sorted(self.launched)]

    def note_image(self, job_id: str, image_id: str) -> None:
        with self._lock:
            self.noted_images[job_id] = image_id

    # -- what tests inspect and play ---------------------------------------------------

    def set_image(self, job_id: str, image_id: str) -> None:
        """The cluster resolved the trainer container's image to `image_id` (pod imageID)."""
        with self._lock:
            self._require(job_id)
            self._images[job_id] = image_id

    def status(self, job_id: str) -> RuntimeJob | None:
        with self._lock:
            return self._current(job_id) if job_id in self.launched else None

    def start(self, job_id: str) -> None:
        """PENDING -> RUNNING (a cluster scheduled it)."""
        self._set(RuntimeJob(job_id, RuntimeStatus.RUNNING))

    def pend(self, job_id: str, reason: str) -> None:
        """Stuck before running for a reason the trainer cannot report (ImagePullBackOff)."""
        self._set(RuntimeJob(job_id, RuntimeStatus.PENDING, None, reason))

    def exit(self, job_id: str, code: int, *, reason: str = "") -> None:
        """The trainer exited with `code` (128 + n when killed by signal n)."""
        self._set(RuntimeJob(job_id, RuntimeStatus.EXITED, code, reason))

    def vanish(self, job_id: str) -> None:
        """The runner disappeared without recording an exit code."""
        self._set(RuntimeJob(job_id, RuntimeStatus.EXITED, None, RUNNER_LOST))

    def write_log(self, job_id: str, data: bytes) -> None:
        with self._lock:
            self._require(job_id)
            self._logs.setdefault(job_id, bytearray()).extend(data)

    def fail_next_launch(self, error: Exception) -> None:
        """The next launch() raises `error` and starts nothing."""
        with self._lock:
            self._next_launch_error = error

    # -- internals -------------------------------------------------------------------

    def _current(self, job_id: str) -> RuntimeJob:
        job = self._status.get(job_id) or RuntimeJob(job_id, self._launch_status)
        image = self._images.get(job_id, "")
        recorded = bool(image) and self.noted_images.get(job_id) == image
        return dataclasses.replace(job, image_id=image, image_recorded=recorded)

    def _require(self, job_id: str) -> None:
        if job_id not in self.launched:
            raise AssertionError(f"runtime job {job_id!r} is not held: launch it first")  # a test bug

    def _set(self, job: RuntimeJob) -> None:
        with self._lock:
            self._require(job.job_id)
            if self._current(job.job_id).status is RuntimeStatus.EXITED:
                raise AssertionError(f"runtime job {job.job_id!r} has already exited")  # a test bug
            self._status[job.job_id] = job

    def _stop(self, job_id: str) -> None:
        if job_id in self.launched and self._current(job_id).status is not RuntimeStatus.EXITED:
            # What LocalRuntime reports for a trainer that dies of the forwarded SIGTERM.
            self._status[job_id] = RuntimeJob(job_id, RuntimeStatus.EXITED, 128 + signal.SIGTERM)
