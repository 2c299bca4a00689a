"""Container entry point: `python -m functions.serve` serves FUNCTION_TARGET on $PORT.

`api` is the FastAPI app under uvicorn; every other target is a CloudEvent function
served by functions-framework's ASGI server from functions/entry.py. One image, the
target chosen by configuration (Knative Service env), as DESIGN.md asks.
"""

from __future__ import annotations

import os
from typing import Any

import uvicorn

from functions import bootstrap, logs
from functions.api.app import create_app
from functions.metrics import WithMetrics
from functions.settings import Settings
from functions.ui.app import UiOptions

ENTRY = os.path.join(os.path.dirname(__file__), "entry.py")


class LazyApi:
    """The API app, built from Settings on the first request, not at import."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            settings = Settings()  # fields come from TRAINYARD_* variables
            deps = bootstrap.build(settings, function="api")
            self._app = create_app(deps, ui=ui_options(settings))
        await self._app(scope, receive, send)


def ui_options(settings: Settings) -> UiOptions:
    """The web UI a pod serves: its "try it" calls the predictor at TRAINYARD_PREDICTOR_URL
    (unset or empty: no predictor), and its cookie is Secure (behind TLS)."""
    return UiOptions(predictor_url=settings.predictor_url or None, secure_cookie=True)


def app_for(target: str) -> Any:
    """The ASGI app of `target`, with GET /metrics (Prometheus) in front of it."""
    if target == "api":
        return WithMetrics(LazyApi())
    import functions_framework.aio as ff

    app = ff.LazyASGIApp(target=target, source=ENTRY, signature_type="cloudevent")  # type: ignore[no-untyped-call]
    return WithMetrics(app)


def main() -> None:
    logs.configure(os.environ.get("TRAINYARD_LOG_LEVEL", "INFO"))
    target = os.environ["FUNCTION_TARGET"]
    # log_config=None: uvicorn's own (coloured, plain-text) handlers stay off; its records reach
    # the root logger's JSON handler like every other line.
    uvicorn.run(
        app_for(target),
        host="0.0.0.0",
        port=int(os.environ.get("PORT", "8080")),
        log_level="warning",
        access_log=False,
        lifespan="off",
        log_config=None,
    )  # all interfaces: in a pod


if __name__ == "__main__":
    main()
