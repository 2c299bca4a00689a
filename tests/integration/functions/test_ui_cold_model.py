"""The web UI's "try it" waits for a cold model (tenacity, honouring the predictor's
Retry-After) against a real predictor stand-in on 127.0.0.1: a 503 is retried until served,
any other refusal is shown at once, and after the last try the 503 itself is shown."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from functions.api.app import create_app
from functions.ui.app import UiOptions
from functions.ui.pages import models
from sdk.auth import tokens
from sdk.auth.tokens import Role
from tests.support.harness import SECRET, harness
from tests.support.servers import serve

pytestmark = pytest.mark.integration
CODE = "local-code-123"
ANSWER = {"probabilities": [{"label": "Password Help", "probability": 0.9}], "object": "predictresponse"}


class Predictor:
    """Answers each POST with the next scripted status; 503s carry Retry-After: 0.2 (the UI's floor)."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.calls: list[float] = []

    async def intent(self, request: Request) -> JSONResponse:
        self.calls.append(time.monotonic())
        status = self.script.pop(0) if self.script else 200
        if status == 200:
            return JSONResponse(ANSWER)
        body = {"object": "error", "status": status, "message": f"scripted {status}"}
        return JSONResponse(body, status_code=status, headers={"Retry-After": "0.2"} if status == 503 else None)


@pytest.fixture(scope="module")
def predictor() -> Iterator[tuple[str, Predictor]]:
    fake = Predictor()
    with serve(Starlette(routes=[Route("/v2/language/intent", fake.intent, methods=["POST"])])) as url:
        yield url, fake


def _try_it(url: str, fake: Predictor, *script: int) -> tuple[int, str]:
    fake.script, fake.calls = list(script), []
    people = {"dev": tokens.user_token(tenant="acme", sub="ds@acme", secret=SECRET, roles=(Role.DATA_SCIENTIST,))}
    app = create_app(harness().deps, ui=UiOptions(dev_code=CODE, dev_tokens=people, predictor_url=url))
    with TestClient(app) as c:
        assert c.get(f"/ui/login/dev?code={CODE}&as=dev", follow_redirects=False).status_code == 303
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/ui/models").text)
        assert csrf is not None
        r = c.post("/ui/models/m-1/predict", data={"csrf": csrf.group(1), "document": "my password stopped working"})
    return r.status_code, r.text


def test_a_cold_model_is_waited_for_honouring_retry_after(predictor: tuple[str, Predictor]) -> None:
    status, html = _try_it(*predictor, 503, 503)
    _, fake = predictor
    assert status == 200 and "Password Help" in html
    assert len(fake.calls) == 3
    gaps = [b - a for a, b in zip(fake.calls, fake.calls[1:], strict=False)]
    assert all(gap >= 0.19 for gap in gaps), gaps  # the server's Retry-After, not at once


def test_a_refusal_other_than_503_is_shown_at_once(predictor: tuple[str, Predictor]) -> None:
    status, html = _try_it(*predictor, 404)
    assert status == 404 and "scripted 404" in html
    assert len(predictor[1].calls) == 1


def test_after_the_last_try_the_503_is_the_answer(
    predictor: tuple[str, Predictor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "COLD_RETRIES", 2)
    status, html = _try_it(*predictor, 503, 503, 503, 503)
    assert status == 503 and "scripted 503" in html
    assert len(predictor[1].calls) == 3
