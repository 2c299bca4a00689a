"""The API container's entry point: the web UI it mounts reads its predictor from Settings
(TRAINYARD_PREDICTOR_URL), the same field the API's predict endpoint uses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.routing import Mount

from functions import serve
from functions.settings import Settings
from functions.ui.web import UiOptions

PREDICTOR = "http://predictor.trainyard.svc.cluster.local:8081"


@pytest.fixture
def pod_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a pod's environment gives the API: the cluster runtime (the API holds none), the keys,
    and AWS endpoints nothing listens on (building the app connects to neither; only /healthz is
    asked)."""
    monkeypatch.setenv("TRAINYARD_RUNTIME", "kubernetes")
    monkeypatch.setenv("TRAINYARD_TOKEN_SECRET", "serve-test-" + "0123456789abcdef" * 2)
    monkeypatch.setenv("TRAINYARD_EVENT_KEY", "serve-event-key-" + "fedcba9876543210" * 2)
    monkeypatch.setenv("TRAINYARD_DYNAMODB_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("TRAINYARD_S3_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("TRAINYARD_PREDICTOR_URL", raising=False)


def served_ui_options(app: Any) -> UiOptions:
    """The options of the web UI mounted at /ui of the app LazyApi built."""
    mounted = [r.app for r in app.routes if isinstance(r, Mount) and r.path == "/ui"]
    assert len(mounted) == 1
    ui: Any = mounted[0]
    options: UiOptions = ui.state.ui.options
    return options


def healthz(app: serve.LazyApi) -> int:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": "/healthz",
        "raw_path": b"/healthz",
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"host", b"api")],
        "client": ("127.0.0.1", 1),
        "server": ("api", 80),
    }
    asyncio.run(app(scope, receive, send))
    status: int = sent[0]["status"]
    return status


def test_the_predictor_url_set_in_the_environment_reaches_the_web_ui(
    pod_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINYARD_PREDICTOR_URL", PREDICTOR)
    lazy = serve.LazyApi()
    assert healthz(lazy) == 200  # the first request builds the app from Settings
    options = served_ui_options(lazy._app)
    assert options.predictor_url == PREDICTOR
    assert options.secure_cookie
    assert lazy._app.state.deps.predictor is not None  # the API's predict endpoint reads the same field


@pytest.mark.parametrize("value", [None, ""])
def test_no_predictor_url_means_no_predictor_in_the_web_ui(
    pod_env: None, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is not None:
        monkeypatch.setenv("TRAINYARD_PREDICTOR_URL", value)  # set but empty: as unset
    lazy = serve.LazyApi()
    assert healthz(lazy) == 200
    assert served_ui_options(lazy._app).predictor_url is None
    assert lazy._app.state.deps.predictor is None


def test_ui_options_come_from_the_settings_field() -> None:
    settings = Settings(token_secret="x" * 32, predictor_url=PREDICTOR)
    assert serve.ui_options(settings) == UiOptions(predictor_url=PREDICTOR, secure_cookie=True)
    assert serve.ui_options(Settings(token_secret="x" * 32)).predictor_url is None
