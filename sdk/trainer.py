"""The trainer SDK: the one contract between a trainer process and the platform.

A trainer reports through CloudEvents (structured JSON mode) posted to the platform
with its job-scoped token, and moves bytes through pre-signed S3 URLs::

    from sdk.trainer import Trainer

    def main(t: Trainer) -> None:
        data = t.dataset("reviews")
        t.metadata(learning_rate=1e-3, total_epochs=3)
        for n in range(1, 4):
            t.epoch(n, {"loss": 1 / n})
            t.checkpoint(n, save_weights(), {"loss": 1 / n})
        t.succeed({"loss": 1 / 3})

    trainer = Trainer.from_env()
    trainer.run(lambda: main(trainer))

Version note: these signatures are the platform's public API (v1); change them only
with a note in the changelog.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
import traceback
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, TypeVar, cast

import httpx
from cloudevents.conversion import to_dict, to_structured
from cloudevents.http import CloudEvent
from pydantic import BaseModel

import sdk
from sdk import http
from sdk.auth.tls import TLSFiles
from sdk.contracts import events as ev
from sdk.contracts import tracing
from sdk.contracts.errors import AlreadyProcessed, Conflict, Forbidden, TooLarge, TrainyardError
from sdk.contracts.validation import ValidationReport
from sdk.report_queue import Queued, ReportQueue
from sdk.trainer_setup import Hyperparameters, Scalar, TrainerEnv  # re-exported: see __all__

T = TypeVar("T")
Clock = Callable[[], datetime]
MAX_REASON = 2000  # JobFailed.reason max_length
MAX_LOGS = 64_000  # JobFailed.logs max_length
# A trainer outlives a platform restart (the runtime keeps it; the platform re-adopts it), so
# its reports wait for the platform that long: ~6 minutes of retries, at most 10 s apart.
REPORT_BACKOFF = http.Backoff(attempts=40, initial_s=0.5, factor=2.0, max_s=10.0)
__all__ = ["Hyperparameters", "Scalar", "Trainer", "TrainerEnv"]


class LogTail:
    """Keeps the last `limit` characters written to stdout/stderr, still passing them through."""

    def __init__(self, limit: int = MAX_LOGS) -> None:
        self._lock = threading.Lock()  # data-loader threads print too
        self._parts: deque[str] = deque()
        self._size = 0
        self._limit = limit

    def write(self, text: str) -> None:
        with self._lock:
            self._parts.append(text)
            self._size += len(text)
            while self._size - len(self._parts[0]) >= self._limit:
                self._size -= len(self._parts.popleft())

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)[-self._limit :]

    def install(self) -> None:
        """Tee sys.stdout and sys.stderr into this tail (Python-level writes only)."""
        sys.stdout = cast(TextIO, _Tee(sys.stdout, self))
        sys.stderr = cast(TextIO, _Tee(sys.stderr, self))


class _Tee:
    def __init__(self, inner: TextIO, tail: LogTail) -> None:
        self._inner = inner
        self._tail = tail

    def write(self, text: str) -> int:
        self._tail.write(text)
        return self._inner.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Trainer:
    """Reports one job's progress to the platform. Build it with `Trainer.from_env()`."""

    def __init__(
        self,
        job_id: str,
        platform: httpx.Client,
        *,
        blobs: httpx.Client | None = None,
        workdir: Path = Path("."),
        attempt: int | None = None,
        hyperparameters: Mapping[str, Scalar] | None = None,
        backoff: http.Backoff | None = None,
        sleep: http.Sleep | None = None,
        clock: Clock | None = None,
        log_tail: Callable[[], str] | None = None,
        traceparent: str | None = None,
        report_queue: int = 1024,
    ) -> None:
        """`report_queue`: how many reports may wait for the platform before a report blocks."""
        self.job_id = job_id
        self.traceparent = tracing.valid(traceparent)  # the launch's span: every report continues its trace
        self.attempt = attempt
        self.workdir = workdir
        self._platform = platform
        self._blobs = blobs if blobs is not None else http.blob_client()
        self.hyperparameters = Hyperparameters(hyperparameters or {})
        self._backoff = backoff if backoff is not None else REPORT_BACKOFF
        self._sleep = sleep if sleep is not None else time.sleep
        self._clock = clock if clock is not None else (lambda: datetime.now(UTC))
        self._log_tail = log_tail if log_tail is not None else (lambda: "")
        self._running = False
        self._finished = False
        self._reports = ReportQueue(
            self._send_reports, capacity=report_queue, max_events=ev.MAX_BATCH_EVENTS, max_bytes=ev.MAX_BATCH_BYTES // 2
        )
        # A trainer that exits without close() or an outcome still delivers what it queued.
        weakref.finalize(self, self._reports.close_quietly)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, capture_logs: bool = True, **options: Any
    ) -> Trainer:
        """A trainer for the job the platform launched this process for.

        Reads TRAINYARD_JOB_ID, TRAINYARD_TOKEN, TRAINYARD_PLATFORM_URL and optionally
        TRAINYARD_PLATFORM_UDS, TRAINYARD_ATTEMPT, TRAINYARD_WORKDIR, and TRAINYARD_TLS_CERT,
        TRAINYARD_TLS_KEY, TRAINYARD_TLS_CA (mutual TLS with the platform). With `capture_logs`,
        stdout/stderr are teed so `fail()` can attach their tail. `options` go to the
        constructor (backoff, sleep, clock).

        Example::

            trainer = Trainer.from_env()
            trainer.running()
        """
        env = TrainerEnv.load(os.environ if environ is None else environ)
        tail: LogTail | None = None
        if capture_logs:
            tail = LogTail()
            tail.install()
        return cls.connect(
            env.platform_url, env.token, env.job_id,
            uds=env.platform_uds, tls=env.tls(), workdir=env.workdir, attempt=env.attempt,
            hyperparameters=env.hyperparameters, log_tail=tail.text if tail is not None else None,
            traceparent=env.traceparent, **options,
        )  # fmt: skip

    @classmethod
    def connect(
        cls,
        base_url: str,
        token: str,
        job_id: str,
        *,
        transport: httpx.BaseTransport | None = None,
        uds: str | None = None,
        tls: TLSFiles | None = None,
        **options: Any,
    ) -> Trainer:
        """A trainer talking to `base_url` (or through the UNIX socket `uds`) as `job_id`.

        `transport` serves both the platform and pre-signed URLs (tests pass a MockTransport);
        so does `uds`, the socket of a sandboxed trainer's egress proxy. `tls` (client
        certificate and CA) is for the platform only: pre-signed URLs are verified as usual.

        Example::

            trainer = Trainer.connect("http://127.0.0.1:8080", token, "j-123")
        """
        platform = http.platform_client(base_url, token, transport=transport, uds=uds, tls=tls)
        return cls(job_id, platform, blobs=http.blob_client(transport=transport, uds=uds), **options)

    # -- reports ---------------------------------------------------------------------------

    def running(self) -> None:
        """Tell the platform the trainer started (must happen within the launch limit).

        Example::

            trainer.running()
        """
        self._report(ev.EventType.JOB_RUNNING, ev.JobRunning(sdk_version=sdk.__version__), wait=True)
        self._running = True

    def epoch(self, n: int, metrics: Mapping[str, float]) -> None:
        """Report epoch `n`'s metrics; this restarts the platform's epoch clock.

        It returns at once: reports go in order from a background sender, several in one
        request when they come faster than a round trip (`flush()` waits for them).

        Example::

            trainer.epoch(1, {"loss": 0.42, "accuracy": 0.81})
        """
        self._report(ev.EventType.JOB_EPOCH, ev.EpochReport(epoch=n, metrics=dict(metrics)))

    def metadata(
        self, *, learning_rate: float | None = None, total_epochs: int | None = None, **extra: str | float | bool
    ) -> None:
        """Record facts about the run (merged into the job's metadata).

        Example::

            trainer.metadata(learning_rate=3e-4, total_epochs=10, batch_size=32)
        """
        report = ev.MetadataReport(learning_rate=learning_rate, total_epochs=total_epochs, extra=dict(extra))
        self._report(ev.EventType.JOB_METADATA, report)

    def checkpoint(self, n: int, weights_path: Path, metrics: Mapping[str, float]) -> str:
        """Upload weights for epoch `n` and report the checkpoint; return its artifact key.

        Example::

            key = trainer.checkpoint(3, Path("model.pt"), {"loss": 0.12})
        """
        with weights_path.open("rb") as f:
            sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        key = self.upload(weights_path, name=f"checkpoints/epoch-{n:04d}/{weights_path.name}")
        report = ev.CheckpointReport(
            epoch=n, key=key, metrics=dict(metrics), size_bytes=weights_path.stat().st_size, sha256=sha256
        )
        self._report(ev.EventType.JOB_CHECKPOINT, report)
        return key

    def succeed(self, metrics: Mapping[str, float] | None = None, *, report: ValidationReport | None = None) -> None:
        """Finish the job successfully with its final metrics; a validation task sends its
        report here (added in v1.1: a keyword with a default, so v1 callers are unchanged).

        Example::

            trainer.succeed({"accuracy": 0.93})
        """
        self._report(ev.EventType.JOB_SUCCEEDED, ev.JobSucceeded(metrics=dict(metrics or {}), report=report), wait=True)
        self._finished = True

    def fail(self, reason: str, *, logs: str | None = None) -> None:
        """Finish the job as failed; `logs` defaults to the tail of this process's output.

        Example::

            trainer.fail("dataset has no rows", logs="...")
        """
        text = self._log_tail() if logs is None else logs
        reason = reason.strip()[-MAX_REASON:] or "trainer failed"
        self._report(ev.EventType.JOB_FAILED, ev.JobFailed(reason=reason, logs=text[-MAX_LOGS:]), wait=True)
        self._finished = True

    # -- data ------------------------------------------------------------------------------

    def dataset(self, name: str, *, dest: Path | None = None) -> Path:
        """Download an approved project dataset; return where it was written. Its bytes are
        checked against the sha256 the platform recorded for this job when it granted them.

        Example::

            path = trainer.dataset("reviews")  # workdir/datasets/reviews
        """
        target = dest if dest is not None else self.workdir / "datasets" / name
        for fresh in (False, True):  # URLs are short-lived: a refused one is asked for again, once
            grant = self._call("GET", f"/v1/jobs/{self.job_id}/datasets/{name}")
            try:
                path = http.get_file(self._blobs, str(grant["url"]), target, backoff=self._backoff, sleep=self._sleep)
            except Forbidden:
                if fresh:
                    raise
                continue
            recorded = str(grant.get("sha256") or "")
            got = hashlib.sha256(path.read_bytes()).hexdigest() if recorded else ""
            if got == recorded:
                return path
            if fresh:  # replaced between the platform's digest and this download, twice
                raise Conflict(f"dataset {name!r} changed while it was read: sha256 {got}, recorded {recorded}")
        raise AssertionError("unreachable")

    def upload(self, path: Path, *, name: str | None = None) -> str:
        """Upload a file as a job artifact (processed data, weights); return its key.

        Example::

            key = trainer.upload(Path("vocab.json"), name="processed/vocab.json")
        """
        for fresh in (False, True):  # as for datasets: an expired URL is replaced once
            grant = self._call("POST", f"/v1/jobs/{self.job_id}/artifacts", json={"name": name or path.name})
            try:
                http.put_file(
                    self._blobs, str(grant["url"]), path, backoff=self._backoff, sleep=self._sleep,
                    headers=grant.get("headers"),
                )  # fmt: skip
                return str(grant["key"])
            except Forbidden:
                if fresh:
                    raise
        raise AssertionError("unreachable")

    # -- lifecycle helpers -----------------------------------------------------------------

    def run(self, main: Callable[[], T]) -> T:
        """Report running (unless already reported), call `main`, then succeed (unless `main`
        finished the job itself); on an exception report failure with the traceback, and re-raise.

        Example::

            trainer.run(lambda: train(trainer))
        """
        with self:
            return main()

    def __enter__(self) -> Trainer:
        if not self._running:  # a trainer that already said so must not say it twice (409)
            self.running()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._finished:
            return
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.succeed()
            return
        reason = "".join(traceback.format_exception(exc_type, exc, tb))
        try:
            self.fail(reason)
        except TrainyardError as report_error:  # keep the original exception the one raised
            print(f"trainyard: could not report failure: {report_error}", file=sys.stderr)

    # -- wire ------------------------------------------------------------------------------

    def flush(self) -> None:
        """Wait until every report made so far reached the platform; raise a refused one.

        Example::

            trainer.epoch(10, {"loss": 0.1})
            trainer.flush()
        """
        self._reports.flush()

    def _report(self, kind: ev.EventType, payload: BaseModel, *, wait: bool = False) -> None:
        event = CloudEvent(
            {
                "id": str(uuid.uuid4()),  # fixed across retries: the platform dedupes on it
                "source": f"trainyard/sdk/{self.job_id}",
                "type": str(kind),
                "subject": self.job_id,
                "time": self._clock().isoformat(),
                "datacontenttype": "application/json",
                tracing.EXTENSION: tracing.child(self.traceparent),
            },
            payload.model_dump(mode="json", exclude_none=True),
        )
        # Running and outcomes wait for everything before them (the platform orders by arrival).
        self._reports.put(Queued(event, len(json.dumps(to_dict(event)))), raise_refused=not wait)
        if wait:
            self._reports.flush()

    def _send_reports(self, batch: list[Queued]) -> None:
        """One request: a lone report in structured mode, several in batched mode."""
        if len(batch) == 1:
            headers, body = to_structured(batch[0].event)
            headers = dict(headers)
        else:
            headers = {"content-type": ev.BATCH_CONTENT_TYPE}
            body = json.dumps([to_dict(q.event) for q in batch]).encode()
        request = self._platform.build_request("POST", "/v1/events", content=body, headers=headers)
        try:
            # AlreadyProcessed: an earlier try of this very event got through; its response was lost.
            with contextlib.suppress(AlreadyProcessed):
                http.send(self._platform, request, backoff=self._backoff, sleep=self._sleep)
        except TooLarge:
            if len(batch) == 1:
                raise
            half = len(batch) // 2  # a platform with smaller limits: halves, still in order
            self._send_reports(batch[:half])
            self._send_reports(batch[half:])

    def _call(self, method: str, path: str, *, json: object = None) -> dict[str, Any]:
        request = self._platform.build_request(method, path, json=json)
        response = http.send(self._platform, request, backoff=self._backoff, sleep=self._sleep)
        body: dict[str, Any] = response.json()
        return body

    def close(self) -> None:
        """Send the queued reports, then close the HTTP connections (the process exiting does this too)."""
        try:
            self._reports.close()
        finally:
            self._platform.close()
            self._blobs.close()
