"""The trainer's background sender: reports batched when they come faster than a round trip,
never reordered, bounded, outcomes flushing everything before them, refusals surfaced."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from sdk.contracts import events as ev
from sdk.contracts.errors import Conflict, ValidationError
from sdk.report_queue import Queued, ReportQueue
from sdk.trainer import Trainer
from tests.unit.sdk.sdk_fake_platform import FakePlatform

JOB = "j-77"


class Gate:
    """Holds the platform's first answer until released: the trainer meanwhile reports on."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.first = threading.Event()
        self.bodies: list[Any] = []
        self.types: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.types.append(request.headers["content-type"])
        self.bodies.append(json.loads(request.content))
        self.first.set()
        assert self.open.wait(10)
        return httpx.Response(202)


def trainer(platform: FakePlatform, tmp_path: Path, **options: Any) -> Trainer:
    return Trainer.connect("http://platform.test", "tok", JOB, transport=platform.transport, workdir=tmp_path,
                           sleep=lambda _: None, **options)  # fmt: skip


def flat(bodies: list[Any]) -> list[dict[str, Any]]:
    return [e for b in bodies for e in (b if isinstance(b, list) else [b])]


def test_reports_faster_than_a_round_trip_go_as_batches_in_order(platform: FakePlatform, tmp_path: Path) -> None:
    gate = Gate()
    platform.on("POST", "/v1/events", gate)
    t = trainer(platform, tmp_path)
    t.epoch(1, {"loss": 1.0})
    assert gate.first.wait(5)  # the first report is on its way, alone
    for n in range(2, 151):
        t.epoch(n, {"loss": 1 / n})
    gate.open.set()
    t.succeed({"loss": 0.0})
    events = flat(gate.bodies)
    assert [e["data"]["epoch"] for e in events[:-1]] == list(range(1, 151))
    assert events[-1]["type"] == ev.EventType.JOB_SUCCEEDED  # the outcome after everything before it
    assert gate.types[0] == "application/cloudevents+json"
    assert ev.BATCH_CONTENT_TYPE in gate.types  # the backlog went batched...
    assert all(len(b) <= ev.MAX_BATCH_EVENTS for b in gate.bodies if isinstance(b, list))
    assert len(gate.bodies) <= 2 + 149 // ev.MAX_BATCH_EVENTS + 1  # ...in a few requests, not 150
    assert len({e["id"] for e in events}) == len(events)


def test_a_trainer_slower_than_a_round_trip_sends_each_report_alone(platform: FakePlatform, tmp_path: Path) -> None:
    platform.on("POST", "/v1/events", httpx.Response(202))
    t = trainer(platform, tmp_path)
    t.running()
    for n in range(1, 4):
        t.epoch(n, {})
        t.flush()
    heads = [r.headers["content-type"] for r in platform.sent("POST", "/v1/events")]
    assert heads == ["application/cloudevents+json"] * 4


def test_the_queue_is_bounded_a_report_waits_for_room(platform: FakePlatform, tmp_path: Path) -> None:
    gate = Gate()
    platform.on("POST", "/v1/events", gate)
    t = trainer(platform, tmp_path, report_queue=3)
    t.epoch(1, {})
    assert gate.first.wait(5)
    for n in range(2, 5):
        t.epoch(n, {})  # three wait in the queue
    blocked = threading.Thread(target=t.epoch, args=(5, {}))
    blocked.start()
    blocked.join(0.3)
    assert blocked.is_alive()  # the fourth waits for room: never dropped
    gate.open.set()
    blocked.join(5)
    t.flush()
    assert [e["data"]["epoch"] for e in flat(gate.bodies)] == [1, 2, 3, 4, 5]


def test_a_refused_report_is_raised_at_the_next_report_and_the_outcome_still_goes(
    platform: FakePlatform, tmp_path: Path
) -> None:
    refused = {"error": {"code": "invalid_transition", "message": "job j-77 timed out"}}
    platform.on("POST", "/v1/events", httpx.Response(409, json=refused), httpx.Response(202))
    t = trainer(platform, tmp_path)
    t.epoch(1, {})
    with pytest.raises(Conflict, match="timed out"):
        t.flush()
    t.epoch(2, {})
    t.flush()  # raised once, not again
    t.fail("giving up")
    assert [e["type"] for e in platform.events()][-1] == ev.EventType.JOB_FAILED


def test_a_platform_with_smaller_batches_gets_halves_in_order(platform: FakePlatform, tmp_path: Path) -> None:
    too_large = {"error": {"code": "too_large", "message": "too many", "problems": [{"field": "body", "message": "x"}]}}
    seen: list[int] = []

    def small(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if isinstance(body, list) and len(body) > 8:
            return httpx.Response(413, json=too_large)
        seen.extend(e["data"]["epoch"] for e in (body if isinstance(body, list) else [body]))
        return httpx.Response(202)

    gate = Gate()
    platform.on("POST", "/v1/events", gate, small)
    t = trainer(platform, tmp_path)
    t.epoch(0, {})
    assert gate.first.wait(5)
    for n in range(1, 41):
        t.epoch(n, {})
    gate.open.set()
    t.flush()
    assert seen == list(range(1, 41))


def test_a_bad_batch_raises_the_platforms_problems(platform: FakePlatform, tmp_path: Path) -> None:
    body = {"error": {"code": "invalid", "message": "bad", "problems": [{"field": "events[1].data", "message": "x"}]}}
    platform.on("POST", "/v1/events", httpx.Response(400, json=body))
    t = trainer(platform, tmp_path)
    t.epoch(1, {})
    with pytest.raises(ValidationError, match=r"events\[1\]"):
        t.flush()


def test_the_queue_sends_what_is_left_on_close() -> None:
    sent: list[list[int]] = []
    q = ReportQueue(lambda batch: sent.append([int(b.event["id"]) for b in batch]))
    from cloudevents.http import CloudEvent

    for n in range(5):
        q.put(Queued(CloudEvent({"id": str(n), "type": "t", "source": "s"}, {}), 10))
    q.close()
    assert [n for batch in sent for n in batch] == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError):
        q.put(Queued(CloudEvent({"id": "9", "type": "t", "source": "s"}, {}), 10))
