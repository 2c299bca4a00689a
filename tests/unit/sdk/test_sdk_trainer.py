"""The trainer SDK over a fake platform: envelopes, retries, uploads, lifecycle helpers."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

import sdk
from sdk.contracts import tracing
from sdk.contracts.errors import Conflict, TemporaryError, ValidationError
from sdk.contracts.events import PAYLOADS, EventType
from sdk.http import Backoff
from sdk.trainer import LogTail, Trainer
from tests.unit.sdk.sdk_fake_platform import S3_HOST, FakePlatform

JOB = "j-123"
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _serve_artifacts(platform: FakePlatform) -> None:
    def presign(request: httpx.Request) -> httpx.Response:
        key = f"jobs/{JOB}/{json.loads(request.content)['name']}"
        return httpx.Response(
            200, json={"key": key, "url": f"http://{S3_HOST}/{key}?X-Amz-Signature=abc", "method": "PUT"}
        )

    platform.on("POST", f"/v1/jobs/{JOB}/artifacts", presign)


@pytest.fixture
def trainer(platform: FakePlatform, sleeps: list[float], tmp_path: Path) -> Trainer:
    platform.on("POST", "/v1/events", httpx.Response(202))
    _serve_artifacts(platform)
    return Trainer.connect(
        "http://platform.test", "job-token", JOB, transport=platform.transport,
        workdir=tmp_path, sleep=sleeps.append, clock=lambda: NOW, log_tail=lambda: "last words\n",
    )  # fmt: skip


def test_running_posts_a_structured_cloudevent_with_job_auth(trainer: Trainer, platform: FakePlatform) -> None:
    trainer.running()
    (request,) = platform.sent("POST", "/v1/events")
    assert request.headers["authorization"] == "Bearer job-token"
    assert request.headers["content-type"] == "application/cloudevents+json"
    event = json.loads(request.content)
    assert tracing.valid(event.pop("traceparent"))  # without a launch trace, a new trace of its own
    assert event == {
        "specversion": "1.0",
        "id": event["id"],
        "source": f"trainyard/sdk/{JOB}",
        "type": "io.trainyard.job.running",
        "subject": JOB,
        "time": NOW.isoformat(),
        "datacontenttype": "application/json",
        "data": {"sdk_version": sdk.__version__},  # its own word, kept in its metadata
    }
    assert uuid.UUID(event["id"]).version == 4


def test_every_report_validates_against_its_contract_payload(trainer: Trainer, platform: FakePlatform) -> None:
    trainer.epoch(2, {"loss": 0.5})
    trainer.metadata(learning_rate=0.001, total_epochs=5, batch_size=32, optimizer="adam")
    trainer.succeed({"accuracy": 0.9})
    for event in platform.events():
        PAYLOADS[EventType(event["type"])].model_validate(event["data"])
    epoch, meta, done = (e["data"] for e in platform.events())
    assert epoch == {"epoch": 2, "metrics": {"loss": 0.5}}
    assert meta == {"learning_rate": 0.001, "total_epochs": 5, "extra": {"batch_size": 32, "optimizer": "adam"}}
    assert done == {"metrics": {"accuracy": 0.9}}


def test_each_report_gets_its_own_event_id(trainer: Trainer, platform: FakePlatform) -> None:
    trainer.epoch(1, {})
    trainer.epoch(2, {})
    trainer.flush()
    first, second = platform.events()
    assert first["id"] != second["id"]


def test_retries_on_503_with_the_same_event_id(trainer: Trainer, platform: FakePlatform, sleeps: list[float]) -> None:
    platform.on("POST", "/v1/events", httpx.Response(503), httpx.ConnectError("reset"), httpx.Response(202))
    trainer.epoch(1, {"loss": 1.0})
    trainer.flush()
    ids = {e["id"] for e in platform.events()}
    assert len(platform.sent("POST", "/v1/events")) == 3
    assert len(ids) == 1
    # exponential, plus up to Backoff.jitter_s (0.25 s) at random
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 0.75 and 1.0 <= sleeps[1] <= 1.25


def test_gives_up_after_bounded_attempts(platform: FakePlatform, sleeps: list[float]) -> None:
    platform.on("POST", "/v1/events", httpx.Response(503))
    t = Trainer.connect("http://p", "t", JOB, transport=platform.transport, backoff=Backoff(attempts=4),
                        sleep=sleeps.append)  # fmt: skip
    with pytest.raises(TemporaryError):
        t.running()
    assert len(platform.sent("POST", "/v1/events")) == 4
    assert len(sleeps) == 3


def test_no_retry_on_400_and_the_server_message_is_raised(
    trainer: Trainer, platform: FakePlatform, sleeps: list[float]
) -> None:
    body = {
        "error": {
            "code": "invalid",
            "message": "bad event",
            "problems": [{"field": "subject", "message": "not your job"}],
        }
    }
    platform.on("POST", "/v1/events", httpx.Response(400, json=body))
    with pytest.raises(ValidationError, match="subject: not your job"):
        trainer.running()
    assert len(platform.sent("POST", "/v1/events")) == 1
    assert sleeps == []


def test_invalid_transition_conflict_surfaces(trainer: Trainer, platform: FakePlatform) -> None:
    body = {"error": {"code": "invalid_transition", "message": "job j-123: cannot go from SUCCEEDED to RUNNING"}}
    platform.on("POST", "/v1/events", httpx.Response(409, json=body))
    with pytest.raises(Conflict, match="cannot go from SUCCEEDED"):
        trainer.running()


def test_already_processed_counts_as_delivered(trainer: Trainer, platform: FakePlatform) -> None:
    body = {"error": {"code": "already_processed", "message": "event seen"}}
    platform.on("POST", "/v1/events", httpx.Response(503), httpx.Response(409, json=body))
    trainer.epoch(1, {})
    trainer.flush()  # no exception: the first try was applied, its response lost
    assert len(platform.sent("POST", "/v1/events")) == 2


def test_checkpoint_uploads_weights_then_reports_key_size_and_sha256(
    trainer: Trainer, platform: FakePlatform, tmp_path: Path
) -> None:
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"\x01\x02" * 5000)
    key = trainer.checkpoint(3, weights, {"loss": 0.25})
    trainer.flush()
    assert key == f"jobs/{JOB}/checkpoints/epoch-0003/model.bin"
    (artifact,) = platform.sent("POST", f"/v1/jobs/{JOB}/artifacts")
    assert json.loads(artifact.content) == {"name": "checkpoints/epoch-0003/model.bin"}
    (put,) = [r for r in platform.requests if r.url.host == S3_HOST]
    assert put.method == "PUT"
    assert "authorization" not in put.headers  # S3 rejects a second auth mechanism
    assert put.headers["content-length"] == "10000"
    assert platform.objects[key] == weights.read_bytes()
    (event,) = platform.events()
    assert event["type"] == "io.trainyard.job.checkpoint"
    assert event["data"] == {
        "epoch": 3, "key": key, "metrics": {"loss": 0.25}, "size_bytes": 10000,
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
    }  # fmt: skip
    assert platform.requests.index(put) < platform.requests.index(platform.sent("POST", "/v1/events")[0])


def test_upload_retries_a_failed_put(trainer: Trainer, platform: FakePlatform, tmp_path: Path) -> None:
    attempts: list[int] = []
    original = platform._s3

    def flaky(request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        return httpx.Response(500) if len(attempts) == 1 else original(request)

    platform._s3 = flaky  # type: ignore[method-assign]
    data = tmp_path / "vocab.json"
    data.write_text("{}")
    assert trainer.upload(data, name="processed/vocab.json") == f"jobs/{JOB}/processed/vocab.json"
    assert len(attempts) == 2
    assert platform.objects[f"jobs/{JOB}/processed/vocab.json"] == b"{}"


def test_dataset_downloads_through_the_presigned_url(trainer: Trainer, platform: FakePlatform, tmp_path: Path) -> None:
    platform.objects["datasets/reviews"] = b"a,b\n1,2\n"
    platform.json(
        "GET", f"/v1/jobs/{JOB}/datasets/reviews", {"url": f"http://{S3_HOST}/datasets/reviews?sig=1", "method": "GET"}
    )
    path = trainer.dataset("reviews")
    assert path == tmp_path / "datasets" / "reviews"
    assert path.read_bytes() == b"a,b\n1,2\n"
    chosen = trainer.dataset("reviews", dest=tmp_path / "elsewhere.csv")
    assert chosen.read_bytes() == b"a,b\n1,2\n"
    assert [p.name for p in chosen.parent.iterdir() if p.name.endswith(".part")] == []


def test_a_dataset_that_differs_from_its_recorded_sha256_is_refused(trainer: Trainer, platform: FakePlatform) -> None:
    """The grant carries the sha256 the platform recorded for the job: a download that does
    not match (the object was replaced meanwhile) is asked for once more, then refused."""
    from sdk.contracts.errors import Conflict

    platform.objects["datasets/reviews"] = b"rows"
    url = f"http://{S3_HOST}/datasets/reviews?sig=1"
    good = {"url": url, "method": "GET", "sha256": hashlib.sha256(b"rows").hexdigest()}
    stale = {**good, "sha256": hashlib.sha256(b"older rows").hexdigest()}
    route = f"/v1/jobs/{JOB}/datasets/reviews"
    platform.on("GET", route, httpx.Response(200, json=stale), httpx.Response(200, json=good))
    assert trainer.dataset("reviews").read_bytes() == b"rows"  # the second grant matched
    platform.on("GET", f"/v1/jobs/{JOB}/datasets/reviews", httpx.Response(200, json=stale))
    with pytest.raises(Conflict, match="changed while it was read"):
        trainer.dataset("reviews")


def test_an_expired_dataset_url_is_asked_for_again_once(
    trainer: Trainer, platform: FakePlatform, tmp_path: Path
) -> None:
    """Trainer URLs live minutes: the SDK refreshes a refused one through the platform (which
    checks the grant again), and gives up when the fresh one is refused too."""
    from sdk.contracts.errors import Forbidden

    platform.objects["datasets/reviews"] = b"rows"
    expired = httpx.Response(403, json={"error": {"code": "forbidden", "message": "egress denied: expired"}})
    fresh = {"url": f"http://{S3_HOST}/datasets/reviews?sig=2", "method": "GET"}
    platform.on(
        "GET",
        f"/v1/jobs/{JOB}/datasets/reviews",
        httpx.Response(200, json={"url": f"http://{S3_HOST}/old?sig=1", "method": "GET"}),
        httpx.Response(200, json=fresh),
    )
    original = platform._s3
    platform._s3 = lambda r: expired if r.url.path == "/old" else original(r)  # type: ignore[method-assign]
    assert trainer.dataset("reviews").read_bytes() == b"rows"
    assert len(platform.sent("GET", f"/v1/jobs/{JOB}/datasets/reviews")) == 2
    platform.on(
        "GET",
        f"/v1/jobs/{JOB}/datasets/reviews",
        httpx.Response(200, json={"url": f"http://{S3_HOST}/old?sig=1", "method": "GET"}),
    )
    with pytest.raises(Forbidden):
        trainer.dataset("reviews")
    assert len(platform.sent("GET", f"/v1/jobs/{JOB}/datasets/reviews")) == 4


def test_missing_dataset_is_not_found(trainer: Trainer, platform: FakePlatform) -> None:
    from sdk.contracts.errors import NotFound

    with pytest.raises(NotFound, match="no route"):
        trainer.dataset("secret")


def test_fail_attaches_the_log_tail_by_default(trainer: Trainer, platform: FakePlatform) -> None:
    trainer.fail("out of memory")
    trainer_explicit = platform.events()[0]["data"]
    assert trainer_explicit == {"reason": "out of memory", "logs": "last words\n"}


def test_fail_trims_to_the_contract_limits_keeping_the_end(trainer: Trainer, platform: FakePlatform) -> None:
    trainer.fail("x" * 5000 + "ValueError: boom", logs="y" * 70_000 + "END")
    data = platform.events()[0]["data"]
    assert len(data["reason"]) == 2000 and data["reason"].endswith("ValueError: boom")
    assert len(data["logs"]) == 64_000 and data["logs"].endswith("END")


def test_run_reports_running_then_success(trainer: Trainer, platform: FakePlatform) -> None:
    assert trainer.run(lambda: 42) == 42
    assert [e["type"] for e in platform.events()] == ["io.trainyard.job.running", "io.trainyard.job.succeeded"]


def test_run_after_an_explicit_running_does_not_report_it_again(trainer: Trainer, platform: FakePlatform) -> None:
    trainer.running()
    trainer.run(lambda: None)
    assert [e["type"] for e in platform.events()] == ["io.trainyard.job.running", "io.trainyard.job.succeeded"]


def test_run_does_not_succeed_twice(trainer: Trainer, platform: FakePlatform) -> None:
    trainer.run(lambda: trainer.succeed({"acc": 1.0}))
    assert [e["type"] for e in platform.events()][-1] == "io.trainyard.job.succeeded"
    assert len(platform.events()) == 2


def test_run_reports_the_traceback_and_reraises(trainer: Trainer, platform: FakePlatform) -> None:
    def boom() -> None:
        raise ValueError("bad learning rate")

    with pytest.raises(ValueError, match="bad learning rate"):
        trainer.run(boom)
    _running, failed = platform.events()
    assert failed["type"] == "io.trainyard.job.failed"
    assert "Traceback" in failed["data"]["reason"]
    assert failed["data"]["reason"].endswith("ValueError: bad learning rate")
    assert failed["data"]["logs"] == "last words\n"


def test_run_keeps_the_original_error_when_reporting_fails(trainer: Trainer, platform: FakePlatform) -> None:
    platform.on("POST", "/v1/events", httpx.Response(202), httpx.Response(400, json={"error": {"message": "no"}}))
    with pytest.raises(KeyError):
        trainer.run(lambda: dict[str, int]()["missing"])


def test_from_env_reads_the_platform_contract(tmp_path: Path) -> None:
    env = {"TRAINYARD_JOB_ID": JOB, "TRAINYARD_TOKEN": "tok", "TRAINYARD_PLATFORM_URL": "http://p:1",
           "TRAINYARD_ATTEMPT": "2", "TRAINYARD_WORKDIR": str(tmp_path), "UNRELATED": "x"}  # fmt: skip
    t = Trainer.from_env(env, capture_logs=False)
    assert (t.job_id, t.attempt, t.workdir) == (JOB, 2, tmp_path)
    t.close()


def test_from_env_lists_every_missing_variable() -> None:
    with pytest.raises(ValidationError) as info:
        Trainer.from_env({"TRAINYARD_ATTEMPT": "zero"}, capture_logs=False)
    fields = {p.field for p in info.value.problems}
    assert {"TRAINYARD_JOB_ID", "TRAINYARD_TOKEN", "TRAINYARD_ATTEMPT"} <= fields


def test_log_tail_keeps_only_the_end_and_passes_text_through() -> None:
    tail = LogTail(limit=10)
    for chunk in ["hello ", "world ", "and ", "more"]:
        tail.write(chunk)
    assert tail.text() == "d and more"
    from sdk.trainer import _Tee

    sink = io.StringIO()
    tee = _Tee(sink, tail)
    tee.write("!")
    assert sink.getvalue() == "!"
    assert tail.text().endswith("more!")
    assert tee.getvalue() == "!"  # other attributes reach the real stream


def test_reports_continue_the_trace_the_platform_launched_the_job_in(platform: FakePlatform, tmp_path: Path) -> None:
    platform.on("POST", "/v1/events", httpx.Response(202))
    launch = tracing.child()
    trainer = Trainer.from_env(
        {
            "TRAINYARD_JOB_ID": JOB,
            "TRAINYARD_TOKEN": "t",
            "TRAINYARD_TRACEPARENT": launch,
            "TRAINYARD_PLATFORM_URL": "http://platform.test",
        },
        capture_logs=False,
        transport=platform.transport,
    )
    trainer.running()
    trainer.epoch(1, {"loss": 1.0})
    trainer.flush()
    spans = [e["traceparent"] for e in platform.events()]
    assert {tracing.trace_id(s) for s in spans} == {tracing.trace_id(launch)}
    assert len({launch, *spans}) == 3  # a span of its own per report
