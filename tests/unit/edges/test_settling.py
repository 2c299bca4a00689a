"""One place decides ack vs redelivery of an event, from the error's retry intent."""

from __future__ import annotations

import pytest
from cloudevents.http import CloudEvent
from starlette.exceptions import HTTPException

from functions.handlers import settle
from functions.routing import REDELIVER, redelivered
from sdk.contracts import errors

EVENT = CloudEvent({"type": "io.trainyard.job.created", "source": "t", "subject": "j-1"}, {})


def _raise(exc: Exception) -> None:
    raise exc


@pytest.mark.parametrize(
    "exc",
    [
        errors.NotFound("job", "j-1"),
        errors.AlreadyProcessed("seen"),
        errors.Forbidden("no grant"),
        errors.InvalidTransition("j-1", "SUCCEEDED", "RUNNING"),
        errors.PermanentError("bad image"),
        errors.Unauthenticated("who"),
    ],
)
def test_what_cannot_change_on_redelivery_is_acknowledged(exc: Exception) -> None:
    settle(EVENT, lambda: _raise(exc))  # no exception: 2xx


@pytest.mark.parametrize(
    ("exc", "retry_after"),
    [
        (errors.TemporaryError("dynamodb throttled", delay_s=2.5), "2"),
        (errors.TemporaryError("contention", delay_s=0.05), "0"),
        (errors.Conflict("version moved"), "0"),
        (errors.CapacityExhausted("pool full"), "0"),
    ],
)
def test_retryable_errors_ask_for_redelivery_after_their_delay(exc: Exception, retry_after: str) -> None:
    with pytest.raises(HTTPException) as raised:
        settle(EVENT, lambda: _raise(exc))
    assert raised.value.status_code == REDELIVER and redelivered(REDELIVER)
    assert raised.value.headers == {"Retry-After": retry_after}


def test_an_invalid_event_is_refused_for_good() -> None:
    with pytest.raises(HTTPException) as raised:
        settle(EVENT, lambda: _raise(errors.ValidationError([errors.Problem("data.epoch", "must be >= 0")])))
    assert raised.value.status_code == 400 and not redelivered(400)
    assert "data.epoch" in str(raised.value.detail)


def test_a_bug_propagates_so_the_broker_redelivers() -> None:
    with pytest.raises(KeyError):
        settle(EVENT, lambda: _raise(KeyError("x")))
