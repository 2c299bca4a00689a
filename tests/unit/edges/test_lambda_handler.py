"""The HTTP API through mangum, invoked with API Gateway v2 (HTTP API) events."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from functions import bootstrap
from sdk.auth import tokens
from tests.support.harness import SECRET, Harness, harness


@pytest.fixture
def h() -> Iterator[Harness]:
    made = harness()
    bootstrap.install(made.deps)
    yield made
    bootstrap.install(None)
    # mangum sets an event loop on this thread (as a Lambda container keeps one); close it here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loop = asyncio.get_event_loop()
    loop.close()
    asyncio.set_event_loop(None)


def apigw_v2(method: str, path: str, *, tenant: str = "acme", body: dict[str, Any] | None = None) -> dict[str, Any]:
    token = tokens.user_token(tenant=tenant, sub="u", secret=SECRET)
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"authorization": f"Bearer {token}", "content-type": "application/json",
                    "host": "api.example.com"},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "203.0.113.9",
                                    "protocol": "HTTP/1.1", "userAgent": "test"},
                           "requestId": "req-1", "stage": "$default", "domainName": "api.example.com",
                           "accountId": "123456789012", "apiId": "abc", "time": "26/Nov/2026:10:00:00 +0000",
                           "timeEpoch": 1795000000000},
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def test_lambda_serves_the_same_api(h: Harness) -> None:
    from functions.lambda_handler import handler

    created = handler(apigw_v2("POST", "/v1/projects", body={"name": "p", "purpose": "lambda"}), None)
    assert created["statusCode"] == 201, created
    project_id = json.loads(created["body"])["project_id"]
    listed = handler(apigw_v2("GET", "/v1/projects"), None)
    assert [p["project_id"] for p in json.loads(listed["body"])["items"]] == [project_id]
    assert handler(apigw_v2("GET", f"/v1/projects/{project_id}", tenant="evil"), None)["statusCode"] == 404
    bad = handler(apigw_v2("POST", "/v1/projects", body={"purpose": "no name"}), None)
    assert bad["statusCode"] == 400 and "name" in bad["body"]
