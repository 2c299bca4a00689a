"""The functions' logs: JSON lines with query strings redacted (sdk.jsonlogs), shared with the
predictor."""

from __future__ import annotations

from sdk.jsonlogs import REDACTED, JsonFormatter, configure, redact

__all__ = ["REDACTED", "JsonFormatter", "configure", "redact"]
