"""W3C trace context carried as the CloudEvents `traceparent` extension (the CloudEvents
distributed-tracing extension), so one job's story can be followed across services:

    API (task created) -> broker -> create -> launch -> trainer env TRAINYARD_TRACEPARENT
    -> SDK events -> API ingress -> broker -> report -> cleanup -> next attempt ...

Every hop keeps the trace id and makes a new span (parent) id. A value that is not a valid
version-00 traceparent (a trainer is hostile by assumption) is dropped and a new trace begins;
nothing else in it is trusted or interpreted. `current()` is the trace of the event or request
being handled in this context (contextvars: per thread and per asyncio task).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from contextvars import ContextVar

EXTENSION = "traceparent"  # CloudEvents extension attribute and HTTP header name

_FORMAT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("traceparent", default=None)


def valid(value: object) -> str | None:
    """`value` if it is a well-formed version-00 traceparent with non-zero ids, else None."""
    if not isinstance(value, str):
        return None
    match = _FORMAT.match(value)
    if match is None or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return value


def child(parent: object = None) -> str:
    """A new span in `parent`'s trace (a new sampled trace when `parent` is not valid)."""
    checked = valid(parent)
    trace_id, flags = (checked[3:35], checked[53:55]) if checked else (secrets.token_hex(16), "01")
    return f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"


def trace_id(value: str) -> str:
    return value[3:35]


def current() -> str | None:
    return _current.get()


@contextlib.contextmanager
def continuing(parent: object) -> Iterator[str]:
    """Handle something as a new span of `parent`'s trace (or of a new trace); yields the span."""
    span = child(parent)
    token = _current.set(span)
    try:
        yield span
    finally:
        _current.reset(token)
