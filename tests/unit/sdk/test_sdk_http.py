"""The one error table and the retry loop of sdk.http."""

from __future__ import annotations

import httpx
import pytest

from sdk import http
from sdk.contracts.errors import (
    AlreadyProcessed,
    Conflict,
    Forbidden,
    NotFound,
    PermanentError,
    Problem,
    TemporaryError,
    Unauthenticated,
    ValidationError,
)


def _response(
    status: int, body: object = None, *, text: str | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    request = httpx.Request("GET", "http://platform.test/v1/jobs/j-1")
    if text is not None:
        return httpx.Response(status, text=text, request=request, headers=headers)
    return httpx.Response(status, json=body, request=request, headers=headers)


def _err(code: str, message: str, problems: list[dict[str, str]] | None = None) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "problems": problems or []}}


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (404, "not_found", NotFound),
        (409, "conflict", Conflict),
        (401, "unauthenticated", Unauthenticated),
        (403, "forbidden", Forbidden),
        (500, "internal", http.Unavailable),
        (503, "unavailable", http.Unavailable),
        (429, "too_many", http.Unavailable),
        (418, "teapot", PermanentError),
    ],
)
def test_status_maps_to_error_type_keeping_server_message(status: int, code: str, kind: type[Exception]) -> None:
    err = http.error_from_response(_response(status, _err(code, "job 'j-1' is busy")))
    assert type(err) is kind
    assert "job 'j-1' is busy" in str(err)


def test_not_found_keeps_what_was_missing() -> None:
    err = http.error_from_response(_response(404, _err("not_found", "job 'j-1' not found")))
    assert isinstance(err, NotFound)
    assert str(err) == "job 'j-1' not found"
    assert err.ident == "/v1/jobs/j-1"


def test_already_processed_is_a_conflict_subtype() -> None:
    err = http.error_from_response(_response(409, _err("already_processed", "seen")))
    assert isinstance(err, AlreadyProcessed)


@pytest.mark.parametrize("status", [400, 422])
def test_validation_error_carries_every_problem(status: int) -> None:
    problems = [{"field": "name", "message": "too long"}, {"field": "limits.ttl_s", "message": "must be > 0"}]
    err = http.error_from_response(_response(status, _err("invalid", "bad spec", problems)))
    assert isinstance(err, ValidationError)
    assert err.problems == [Problem("name", "too long"), Problem("limits.ttl_s", "must be > 0")]


def test_unprocessable_is_permanent() -> None:
    err = http.error_from_response(_response(422, _err("unprocessable", "broker refused event")))
    assert type(err) is PermanentError
    assert str(err) == "broker refused event"


def test_fastapi_detail_list_becomes_problems() -> None:
    body = {"detail": [{"loc": ["body", "name"], "msg": "Field required", "type": "missing"}]}
    err = http.error_from_response(_response(422, body))
    assert isinstance(err, ValidationError)
    assert err.problems == [Problem("body.name", "Field required")]


def test_validation_without_problems_still_says_why() -> None:
    err = http.error_from_response(_response(400, _err("invalid", "subject does not match token")))
    assert isinstance(err, ValidationError)
    assert "subject does not match token" in str(err)


def test_non_json_body_is_used_as_message() -> None:
    err = http.error_from_response(_response(502, text="Bad Gateway from proxy"))
    assert isinstance(err, TemporaryError)
    assert "Bad Gateway from proxy" in str(err)


def test_retry_after_is_the_temporary_delay() -> None:
    err = http.error_from_response(_response(429, _err("slow", "down"), headers={"Retry-After": "7"}))
    assert isinstance(err, TemporaryError)
    assert err.delay_s == 7.0


def test_backoff_grows_and_is_capped_and_honours_hints() -> None:
    b = http.Backoff(attempts=5, initial_s=0.5, factor=2.0, max_s=3.0)
    assert [b.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 3.0]
    assert b.delay(1, hint=2.5) == 2.5
    assert b.delay(1, hint=100) == 3.0


def _client(replies: list[httpx.Response | Exception]) -> tuple[httpx.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    return httpx.Client(base_url="http://platform.test", transport=httpx.MockTransport(handler)), seen


def test_send_retries_temporary_failures_then_returns() -> None:
    client, seen = _client([httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200, json={})])
    sleeps: list[float] = []
    response = http.send(client, client.build_request("GET", "/x"), backoff=http.Backoff(), sleep=sleeps.append)
    assert response.status_code == 200
    assert len(seen) == 3
    # exponential, plus up to Backoff.jitter_s (0.25 s) at random
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 0.75 and 1.0 <= sleeps[1] <= 1.25


def test_send_gives_up_after_bounded_attempts() -> None:
    client, seen = _client([httpx.ConnectError("refused")] * 3)
    with pytest.raises(TemporaryError, match=r"cannot reach platform\.test"):
        http.send(client, client.build_request("GET", "/x"), backoff=http.Backoff(attempts=3), sleep=lambda _: None)
    assert len(seen) == 3


def test_send_without_retry_raises_at_once() -> None:
    client, seen = _client([httpx.Response(503), httpx.Response(200)])
    with pytest.raises(TemporaryError):
        http.send(client, client.build_request("POST", "/x"), backoff=http.Backoff(), sleep=lambda _: None, retry=False)
    assert len(seen) == 1
