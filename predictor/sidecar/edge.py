"""What every HTTP route of the sidecar shares: the one error -> status table, the headers an
error carries, and a bounded body read."""

from __future__ import annotations

import math

from starlette.requests import ClientDisconnect, Request

from sdk.contracts.errors import (
    Forbidden,
    NotFound,
    PermanentError,
    Problem,
    TemporaryError,
    TrainyardError,
    Unauthenticated,
    ValidationError,
)

STATUS_TABLE: tuple[tuple[type[TrainyardError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),  # unknown model, or another tenant's: indistinguishable on purpose
    (ValidationError, 400),
    (TemporaryError, 503),  # with Retry-After
    (PermanentError, 502),  # the platform or an archive is broken: not the caller's fault
)


def status_for(exc: TrainyardError) -> int:
    for kind, status in STATUS_TABLE:
        if isinstance(exc, kind):
            return status
    return 500


def error_headers(exc: TrainyardError) -> dict[str, str]:
    """Retry-After on 503, WWW-Authenticate on 401."""
    headers: dict[str, str] = {}
    if isinstance(exc, TemporaryError):
        headers["Retry-After"] = str(max(1, math.ceil(exc.delay_s)))
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="trainyard"'
    return headers


class BodyIncomplete(TrainyardError):
    """The client went away (or was cut off by the body timeout) before sending the whole body."""


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ValidationError([Problem("body", f"is {declared} bytes; the limit is {limit}")])
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ValidationError([Problem("body", f"is over the {limit}-byte limit")])
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise BodyIncomplete("the client disconnected before sending the whole body") from exc
    return b"".join(chunks)


def check_document(document: str, *, limit: int, field: str = "document") -> bytes:
    """The document as UTF-8, or a 400 naming `field`: an empty one would get a confident answer
    about nothing (the head's bias), so it is refused like an over-long one."""
    if not document.strip():
        raise ValidationError([Problem(field, "is empty: send the text to classify")])
    if len(document) > limit:
        raise ValidationError([Problem(field, f"is {len(document)} characters; the limit is {limit}")])
    return document.encode()
