"""`python -m predictor.sidecar`: build settings from env/flags and serve the app with uvicorn."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from predictor.sidecar.app import create_app
from predictor.sidecar.http import guarded_protocol
from predictor.sidecar.settings import SidecarSettings
from sdk import jsonlogs


def main(argv: list[str] | None = None) -> None:
    jsonlogs.configure("INFO")
    settings = SidecarSettings(_cli_parse_args=argv if argv is not None else True)
    uvicorn.Server(server_config(create_app(settings), settings)).run()


def server_config(app: Starlette, settings: SidecarSettings, *, log_level: str = "info") -> uvicorn.Config:
    """uvicorn for the sidecar: uvloop, httptools with header/body read timeouts, no access log."""
    protocol = guarded_protocol(header_timeout_s=settings.header_timeout_s, body_timeout_s=settings.body_timeout_s)
    # access_log off: one log line per prediction costs more than the prediction.
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=protocol,
        loop="uvloop",
        access_log=False,
        log_level=log_level,
        lifespan="on",
        ws="none",
        timeout_graceful_shutdown=5,
        log_config=None,
    )  # records go to the JSON handler
