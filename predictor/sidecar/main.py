"""`python -m predictor.sidecar`: build settings from env/flags and serve the app with uvicorn."""

from __future__ import annotations

import uvicorn

from predictor.sidecar.app import create_app
from predictor.sidecar.settings import SidecarSettings
from sdk import jsonlogs


def main(argv: list[str] | None = None) -> None:
    jsonlogs.configure("INFO")
    settings = SidecarSettings(_cli_parse_args=argv if argv is not None else True)
    # access_log off: one log line per prediction costs more than the prediction.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, access_log=False,
                log_level="info", timeout_graceful_shutdown=5, log_config=None)  # records go to the JSON handler
