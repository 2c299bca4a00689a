"""Issue 9, point 7: no pre-signed URL (its query is the credential) reaches a log line,
whichever library logs it: the platform's one JSON formatter redacts every query string."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from functions.logs import JsonFormatter, redact

SIGNED = (
    "http://127.0.0.1:5000/trainyard-datasets/acme/p-1/reviews?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=TYKEY%2F20261130%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=deadbeef"
)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_httpx_request_lines_lose_their_query(captured: io.StringIO) -> None:
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200))) as client:
        client.get(SIGNED)
    text = captured.getvalue()
    assert "HTTP Request" in text and "/trainyard-datasets/acme/p-1/reviews?[redacted]" in text
    assert "X-Amz" not in text and "deadbeef" not in text


def test_access_lines_extras_and_tracebacks_are_redacted(captured: io.StringIO) -> None:
    log = logging.getLogger("werkzeug")
    log.info('127.0.0.1 - - "GET %s HTTP/1.1" 200 -', SIGNED.split("5000", 1)[1])
    logging.getLogger("trainyard.test").warning("issued", extra={"url": SIGNED, "urls": [SIGNED], "n": 3})
    try:
        raise RuntimeError(f"download of {SIGNED} failed")
    except RuntimeError:
        logging.getLogger("trainyard.test").exception("boom")
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert "deadbeef" not in captured.getvalue()
    assert lines[1]["url"].endswith("reviews?[redacted]") and lines[1]["n"] == 3
    assert "?[redacted]" in lines[2]["exc"]


def test_text_without_a_query_is_left_alone() -> None:
    for text in ("what? nothing", "GET /v1/jobs/j-1/logs HTTP/1.1", "ratio 3/4?"):
        assert redact(text) == text
