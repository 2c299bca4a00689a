"""The broker publisher builds its envelope with the cloudevents SDK: what it sends parses back as
the same event, in binary mode, with the extension and the contract's payload."""

from __future__ import annotations

import httpx
import pytest
from cloudevents.http import from_http

from functions.ports import OutEvent
from functions.publishing import HttpPublisher
from sdk.contracts import events as ev
from sdk.contracts.errors import TemporaryError


def _publisher(handler: httpx.MockTransport) -> HttpPublisher:
    return HttpPublisher("http://broker.test/", client=httpx.Client(transport=handler))


def test_a_published_event_is_a_binary_cloudevent_that_parses_back() -> None:
    sent: list[httpx.Request] = []

    def accept(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(202)

    data = ev.JobFinished(tenant="acme", job_id="j-1", state="SUCCEEDED").model_dump(mode="json")
    _publisher(httpx.MockTransport(accept)).publish(
        OutEvent(
            type=ev.EventType.JOB_FINISHED,
            source="trainyard/test",
            subject="j-1",
            data=data,
            id="j-1.finished",
            extensions={ev.TENANT_EXTENSION: "acme"},
        )
    )

    (request,) = sent
    assert request.headers["ce-specversion"] == "1.0" and request.headers["content-type"] == "application/json"
    event = from_http(dict(request.headers), request.content)
    assert (event["id"], event["type"], event["subject"], event[ev.TENANT_EXTENSION]) == (
        "j-1.finished",
        "io.trainyard.job.finished",
        "j-1",
        "acme",
    )
    assert ev.JobFinished.model_validate(event.get_data()) == ev.JobFinished(
        tenant="acme", job_id="j-1", state="SUCCEEDED"
    )


def test_an_event_without_id_gets_a_fresh_one() -> None:
    ids: list[str] = []
    publisher = _publisher(httpx.MockTransport(lambda r: (ids.append(r.headers["ce-id"]), httpx.Response(202))[1]))
    for _ in range(2):
        publisher.publish(OutEvent(type="io.trainyard.job.created", source="s", subject="j", data={}))
    assert len(set(ids)) == 2 and all(ids)


@pytest.mark.parametrize("status", [400, 500, 503])
def test_a_refusing_broker_is_a_temporary_error(status: int) -> None:
    publisher = _publisher(httpx.MockTransport(lambda _: httpx.Response(status, text="no")))
    with pytest.raises(TemporaryError, match=str(status)):
        publisher.publish(OutEvent(type="io.trainyard.job.created", source="s", subject="j", data={}))
