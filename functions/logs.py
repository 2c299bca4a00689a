"""The functions' logs: JSON lines (sdk.jsonlogs), shared with the predictor."""

from __future__ import annotations

from sdk.jsonlogs import JsonFormatter, configure

__all__ = ["JsonFormatter", "configure"]
