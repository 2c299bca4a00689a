from __future__ import annotations

import json
import time

import pytest

from predictor.sidecar.app import IntentBody, error_response, parse, status_for
from predictor.sidecar.auth import Authenticator
from sdk.auth import tokens
from sdk.contracts.errors import (
    Forbidden,
    NotFound,
    PermanentError,
    Problem,
    TemporaryError,
    TrainyardError,
    Unauthenticated,
    ValidationError,
)

SECRET = "unit-test-secret-0123456789abcdefghij"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_bearer_token_gives_claims_and_is_cached() -> None:
    clock = Clock()
    auth = Authenticator(SECRET, clock=clock)
    token = tokens.user_token(tenant="acme", sub="ana", secret=SECRET, ttl_s=60)
    assert auth.authenticate(f"Bearer {token}").tenant == "acme"
    assert auth.authenticate(f"bearer {token}").tenant == "acme"
    clock.now += 61
    with pytest.raises(Unauthenticated, match="expired"):
        auth.authenticate(f"Bearer {token}")


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer not.a.jwt"])
def test_missing_or_bad_tokens_are_unauthenticated(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        Authenticator(SECRET).authenticate(header)


def test_token_signed_with_another_secret_is_refused() -> None:
    token = tokens.user_token(tenant="acme", sub="ana", secret="another-secret-0123456789abcdefghijkl")
    with pytest.raises(Unauthenticated):
        Authenticator(SECRET).authenticate(f"Bearer {token}")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Unauthenticated("x"), 401),
        (Forbidden("x"), 403),
        (NotFound("model", "m"), 404),
        (ValidationError([Problem("f", "m")]), 400),
        (TemporaryError("x"), 503),
        (PermanentError("x"), 502),
        (TrainyardError("x"), 500),
    ],
)
def test_status_table(error: TrainyardError, status: int) -> None:
    assert status_for(error) == status


def test_error_bodies_carry_problems_and_retry_after() -> None:
    busy = error_response(TemporaryError("loading", delay_s=2.5))
    assert busy.status_code == 503 and busy.headers["retry-after"] == "3"
    problem = Problem("document", "is 6000 characters; the limit is 5000")
    bad = error_response(ValidationError([problem]))
    assert json.loads(bytes(bad.body))["problems"] == [{"field": problem.field, "message": problem.message}]
    assert error_response(Unauthenticated("no")).headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "raw",
    [
        b"{",
        b'{"modelId": "m"}',
        b'{"modelId": "m", "document": 5}',
        b'{"modelId": "m", "document": "x", "extra": 1}',
        b"[]",
    ],
)
def test_malformed_bodies_are_validation_errors(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        parse(IntentBody, raw)
