"""Structured JSON logs with the ids that matter (job, tenant, request, event, trace): one line
per record on stderr, for every process of the platform and the predictor (a log collector parses
them; nothing prints colour codes or plain text next to them)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from sdk.contracts import tracing

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        trace = tracing.current()
        if trace is not None:  # one job's story across services: filter every function's logs by it
            body["trace_id"] = tracing.trace_id(trace)
        body.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
