"""The SDK's one retry policy (sdk.http.retrying: tenacity, exponential backoff with jitter, the
server's Retry-After, the error's retry intent) against a real HTTP server on 127.0.0.1 that
answers from a script: what is retried, what is not, how long it waits, and that a retried
upload sends the whole file again."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sdk import http
from sdk.contracts.errors import Conflict, PermanentError, TemporaryError, ValidationError
from sdk.predict import Predictor
from tests.conftest import free_port
from tests.support.servers import serve

pytestmark = pytest.mark.integration
BACKOFF = http.Backoff(attempts=4, initial_s=0.5, factor=2.0, max_s=5.0, jitter_s=0.25)
PREDICTION = {"probabilities": [{"label": "a", "probability": 1.0}], "object": "predictresponse"}


@dataclass
class Script:
    """Each request takes the next (status, headers) answer; when none is left, 200. An error
    answer has the platform's envelope, or with `sidecar` the predictor sidecar's own body."""

    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    sidecar: bool = False
    bodies: list[bytes] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        self.bodies.append(await request.body())
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        if status != 200:
            message = f"scripted {status}"
            error: dict[str, object] = {"error": {"code": "scripted", "message": message, "problems": []}}
            if self.sidecar:
                error = {"object": "error", "status": status, "message": message}
            return JSONResponse(error, status_code=status, headers=headers)
        if request.url.path == "/v2/language/intent":
            return JSONResponse(PREDICTION)
        return Response(b"the blob" if request.method == "GET" else b"{}", media_type="application/json")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    app = Starlette(routes=[Route("/{path:path}", script.handle, methods=["GET", "POST", "PUT"])])
    with serve(app) as url:
        yield url, script


@pytest.fixture
def script(server: tuple[str, Script]) -> Script:
    server[1].answers.clear()
    server[1].bodies.clear()
    server[1].sidecar = False
    return server[1]


def _send(url: str, sleeps: list[float], *, retry: bool = True, method: str = "GET") -> httpx.Response:
    with httpx.Client(base_url=url) as client:
        return http.send(
            client, client.build_request(method, "/v1/x"), backoff=BACKOFF, sleep=sleeps.append, retry=retry
        )


def test_retry_after_is_honoured_exactly_and_capped(server: tuple[str, Script], script: Script) -> None:
    script.answers += [(503, {"Retry-After": "3"}), (429, {"Retry-After": "60"})]
    sleeps: list[float] = []
    assert _send(server[0], sleeps).status_code == 200
    assert sleeps == [3.0, BACKOFF.max_s] and len(script.bodies) == 3


def test_without_a_hint_the_backoff_grows_with_jitter(server: tuple[str, Script], script: Script) -> None:
    script.answers += [(500, {}), (502, {}), (504, {})]
    sleeps: list[float] = []
    assert _send(server[0], sleeps).status_code == 200
    assert all(b <= s <= b + BACKOFF.jitter_s for s, b in zip(sleeps, (0.5, 1.0, 2.0), strict=True)), sleeps


@pytest.mark.parametrize(("status", "error"), [(400, ValidationError), (409, Conflict), (404, Exception)])
def test_an_error_whose_intent_is_final_is_not_retried(
    server: tuple[str, Script], script: Script, status: int, error: type[Exception]
) -> None:
    script.answers.append((status, {}))
    sleeps: list[float] = []
    with pytest.raises(error, match=f"scripted {status}"):
        _send(server[0], sleeps)
    assert sleeps == [] and len(script.bodies) == 1


def test_writes_are_tried_once_when_told_not_to_retry(server: tuple[str, Script], script: Script) -> None:
    script.answers.append((503, {"Retry-After": "1"}))
    sleeps: list[float] = []
    with pytest.raises(http.Unavailable) as caught:
        _send(server[0], sleeps, retry=False, method="POST")
    assert caught.value.retry_after_s == 1.0 and caught.value.delay_s == 1.0
    assert sleeps == [] and len(script.bodies) == 1


def test_the_last_error_is_raised_after_the_bounded_attempts(server: tuple[str, Script], script: Script) -> None:
    script.answers += [(503, {"Retry-After": "0"})] * BACKOFF.attempts
    sleeps: list[float] = []
    with pytest.raises(http.Unavailable, match="scripted 503"):
        _send(server[0], sleeps)
    assert len(script.bodies) == BACKOFF.attempts and sleeps == [0.0] * (BACKOFF.attempts - 1)


def test_an_unreachable_server_is_retried_then_temporary() -> None:
    sleeps: list[float] = []
    with pytest.raises(TemporaryError, match=r"cannot reach 127\.0\.0\.1"):
        _send(f"http://127.0.0.1:{free_port()}", sleeps)  # nothing listens there
    assert len(sleeps) == BACKOFF.attempts - 1


def test_a_retried_upload_sends_the_whole_file_again(
    server: tuple[str, Script], script: Script, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB: more than one chunk
    (tmp_path / "f").write_bytes(data)
    script.answers.append((500, {}))
    sleeps: list[float] = []
    with httpx.Client() as client:
        size = http.put_file(client, server[0] + "/blob", tmp_path / "f", backoff=BACKOFF, sleep=sleeps.append)
    assert size == len(data) and script.bodies == [data, data] and len(sleeps) == 1


def test_a_download_is_retried_and_lands_whole(server: tuple[str, Script], script: Script, tmp_path: Path) -> None:
    script.answers.append((503, {"Retry-After": "2"}))
    sleeps: list[float] = []
    with httpx.Client() as client:
        got = http.get_file(client, server[0] + "/blob", tmp_path / "out", backoff=BACKOFF, sleep=sleeps.append)
    assert got.read_bytes() == b"the blob" and sleeps == [2.0]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no partial file left behind


def test_the_predictor_client_shares_the_policy(server: tuple[str, Script], script: Script) -> None:
    script.answers += [(503, {"Retry-After": "1"}), (502, {})]
    sleeps: list[float] = []
    with Predictor(server[0], "token", backoff=BACKOFF, sleep=sleeps.append) as predictor:
        assert predictor.intent("m-1", "hi").ranked == [("a", 1.0)]
    assert sleeps[0] == 1.0 and 1.0 <= sleeps[1] <= 1.25  # hint, then (a proxy's bare 502) backoff


def test_the_sidecars_own_502_is_permanent_and_not_retried(server: tuple[str, Script], script: Script) -> None:
    script.sidecar = True
    script.answers += [(503, {"Retry-After": "1"}), (502, {})]
    sleeps: list[float] = []
    with (
        Predictor(server[0], "token", backoff=BACKOFF, sleep=sleeps.append) as predictor,
        pytest.raises(PermanentError, match="scripted 502"),
    ):
        predictor.intent("m-1", "hi")
    assert sleeps == [1.0] and len(script.bodies) == 2
