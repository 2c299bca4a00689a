"""W3C traceparent as a CloudEvents extension: the trace survives every hop, a bad value
starts a new trace instead of being passed on, and function logs name the trace."""

from __future__ import annotations

import json
import logging

import pytest

from functions.logs import JsonFormatter
from functions.ports import OutEvent
from functions.publishing import to_cloudevent
from sdk.contracts import tracing

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        "garbage",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        PARENT + "\nX: y",
        42,
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace(bad: object) -> None:
    assert tracing.valid(bad) is None
    fresh = tracing.child(bad)
    assert tracing.valid(fresh) and tracing.trace_id(fresh) != tracing.trace_id(PARENT)


def test_a_child_keeps_the_trace_and_flags_with_a_new_span() -> None:
    span = tracing.child(PARENT)
    assert tracing.valid(span) and span[:36] == PARENT[:36] and span[-3:] == "-01" and span != PARENT


def test_what_a_function_publishes_continues_the_event_it_handles() -> None:
    out = OutEvent(type="io.trainyard.job.finished", source="s", subject="j-1", data={})
    with tracing.continuing(PARENT) as span:
        published = to_cloudevent(out)["traceparent"]
    assert tracing.trace_id(published) == tracing.trace_id(PARENT) and published not in (PARENT, span)
    assert tracing.current() is None  # the context ends with the handling
    assert tracing.trace_id(to_cloudevent(out)["traceparent"]) != tracing.trace_id(PARENT)  # outside: a new trace


def test_logs_written_while_handling_name_the_trace() -> None:
    record = logging.makeLogRecord({"msg": "job cleaned up", "levelname": "INFO", "name": "t"})
    with tracing.continuing(PARENT):
        line = json.loads(JsonFormatter().format(record))
    assert line["trace_id"] == tracing.trace_id(PARENT)
    assert "trace_id" not in json.loads(JsonFormatter().format(record))


def test_a_launched_trainer_gets_the_launch_span_so_its_reports_join_the_trace() -> None:
    from functions.core import launching
    from tests.support.harness import harness

    h = harness()
    _, job = h.task(h.project())
    with tracing.continuing(PARENT):
        launching.admit_pool(h.deps, "default")
    given = h.runtime.launched[job.job_id].env["TRAINYARD_TRACEPARENT"]
    assert tracing.valid(given) and tracing.trace_id(given) == tracing.trace_id(PARENT)


@pytest.mark.parametrize("given", [PARENT, "00-evil-" + "0" * 40])
def test_the_ingress_continues_a_trainers_trace_and_drops_a_malformed_one(given: str) -> None:
    from cloudevents.http import CloudEvent

    from functions.api.ingress import _checked
    from sdk.auth.tokens import Claims, Role

    caller = Claims(sub="job:j-1", tenant="acme", roles=(Role.JOB,), job="j-1", exp=2_000_000_000)
    event = CloudEvent(
        {"type": "io.trainyard.job.running", "source": "trainyard/sdk/j-1", "subject": "j-1", "traceparent": given}, {}
    )
    span = _checked(event, caller).extensions["traceparent"]
    assert tracing.valid(span) and (tracing.trace_id(span) == tracing.trace_id(PARENT)) is (given == PARENT)
