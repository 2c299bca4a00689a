"""Structured JSON logs with the ids that matter (job, tenant, request, event).

Query strings never reach a log: a pre-signed URL's query IS its credential (and a
download link to customer data), and libraries log URLs at INFO (httpx's "HTTP Request:
GET https://…?X-Amz-Signature=…", werkzeug's and uvicorn's access lines). Every message,
extra field and traceback is redacted here, at the one formatter, whatever logged it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# "?query" after a URL or an absolute path (a request line), up to whitespace or a quote.
_QUERY = re.compile(r"((?:[a-z][a-z0-9+.-]*://[^\s\"'?]*|(?<![\w?])/[^\s\"'?]*)\?)[^\s\"'<>]+", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with every URL's or path's query string replaced by [redacted]."""
    return _QUERY.sub(lambda m: m.group(1) + REDACTED, text)


def _redacted(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        body.update({k: _redacted(v) for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            body["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(body, default=lambda v: redact(str(v)))


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
